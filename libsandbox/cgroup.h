// Cgroups for sandboxes: where this process sits (v1 and v2), and a RAII
// cgroup per sandbox created below it, with memory/CPU/pids caps set by us
// before runsc joins it (runsc leaves pre-created cgroups' settings alone).
#ifndef LIBSANDBOX_CGROUP_H_
#define LIBSANDBOX_CGROUP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace libsandbox {

enum class CgroupVersion { kNone, kV1, kV2 };

// This process's place in the cgroup hierarchies.
struct CgroupHost {
  CgroupVersion version = CgroupVersion::kNone;
  // v1: controller name -> directory of this process's cgroup in that
  // controller's hierarchy. v2: every available controller -> the one
  // unified directory.
  std::map<std::string, std::string> own_dirs;
  bool memsw = false;  // v1 memory.memsw.* present (swap accounting)

  bool Has(const std::string& controller) const { return own_dirs.contains(controller); }
};

// Reads /proc/self/mountinfo and /proc/self/cgroup. v2 is chosen when the
// unified hierarchy has the memory controller, else v1.
absl::StatusOr<CgroupHost> DetectCgroups();

struct CgroupLimits {
  int64_t memory_bytes = 0;  // 0: none
  double cpus = 0;           // 0: none
  int64_t pids = 0;          // 0: none
};

// The name below each own cgroup under which sandbox cgroups live.
inline constexpr char kCgroupParent[] = "libsandbox";

class SandboxCgroup {
 public:
  // Creates kCgroupParent/<name> below this process's cgroup in every
  // controller a limit needs (and memory, to detect OOM kills), and writes
  // the limits. Any limit that cannot be written is an error.
  static absl::StatusOr<std::unique_ptr<SandboxCgroup>> Create(const CgroupHost& host,
                                                               const std::string& name,
                                                               const CgroupLimits& limits);
  ~SandboxCgroup();
  SandboxCgroup(const SandboxCgroup&) = delete;
  SandboxCgroup& operator=(const SandboxCgroup&) = delete;

  // (Re)writes the caps, e.g. when a warm sandbox is handed a run. Lowering
  // memory below what is in use fails.
  absl::Status Update(const CgroupLimits& limits);
  // Current memory use in bytes, 0 if unknown.
  int64_t MemoryUsageBytes() const;

  // The OCI linux.cgroupsPath: relative, so runsc resolves it below its own
  // (that is, our) cgroup in each hierarchy.
  std::string relative_path() const;
  // True if the kernel OOM-killed a process of this cgroup.
  bool OomKilled() const;
  // True if a fork or clone failed because the pids cap was reached.
  bool PidsLimitHit() const;
  // SIGKILLs every process in the cgroup, repeatedly until it is empty.
  void KillAll();
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

// Removes sandbox cgroups under kCgroupParent for which `is_stale(name)`
// says so, killing what is left in them. For crash recovery.
void ReapStaleCgroups(const CgroupHost& host,
                      const std::function<bool(const std::string&)>& is_stale);

}  // namespace libsandbox

#endif  // LIBSANDBOX_CGROUP_H_
