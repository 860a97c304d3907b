// The private directory of one run under <state_dir>/runs, marked live by a
// lock held for the run's lifetime, and the reaper that cleans up after runs
// whose host process died (SIGKILL, crash) before tearing down.
#ifndef LIBSANDBOX_HOST_RUN_DIR_H_
#define LIBSANDBOX_HOST_RUN_DIR_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox {

class RunDir {
 public:
  // Creates <state_dir>/runs/<id>.lock (already locked when it appears) and
  // <state_dir>/runs/<id>/.
  static absl::StatusOr<RunDir> Create(const std::string& state_dir);
  RunDir(RunDir&&) = default;
  RunDir& operator=(RunDir&&) = default;
  ~RunDir();

  const std::string& id() const { return id_; }
  const std::string& path() const { return path_; }
  std::string workspace() const { return path_ + "/workspace"; }

 private:
  RunDir() = default;
  std::string id_;
  std::string path_;
  std::string lock_path_;
  UniqueFd lock_;
};

// The runsc --root used for all sandboxes of a state dir.
std::string RunscRoot(const std::string& state_dir);
// The runsc container id of a run.
std::string ContainerId(const std::string& run_id);
// Removes runsc's state files of these containers from `runsc_root`, for when
// `runsc delete` failed after every process of the sandbox was killed.
void RemoveRunscState(const std::string& runsc_root, const std::set<std::string>& containers);

// Cleans up every run of `state_dir` whose lock is not held: its runsc
// container, cgroups, workspace mount and directory. Safe to call while other
// processes run sandboxes in the same state dir. Returns how many it reaped.
int ReapStaleRuns(const std::string& state_dir, const std::string& runsc_path);

// Unmounts the workspace (if mounted) and removes a run's directory.
void RemoveRunTree(const std::string& run_path);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_RUN_DIR_H_
