// Where a session's sandbox and background processes start: on one
// long-lived thread per SessionManager. runsc gets PR_SET_PDEATHSIG, which
// fires when the thread that started it exits, and a session's sandbox (or
// background process) must outlive the caller thread that asked for it.
#ifndef LIBSANDBOX_SESSION_SESSION_LAUNCHER_H_
#define LIBSANDBOX_SESSION_SESSION_LAUNCHER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libsandbox/base/task_thread.h"
#include "libsandbox/run/instance.h"
#include "libsandbox/session/session_process.h"

namespace libsandbox {

class SessionLauncher {
 public:
  // Prepares and launches a session's sandbox, waiting until its init says
  // it is ready. Caps that run unenforced are added to `notes`.
  absl::StatusOr<std::unique_ptr<Instance>> Boot(std::shared_ptr<const Environment> env,
                                                 const InstanceSpec& spec, std::string* notes);
  // Starts a background process (its `runsc exec`).
  absl::StatusOr<std::unique_ptr<BackgroundProcess>> StartProcess(BackgroundSpec spec);
  // Starts a child that outlives the caller's thread.
  absl::StatusOr<Subprocess> Spawn(const SpawnOptions& options);

 private:
  TaskThread thread_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_LAUNCHER_H_
