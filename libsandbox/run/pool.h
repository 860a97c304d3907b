// The warm pool: sandboxes booted ahead of time with the executor waiting
// for one request, per language. Each is used for exactly one run and then
// destroyed; a background thread keeps the pool filled.
#ifndef LIBSANDBOX_RUN_POOL_H_
#define LIBSANDBOX_RUN_POOL_H_

#include <deque>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libsandbox/run/instance.h"

namespace libsandbox {

struct PoolSettings {
  int size = 0;  // idle sandboxes per language
  std::vector<const Language*> languages;
  Limits boot_limits;  // caps the sandboxes boot with; each run re-applies its own
};

class WarmPool {
 public:
  WarmPool(std::shared_ptr<const Environment> env, PoolSettings settings);
  ~WarmPool();  // stops refilling and destroys idle sandboxes
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  // A ready sandbox for `language` with `limits` applied, or nullptr (the
  // caller then boots one cold). Network-on runs are never pooled.
  std::unique_ptr<Instance> Take(const Language* language, const Limits& limits, bool network);

  int idle() const;

 private:
  void RefillLoop();
  const Language* Wanted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasWork() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<const Environment> env_;
  const PoolSettings settings_;
  mutable absl::Mutex mu_;
  std::map<const Language*, std::deque<std::unique_ptr<Instance>>> idle_ ABSL_GUARDED_BY(mu_);
  std::map<const Language*, int> booting_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Instance>> discard_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Started last: it uses everything above. It also owns the runsc
  // processes it starts (they die with the thread that started them).
  std::thread refill_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_POOL_H_
