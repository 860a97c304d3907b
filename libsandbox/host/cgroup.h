// A RAII cgroup per sandbox, created below the base cgroup_host.h found,
// with memory/CPU/pids caps set by us before anything runs in it. v1: runsc
// joins it through linux.cgroupsPath (it leaves pre-created cgroups'
// settings alone). v2: runsc is started inside it with --ignore-cgroups,
// because runsc would otherwise write every controller of the hierarchy's
// root into each ancestor's cgroup.subtree_control, which fails below a
// delegated cgroup (and would change cgroups that are not ours).
#ifndef LIBSANDBOX_HOST_CGROUP_H_
#define LIBSANDBOX_HOST_CGROUP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/host/cgroup_host.h"

namespace libsandbox {

struct CgroupLimits {
  int64_t memory_bytes = 0;  // 0: none
  double cpus = 0;           // 0: none
  int64_t pids = 0;          // 0: none
  // Its CPU weight among its siblings, as a fraction of the kernel's default
  // (SandboxCgroup::SetCpuShare). Set where the cpu controller is
  // available; a priority, not a cap.
  double cpu_share = 1;
};

// The CPU share of a sandbox in the background (a warm one booting or
// waiting for a run): the lowest weight, yielding to sandboxes running code.
inline constexpr double kBackgroundCpuShare = 0;

class SandboxCgroup {
 public:
  // Creates kCgroupParent/<name> below the base in every controller a limit
  // needs (and memory, to detect OOM kills), and writes the limits. Any
  // limit that cannot be written is an error. v2 needs a host from
  // PrepareCgroups (whose base delegates the controllers).
  static absl::StatusOr<std::unique_ptr<SandboxCgroup>> Create(const CgroupHost& host,
                                                               const std::string& name,
                                                               const CgroupLimits& limits);
  ~SandboxCgroup();
  SandboxCgroup(const SandboxCgroup&) = delete;
  SandboxCgroup& operator=(const SandboxCgroup&) = delete;

  // (Re)writes the caps and the CPU weight, e.g. when a warm sandbox is
  // handed a run. Lowering memory below what is in use fails.
  absl::Status Update(const CgroupLimits& limits);
  // The CPU weight alone: `share` of the kernel's default (v2 cpu.weight
  // 100, v1 cpu.shares 1024), at least the lowest. Without the cpu
  // controller there is nothing to weigh: OK.
  absl::Status SetCpuShare(double share);
  // Current memory use in bytes, 0 if unknown.
  int64_t MemoryUsageBytes() const;

  // v1: the OCI linux.cgroupsPath, relative, so runsc resolves it below its
  // own (that is, our) cgroup in each hierarchy. v2: empty.
  std::string relative_path() const;
  // v2: the directory runsc is started in (SpawnOptions.cgroup_dir); v1: empty.
  std::string join_dir() const;
  // True if the kernel OOM-killed a process of this cgroup.
  bool OomKilled() const;
  // True if a fork or clone failed because the pids cap was reached.
  bool PidsLimitHit() const;
  // SIGKILLs every process in the cgroup (v2: cgroup.kill, where the kernel
  // has it), repeatedly until it is empty. True once it is.
  bool KillAll();
  // SIGKILLs what is in the cgroup now and returns without waiting for it
  // to go (a few ms): for a result that need not wait; KillAll follows.
  void SendKill();
  // Peak memory use in bytes, if the kernel reports it.
  int64_t MemoryPeakBytes() const;

 private:
  SandboxCgroup() = default;
  CgroupVersion version_ = CgroupVersion::kNone;
  std::string name_;
  std::vector<std::string> dirs_;  // one per hierarchy, deepest last created
  std::string memory_dir_;
  bool memsw_ = false;
  std::map<std::string, std::string> controller_dirs_;  // controller -> our dir
};

// The host tasks all sandboxes of this process may hold at once: half of
// what the kernel allows (the smaller of pid_max and threads-max). Each
// sandbox's own pids cap is sized for its code (instance.cc); this one, the
// pids.max of the kCgroupParent every sandbox cgroup sits in, keeps many
// runaway sandboxes together from taking the pids the rest of the host needs.
int64_t SandboxTasksBudget();

// Removes sandbox cgroups under kCgroupParent for which `is_stale(name)`
// says so, killing what is left in them. For crash recovery (v1 and v2).
void ReapStaleCgroups(const CgroupHost& host,
                      const std::function<bool(const std::string&)>& is_stale);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_CGROUP_H_
