#include "libsandbox/run/pool.h"

#include "absl/time/clock.h"
#include "libsandbox/base/metrics.h"

namespace libsandbox {
namespace {

constexpr absl::Duration kBootTimeout = absl::Seconds(30);
constexpr absl::Duration kRetryAfterFailure = absl::Seconds(2);

}  // namespace

WarmPool::WarmPool(std::shared_ptr<const Environment> env, PoolSettings settings)
    : env_(std::move(env)), settings_(std::move(settings)) {
  refill_ = std::thread([this] { RefillLoop(); });
}

WarmPool::~WarmPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  refill_.join();
}

int WarmPool::idle() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [language, q] : idle_) n += static_cast<int>(q.size());
  return n;
}

std::unique_ptr<Instance> WarmPool::Take(const Language* language, const Limits& limits,
                                         bool network) {
  if (network) return nullptr;
  std::unique_ptr<Instance> in;
  {
    absl::MutexLock lock(&mu_);
    auto it = idle_.find(language);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    in = std::move(it->second.front());
    it->second.pop_front();
  }
  GlobalMetrics().AddGauge("pool_idle", -1);
  if (absl::Status s = in->ApplyLimits(limits); !s.ok()) {
    // Not for this run (e.g. a different /tmp size); the refill thread
    // destroys it off the caller's path.
    absl::MutexLock lock(&mu_);
    discard_.push_back(std::move(in));
    return nullptr;
  }
  return in;
}

bool WarmPool::HasWork() { return stop_ || !discard_.empty() || Wanted() != nullptr; }

const Language* WarmPool::Wanted() {
  for (const Language* l : settings_.languages) {
    if (static_cast<int>(idle_[l].size()) + booting_[l] < settings_.size) return l;
  }
  return nullptr;
}

void WarmPool::RefillLoop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (!discard_.empty()) {
      // Sandboxes that could not serve a run: torn down off the callers' path.
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
    mu_.Unlock();
    absl::Time t0 = absl::Now();
    InstanceSpec spec;
    spec.language = language;
    spec.executor = true;
    spec.limits = settings_.boot_limits;
    std::string notes;
    absl::StatusOr<std::unique_ptr<Instance>> in = Instance::Prepare(env_, spec, &notes);
    absl::Status s =
        in.ok() ? (*in)->Launch(std::nullopt, absl::Now() + kBootTimeout) : in.status();
    GlobalMetrics().Increment(s.ok() ? "pool_boots" : "pool_boot_failures");
    if (s.ok()) GlobalMetrics().Observe("pool_boot", absl::Now() - t0);
    mu_.Lock();
    --booting_[language];
    if (s.ok()) {
      idle_[language].push_back(*std::move(in));
      GlobalMetrics().AddGauge("pool_idle", 1);
    } else {
      mu_.Unlock();
      in = absl::StatusOr<std::unique_ptr<Instance>>();  // tear down outside the lock
      absl::SleepFor(kRetryAfterFailure);
      mu_.Lock();
    }
  }
  // Drain: destroy everything still idle.
  int n = 0;
  for (auto& [language, q] : idle_) n += static_cast<int>(q.size());
  GlobalMetrics().AddGauge("pool_idle", -n);
  auto idle = std::move(idle_);
  discard_.clear();
  mu_.Unlock();
  idle.clear();
  mu_.Lock();
}

}  // namespace libsandbox
