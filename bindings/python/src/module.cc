// libsandbox._core: the compiled half of the Python package. It speaks plain
// dicts shaped like the messages of config.proto; the pure-Python package
// builds the typed, validated classes (Config, Limits, Result, ...) on top.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bindings/python/src/proto_dict.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/run/audit.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session/session.h"

namespace py = pybind11;

namespace libsandbox::python {
namespace {

// Arguments that do not fit config.proto. Python conventions: a wrong type or
// an unknown field is a TypeError, a value out of range a ValueError.
void RaiseIfBadArgument(const absl::Status& status) {
  if (status.ok()) return;
  const std::string message(status.message());
  if (status.code() == absl::StatusCode::kOutOfRange) throw py::value_error(message);
  throw py::type_error(message);
}

// Failures of host queries (runsc lookup and the like).
[[noreturn]] void RaiseQueryError(const absl::Status& status) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      PyErr_SetString(PyExc_FileNotFoundError, message.c_str());
      throw py::error_already_set();
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      throw py::value_error(message);
    default:
      throw std::runtime_error(message);  // pybind11 maps this to RuntimeError
  }
}

// Failures to read a log file: OSError, with the subclass Python code
// already catches for that cause.
[[noreturn]] void RaiseFileError(const absl::Status& status) {
  const std::string message(status.message());
  PyObject* type = PyExc_OSError;
  if (status.code() == absl::StatusCode::kNotFound) type = PyExc_FileNotFoundError;
  if (status.code() == absl::StatusCode::kPermissionDenied) type = PyExc_PermissionError;
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// Failures of policy-file changes: ValueError for a change that is refused
// (over a cap, the default policy, a broken file), KeyError for an unknown
// name, FileNotFoundError for a missing file, OSError for the rest.
[[noreturn]] void RaisePolicyError(const absl::Status& status, bool missing_is_key) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      throw py::value_error(message);
    case absl::StatusCode::kNotFound:
      if (missing_is_key) throw py::key_error(message);
      RaiseFileError(status);
    default:
      RaiseFileError(status);
  }
}

Config ToConfig(py::handle config) {
  Config out;
  RaiseIfBadArgument(DictToMessage(config, &out));
  return out;
}

py::dict ResultDict(const Result& result) {
  py::dict out = MessageToDict(result);
  out["status"] = py::str(std::string(StatusName(result.status())));
  return out;
}

py::dict RunDicts(py::handle request, py::handle config) {
  RunRequest req;
  RaiseIfBadArgument(DictToMessage(request, &req));
  const Config cfg = ToConfig(config);
  Result result;
  {
    // A run takes seconds: let other Python threads (and event loops) go on.
    py::gil_scoped_release release;
    result = Run(req, cfg);
  }
  return ResultDict(result);
}

std::string RunscVersionOf(py::handle config) {
  const Config cfg = ToConfig(config);
  absl::StatusOr<std::string> version;
  {
    py::gil_scoped_release release;  // runs `runsc --version`
    version = RunscVersion(cfg);
  }
  if (!version.ok()) RaiseQueryError(version.status());
  return *std::move(version);
}

py::list DoctorDicts(py::handle config) {
  const Config cfg = ToConfig(config);
  std::vector<Check> checks;
  {
    py::gil_scoped_release release;  // probes runsc and the host
    checks = Doctor(cfg);
  }
  py::list out;
  for (const Check& check : checks) out.append(MessageToDict(check));
  return out;
}

py::list QueryAuditDicts(py::handle config, const std::string& user, int limit) {
  const Config cfg = ToConfig(config);
  absl::StatusOr<std::vector<AuditRecord>> records;
  {
    py::gil_scoped_release release;  // reads (up to two rotations of) the log file
    records = QueryAudit(cfg, user, limit);
  }
  if (!records.ok()) RaiseFileError(records.status());
  py::list out;
  for (const AuditRecord& record : *records) out.append(MessageToDict(record));
  return out;
}

SessionKey ToSessionKey(py::handle key) {
  SessionKey out;
  RaiseIfBadArgument(DictToMessage(key, &out));
  return out;
}

py::dict SessionExecDicts(py::handle key, py::handle request, py::handle options,
                          py::handle config) {
  const SessionKey k = ToSessionKey(key);
  ExecRequest req;
  RaiseIfBadArgument(DictToMessage(request, &req));
  SessionOptions opts;
  RaiseIfBadArgument(DictToMessage(options, &opts));
  const Config cfg = ToConfig(config);
  Result result;
  {
    py::gil_scoped_release release;  // may boot the session's sandbox, then waits on the exec
    result = SessionExec(k, req, opts, cfg);
  }
  return ResultDict(result);
}

// Stop and Reset: a bad key is a ValueError, a host failure (say, the
// session is held by another process) a RuntimeError.
void SessionCall(py::handle key, py::handle config,
                 absl::Status (*call)(const SessionKey&, const Config&)) {
  const SessionKey k = ToSessionKey(key);
  const Config cfg = ToConfig(config);
  absl::Status status;
  {
    py::gil_scoped_release release;  // stops a sandbox, may wipe a workspace
    status = call(k, cfg);
  }
  if (!status.ok()) RaiseQueryError(status);
}

// ---- Background processes and files of a session (a terminal server's
// calls) ----

// A session call's failure as the Python exception that fits it.
[[noreturn]] void RaiseSessionError(const absl::Status& status) {
  const std::string message(status.message());
  PyObject* type = PyExc_RuntimeError;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      type = PyExc_FileNotFoundError;
      break;
    case absl::StatusCode::kPermissionDenied:
      type = PyExc_PermissionError;
      break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      type = PyExc_ValueError;
      break;
    case absl::StatusCode::kDeadlineExceeded:
      type = PyExc_TimeoutError;
      break;
    default:
      break;
  }
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// Runs `call` on the session of key/options/config with the GIL released.
template <typename T, typename Fn>
T OnSession(py::handle key, py::handle options, py::handle config, Fn call) {
  const SessionKey k = ToSessionKey(key);
  SessionOptions opts;
  RaiseIfBadArgument(DictToMessage(options, &opts));
  const Config cfg = ToConfig(config);
  absl::StatusOr<T> out = absl::InternalError("not run");
  {
    py::gil_scoped_release release;  // may boot the sandbox, runs runsc exec
    absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(cfg);
    absl::StatusOr<std::shared_ptr<Session>> session =
        manager.ok() ? (*manager)->Get(k, opts) : manager.status();
    out = session.ok() ? call(**session) : absl::StatusOr<T>(session.status());
  }
  if (!out.ok()) RaiseSessionError(out.status());
  return *std::move(out);
}

void RegisterSessionCalls(py::module_& m) {
  m.def(
      "session_start",
      [](py::handle key, py::handle options, py::handle config, py::handle request) {
        ExecRequest req;
        RaiseIfBadArgument(DictToMessage(request, &req));
        return OnSession<std::string>(key, options, config,
                                      [&](Session& s) { return s.Start(req); });
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("request"),
      "Starts an ExecRequest dict in the background; returns the process id.");
  m.def(
      "session_poll",
      [](py::handle key, py::handle options, py::handle config, const std::string& id,
         int64_t stdout_offset, int64_t stderr_offset) {
        ProcessOutput out = OnSession<ProcessOutput>(key, options, config, [&](Session& s) {
          return s.Poll(id, stdout_offset, stderr_offset);
        });
        return MessageToDict(out);
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("id"),
      py::arg("stdout_offset"), py::arg("stderr_offset"),
      "A ProcessOutput dict: output since the offsets, and the process's info.");
  m.def(
      "session_write_input",
      [](py::handle key, py::handle options, py::handle config, const std::string& id,
         const py::bytes& data) {
        std::string bytes = data;
        OnSession<bool>(key, options, config, [&](Session& s) -> absl::StatusOr<bool> {
          if (absl::Status st = s.WriteInput(id, bytes); !st.ok()) return st;
          return true;
        });
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("id"), py::arg("data"));
  m.def(
      "session_close_input",
      [](py::handle key, py::handle options, py::handle config, const std::string& id) {
        OnSession<bool>(key, options, config, [&](Session& s) -> absl::StatusOr<bool> {
          if (absl::Status st = s.CloseInput(id); !st.ok()) return st;
          return true;
        });
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("id"));
  m.def(
      "session_kill",
      [](py::handle key, py::handle options, py::handle config, const std::string& id, int signal) {
        OnSession<bool>(key, options, config, [&](Session& s) -> absl::StatusOr<bool> {
          if (absl::Status st = s.Kill(id, signal); !st.ok()) return st;
          return true;
        });
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("id"), py::arg("signal"));
  m.def(
      "session_processes",
      [](py::handle key, py::handle options, py::handle config) {
        std::vector<ProcessInfo> infos = OnSession<std::vector<ProcessInfo>>(
            key, options, config,
            [&](Session& s) -> absl::StatusOr<std::vector<ProcessInfo>> { return s.Processes(); });
        py::list out;
        for (const ProcessInfo& info : infos) out.append(MessageToDict(info));
        return out;
      },
      py::arg("key"), py::arg("options"), py::arg("config"));
  m.def(
      "session_read_file",
      [](py::handle key, py::handle options, py::handle config, const std::string& path,
         int64_t max_bytes) {
        return py::bytes(OnSession<std::string>(
            key, options, config, [&](Session& s) { return s.ReadFile(path, max_bytes); }));
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("path"), py::arg("max_bytes"));
  m.def(
      "session_write_file",
      [](py::handle key, py::handle options, py::handle config, const std::string& path,
         const py::bytes& data) {
        std::string bytes = data;
        OnSession<bool>(key, options, config, [&](Session& s) -> absl::StatusOr<bool> {
          if (absl::Status st = s.WriteFile(path, bytes); !st.ok()) return st;
          return true;
        });
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("path"), py::arg("data"));
  m.def(
      "session_list_dir",
      [](py::handle key, py::handle options, py::handle config, const std::string& path) {
        return MessageToDict(OnSession<DirListing>(key, options, config,
                                                   [&](Session& s) { return s.ListDir(path); }));
      },
      py::arg("key"), py::arg("options"), py::arg("config"), py::arg("path"));
}

py::dict SessionInfoDict(const SessionInfo& info, bool running) {
  py::dict out = MessageToDict(info);
  out["running"] = running;
  return out;
}

py::list ListSessionDicts(py::handle config) {
  const Config cfg = ToConfig(config);
  absl::StatusOr<std::vector<SessionInfo>> sessions;
  {
    py::gil_scoped_release release;
    sessions = ListSessions(cfg);
  }
  if (!sessions.ok()) RaiseQueryError(sessions.status());
  py::list out;
  for (const SessionInfo& info : *sessions) out.append(SessionInfoDict(info, true));
  return out;
}

// The info of one session, running or not (ListSessions only has running
// ones). Creates the session's record with `options` if there is none yet,
// as its first exec would.
py::dict SessionInfoOf(py::handle key, py::handle options, py::handle config) {
  const SessionKey k = ToSessionKey(key);
  SessionOptions opts;
  RaiseIfBadArgument(DictToMessage(options, &opts));
  const Config cfg = ToConfig(config);
  absl::StatusOr<std::shared_ptr<Session>> session;
  SessionInfo info;
  bool running = false;
  {
    py::gil_scoped_release release;
    absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(cfg);
    if (manager.ok()) {
      session = (*manager)->Get(k, opts);
    } else {
      session = manager.status();
    }
    if (session.ok()) {
      running = (*session)->live();
      info = (*session)->Info();
    }
  }
  if (!session.ok()) RaiseQueryError(session.status());
  return SessionInfoDict(info, running);
}

std::vector<std::string> StatusNames() {
  std::vector<std::string> names;
  const auto* e = Result::Status_descriptor();
  for (int i = 0; i < e->value_count(); ++i) {
    const auto status = static_cast<Result::Status>(e->value(i)->number());
    if (status == Result::STATUS_UNSPECIFIED) continue;
    names.emplace_back(StatusName(status));
  }
  return names;
}

}  // namespace
}  // namespace libsandbox::python

PYBIND11_MODULE(_core, m) {
  namespace lp = libsandbox::python;
  m.doc() = "Compiled core of libsandbox; use the libsandbox package instead.";
  m.attr("VERSION") = std::string(libsandbox::kVersion);
  // The core's defaults, so the Python signatures can be checked against them.
  m.attr("DEFAULT_LANGUAGE") = std::string(libsandbox::kDefaultLanguage);
  m.attr("DEFAULT_READ_BYTES") = libsandbox::kDefaultReadBytes;
  m.def("run", &lp::RunDicts, py::arg("request"), py::arg("config"),
        "Runs a RunRequest dict under a Config dict; returns a Result dict. Releases the GIL.");
  m.def("runsc_version", &lp::RunscVersionOf, py::arg("config"),
        "The version of the runsc the Config dict selects.");
  m.def("doctor", &lp::DoctorDicts, py::arg("config"), "Host self-checks as Check dicts.");
  m.def(
      "default_limits", [] { return lp::MessageToDict(libsandbox::DefaultLimits()); },
      "The Limits dict used when a request sets none.");
  m.def(
      "resolved_config",
      [](py::handle config) {
        return lp::MessageToDict(libsandbox::ResolvedConfig(lp::ToConfig(config)));
      },
      py::arg("config"), "The Config dict with defaults filled in.");
  m.def(
      "get_policies",
      [](py::handle config) {
        const libsandbox::Config cfg = lp::ToConfig(config);
        absl::StatusOr<libsandbox::PolicySet> set = libsandbox::GetPolicies(cfg);
        if (!set.ok()) lp::RaisePolicyError(set.status(), false);
        return lp::MessageToDict(*set);
      },
      py::arg("config"), "The PolicySet dict the config's policy file holds.");
  m.def(
      "set_policies",
      [](py::handle set, py::handle config) {
        libsandbox::PolicySet s;
        lp::RaiseIfBadArgument(lp::DictToMessage(set, &s));
        const libsandbox::Config cfg = lp::ToConfig(config);
        absl::Status status;
        {
          py::gil_scoped_release release;  // takes the file's lock
          status = libsandbox::SetPolicies(cfg, s);
        }
        if (!status.ok()) lp::RaisePolicyError(status, false);
      },
      py::arg("policy_set"), py::arg("config"), "Replaces the policy file's whole set.");
  m.def(
      "set_policy",
      [](py::handle policy, py::handle config) {
        libsandbox::Policy p;
        lp::RaiseIfBadArgument(lp::DictToMessage(policy, &p));
        const libsandbox::Config cfg = lp::ToConfig(config);
        absl::Status status;
        {
          py::gil_scoped_release release;
          status = libsandbox::SetPolicy(cfg, p);
        }
        if (!status.ok()) lp::RaisePolicyError(status, false);
      },
      py::arg("policy"), py::arg("config"), "Adds a Policy dict, or replaces the one of its name.");
  m.def(
      "remove_policy",
      [](const std::string& name, py::handle config) {
        const libsandbox::Config cfg = lp::ToConfig(config);
        absl::Status status;
        {
          py::gil_scoped_release release;
          status = libsandbox::RemovePolicy(cfg, name);
        }
        if (!status.ok()) lp::RaisePolicyError(status, true);
      },
      py::arg("name"), py::arg("config"), "Removes the policy of that name.");
  m.attr("MAX_AUDIT_QUERY_LIMIT") = libsandbox::kMaxAuditQueryLimit;
  m.def("query_audit", &lp::QueryAuditDicts, py::arg("config"), py::arg("user"), py::arg("limit"),
        "Up to `limit` AuditRecord dicts of `user` (empty: all), newest first. Releases the GIL.");
  m.def("languages", &libsandbox::Languages, "The languages run() accepts.");
  m.def("status_names", &lp::StatusNames, "The names of every Result status.");
  m.def(
      "metrics",
      [] {
        libsandbox::Metrics metrics;
        {
          py::gil_scoped_release release;  // waits on the library's lock, never on Python
          metrics = libsandbox::GetMetrics();
        }
        return lp::MessageToDict(metrics);
      },
      "Counters, gauges and latency histograms of this process's runs, as a Metrics dict.");
  m.def(
      "shutdown",
      [] {
        py::gil_scoped_release release;  // stops pre-booted sandboxes
        libsandbox::Shutdown();
      },
      "Drains warm pools, stops sessions and releases what runs keep between runs.");
  m.def("session_exec", &lp::SessionExecDicts, py::arg("key"), py::arg("request"),
        py::arg("options"), py::arg("config"),
        "Runs an ExecRequest dict in the session of a SessionKey dict; returns a Result dict. "
        "Releases the GIL.");
  m.def(
      "stop_session",
      [](py::handle key, py::handle config) {
        lp::SessionCall(key, config, &libsandbox::StopSession);
      },
      py::arg("key"), py::arg("config"), "Stops the session's sandbox; its workspace is kept.");
  m.def(
      "reset_session",
      [](py::handle key, py::handle config) {
        lp::SessionCall(key, config, &libsandbox::ResetSession);
      },
      py::arg("key"), py::arg("config"), "Stops the session and empties its workspace.");
  m.def("list_sessions", &lp::ListSessionDicts, py::arg("config"),
        "SessionInfo dicts (plus `running`) of the config's running sessions.");
  lp::RegisterSessionCalls(m);
  m.def("session_info", &lp::SessionInfoOf, py::arg("key"), py::arg("options"), py::arg("config"),
        "The SessionInfo dict (plus `running`) of one session, running or not.");
}
