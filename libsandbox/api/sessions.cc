// The public session functions of sandbox.h: each finds the process-wide
// SessionManager of its Config (session/session.h) and asks it.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "libsandbox/run/outcome.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session/session.h"

namespace libsandbox {

Result SessionExec(const SessionKey& key, const ExecRequest& request, const SessionOptions& options,
                   const Config& config) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) {
    return SetupFailedResult(manager.status(), start);
  }
  absl::StatusOr<std::shared_ptr<Session>> session = (*manager)->Get(key, options);
  if (!session.ok()) {
    return SetupFailedResult(session.status(), start);
  }
  return (*session)->Exec(request);
}

absl::Status StopSession(const SessionKey& key, const Config& config) {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) return manager.status();
  return (*manager)->Stop(key);
}

absl::Status ResetSession(const SessionKey& key, const Config& config) {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) return manager.status();
  return (*manager)->Reset(key);
}

absl::StatusOr<std::vector<SessionInfo>> ListSessions(const Config& config) {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) return manager.status();
  return (*manager)->List();
}

void ShutdownSessions() { SessionManager::ShutdownAll(); }

}  // namespace libsandbox
