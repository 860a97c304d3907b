#include "libsandbox/run/engine.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/metrics.h"
#include "libsandbox/base/registry.h"
#include "libsandbox/base/task_thread.h"
#include "libsandbox/host/run_dir.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/run/outcome.h"

namespace libsandbox {
namespace {

int OrDefault(int value, int fallback) { return value > 0 ? value : fallback; }

// Hosts that change their Config (e.g. Open WebUI valves) leave old
// engines behind; only the most recently used few keep their pools.
constexpr size_t kMaxEngines = 8;

Registry<Engine>& Engines() {
  static auto* engines = new Registry<Engine>(kMaxEngines);
  return *engines;
}

// The process's one warm pool (pool.h), made when a Config first asks for
// one; in a registry so that a forked child makes its own.
Registry<WarmPool>& Pools() {
  static auto* pools = new Registry<WarmPool>(1);
  return *pools;
}

// The process's CPU shares between users (cpu_shares.h): every run
// competes for the same cores, whichever Config it has.
Registry<CpuShares>& Shares() {
  static auto* shares = new Registry<CpuShares>(1);
  return *shares;
}

// Runs teardowns on one long-lived thread, in order; a forked child gets
// its own (task_thread.h).
TaskThread& Teardowns() {
  static TaskThread* const queue = [] {
    // Finish pending teardowns before exit destroys what they use.
    std::atexit([] { Teardowns().Drain(); });
    return new TaskThread();
  }();
  return *queue;
}

void Count(const Result& r) {
  GlobalMetrics().Increment("runs");
  GlobalMetrics().Increment(
      absl::StrCat("runs_", absl::AsciiStrToLower(std::string(StatusName(r.status())))));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Engine>> Engine::ForConfig(const Config& config) {
  return Engines().Get(
      config.SerializeAsString(), [&]() -> absl::StatusOr<std::shared_ptr<Engine>> {
        absl::StatusOr<std::shared_ptr<const Environment>> env = MakeEnvironment(config);
        if (!env.ok()) return env.status();
        // A host process killed mid-run left sandboxes behind: reap them first.
        ReapStaleRuns(config.state_dir(), (*env)->runsc_path);
        return std::make_shared<Engine>(*env);
      });
}

void Engine::ShutdownAll() {
  std::vector<std::shared_ptr<Engine>> engines = Engines().TakeAll();
  std::vector<std::shared_ptr<WarmPool>> pools = Pools().TakeAll();
  Teardowns().Drain();
  // Destroyed outside the registry's lock: draining a pool takes a while.
}

Engine::Engine(std::shared_ptr<const Environment> env)
    : env_(std::move(env)),
      admission_(AdmissionLimits{
          OrDefault(env_->config.max_concurrent(), kDefaultMaxConcurrent),
          OrDefault(env_->config.max_concurrent_per_user(), kDefaultMaxConcurrentPerUser),
          OrDefault(env_->config.max_queued(), kDefaultMaxQueued)}),
      pool_key_(PoolKey(env_->config)),
      cpu_shares_(*Shares().Get("", [] { return std::make_shared<CpuShares>(); })) {
  const Config& c = env_->config;
  // A new Config (e.g. edited Open WebUI valves) rules the shared pool:
  // pool_size 0 drains it, and makes none where there is none.
  PoolSettings settings = PoolSettingsFor(c);
  if (settings.size > 0) {
    pool_ = *Pools().Get("", [] { return std::make_shared<WarmPool>(); });
  } else {
    pool_ = Pools().Find("");
  }
  if (pool_ != nullptr) pool_->Configure(env_, std::move(settings));
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
    // The user's other runs: this one holds a slot already.
    instance = pool_->Take(pool_key_, language, limits, request.network(), request.user(),
                           admission_.running(request.user()) - 1);
    GlobalMetrics().Increment(instance ? "pool_hits" : "pool_misses");
    // Booted for another Config of the same key: files go by this one's.
    if (instance) instance->Adopt(env_);
  }
  std::string notes;
  Result result;
  absl::Status setup;
  CpuShares::Member cpu_share;  // from boot (cold) or hand-over (pooled) to the end of the run
  if (instance) {
    cpu_share = cpu_shares_->Join(request.user(), instance.get());
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
      cpu_share = cpu_shares_->Join(request.user(), instance.get());
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
  cpu_share = CpuShares::Member();  // leaves before the sandbox goes
  // Teardown (killing what is left, removing the cgroup, unmounting) takes
  // tens of ms: it happens after the caller has its result, and the run's
  // admission slot is freed only when it is done.
  Teardowns().Post([engine = shared_from_this(), instance = std::move(instance),
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
