#include "libsandbox/run/pool.h"

#include <unistd.h>

#include <algorithm>

#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/metrics.h"
#include "libsandbox/run/cpu_shares.h"

namespace libsandbox {
namespace {

constexpr absl::Duration kBootTimeout = absl::Seconds(30);
constexpr absl::Duration kRetryAfterFailure = absl::Seconds(2);
// How long a run waits for a boot under way, in typical boot times; then
// it boots its own.
constexpr double kWaitBoots = 1.5;
// Idle sandboxes a user who already has runs going leaves to the others.
constexpr size_t kKeptForOthers = 1;
// An idle pooled sandbox costs ~70 MiB of host memory (runsc's sandbox and
// gofer processes, the executor): the automatic ceiling keeps a full pool
// within a quarter of the machine's memory, and at 8 per core, 64 at most.
constexpr int64_t kIdleSandboxBytes = int64_t{80} << 20;
constexpr int kCeilingPerCore = 8;
constexpr int kMaxAutoCeiling = 64;

int Cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

int AutoCeiling() {
  const int64_t memory = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
  const int by_memory = static_cast<int>(std::max<int64_t>(1, memory / 4 / kIdleSandboxBytes));
  return std::min({Cores() * kCeilingPerCore, kMaxAutoCeiling, by_memory});
}

}  // namespace

PoolSettings PoolSettingsFor(const Config& c) {
  PoolSettings settings;
  settings.size = std::max(0, c.pool_size());
  if (settings.size == 0) return settings;  // off: no growth either
  settings.max_size =
      std::max(settings.size, c.pool_max_size() > 0 ? c.pool_max_size() : AutoCeiling());
  for (const std::string& name : c.pool_languages()) {
    if (const Language* l = FindLanguage(name)) settings.languages.push_back(l);
  }
  if (settings.languages.empty()) settings.languages.push_back(FindLanguage(kDefaultLanguage));
  settings.boot_limits = c.has_pool_limits() ? c.pool_limits() : DefaultLimits();
  return settings;
}

std::string PoolKey(const Config& c) {
  // Quotas, admission, policies, audit and pool sizes only change what runs
  // do with a sandbox: they are left out.
  Config shape;
  shape.set_runsc_path(c.runsc_path());
  shape.set_state_dir(c.state_dir());
  shape.set_allow_unenforced_limits(c.allow_unenforced_limits());
  shape.set_platform(c.platform());
  *shape.mutable_extra_ro_mounts() = c.extra_ro_mounts();
  shape.set_debug(c.debug());
  shape.set_keep_cgroup_processes(c.keep_cgroup_processes());
  // A run takes a pooled sandbox only if its /tmp matches (Instance::ApplyLimits).
  const Limits boot = c.has_pool_limits() ? c.pool_limits() : DefaultLimits();
  shape.mutable_pool_limits()->set_workspace_mb(boot.workspace_mb());
  shape.mutable_pool_limits()->set_tmp_mb(boot.tmp_mb());
  return shape.SerializeAsString();
}

WarmPool::WarmPool() {
  // Boots are half waiting on runsc and its children: two per core overlap
  // well (with one per core, refills fell behind 4 runs/s on 2 cores),
  // more only slow each other down.
  const int threads = std::clamp(2 * Cores(), 4, 16);
  for (int i = 0; i < threads; ++i) boot_threads_.emplace_back([this] { BootLoop(); });
}

WarmPool::~WarmPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : boot_threads_) t.join();
  absl::MutexLock lock(&mu_);
  idle_.clear();
  discard_.clear();
  SetIdleGauge();
}

void WarmPool::Configure(std::shared_ptr<const Environment> env, PoolSettings settings) {
  absl::MutexLock lock(&mu_);
  std::string key = PoolKey(env->config);
  if (key != key_) {
    for (auto& [language, q] : idle_) {
      for (auto& in : q) discard_.push_back(std::move(in));
      q.clear();
    }
    key_ = std::move(key);
  }
  env_ = std::move(env);
  settings_ = std::move(settings);
  TrimLocked();
}

int WarmPool::TargetLocked(const Language* language) {
  const auto& langs = settings_.languages;
  if (stop_ || std::find(langs.begin(), langs.end(), language) == langs.end()) return 0;
  return demand_[language].Wanted(absl::Now(), settings_.size, settings_.max_size);
}

void WarmPool::SetIdleGauge() {
  int n = 0;
  for (const auto& [language, q] : idle_) n += static_cast<int>(q.size());
  GlobalMetrics().AddGauge("pool_idle", n - idle_gauge_);
  idle_gauge_ = n;
}

std::unique_ptr<Instance> WarmPool::Take(const std::string& key, const Language* language,
                                         const Limits& limits, bool network,
                                         const std::string& user, int user_running) {
  if (network) return nullptr;
  std::unique_ptr<Instance> in;
  {
    absl::MutexLock lock(&mu_);
    if (key != key_) return nullptr;
    const absl::Time now = absl::Now();
    demand_[language].Arrived(now);  // the boot threads wake on it
    if (last_user_ && *last_user_ != user) users_changed_ = now;
    last_user_ = user;
    std::deque<std::unique_ptr<Instance>>& q = idle_[language];
    // While several users use the pool, the last idle one is kept for users
    // with nothing running.
    const bool shared = now - users_changed_ < PoolDemand::kMemory;
    const size_t reserve = shared && user_running > 0 ? kKeptForOthers : 0;
    const double share = CpuShares::ShareOf(static_cast<size_t>(user_running) + 1);
    if (q.size() <= reserve && !AwaitBootLocked(language, share, reserve)) {
      return nullptr;
    }
    if (key != key_) return nullptr;  // reconfigured while it waited
    in = std::move(q.front());
    q.pop_front();
    SetIdleGauge();
  }
  if (absl::Status s = in->ApplyLimits(limits); !s.ok()) {
    // Not for this run (e.g. a different /tmp size); a boot thread destroys
    // it off the caller's path.
    absl::MutexLock lock(&mu_);
    discard_.push_back(std::move(in));
    return nullptr;
  }
  return in;
}

bool WarmPool::AwaitBootLocked(const Language* language, double cpu_share, size_t reserve) {
  // A boot already under way is nearer to ready than a cold boot started
  // now, and costs no CPU on top: a miss waits for one no other run waits
  // for, at most about as long as a boot takes.
  if (InFlightLocked(language) <= 0) return false;
  ++waiting_[language];
  // The boot it waits for (the oldest are first ready) stops yielding the
  // CPU: it boots with the weight the run would have (CpuShares).
  const std::deque<Instance*>& boots = boots_[language];
  if (const size_t i = static_cast<size_t>(waiting_[language]) - 1; i < boots.size()) {
    (void)boots[i]->SetCpuShare(cpu_share);
  }
  const absl::Time start = absl::Now();
  const std::deque<std::unique_ptr<Instance>>& q = idle_[language];
  // Also wakes when a boot failed (fewer boots than waiters): then cold.
  auto ready = [&] { return stop_ || q.size() > reserve || InFlightLocked(language) < 0; };
  mu_.AwaitWithDeadline(absl::Condition(&ready), start + kWaitBoots * demand_[language].BootTime());
  --waiting_[language];
  if (q.size() <= reserve) return false;
  GlobalMetrics().Increment("pool_waits");
  GlobalMetrics().Observe("pool_wait", absl::Now() - start);
  return true;
}

int WarmPool::InFlightLocked(const Language* language) {
  return booting_[language] - waiting_[language];
}

void WarmPool::TrimLocked() {
  for (auto& [language, q] : idle_) {
    const size_t keep =
        static_cast<size_t>(std::max(0, TargetLocked(language) - InFlightLocked(language)));
    while (q.size() > keep) {
      discard_.push_back(std::move(q.back()));  // the newest: the oldest are warmest
      q.pop_back();
    }
  }
  SetIdleGauge();
}

bool WarmPool::HasWork() { return stop_ || !discard_.empty() || Wanted() != nullptr; }

const Language* WarmPool::Wanted() {
  const Language* most = nullptr;
  int most_missing = 0;
  for (const Language* l : settings_.languages) {
    const int missing = TargetLocked(l) - static_cast<int>(idle_[l].size()) - InFlightLocked(l);
    if (missing > most_missing) most = l, most_missing = missing;
  }
  return most;
}

void WarmPool::BootLoop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    TrimLocked();  // demand falls as the minute passes
    if (!discard_.empty()) {
      // Sandboxes that could not serve a run, or beyond the target: torn
      // down off the callers' path.
      std::vector<std::unique_ptr<Instance>> trash;
      trash.swap(discard_);
      mu_.Unlock();
      trash.clear();
      mu_.Lock();
      continue;
    }
    const Language* language = Wanted();
    if (language == nullptr) {
      mu_.AwaitWithTimeout(absl::Condition(this, &WarmPool::HasWork), absl::Seconds(1));
      continue;
    }
    ++booting_[language];
    GlobalMetrics().AddGauge("pool_booting", 1);
    InstanceSpec spec;
    spec.language = language;
    spec.executor = true;
    spec.limits = settings_.boot_limits;
    const std::shared_ptr<const Environment> env = env_;
    const std::string key = key_;
    mu_.Unlock();
    const absl::Time t0 = absl::Now();
    std::string notes;
    absl::StatusOr<std::unique_ptr<Instance>> in = Instance::Prepare(env, spec, &notes);
    // Where a boot's time goes: ours (run dir, cgroup, bundle) vs runsc and
    // the executor's interpreter starting.
    GlobalMetrics().Observe("pool_boot_prepare", absl::Now() - t0);
    Instance* const booting = in.ok() ? in->get() : nullptr;
    if (booting != nullptr) {
      mu_.Lock();
      boots_[language].push_back(booting);  // a run may wait for it from now on
      mu_.Unlock();
    }
    absl::Status s =
        in.ok() ? booting->Launch(std::nullopt, absl::Now() + kBootTimeout) : in.status();
    const absl::Duration took = absl::Now() - t0;
    GlobalMetrics().Increment(s.ok() ? "pool_boots" : "pool_boot_failures");
    if (s.ok()) GlobalMetrics().Observe("pool_boot", took);
    mu_.Lock();
    std::erase(boots_[language], booting);
    --booting_[language];
    GlobalMetrics().AddGauge("pool_booting", -1);
    if (s.ok()) {
      demand_[language].Booted(took);
      // Configured for other sandboxes while this one booted: not for this pool.
      if (key == key_) {
        idle_[language].push_back(*std::move(in));
      } else {
        discard_.push_back(*std::move(in));
      }
      SetIdleGauge();
    } else {
      mu_.Unlock();
      in = absl::StatusOr<std::unique_ptr<Instance>>();  // tear down outside the lock
      absl::SleepFor(kRetryAfterFailure);
      mu_.Lock();
    }
  }
  // The destructor destroys what is left idle once every boot thread is out.
}

}  // namespace libsandbox
