// Memory the kernel charges to sandbox cgroups, the figure the memory caps
// act on (includes page cache and kernel memory, unlike RSS).
#ifndef LIBSANDBOX_BENCH_CGROUP_MEMORY_H_
#define LIBSANDBOX_BENCH_CGROUP_MEMORY_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace libsandbox::bench {

struct CgroupMemory {
  int64_t usage_bytes = 0;  // sum of memory.usage_in_bytes (v2: memory.current)
  int cgroups = 0;          // sandbox cgroups counted
};

// Sums the memory usage of the sandbox cgroups below this process's memory
// cgroup (its libsandbox/ directory) that hold at least one of `pids`, so
// sandboxes of other processes sharing the parent cgroup are left out.
absl::StatusOr<CgroupMemory> SandboxCgroupMemory(const absl::flat_hash_set<pid_t>& pids);

}  // namespace libsandbox::bench

#endif  // LIBSANDBOX_BENCH_CGROUP_MEMORY_H_
