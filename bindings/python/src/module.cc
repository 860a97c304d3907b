// libsandbox._core: the compiled half of the Python package. A thin binding
// of the public C++ API (libsandbox/sandbox.h, client.h, session.h): plain
// dicts shaped like the messages of config.proto in and out, Client and
// Session as objects; the pure-Python package builds the typed, validated
// classes (Config, Limits, Result, Session, ...) on top. Every call that
// may wait (on a sandbox, runsc, a file or a lock) releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bindings/python/src/proto_dict.h"
#include "libsandbox/client.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session.h"

namespace py = pybind11;

namespace libsandbox::python {
namespace {

// ---- Statuses of the core as Python exceptions: the one mapping ----
//
//   absl::StatusCode       Python exception
//   ---------------------  ------------------------------------------------
//   InvalidArgument,       ValueError
//   OutOfRange
//   NotFound               _core.NotFoundError(FileNotFoundError, KeyError)
//   PermissionDenied       PermissionError
//   DeadlineExceeded       TimeoutError
//   FailedPrecondition     _core.PreconditionError(ValueError, RuntimeError)
//   AlreadyExists          _core.ExistsError(FileExistsError, RuntimeError)
//   any other (Internal,   _core.SandboxError(RuntimeError, OSError)
//   ResourceExhausted,
//   Unavailable, ...)
//
// The three classes of our own derive from each builtin that callers catch
// for that code: a missing file or process is a FileNotFoundError, an
// unknown policy name a KeyError; a refused policy change (the default
// policy, a broken file) a ValueError, a session another host process holds
// a RuntimeError; a host failure a RuntimeError to session callers and an
// OSError to those reading a log or policy file.
PyObject* not_found_error = nullptr;
PyObject* precondition_error = nullptr;
PyObject* sandbox_error = nullptr;
PyObject* exists_error = nullptr;

PyObject* ExceptionOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return PyExc_ValueError;
    case absl::StatusCode::kNotFound:
      return not_found_error;
    case absl::StatusCode::kPermissionDenied:
      return PyExc_PermissionError;
    case absl::StatusCode::kDeadlineExceeded:
      return PyExc_TimeoutError;
    case absl::StatusCode::kFailedPrecondition:
      return precondition_error;
    case absl::StatusCode::kAlreadyExists:
      return exists_error;
    default:
      return sandbox_error;
  }
}

// Raises the exception of a failed `status`; returns if it is OK.
void RaiseIfError(const absl::Status& status) {
  if (status.ok()) return;
  PyErr_SetString(ExceptionOf(status.code()), std::string(status.message()).c_str());
  throw py::error_already_set();
}

template <typename T>
T ValueOrRaise(absl::StatusOr<T> value) {
  RaiseIfError(value.status());
  return *std::move(value);
}

// Registers the classes of the table on `m`.
void AddExceptions(py::module_& m) {
  const auto add = [&](const char* name, PyObject* bases, const char* doc) {
    PyObject* type = PyErr_NewExceptionWithDoc((std::string("libsandbox._core.") + name).c_str(),
                                               doc, bases, nullptr);
    Py_DECREF(bases);
    if (type == nullptr) throw py::error_already_set();
    m.add_object(name, py::handle(type));  // the module keeps the reference
    return type;
  };
  not_found_error = add("NotFoundError", PyTuple_Pack(2, PyExc_FileNotFoundError, PyExc_KeyError),
                        "No such file, process, session or policy.");
  precondition_error =
      add("PreconditionError", PyTuple_Pack(2, PyExc_ValueError, PyExc_RuntimeError),
          "Refused in the current state (a policy file, a workspace in use, ...).");
  sandbox_error = add("SandboxError", PyTuple_Pack(2, PyExc_RuntimeError, PyExc_OSError),
                      "A failure of the host or the sandbox, or a cap reached.");
  exists_error = add("ExistsError", PyTuple_Pack(2, PyExc_FileExistsError, PyExc_RuntimeError),
                     "The path (or other name) is taken already.");
}

// ---- Arguments ----
// A dict that does not fit its message is the caller's mistake, not a
// status of the core. Python conventions: a wrong type or an unknown field
// is a TypeError, a number out of range a ValueError.
template <typename M>
M FromDict(py::handle dict) {
  M out;
  if (absl::Status s = DictToMessage(dict, &out); !s.ok()) {
    const std::string message(s.message());
    if (s.code() == absl::StatusCode::kOutOfRange) throw py::value_error(message);
    throw py::type_error(message);
  }
  return out;
}

// Runs `fn` with the GIL released: it may wait for a sandbox, runsc, a file
// or a lock, and other Python threads (and event loops) go on meanwhile.
template <typename Fn>
auto Released(Fn fn) -> decltype(fn()) {
  py::gil_scoped_release release;
  return fn();
}

py::dict ResultDict(const Result& result) {
  py::dict out = MessageToDict(result);
  out["status"] = py::str(std::string(StatusName(result.status())));
  return out;
}

template <typename M>
py::list DictList(const std::vector<M>& messages) {
  py::list out;
  for (const M& m : messages) out.append(MessageToDict(m));
  return out;
}

py::dict SessionInfoDict(const SessionInfo& info, bool running) {
  py::dict out = MessageToDict(info);
  out["running"] = running;
  return out;
}

py::list SessionInfoDicts(const Client& client) {
  std::vector<SessionInfo> sessions = ValueOrRaise(Released([&] { return client.ListSessions(); }));
  py::list out;
  for (const SessionInfo& info : sessions) out.append(SessionInfoDict(info, true));
  return out;
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

// ---- Client and Session: the handles of client.h and session.h ----

// Plain `type` as the classes' metaclass, as the stubs declare (the two need
// no static properties, which pybind11's own metaclass is for).
py::metaclass PlainType() {
  return py::metaclass(py::handle(reinterpret_cast<PyObject*>(&PyType_Type)));
}

void AddClient(py::module_& m) {
  py::class_<Client>(m, "Client", "The library under one Config dict (libsandbox/client.h).",
                     PlainType())
      .def(py::init([](py::handle config) { return Client(FromDict<Config>(config)); }),
           py::arg("config"))
      .def_property_readonly(
          "config", [](const Client& c) { return MessageToDict(c.config()); },
          "The Config dict with defaults filled in.")
      .def(
          "run",
          [](const Client& c, py::handle request) {
            const RunRequest req = FromDict<RunRequest>(request);
            return ResultDict(Released([&] { return c.Run(req); }));
          },
          py::arg("request"), "Runs a RunRequest dict; returns a Result dict.")
      .def(
          "session",
          [](const Client& c, py::handle key, py::handle options) {
            return c.OpenSession(FromDict<SessionKey>(key), FromDict<SessionOptions>(options));
          },
          py::arg("key"), py::arg("options"),
          "The Session of a SessionKey dict, created with a SessionOptions dict by its first "
          "call.")
      .def("list_sessions", &SessionInfoDicts,
           "SessionInfo dicts (plus `running`) of the running sessions.");
}

void AddSession(py::module_& m) {
  using S = Session;
  py::class_<S>(m, "Session", "The session of one key (libsandbox/session.h).", PlainType())
      .def_property_readonly("key", [](const S& s) { return MessageToDict(s.key()); })
      .def(
          "exec",
          [](const S& s, py::handle request) {
            const ExecRequest req = FromDict<ExecRequest>(request);
            return ResultDict(Released([&] { return s.Exec(req); }));
          },
          py::arg("request"), "Runs an ExecRequest dict; returns a Result dict.")
      .def(
          "start",
          [](const S& s, py::handle request) {
            const ExecRequest req = FromDict<ExecRequest>(request);
            return ValueOrRaise(Released([&] { return s.Start(req); }));
          },
          py::arg("request"), "Starts an ExecRequest dict in the background; returns its id.")
      .def(
          "poll",
          [](const S& s, const std::string& id, int64_t stdout_offset, int64_t stderr_offset) {
            return MessageToDict(
                ValueOrRaise(Released([&] { return s.Poll(id, stdout_offset, stderr_offset); })));
          },
          py::arg("id"), py::arg("stdout_offset"), py::arg("stderr_offset"),
          "A ProcessOutput dict: output since the offsets, and the process's info.")
      .def(
          "wait",
          [](const S& s, const std::string& id, int64_t stdout_offset, int64_t stderr_offset,
             double timeout_s) {
            const absl::Duration timeout = absl::Seconds(timeout_s);
            return MessageToDict(ValueOrRaise(
                Released([&] { return s.Wait(id, stdout_offset, stderr_offset, timeout); })));
          },
          py::arg("id"), py::arg("stdout_offset"), py::arg("stderr_offset"), py::arg("timeout_s"),
          "poll, once there is output past the offsets, the end, or the timeout.")
      .def(
          "release",
          [](const S& s, const std::string& id) {
            RaiseIfError(Released([&] { return s.Release(id); }));
          },
          py::arg("id"))
      .def(
          "resize",
          [](const S& s, const std::string& id, int rows, int cols) {
            RaiseIfError(Released([&] { return s.Resize(id, rows, cols); }));
          },
          py::arg("id"), py::arg("rows"), py::arg("cols"))
      .def(
          "write_input",
          [](const S& s, const std::string& id, const py::bytes& data) {
            std::string bytes = data;
            RaiseIfError(Released([&] { return s.WriteInput(id, bytes); }));
          },
          py::arg("id"), py::arg("data"))
      .def(
          "close_input",
          [](const S& s, const std::string& id) {
            RaiseIfError(Released([&] { return s.CloseInput(id); }));
          },
          py::arg("id"))
      .def(
          "kill",
          [](const S& s, const std::string& id, int signal) {
            RaiseIfError(Released([&] { return s.Kill(id, signal); }));
          },
          py::arg("id"), py::arg("signal"))
      .def("list_ports",
           [](const S& s) {
             return MessageToDict(ValueOrRaise(Released([&] { return s.ListPorts(); })));
           })
      .def(
          "connect_port",
          [](const S& s, int port) {
            return ValueOrRaise(Released([&] { return s.ConnectPort(port); }));
          },
          py::arg("port"), "A connected socket fd to the port inside; the caller owns it.")
      .def("processes",
           [](const S& s) {
             return DictList(ValueOrRaise(Released([&] { return s.Processes(); })));
           })
      .def(
          "stat",
          [](const S& s, const std::string& path) {
            return MessageToDict(ValueOrRaise(Released([&] { return s.Stat(path); })));
          },
          py::arg("path"))
      .def(
          "make_dir",
          [](const S& s, const std::string& path, bool parents) {
            RaiseIfError(Released([&] { return s.MakeDir(path, parents); }));
          },
          py::arg("path"), py::arg("parents"))
      .def(
          "remove",
          [](const S& s, const std::string& path, bool recursive) {
            RaiseIfError(Released([&] { return s.Remove(path, recursive); }));
          },
          py::arg("path"), py::arg("recursive"))
      .def(
          "rename",
          [](const S& s, const std::string& from, const std::string& to) {
            RaiseIfError(Released([&] { return s.Rename(from, to); }));
          },
          py::arg("source"), py::arg("target"))
      .def(
          "read_file_range",
          [](const S& s, const std::string& path, int64_t offset, int64_t length) {
            return MessageToDict(
                ValueOrRaise(Released([&] { return s.ReadFileRange(path, offset, length); })));
          },
          py::arg("path"), py::arg("offset"), py::arg("length"))
      .def(
          "write_file_at",
          [](const S& s, const std::string& path, const py::bytes& data, int64_t offset) {
            std::string bytes = data;
            RaiseIfError(Released([&] { return s.WriteFileAt(path, bytes, offset); }));
          },
          py::arg("path"), py::arg("data"), py::arg("offset"))
      .def(
          "append_file",
          [](const S& s, const std::string& path, const py::bytes& data) {
            std::string bytes = data;
            RaiseIfError(Released([&] { return s.AppendFile(path, bytes); }));
          },
          py::arg("path"), py::arg("data"))
      .def(
          "find",
          [](const S& s, py::handle request) {
            const FindRequest req = FromDict<FindRequest>(request);
            return MessageToDict(ValueOrRaise(Released([&] { return s.Find(req); })));
          },
          py::arg("request"))
      .def(
          "archive",
          [](const S& s, const std::vector<std::string>& paths, int64_t max_bytes) {
            return py::bytes(ValueOrRaise(Released([&] { return s.Archive(paths, max_bytes); })));
          },
          py::arg("paths"), py::arg("max_bytes"))
      .def(
          "read_file",
          [](const S& s, const std::string& path, int64_t max_bytes) {
            return py::bytes(ValueOrRaise(Released([&] { return s.ReadFile(path, max_bytes); })));
          },
          py::arg("path"), py::arg("max_bytes"))
      .def(
          "write_file",
          [](const S& s, const std::string& path, const py::bytes& data) {
            std::string bytes = data;
            RaiseIfError(Released([&] { return s.WriteFile(path, bytes); }));
          },
          py::arg("path"), py::arg("data"))
      .def(
          "list_dir",
          [](const S& s, const std::string& path) {
            return MessageToDict(ValueOrRaise(Released([&] { return s.ListDir(path); })));
          },
          py::arg("path"))
      .def(
          "info",
          [](const S& s) {
            // Running or not: creates the session's record, as a first exec would.
            const bool running = ValueOrRaise(Released([&] { return s.Running(); }));
            return SessionInfoDict(ValueOrRaise(Released([&] { return s.Info(); })), running);
          },
          "The SessionInfo dict (plus `running`), running or not.")
      .def(
          "stop", [](const S& s) { RaiseIfError(Released([&] { return s.Stop(); })); },
          "Stops the sandbox; the workspace is kept.")
      .def(
          "reset", [](const S& s) { RaiseIfError(Released([&] { return s.Reset(); })); },
          "Stops the sandbox and empties the workspace.");
}

}  // namespace
}  // namespace libsandbox::python

PYBIND11_MODULE(_core, m) {
  namespace lp = libsandbox::python;
  using libsandbox::Client;
  using libsandbox::Config;
  m.doc() = "Compiled core of libsandbox; use the libsandbox package instead.";
  lp::AddExceptions(m);
  lp::AddSession(m);
  lp::AddClient(m);
  m.attr("VERSION") = std::string(libsandbox::kVersion);
  // The core's defaults, so the Python signatures can be checked against them.
  m.attr("DEFAULT_LANGUAGE") = std::string(libsandbox::DefaultLanguage());
  m.attr("DEFAULT_READ_BYTES") = libsandbox::kSessionReadBytes;
  m.attr("MAX_AUDIT_QUERY_LIMIT") = libsandbox::MaxAuditQueryLimit();
  m.def(
      "run",
      [](py::handle request, py::handle config) {
        const libsandbox::RunRequest req = lp::FromDict<libsandbox::RunRequest>(request);
        const Config cfg = lp::FromDict<Config>(config);
        return lp::ResultDict(lp::Released([&] { return libsandbox::Run(req, cfg); }));
      },
      py::arg("request"), py::arg("config"),
      "Runs a RunRequest dict under a Config dict; returns a Result dict. Releases the GIL.");
  m.def(
      "runsc_version",
      [](py::handle config) {
        const Config cfg = lp::FromDict<Config>(config);
        return lp::ValueOrRaise(lp::Released([&] { return libsandbox::RunscVersion(cfg); }));
      },
      py::arg("config"), "The version of the runsc the Config dict selects.");
  m.def(
      "doctor",
      [](py::handle config) {
        const Config cfg = lp::FromDict<Config>(config);
        return lp::DictList(lp::Released([&] { return libsandbox::Doctor(cfg); }));
      },
      py::arg("config"), "Host self-checks as Check dicts.");
  m.def(
      "default_limits", [] { return lp::MessageToDict(libsandbox::DefaultLimits()); },
      "The Limits dict used when a request sets none.");
  m.def(
      "resolved_config",
      [](py::handle config) {
        return lp::MessageToDict(libsandbox::ResolvedConfig(lp::FromDict<Config>(config)));
      },
      py::arg("config"), "The Config dict with defaults filled in.");
  m.def(
      "get_policies",
      [](py::handle config) {
        const Config cfg = lp::FromDict<Config>(config);
        return lp::MessageToDict(
            lp::ValueOrRaise(lp::Released([&] { return libsandbox::GetPolicies(cfg); })));
      },
      py::arg("config"), "The PolicySet dict the config's policy file holds.");
  m.def(
      "set_policies",
      [](py::handle set, py::handle config) {
        const auto s = lp::FromDict<libsandbox::PolicySet>(set);
        const Config cfg = lp::FromDict<Config>(config);
        // Takes the file's lock.
        lp::RaiseIfError(lp::Released([&] { return libsandbox::SetPolicies(cfg, s); }));
      },
      py::arg("policy_set"), py::arg("config"), "Replaces the policy file's whole set.");
  m.def(
      "set_policy",
      [](py::handle policy, py::handle config) {
        const auto p = lp::FromDict<libsandbox::Policy>(policy);
        const Config cfg = lp::FromDict<Config>(config);
        lp::RaiseIfError(lp::Released([&] { return libsandbox::SetPolicy(cfg, p); }));
      },
      py::arg("policy"), py::arg("config"), "Adds a Policy dict, or replaces the one of its name.");
  m.def(
      "remove_policy",
      [](const std::string& name, py::handle config) {
        const Config cfg = lp::FromDict<Config>(config);
        lp::RaiseIfError(lp::Released([&] { return libsandbox::RemovePolicy(cfg, name); }));
      },
      py::arg("name"), py::arg("config"), "Removes the policy of that name.");
  m.def(
      "query_audit",
      [](py::handle config, const std::string& user, int limit) {
        const Config cfg = lp::FromDict<Config>(config);
        // Reads (up to two rotations of) the log file.
        return lp::DictList(lp::ValueOrRaise(
            lp::Released([&] { return libsandbox::QueryAudit(cfg, user, limit); })));
      },
      py::arg("config"), py::arg("user"), py::arg("limit"),
      "Up to `limit` AuditRecord dicts of `user` (empty: all), newest first. Releases the GIL.");
  m.def("languages", &libsandbox::Languages, "The languages run() accepts.");
  m.def("status_names", &lp::StatusNames, "The names of every Result status.");
  m.def(
      "metrics",
      [] {
        // Waits on the library's lock, never on Python.
        return lp::MessageToDict(lp::Released([] { return libsandbox::GetMetrics(); }));
      },
      "Counters, gauges and latency histograms of this process's runs, as a Metrics dict.");
  m.def(
      "shutdown", [] { lp::Released([] { libsandbox::Shutdown(); }); },
      "Drains warm pools, stops sessions and releases what runs keep between runs.");
  m.def(
      "list_sessions",
      [](py::handle config) { return lp::SessionInfoDicts(Client(lp::FromDict<Config>(config))); },
      py::arg("config"), "SessionInfo dicts (plus `running`) of the config's running sessions.");
}
