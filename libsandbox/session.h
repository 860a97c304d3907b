// Persistent per-user sessions: one long-lived sandbox per SessionKey,
// booted on first use and reused across execs, with a workspace on disk
// under <storage_dir>/sessions/<key>/workspace that outlives the sandbox and
// the host process. State carries from exec to exec: files, the current
// directory and background processes (until the session stops).
//
// Each exec is a `runsc exec` into the session's sandbox of a fixed wrapper
// that restores the last cwd, runs the code file (never on argv) and records
// the cwd again. A timeout kills only that exec's process group; a sandbox
// that dies (e.g. out of memory) is replaced on the next exec, on the same
// workspace.
//
// Extension points for an interactive terminal server, not built yet:
// background commands with incremental output and a PTY would be further
// `runsc exec` modes beside Session::Exec (sharing Boot and the exec
// plumbing); file operations would act on workspace() under the session lock.
#ifndef LIBSANDBOX_SESSION_H_
#define LIBSANDBOX_SESSION_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libsandbox/fs_util.h"
#include "libsandbox/instance.h"
#include "libsandbox/policy.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

inline constexpr absl::Duration kDefaultSessionIdleTimeout = absl::Minutes(30);

// The directory of a session below <storage_dir>/sessions: the UserKey of
// user, policy and chat as nested directories, so distinct keys never share
// one. InvalidArgument for parts UserKey rejects.
absl::StatusOr<std::string> SessionDirName(const SessionKey& key);

// The limits a session gets when its options set none.
Limits DefaultSessionLimits();

class SessionLauncher;  // session.cc: the thread that starts sandboxes

class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs one command in the session, booting its sandbox if it is not
  // running. Concurrent calls on one session run one after the other.
  Result Exec(const ExecRequest& request);
  // Stops the sandbox (background processes end); the workspace is kept.
  absl::Status Stop();
  // Stops the sandbox and empties the workspace.
  absl::Status Reset();

  // Never wait for a running exec (which counts as live and busy).
  SessionInfo Info() const;
  bool live() const;
  const SessionKey& key() const { return key_; }
  const std::string& workspace() const { return workspace_; }

 private:
  friend class SessionManager;
  Session() = default;
  absl::Status BootLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LockWorkspace() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops the sandbox if no exec ran for longer than the idle timeout.
  // Never waits for a running exec. True if it stopped it.
  bool StopIfIdle(absl::Time now);
  // Kills the process group of the exec whose sandbox pid runsc wrote to
  // `pid_file`, leaving the session running.
  void KillExec(const std::string& pid_file) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<const Environment> env_;
  std::shared_ptr<SessionLauncher> launcher_;
  SessionKey key_;
  Limits limits_;  // after the policy
  bool network_ = false;
  std::map<std::string, std::string> env_vars_;
  absl::Duration idle_timeout_ = kDefaultSessionIdleTimeout;
  std::string notes_;  // caps that run unenforced (config allows it)
  std::string dir_;    // <storage_dir>/sessions/<key>
  std::string workspace_;

  mutable absl::Mutex mu_;
  std::unique_ptr<Instance> instance_ ABSL_GUARDED_BY(mu_);
  // Held while a sandbox uses the workspace, so two host processes never
  // run one session at once.
  UniqueFd lock_ ABSL_GUARDED_BY(mu_);
  int64_t execs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_exec_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_used_ ABSL_GUARDED_BY(mu_);
};

// The sessions of one Config. Thread-safe; sessions of different keys run
// in parallel. Destruction stops every session it holds (workspaces stay).
class SessionManager {
 public:
  // The process-wide manager of `config` (resolved here), created on first
  // use.
  static absl::StatusOr<std::shared_ptr<SessionManager>> ForConfig(const Config& config);
  // A manager of its own, outside the process-wide registry.
  static absl::StatusOr<std::unique_ptr<SessionManager>> Create(const Config& config);
  // Stops every session of every ForConfig manager and forgets them.
  static void ShutdownAll();

  ~SessionManager();
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // The session of `key`, created on first use with `options` (later calls'
  // options are ignored while it exists). Its sandbox boots on the first
  // Exec. InvalidArgument for a bad key or options; FailedPrecondition when
  // the policy file is broken.
  absl::StatusOr<std::shared_ptr<Session>> Get(const SessionKey& key,
                                               const SessionOptions& options = SessionOptions());
  // Sessions whose sandbox is running, sorted by workspace.
  std::vector<SessionInfo> List() const;
  // Stops the session's sandbox; the workspace is kept. OK if none runs.
  absl::Status Stop(const SessionKey& key);
  // Stops the session and empties its workspace.
  absl::Status Reset(const SessionKey& key);

 private:
  explicit SessionManager(std::shared_ptr<const Environment> env);
  void ReapLoop();

  const std::shared_ptr<const Environment> env_;
  const std::shared_ptr<SessionLauncher> launcher_;
  PolicyStore policies_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t added_ ABSL_GUARDED_BY(mu_) = 0;  // sessions ever added; wakes the reaper
  std::thread reaper_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_H_
