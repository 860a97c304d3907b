// The public session API: Client (client.h), Session (session.h) and the
// session functions of sandbox.h. A Session handle is its Config, key and
// options; each call finds the process-wide SessionManager of the Config
// (session/session.h) and the ManagedSession of the key there, so handles
// never keep a session, or a manager, alive past Shutdown or across a fork.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/client.h"
#include "libsandbox/run/outcome.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_files.h"

namespace libsandbox {

namespace {

// Audit details of a call on a process or on a file (-Wextra wants every
// field of a designated initializer).
SessionAudit::Details ProcessCall(const std::string& id, int64_t bytes = 0, int signal = 0) {
  SessionAudit::Details d;
  d.process = id;
  d.bytes = bytes;
  d.signal = signal;
  return d;
}

SessionAudit::Details FileCall(const std::string& path, int64_t bytes = 0) {
  SessionAudit::Details d;
  d.path = path;
  d.bytes = bytes;
  return d;
}

}  // namespace

static_assert(kSessionReadBytes == kDefaultReadBytes);
static_assert(kSessionMaxFileBytes == kMaxFileOpBytes);

struct Session::State {
  std::shared_ptr<const Config> config;  // resolved
  SessionKey key;
  SessionOptions options;

  absl::StatusOr<std::shared_ptr<SessionManager>> Manager() const {
    return SessionManager::ForConfig(*config);
  }
  // The session of the key, created with the options if there is none.
  absl::StatusOr<std::shared_ptr<ManagedSession>> Get() const {
    absl::StatusOr<std::shared_ptr<SessionManager>> manager = Manager();
    if (!manager.ok()) return manager.status();
    return (*manager)->Get(key, options);
  }
  // `call` on the session, or the status of finding it.
  template <typename Fn>
  auto On(Fn call) const -> decltype(call(std::declval<ManagedSession&>())) {
    absl::StatusOr<std::shared_ptr<ManagedSession>> session = Get();
    if (!session.ok()) return session.status();
    return call(**session);
  }
  // On, then the call's audit record: `audit(log, outcome)`.
  template <typename Fn, typename Audit>
  auto Audited(Fn call, Audit audit) const -> decltype(call(std::declval<ManagedSession&>())) {
    using Out = decltype(call(std::declval<ManagedSession&>()));
    absl::StatusOr<std::shared_ptr<SessionManager>> manager = Manager();
    if (!manager.ok()) return manager.status();
    absl::StatusOr<std::shared_ptr<ManagedSession>> session = (*manager)->Get(key, options);
    Out out = session.ok() ? call(**session) : Out(session.status());
    audit((*manager)->audit(), out);
    return out;
  }
  // A call whose audit record needs only its outcome and `details`.
  template <typename Fn>
  auto Logged(std::string_view name, const SessionAudit::Details& details, Fn call) const
      -> decltype(call(std::declval<ManagedSession&>())) {
    return Audited(call, [&](const SessionAudit& log, const auto& out) {
      log.Call(key, name, StatusOf(out), details);
    });
  }
  static absl::Status StatusOf(const absl::Status& s) { return s; }
  template <typename T>
  static absl::Status StatusOf(const absl::StatusOr<T>& s) {
    return s.status();
  }
};

Session::Session(std::shared_ptr<const State> state) : state_(std::move(state)) {}
Session::~Session() = default;

const SessionKey& Session::key() const { return state_->key; }
const SessionOptions& Session::options() const { return state_->options; }

Result Session::Exec(const ExecRequest& request) const {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = state_->Manager();
  if (!manager.ok()) return SetupFailedResult(manager.status(), start);
  absl::StatusOr<std::shared_ptr<ManagedSession>> session =
      (*manager)->Get(state_->key, state_->options);
  Result result =
      session.ok() ? (*session)->Exec(request) : SetupFailedResult(session.status(), start);
  (*manager)->audit().Exec(state_->key, request, result);
  return result;
}

absl::StatusOr<std::string> Session::Start(const ExecRequest& request) const {
  return state_->Audited([&](ManagedSession& s) { return s.Start(request); },
                         [&](const SessionAudit& log, const absl::StatusOr<std::string>& id) {
                           log.Start(state_->key, request, id.status(), id.ok() ? *id : "");
                         });
}

absl::StatusOr<ProcessOutput> Session::Poll(const std::string& id, int64_t stdout_offset,
                                            int64_t stderr_offset) const {
  return state_->On([&](ManagedSession& s) { return s.Poll(id, stdout_offset, stderr_offset); });
}

absl::StatusOr<ProcessOutput> Session::Wait(const std::string& id, int64_t stdout_offset,
                                            int64_t stderr_offset, absl::Duration timeout) const {
  return state_->On(
      [&](ManagedSession& s) { return s.Wait(id, stdout_offset, stderr_offset, timeout); });
}

absl::Status Session::Release(const std::string& id) const {
  return state_->Logged("release", ProcessCall(id),
                        [&](ManagedSession& s) { return s.Release(id); });
}

absl::Status Session::Resize(const std::string& id, int rows, int cols) const {
  return state_->On([&](ManagedSession& s) { return s.Resize(id, rows, cols); });
}

absl::StatusOr<PortListing> Session::ListPorts() const {
  return state_->On([](ManagedSession& s) { return s.ListPorts(); });
}

absl::StatusOr<int> Session::ConnectPort(int port) const {
  return state_->On([&](ManagedSession& s) -> absl::StatusOr<int> {
    absl::StatusOr<UniqueFd> fd = s.ConnectPort(port);
    if (!fd.ok()) return fd.status();
    return fd->release();
  });
}

absl::Status Session::WriteInput(const std::string& id, const std::string& data) const {
  return state_->Logged("input", ProcessCall(id, static_cast<int64_t>(data.size())),
                        [&](ManagedSession& s) { return s.WriteInput(id, data); });
}

absl::Status Session::CloseInput(const std::string& id) const {
  return state_->Logged("close_input", ProcessCall(id),
                        [&](ManagedSession& s) { return s.CloseInput(id); });
}

absl::Status Session::Kill(const std::string& id, int signal) const {
  return state_->Logged("kill", ProcessCall(id, 0, signal),
                        [&](ManagedSession& s) { return s.Kill(id, signal); });
}

absl::StatusOr<std::vector<ProcessInfo>> Session::Processes() const {
  return state_->On(
      [](ManagedSession& s) -> absl::StatusOr<std::vector<ProcessInfo>> { return s.Processes(); });
}

absl::StatusOr<std::string> Session::ReadFile(const std::string& path, int64_t max_bytes) const {
  return state_->Audited([&](ManagedSession& s) { return s.ReadFile(path, max_bytes); },
                         [&](const SessionAudit& log, const absl::StatusOr<std::string>& data) {
                           log.Call(
                               state_->key, "read_file", data.status(),
                               FileCall(path, data.ok() ? static_cast<int64_t>(data->size()) : 0));
                         });
}

absl::Status Session::WriteFile(const std::string& path, const std::string& data) const {
  return state_->Logged("write_file", FileCall(path, static_cast<int64_t>(data.size())),
                        [&](ManagedSession& s) { return s.WriteFile(path, data); });
}

absl::StatusOr<DirListing> Session::ListDir(const std::string& path) const {
  return state_->Logged("list_dir", FileCall(path),
                        [&](ManagedSession& s) { return s.ListDir(path); });
}

absl::StatusOr<FileStat> Session::Stat(const std::string& path) const {
  return state_->Logged("stat", FileCall(path), [&](ManagedSession& s) { return s.Stat(path); });
}

absl::Status Session::MakeDir(const std::string& path, bool parents) const {
  return state_->Logged("mkdir", FileCall(path),
                        [&](ManagedSession& s) { return s.MakeDir(path, parents); });
}

absl::Status Session::Remove(const std::string& path, bool recursive) const {
  return state_->Logged("remove", FileCall(path),
                        [&](ManagedSession& s) { return s.Remove(path, recursive); });
}

absl::Status Session::Rename(const std::string& from, const std::string& to) const {
  return state_->Logged("rename", FileCall(absl::StrCat(from, " -> ", to)),
                        [&](ManagedSession& s) { return s.Rename(from, to); });
}

absl::StatusOr<FileChunk> Session::ReadFileRange(const std::string& path, int64_t offset,
                                                 int64_t length) const {
  return state_->Audited(
      [&](ManagedSession& s) { return s.ReadRange(path, offset, length); },
      [&](const SessionAudit& log, const absl::StatusOr<FileChunk>& chunk) {
        log.Call(state_->key, "read_range", chunk.status(),
                 FileCall(path, chunk.ok() ? static_cast<int64_t>(chunk->data().size()) : 0));
      });
}

absl::Status Session::WriteFileAt(const std::string& path, const std::string& data,
                                  int64_t offset) const {
  if (offset < 0) return absl::InvalidArgumentError("offset: must be >= 0");
  return state_->Logged("write_at", FileCall(path, static_cast<int64_t>(data.size())),
                        [&](ManagedSession& s) { return s.WriteAt(path, data, offset); });
}

absl::Status Session::AppendFile(const std::string& path, const std::string& data) const {
  return state_->Logged("append", FileCall(path, static_cast<int64_t>(data.size())),
                        [&](ManagedSession& s) { return s.WriteAt(path, data, -1); });
}

absl::StatusOr<FindResult> Session::Find(const FindRequest& request) const {
  return state_->Logged("find", FileCall(request.path()),
                        [&](ManagedSession& s) { return s.Find(request); });
}

absl::StatusOr<std::string> Session::Archive(const std::vector<std::string>& paths,
                                             int64_t max_bytes) const {
  return state_->Audited([&](ManagedSession& s) { return s.Archive(paths, max_bytes); },
                         [&](const SessionAudit& log, const absl::StatusOr<std::string>& zip) {
                           log.Call(state_->key, "archive", zip.status(),
                                    FileCall(paths.empty() ? "" : paths[0],
                                             zip.ok() ? static_cast<int64_t>(zip->size()) : 0));
                         });
}

absl::StatusOr<SessionInfo> Session::Info() const {
  return state_->On([](ManagedSession& s) -> absl::StatusOr<SessionInfo> { return s.Info(); });
}

absl::StatusOr<bool> Session::Running() const {
  return state_->On([](ManagedSession& s) -> absl::StatusOr<bool> { return s.live(); });
}

absl::Status Session::Stop() const {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = state_->Manager();
  if (!manager.ok()) return manager.status();
  absl::Status s = (*manager)->Stop(state_->key);
  (*manager)->audit().Call(state_->key, "stop", s);
  return s;
}

absl::Status Session::Reset() const {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = state_->Manager();
  if (!manager.ok()) return manager.status();
  absl::Status s = (*manager)->Reset(state_->key);
  (*manager)->audit().Call(state_->key, "reset", s);
  return s;
}

Client::Client() : Client(Config()) {}
Client::Client(const Config& config)
    : config_(std::make_shared<const Config>(ResolvedConfig(config))) {}
Client::~Client() = default;

Result Client::Run(const RunRequest& request) const { return libsandbox::Run(request, *config_); }

Session Client::OpenSession(const SessionKey& key, const SessionOptions& options) const {
  auto state = std::make_shared<Session::State>();
  state->config = config_;
  state->key = key;
  state->options = options;
  return Session(std::move(state));
}

absl::StatusOr<std::vector<SessionInfo>> Client::ListSessions() const {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(*config_);
  if (!manager.ok()) return manager.status();
  return (*manager)->List();
}

std::vector<Check> Client::Doctor() const { return libsandbox::Doctor(*config_); }

absl::StatusOr<std::vector<AuditRecord>> Client::QueryAudit(const std::string& user,
                                                            int limit) const {
  return libsandbox::QueryAudit(*config_, user, limit);
}

// ---- The free functions of sandbox.h ----

Result SessionExec(const SessionKey& key, const ExecRequest& request, const SessionOptions& options,
                   const Config& config) {
  return Client(config).OpenSession(key, options).Exec(request);
}

absl::Status StopSession(const SessionKey& key, const Config& config) {
  return Client(config).OpenSession(key).Stop();
}

absl::Status ResetSession(const SessionKey& key, const Config& config) {
  return Client(config).OpenSession(key).Reset();
}

absl::StatusOr<std::vector<SessionInfo>> ListSessions(const Config& config) {
  return Client(config).ListSessions();
}

void ShutdownSessions() { SessionManager::ShutdownAll(); }

}  // namespace libsandbox
