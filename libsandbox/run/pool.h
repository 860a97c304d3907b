// The warm pool: sandboxes booted ahead of time with the executor waiting
// for one request, per language. Each is used for exactly one run and then
// destroyed. One pool per process, shared by every Config (engine.cc): the
// newest Config decides what it boots and how many; boot threads keep it
// filled in parallel, up to what recent demand asks for (pool_demand.h).
#ifndef LIBSANDBOX_RUN_POOL_H_
#define LIBSANDBOX_RUN_POOL_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libsandbox/run/instance.h"
#include "libsandbox/run/pool_demand.h"

namespace libsandbox {

struct PoolSettings {
  int size = 0;      // idle sandboxes per language, always (the floor)
  int max_size = 0;  // per language under demand (the ceiling, >= size)
  std::vector<const Language*> languages;
  Limits boot_limits;  // caps the sandboxes boot with; each run re-applies its own
};

// What a Config's pool would be: its settings, with the ceiling resolved
// (Config.pool_max_size 0: sized to this host's cores and memory).
PoolSettings PoolSettingsFor(const Config& config);

// What decides what a pooled sandbox is (runsc, its flags and state,
// mounts, the /tmp size it boots with): a run takes a pooled sandbox only
// if its Config has the pool's key.
std::string PoolKey(const Config& config);

class WarmPool {
 public:
  // Empty until Configure.
  WarmPool();
  ~WarmPool();  // stops the boot threads and destroys idle sandboxes
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  // The newest Config wins: the pool grows or shrinks to its settings (size
  // 0 drains it), sandboxes of languages no longer listed are destroyed, and
  // if `env` boots other sandboxes (another PoolKey) every idle one is
  // replaced.
  void Configure(std::shared_ptr<const Environment> env, PoolSettings settings);

  // A ready sandbox for `language` with `limits` applied, or nullptr (the
  // caller then boots one cold). While more than one user has used the
  // pool in the last minute, the last idle sandbox is kept for a user with
  // nothing running: one user's burst cannot leave the others only cold
  // boots. With none idle for it, the run waits (at most about a boot's
  // time) for one already booting, which then boots with the CPU share the
  // run will have (CpuShares) instead of in the background. nullptr when
  // `key` is not the pool's, the run's caps cannot be applied, or the run
  // has network (never pooled). The caller keeps files under its own
  // Config (Instance::Adopt). `user_running`: the runs `user` has now.
  std::unique_ptr<Instance> Take(const std::string& key, const Language* language,
                                 const Limits& limits, bool network, const std::string& user = "",
                                 int user_running = 0);

 private:
  void BootLoop();
  // A language below its target, or nullptr.
  const Language* Wanted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Idle plus booting sandboxes the pool aims at for `language` now.
  int TargetLocked(const Language* language) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves idle sandboxes beyond the target (or of dropped languages) to discard_.
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasWork() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With no more than `reserve` idle for `language`: waits for a boot under
  // way that no other run waits for (raised to `cpu_share`, CpuShares);
  // true if there is one beyond the reserve now.
  bool AwaitBootLocked(const Language* language, double cpu_share, size_t reserve)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Boots under way that no waiting run will take (negative when a boot
  // failed under a waiting run).
  int InFlightLocked(const Language* language) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetIdleGauge() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::shared_ptr<const Environment> env_ ABSL_GUARDED_BY(mu_);  // boots
  std::string key_ ABSL_GUARDED_BY(mu_);                         // PoolKey of env_
  PoolSettings settings_ ABSL_GUARDED_BY(mu_);
  std::map<const Language*, std::deque<std::unique_ptr<Instance>>> idle_ ABSL_GUARDED_BY(mu_);
  std::map<const Language*, int> booting_ ABSL_GUARDED_BY(mu_);
  std::map<const Language*, int> waiting_ ABSL_GUARDED_BY(mu_);  // runs in AwaitBootLocked
  // The sandboxes booting (launched), oldest first.
  std::map<const Language*, std::deque<Instance*>> boots_ ABSL_GUARDED_BY(mu_);
  std::map<const Language*, PoolDemand> demand_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Instance>> discard_ ABSL_GUARDED_BY(mu_);
  // The user of the latest Take, and when it last differed from the one before.
  std::optional<std::string> last_user_ ABSL_GUARDED_BY(mu_);
  absl::Time users_changed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int idle_gauge_ ABSL_GUARDED_BY(mu_) = 0;  // this pool's share of pool_idle
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Started last: they use everything above. Each owns the runsc processes
  // it starts (they die with the thread that started them), so they live as
  // long as the pool.
  std::vector<std::thread> boot_threads_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_POOL_H_
