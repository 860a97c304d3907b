// Host memory of a process tree (the benchmark, runsc, sentries, gofers),
// read from /proc, and a sampler thread that keeps the peak.
#ifndef LIBSANDBOX_BENCH_TREE_MEMORY_H_
#define LIBSANDBOX_BENCH_TREE_MEMORY_H_

#include <sys/types.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace libsandbox::bench {

struct TreeMemory {
  int64_t rss_bytes = 0;  // sum of RSS: counts shared pages once per process
  int64_t pss_bytes = 0;  // sum of PSS (shared pages split); only if asked for
  int processes = 0;
};

// Reads the memory of `root` and all its descendants. Reading /proc is slow
// (tens of microseconds a file), so each process's parent is read once, when
// it first appears; a process stays in the tree after its parent exits.
class ProcessTree {
 public:
  explicit ProcessTree(pid_t root) : root_(root) {}
  TreeMemory Measure(bool with_pss);
  // The live processes of the tree (root included).
  absl::flat_hash_set<pid_t> Pids();

 private:
  // Rereads /proc: forgets exited processes, learns new ones' parents.
  // Returns the live pids.
  std::vector<pid_t> Refresh();
  bool InTree(pid_t pid, int depth);

  const pid_t root_;
  absl::flat_hash_map<pid_t, pid_t> parent_;  // live processes seen so far
  absl::flat_hash_map<pid_t, bool> in_tree_;
};

// Measures a ProcessTree every `period` on its own thread until Stop().
// PSS costs far more to read (the kernel walks page tables), so it is read
// only when RSS is near its peak, at most every `pss_period` (zero: never).
class PeakTreeMemorySampler {
 public:
  PeakTreeMemorySampler(pid_t root, absl::Duration period, absl::Duration pss_period);
  PeakTreeMemorySampler(const PeakTreeMemorySampler&) = delete;
  PeakTreeMemorySampler& operator=(const PeakTreeMemorySampler&) = delete;
  ~PeakTreeMemorySampler();

  // Stops sampling (call from one thread) and returns the peaks; `processes`
  // is the largest tree seen.
  TreeMemory Stop();

 private:
  void Loop();

  ProcessTree tree_;
  const absl::Duration period_;
  const absl::Duration pss_period_;
  absl::Notification stop_;
  absl::Mutex mu_;
  TreeMemory peak_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace libsandbox::bench

#endif  // LIBSANDBOX_BENCH_TREE_MEMORY_H_
