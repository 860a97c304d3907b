// The public session API: Client (client.h), Session (session.h) and the
// session functions of sandbox.h. A Session handle is its Config, key and
// options; each call finds the process-wide SessionManager of the Config
// (session/session.h) and the ManagedSession of the key there, so handles
// never keep a session, or a manager, alive past Shutdown or across a fork.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "libsandbox/client.h"
#include "libsandbox/run/outcome.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_files.h"

namespace libsandbox {

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
};

Session::Session(std::shared_ptr<const State> state) : state_(std::move(state)) {}
Session::~Session() = default;

const SessionKey& Session::key() const { return state_->key; }
const SessionOptions& Session::options() const { return state_->options; }

Result Session::Exec(const ExecRequest& request) const {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<ManagedSession>> session = state_->Get();
  if (!session.ok()) return SetupFailedResult(session.status(), start);
  return (*session)->Exec(request);
}

absl::StatusOr<std::string> Session::Start(const ExecRequest& request) const {
  return state_->On([&](ManagedSession& s) { return s.Start(request); });
}

absl::StatusOr<ProcessOutput> Session::Poll(const std::string& id, int64_t stdout_offset,
                                            int64_t stderr_offset) const {
  return state_->On([&](ManagedSession& s) { return s.Poll(id, stdout_offset, stderr_offset); });
}

absl::Status Session::WriteInput(const std::string& id, const std::string& data) const {
  return state_->On([&](ManagedSession& s) { return s.WriteInput(id, data); });
}

absl::Status Session::CloseInput(const std::string& id) const {
  return state_->On([&](ManagedSession& s) { return s.CloseInput(id); });
}

absl::Status Session::Kill(const std::string& id, int signal) const {
  return state_->On([&](ManagedSession& s) { return s.Kill(id, signal); });
}

absl::StatusOr<std::vector<ProcessInfo>> Session::Processes() const {
  return state_->On(
      [](ManagedSession& s) -> absl::StatusOr<std::vector<ProcessInfo>> { return s.Processes(); });
}

absl::StatusOr<std::string> Session::ReadFile(const std::string& path, int64_t max_bytes) const {
  return state_->On([&](ManagedSession& s) { return s.ReadFile(path, max_bytes); });
}

absl::Status Session::WriteFile(const std::string& path, const std::string& data) const {
  return state_->On([&](ManagedSession& s) { return s.WriteFile(path, data); });
}

absl::StatusOr<DirListing> Session::ListDir(const std::string& path) const {
  return state_->On([&](ManagedSession& s) { return s.ListDir(path); });
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
  return (*manager)->Stop(state_->key);
}

absl::Status Session::Reset() const {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = state_->Manager();
  if (!manager.ok()) return manager.status();
  return (*manager)->Reset(state_->key);
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
