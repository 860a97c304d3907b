// Where this process sits in the cgroup hierarchies, and the subtree below
// it that sandbox cgroups may use.
//
// v1: one directory per controller, used as it is. v2: one directory (the
// "base") whose children get the memory, cpu and pids controllers. Cgroup v2
// forbids enabling controllers for the children of a cgroup that holds
// processes (only the true root may), so on a non-root cgroup the base's
// processes are first moved into a leaf, kCgroupLeaf, beside the sandboxes:
//
//   <base>/                  the cgroup this process was started in
//   <base>/libsandbox-host/  this process (and whatever shared <base>)
//   <base>/libsandbox/<id>/  one per sandbox
//
// The base is found by membership (the directory whose cgroup.procs lists
// this process), never by the mount root alone: a private cgroup namespace
// over a bind-mounted host cgroupfs shows "/" for a cgroup deep in the tree.
#ifndef LIBSANDBOX_HOST_CGROUP_HOST_H_
#define LIBSANDBOX_HOST_CGROUP_HOST_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace libsandbox {

enum class CgroupVersion { kNone, kV1, kV2 };

// The name below the base under which sandbox cgroups live.
inline constexpr char kCgroupParent[] = "libsandbox";
// v2: the leaf this process (and the base's other processes) moves into.
inline constexpr char kCgroupLeaf[] = "libsandbox-host";

struct CgroupHost {
  CgroupVersion version = CgroupVersion::kNone;
  // v1: controller name -> directory of this process's cgroup in that
  // controller's hierarchy. v2: memory/cpu/pids (those available) -> the base.
  std::map<std::string, std::string> own_dirs;
  bool memsw = false;  // v1 memory.memsw.* present (swap accounting)

  // v2 only.
  std::string mountpoint;   // the unified hierarchy's mount
  std::string base;         // the cgroup sandboxes go below
  bool true_root = false;   // base is the hierarchy's real root (a VM or bare host)
  bool namespaced = false;  // /proc/self/cgroup does not name the base (private cgroupns)
  bool moved = false;       // this process already sits in base/kCgroupLeaf
  std::vector<std::string> available;  // base/cgroup.controllers
  std::vector<std::string> delegated;  // base/cgroup.subtree_control
  std::vector<pid_t> others;           // processes in the base besides this one

  bool Has(const std::string& controller) const { return own_dirs.contains(controller); }
  // v2: the base already hands memory (and cpu, pids where available) down.
  bool Ready() const;
  // One line for messages and the doctor: version, base, layout.
  std::string Describe() const;
};

// Reads /proc/self/mountinfo, /proc/self/cgroup and the cgroup files; changes
// nothing. v2 is chosen when the unified hierarchy has the memory
// controller, else v1.
absl::StatusOr<CgroupHost> DetectCgroups();

struct CgroupSetup {
  // Never move other processes out of the base (Config.keep_cgroup_processes).
  bool keep_other_processes = false;
};

// DetectCgroups, then on v2 makes the base delegate memory/cpu/pids to its
// children, moving the base's processes into kCgroupLeaf first where the
// base is not the true root. Done once per process; later calls find the
// leaf and change nothing. v1: the same as DetectCgroups.
absl::StatusOr<CgroupHost> PrepareCgroups(const CgroupSetup& setup);

// The processes (thread-group ids) a cgroup directory lists; empty if unreadable.
std::vector<pid_t> CgroupProcs(const std::string& dir);

// What an admin can do when PrepareCgroups fails: Docker, compose,
// Kubernetes and systemd, each keeping sandboxes inside the container's or
// service's own cgroup.
extern const char kCgroupRemedy[];

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_CGROUP_HOST_H_
