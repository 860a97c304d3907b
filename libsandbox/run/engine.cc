#include "libsandbox/run/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/metrics.h"
#include "libsandbox/host/run_dir.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/run/outcome.h"

namespace libsandbox {
namespace {

absl::Mutex registry_mu(absl::kConstInit);

constexpr size_t kMaxEngines = 8;

struct Registered {
  std::shared_ptr<Engine> engine;
  uint64_t last_used = 0;
};

std::map<std::string, Registered>* engines = nullptr;
pid_t engines_pid = 0;

// A forked child must not touch its parent's sandboxes (their runsc
// processes are the parent's children): it forgets the engines, leaking
// them on purpose, and starts afresh. (Not pthread_atfork: runs fork runsc
// while holding registry_mu.)
std::map<std::string, Registered>& Registry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  if (engines == nullptr || engines_pid != ::getpid()) {
    engines = new std::map<std::string, Registered>();
    engines_pid = ::getpid();
  }
  return *engines;
}

// Runs teardown jobs on one long-lived thread, in order.
class TeardownQueue {
 public:
  TeardownQueue() {
    std::thread([this] { Work(); }).detach();
  }

  void Add(absl::AnyInvocable<void()> job) {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(std::move(job));
  }

  // Returns once every job added so far has run.
  void Drain() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](TeardownQueue* q)
             ABSL_NO_THREAD_SAFETY_ANALYSIS { return q->jobs_.empty() && !q->busy_; },
        this));
  }

 private:
  void Work() {
    while (true) {
      absl::AnyInvocable<void()> job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](std::deque<absl::AnyInvocable<void()>>* jobs) { return !jobs->empty(); }, &jobs_));
        job = std::move(jobs_.front());
        jobs_.pop_front();
        busy_ = true;
      }
      job();
      job = nullptr;  // destroys what the job held, off the lock
      absl::MutexLock lock(&mu_);
      busy_ = false;
    }
  }

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
};

// One queue per process; a forked child gets its own (its parent's thread
// does not exist there).
TeardownQueue& Teardowns() {
  static absl::Mutex mu(absl::kConstInit);
  static TeardownQueue* queue = nullptr;
  static pid_t queue_pid = 0;
  absl::MutexLock lock(&mu);
  if (queue == nullptr || queue_pid != ::getpid()) {
    queue = new TeardownQueue();
    queue_pid = ::getpid();
    // Finish pending teardowns before exit destroys what they use.
    static const bool registered = [] { return std::atexit([] { Teardowns().Drain(); }) == 0; }();
    (void)registered;
  }
  return *queue;
}

void Count(const Result& r) {
  GlobalMetrics().Increment("runs");
  GlobalMetrics().Increment(
      absl::StrCat("runs_", absl::AsciiStrToLower(std::string(StatusName(r.status())))));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Engine>> Engine::ForConfig(const Config& config) {
  std::string key = config.SerializeAsString();
  std::shared_ptr<Engine> evicted;  // destroyed after the lock: draining takes a while
  absl::MutexLock lock(&registry_mu);
  auto& engines = Registry();
  static uint64_t clock = 0;
  if (auto it = engines.find(key); it != engines.end()) {
    it->second.last_used = ++clock;
    return it->second.engine;
  }
  absl::StatusOr<std::shared_ptr<const Environment>> env = MakeEnvironment(config);
  if (!env.ok()) return env.status();
  // A host process killed mid-run left sandboxes behind: reap them first.
  ReapStaleRuns(config.state_dir(), (*env)->runsc_path);
  // Hosts that change their Config (e.g. Open WebUI valves) leave old
  // engines behind; only the most recently used few keep their pools.
  if (engines.size() >= kMaxEngines) {
    auto lru = std::min_element(engines.begin(), engines.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    evicted = std::move(lru->second.engine);
    engines.erase(lru);
  }
  auto engine = std::make_shared<Engine>(*env);
  engines[key] = {engine, ++clock};
  registry_mu.Unlock();
  evicted.reset();
  registry_mu.Lock();
  return engine;
}

void Engine::ShutdownAll() {
  std::map<std::string, Registered> engines;
  {
    absl::MutexLock lock(&registry_mu);
    engines.swap(Registry());
  }
  Teardowns().Drain();
  // Destroyed outside the lock: draining a pool takes a while.
}

Engine::Engine(std::shared_ptr<const Environment> env)
    : env_(std::move(env)),
      admission_(AdmissionLimits{env_->config.max_concurrent(),
                                 env_->config.max_concurrent_per_user(),
                                 env_->config.max_queued()}) {
  const Config& c = env_->config;
  if (c.pool_size() > 0) {
    PoolSettings settings;
    settings.size = c.pool_size();
    for (const std::string& name : c.pool_languages()) {
      if (const Language* l = FindLanguage(name)) settings.languages.push_back(l);
    }
    if (settings.languages.empty()) settings.languages.push_back(FindLanguage(kDefaultLanguage));
    settings.boot_limits = c.has_pool_limits() ? c.pool_limits() : DefaultLimits();
    pool_ = std::make_unique<WarmPool>(env_, std::move(settings));
  }
  if (c.audit()) audit_ = std::make_unique<AuditLog>(AuditOptionsFor(c));
}

// ---- Policies and audit (policy.h, audit.h) ----

Result Engine::Run(const RunRequest& request, const Limits& limits, absl::Time start) {
  std::string policy_name;
  Result result;
  // A request's own rootfs goes through RequestUnderPolicy, which refuses it.
  if (env_->config.policy_file().empty() && request.policy().empty() && request.rootfs().empty()) {
    result = RunAdmitted(request, limits, start);
  } else {
    absl::StatusOr<RunRequest> effective =
        RequestUnderPolicy(policies_, env_->config, request, &policy_name);
    absl::Status valid =
        effective.ok() ? ValidateRequest(*effective, effective->limits()) : effective.status();
    if (valid.ok()) {
      result = RunAdmitted(*effective, effective->limits(), start);
    } else {
      result = FailedResult(StatusForSetupError(valid), REASON_POLICY, std::string(valid.message()),
                            start);
      Count(result);
    }
  }
  if (audit_ != nullptr) {
    AuditRecord record = MakeAuditRecord(request, result, policy_name, env_->config.audit_code());
    if (!audit_->Append(std::move(record)).ok()) GlobalMetrics().Increment("audit_failures");
  }
  return result;
}

// ---- One admitted run ----

Result Engine::RunAdmitted(const RunRequest& request, const Limits& limits, absl::Time start) {
  const Config& config = env_->config;
  absl::Duration queue_timeout =
      config.queue_timeout_s() > 0 ? absl::Seconds(config.queue_timeout_s()) : kDefaultQueueTimeout;
  GlobalMetrics().AddGauge("queued", 1);
  absl::StatusOr<Admission::Ticket> ticket =
      admission_.Acquire(request.user(), absl::Now() + queue_timeout);
  GlobalMetrics().AddGauge("queued", -1);
  if (!ticket.ok()) {
    GlobalMetrics().Increment("admission_rejected");
    Result r = FailedResult(Result::SANDBOX_ERROR, REASON_BUSY,
                            absl::StrCat("The run could not start: ", ticket.status().message(),
                                         ". Try again later, or raise max_concurrent / "
                                         "max_concurrent_per_user / max_queued / queue_timeout_s."),
                            start);
    Count(r);
    return r;
  }
  GlobalMetrics().Observe("queue_wait", absl::Now() - start);
  GlobalMetrics().AddGauge("running", 1);

  const Language* language =
      FindLanguage(request.language().empty() ? kDefaultLanguage : request.language());
  const absl::Time boot_start = absl::Now();
  std::unique_ptr<Instance> instance;
  // Pooled sandboxes boot on the host's system directories.
  if (pool_ != nullptr && request.rootfs().empty()) {
    instance = pool_->Take(language, limits, request.network());
    GlobalMetrics().Increment(instance ? "pool_hits" : "pool_misses");
  }
  std::string notes;
  Result result;
  absl::Status setup;
  if (instance) {
    setup = instance->WriteInputs(request);
  } else {
    InstanceSpec spec;
    spec.language = language;
    spec.code = request.code();
    spec.env.insert(request.env().begin(), request.env().end());
    spec.limits = limits;
    spec.network = request.network();
    if (request.egress().domains_size() > 0) spec.egress = request.egress();
    spec.rootfs = request.rootfs();
    absl::StatusOr<std::unique_ptr<Instance>> in = Instance::Prepare(env_, spec, &notes);
    setup = in.status();
    if (in.ok()) {
      instance = *std::move(in);
      setup = instance->WriteInputs(request);
      if (setup.ok()) {
        std::optional<std::string> stdin_data;
        if (request.has_stdin()) stdin_data = request.stdin();
        setup = instance->Launch(std::move(stdin_data), absl::InfiniteFuture());
      }
    }
  }
  if (!setup.ok()) {
    result = SetupFailedResult(setup, start);
  } else {
    const absl::Time code_start = absl::Now();
    GlobalMetrics().Observe("start", code_start - boot_start);
    result = instance->Finish(request, limits, code_start);
    if (const EgressProxy* proxy = instance->egress_proxy()) {
      *result.mutable_egress() = proxy->Report();
      GlobalMetrics().Increment("egress_allowed", result.egress().allowed());
      GlobalMetrics().Increment("egress_denied", result.egress().denied());
    }
    GlobalMetrics().Observe("run", absl::Now() - code_start);
  }
  // Teardown (killing what is left, removing the cgroup, unmounting) takes
  // tens of ms: it happens after the caller has its result, and the run's
  // admission slot is freed only when it is done.
  Teardowns().Add([engine = shared_from_this(), instance = std::move(instance),
                   ticket = std::make_shared<Admission::Ticket>(*std::move(ticket))]() mutable {
    const absl::Time teardown_start = absl::Now();
    instance.reset();
    ticket.reset();
    GlobalMetrics().Observe("teardown", absl::Now() - teardown_start);
    GlobalMetrics().AddGauge("running", -1);
  });
  if (!notes.empty()) absl::StrAppend(result.mutable_message(), "\nNot enforced: ", notes);
  result.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
  Count(result);
  return result;
}

}  // namespace libsandbox
