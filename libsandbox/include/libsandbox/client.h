// libsandbox::Client: the library under one Config, made once and passed
// around.
//
//   libsandbox::Config config;
//   config.set_storage_dir("/var/lib/myhost");
//   libsandbox::Client client(config);
//   libsandbox::Result r = client.Run(request);
//   libsandbox::Session s = client.OpenSession(key);  // session.h
//
// A Client keeps its Config resolved (ResolvedConfig) and is a value: copies
// share it and are cheap; every call is thread-safe and never throws. It
// owns no sandbox: runs and sessions are the process-wide ones of its Config,
// the same the free functions of sandbox.h reach with that Config, and
// Shutdown() stops them whatever Clients exist.
#ifndef LIBSANDBOX_CLIENT_H_
#define LIBSANDBOX_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/proto/config.pb.h"
#include "libsandbox/session.h"

namespace libsandbox {

class Client {
 public:
  // A Client of the default Config.
  Client();
  explicit Client(const Config& config);
  Client(const Client&) = default;
  Client& operator=(const Client&) = default;
  Client(Client&&) = default;
  Client& operator=(Client&&) = default;
  ~Client();

  // The Config, with its defaults filled in.
  const Config& config() const { return *config_; }

  // Runs `request` in a fresh sandbox (as Run of sandbox.h).
  Result Run(const RunRequest& request) const;

  // The session of `key`: created with `options` by its first call if it
  // does not exist, booted by the first call that needs its sandbox. Never
  // fails here: a bad key or options is reported by the handle's calls.
  Session OpenSession(const SessionKey& key,
                      const SessionOptions& options = SessionOptions()) const;

  // The sessions of this Config whose sandbox is running, by workspace.
  absl::StatusOr<std::vector<SessionInfo>> ListSessions() const;

  // Host self-checks (as Doctor of sandbox.h).
  std::vector<Check> Doctor() const;

  // Up to `limit` (<= 0: 100) audit records of `user` (empty: every user),
  // newest first.
  absl::StatusOr<std::vector<AuditRecord>> QueryAudit(const std::string& user = "",
                                                      int limit = 100) const;

 private:
  std::shared_ptr<const Config> config_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_CLIENT_H_
