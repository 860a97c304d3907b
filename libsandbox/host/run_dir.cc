#include "libsandbox/host/run_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libsandbox/host/cgroup.h"
#include "libsandbox/host/process.h"

namespace libsandbox {
namespace {

std::string RunsDir(const std::string& state_dir) { return state_dir + "/runs"; }

}  // namespace

std::string RunscRoot(const std::string& state_dir) { return state_dir + "/runsc"; }
std::string ContainerId(const std::string& run_id) { return "libsandbox-" + run_id; }

absl::StatusOr<RunDir> RunDir::Create(const std::string& state_dir) {
  std::string runs = RunsDir(state_dir);
  if (auto s = MakeDirs(runs, 0700); !s.ok()) return s;
  RunDir d;
  // An unnamed file, locked, then linked into place: no reaper can ever see
  // the lock file unlocked while the run is alive.
  UniqueFd fd(::open(runs.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat("open O_TMPFILE in ", runs), errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return ErrnoStatus("flock", errno);
  std::string proc_path = absl::StrCat("/proc/self/fd/", fd.get());
  for (int attempt = 0; attempt < 8; ++attempt) {
    d.id_ = RandomHex(8);
    d.lock_path_ = absl::StrCat(runs, "/", d.id_, ".lock");
    if (::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, d.lock_path_.c_str(), AT_SYMLINK_FOLLOW) ==
        0) {
      break;
    }
    if (errno != EEXIST) return ErrnoStatus("link lock file", errno);
    d.lock_path_.clear();
  }
  if (d.lock_path_.empty()) return absl::InternalError("could not create a unique run id");
  d.lock_ = std::move(fd);
  d.path_ = absl::StrCat(runs, "/", d.id_);
  if (::mkdir(d.path_.c_str(), 0711) != 0) return ErrnoStatus("mkdir " + d.path_, errno);
  return d;
}

RunDir::~RunDir() {
  if (path_.empty()) return;
  RemoveRunTree(path_);
  ::unlink(lock_path_.c_str());
}

void RemoveRunTree(const std::string& run_path) {
  // Detach in case something still holds it; the tmpfs goes with its last user.
  ::umount2((run_path + "/workspace").c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  (void)RemoveTree(run_path);
}

void RemoveRunscState(const std::string& runsc_root, const std::set<std::string>& containers) {
  DIR* d = ::opendir(runsc_root.c_str());
  if (d == nullptr) return;
  std::vector<std::string> left;
  while (struct dirent* e = ::readdir(d)) {
    for (const std::string& c : containers) {
      if (absl::StrContains(e->d_name, c)) left.push_back(e->d_name);
    }
  }
  ::closedir(d);
  for (const std::string& name : left) (void)RemoveTree(absl::StrCat(runsc_root, "/", name));
}

int ReapStaleRuns(const std::string& state_dir, const std::string& runsc_path) {
  std::string runs = RunsDir(state_dir);
  DIR* d = ::opendir(runs.c_str());
  if (d == nullptr) return 0;
  std::set<std::string> locks, dirs;
  while (struct dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (absl::ConsumeSuffix(&name, ".lock")) {
      locks.emplace(name);
    } else {
      dirs.emplace(name);
    }
  }
  ::closedir(d);

  std::set<std::string> stale;
  std::vector<UniqueFd> held;  // keep stale locks held while cleaning
  for (const std::string& id : locks) {
    UniqueFd fd(::open(absl::StrCat(runs, "/", id, ".lock").c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    stale.insert(id);
    held.push_back(std::move(fd));
  }
  // A directory is created after its lock and removed before it.
  for (const std::string& id : dirs) {
    if (!locks.contains(id)) stale.insert(id);
  }
  if (stale.empty()) return 0;

  // Kill first: a sandbox's processes all sit in its cgroup, so runsc's
  // delete then only removes the state of a sandbox that is already gone.
  if (absl::StatusOr<CgroupHost> host = DetectCgroups(); host.ok()) {
    ReapStaleCgroups(*host, [&](const std::string& name) { return stale.contains(name); });
  }
  for (const std::string& id : stale) {
    if (!runsc_path.empty()) {
      (void)RunCommand(
          {runsc_path, "--root", RunscRoot(state_dir), "delete", "--force", ContainerId(id)},
          absl::Seconds(10));
    }
  }
  // runsc refuses to delete a container its crashed creator left half made;
  // its processes are dead by now, so its state files go by hand.
  std::set<std::string> containers;
  for (const std::string& id : stale) containers.insert(ContainerId(id));
  RemoveRunscState(RunscRoot(state_dir), containers);
  for (const std::string& id : stale) {
    RemoveRunTree(absl::StrCat(runs, "/", id));
    ::unlink(absl::StrCat(runs, "/", id, ".lock").c_str());
  }
  return static_cast<int>(stale.size());
}

}  // namespace libsandbox
