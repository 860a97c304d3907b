// Cost of one sandboxed run: the library's Run side by side with bare runsc
// (`runsc run` of an equivalent bundle, and `runsc exec` into a raw sandbox
// already running), cold and from the warm pool; N runs at once, cold and
// warm, with the peak host memory of the whole process tree; and what an
// idle pooled sandbox costs in memory.
//
//   cold_bench [--runsc=PATH] [--pss_period_ms=100] [benchmark flags]
//
// Needs root (cgroups, tmpfs workspaces), like the library itself. The
// serial benchmarks also report p50/p90 latency of single runs (p50_ms,
// p90_ms), which the mean hides on a noisy machine.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "bench/cgroup_memory.h"
#include "bench/raw_runsc.h"
#include "bench/tree_memory.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/process.h"
#include "libsandbox/host/runsc.h"
#include "libsandbox/sandbox.h"

namespace libsandbox::bench {
namespace {

constexpr int kSerialIterations = 15;
constexpr int kConcurrentIterations = 3;
// Idle pooled sandboxes measured by BM_PoolIdleMemory.
constexpr int kIdlePoolSize = 4;
// How long a pool may take to boot what it is asked for; generous because
// the refill thread boots one at a time and the machine may be busy.
constexpr absl::Duration kPoolFillTimeout = absl::Seconds(120);
// Often enough to catch the peak of a sandbox that lives ~0.3 s, rarely
// enough that reading /proc does not compete with the sandboxes for the CPU.
constexpr absl::Duration kSamplePeriod = absl::Milliseconds(5);
// PSS (shared pages split between processes) is the truer figure for many
// sandboxes, but reading it for the whole tree takes tens of milliseconds of
// CPU, so it is read only near RSS peaks, at most this often;
// --pss_period_ms=0 turns it off.
absl::Duration pss_period = absl::Milliseconds(100);
constexpr double kMiB = 1 << 20;

struct Snippet {
  const char* language;
  const char* code;
  RawBundleOptions raw;  // the same command, for the bare runsc baseline
  // The same command for `runsc exec` into a running raw sandbox.
  std::vector<std::string> exec_argv;
};

const Snippet kPython = {"python",
                         "print('hello')",
                         {{"/usr/bin/python3"}, "main.py", "print('hello')\n"},
                         {"/usr/bin/python3", "-c", "print('hello')"}};
const Snippet kBash = {"bash",
                       "echo hello",
                       {{"/bin/bash"}, "main.sh", "echo hello\n"},
                       {"/bin/bash", "-c", "echo hello"}};
// The init of the raw sandbox that `runsc exec` goes into: waits forever.
const RawBundleOptions kRawIdle = {{"/bin/bash"}, "idle.sh", "exec sleep infinity\n"};

// Everything the benchmarks share, created once in main and removed at exit.
struct BenchEnv {
  TempDir root;
  std::string runsc;
  Config config;         // cold: no pool, every run boots a sandbox
  std::string raw_root;  // runsc --root of the baseline
  std::string raw_python_bundle;
  std::string raw_bash_bundle;
  std::string raw_idle_bundle;
};
BenchEnv* env = nullptr;

Result RunSnippet(const Snippet& snippet, const Config& config) {
  RunRequest request;
  request.set_language(snippet.language);
  request.set_code(snippet.code);
  return Run(request, config);  // default limits
}

// The cold config with a warm pool of `size` sandboxes of `language`.
Config WarmConfig(const char* language, int size) {
  Config c = env->config;
  c.set_pool_size(size);
  c.add_pool_languages(language);
  return c;
}

// Where the library's time goes (its own metrics, per run): host-side
// preparation until runsc is launched, the sandbox's life, and teardown.
class PhaseCounters {
 public:
  PhaseCounters() : before_(GetMetrics()) {}
  void Report(benchmark::State& state) const {
    Metrics after = GetMetrics();
    for (const char* phase : {"start", "run", "teardown"}) {
      auto a = after.histograms().find(phase);
      if (a == after.histograms().end()) continue;
      auto b = before_.histograms().find(phase);
      bool had = b != before_.histograms().end();
      int64_t n = a->second.count() - (had ? b->second.count() : 0);
      double sum = a->second.sum_s() - (had ? b->second.sum_s() : 0);
      if (n > 0) state.counters[absl::StrCat(phase, "_ms")] = 1000 * sum / n;
    }
    auto delta = [&](const std::string& name) {
      auto a = after.counters().find(name);
      auto b = before_.counters().find(name);
      return (a == after.counters().end() ? 0 : a->second) -
             (b == before_.counters().end() ? 0 : b->second);
    };
    if (int64_t hits = delta("pool_hits"), misses = delta("pool_misses"); hits + misses > 0) {
      state.counters["pool_hits"] = static_cast<double>(hits);
      state.counters["pool_misses"] = static_cast<double>(misses);
    }
  }

 private:
  const Metrics before_;
};

std::string RawId() {
  static std::atomic<int> counter{0};
  return absl::StrCat("bench-raw-", getpid(), "-", counter++);
}

absl::StatusOr<std::unique_ptr<BenchEnv>> CreateEnv(const std::string& runsc_flag) {
  auto e = std::make_unique<BenchEnv>();
  absl::StatusOr<TempDir> root = TempDir::Create("/tmp", "libsandbox-bench-");
  if (!root.ok()) return root.status();
  e->root = std::move(*root);
  absl::StatusOr<std::string> runsc = LocateRunsc(runsc_flag);
  if (!runsc.ok()) return runsc.status();
  e->runsc = *runsc;
  e->config.set_runsc_path(e->runsc);
  e->config.set_state_dir(e->root.path() + "/state");
  e->config.set_storage_dir(e->root.path() + "/storage");
  e->raw_root = e->root.path() + "/raw-root";
  if (absl::Status s = MakeDirs(e->raw_root, 0700); !s.ok()) return s;
  absl::StatusOr<std::string> py = WriteRawBundle(e->root.path() + "/raw-python", kPython.raw);
  if (!py.ok()) return py.status();
  e->raw_python_bundle = *py;
  absl::StatusOr<std::string> sh = WriteRawBundle(e->root.path() + "/raw-bash", kBash.raw);
  if (!sh.ok()) return sh.status();
  e->raw_bash_bundle = *sh;
  absl::StatusOr<std::string> idle = WriteRawBundle(e->root.path() + "/raw-idle", kRawIdle);
  if (!idle.ok()) return idle.status();
  e->raw_idle_bundle = *idle;
  return e;
}

// One run of each kind before measuring: proves both paths work, and pays
// the one-time costs (probing runsc, reaping the state dir, page cache).
absl::Status WarmUp() {
  for (const Snippet* s : {&kPython, &kBash}) {
    if (absl::Status st = CheckHello(RunSnippet(*s, env->config)); !st.ok()) return st;
  }
  for (const std::string& bundle : {env->raw_python_bundle, env->raw_bash_bundle}) {
    if (absl::Status st = CheckHello(RunRawRunsc(env->runsc, env->raw_root, bundle, RawId()));
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

void LibraryRun(benchmark::State& state, const Snippet& snippet) {
  PhaseCounters phases;
  Latencies latencies;
  for (auto _ : state) {
    const absl::Time t0 = absl::Now();
    absl::Status s = CheckHello(RunSnippet(snippet, env->config));
    latencies.Add(absl::Now() - t0);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  phases.Report(state);
  latencies.Report(state);
}

int64_t PoolIdle() {
  Metrics m = GetMetrics();
  auto it = m.gauges().find("pool_idle");
  return it == m.gauges().end() ? 0 : it->second;
}

// Waits (the caller pauses timing) until the pools hold `n` idle sandboxes.
absl::Status WaitForIdle(int64_t n) {
  const absl::Time give_up = absl::Now() + kPoolFillTimeout;
  while (PoolIdle() < n) {
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat("pool holds ", PoolIdle(),
                                                      " idle sandboxes, not ", n, ", after ",
                                                      absl::FormatDuration(kPoolFillTimeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::OkStatus();
}

// Not cold: the latency a user sees when a pre-booted sandbox is waiting.
// Between iterations (untimed) the pool gets time to boot the next one.
void WarmRun(benchmark::State& state, const Snippet& snippet) {
  const Config config = WarmConfig(snippet.language, 1);
  // The first run creates the pool; it is a miss and is not measured.
  if (absl::Status s = CheckHello(RunSnippet(snippet, config)); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  PhaseCounters phases;
  Latencies latencies;
  for (auto _ : state) {
    state.PauseTiming();
    absl::Status s = WaitForIdle(1);
    state.ResumeTiming();
    const absl::Time t0 = absl::Now();
    if (s.ok()) s = CheckHello(RunSnippet(snippet, config));
    latencies.Add(absl::Now() - t0);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  phases.Report(state);
  latencies.Report(state);
  // The idle sandbox and its refill thread would skew what runs next.
  libsandbox::Shutdown();
}

void BM_LibraryPythonHelloWarmPool(benchmark::State& state) { WarmRun(state, kPython); }
void BM_LibraryBashEchoWarmPool(benchmark::State& state) { WarmRun(state, kBash); }

// The best bare runsc can do without a pool of its own: `runsc exec` into a
// raw sandbox booted (untimed) before the first iteration.
void RawExec(benchmark::State& state, const Snippet& snippet) {
  TimeRawExec(state, env->runsc, env->raw_root, env->raw_idle_bundle, RawId(), snippet.exec_argv);
}

void BM_RawRunscExecPython(benchmark::State& state) { RawExec(state, kPython); }
void BM_RawRunscExecBash(benchmark::State& state) { RawExec(state, kBash); }

void RawRun(benchmark::State& state, const std::string& bundle) {
  Latencies latencies;
  for (auto _ : state) {
    const absl::Time t0 = absl::Now();
    absl::Status s = CheckHello(RunRawRunsc(env->runsc, env->raw_root, bundle, RawId()));
    latencies.Add(absl::Now() - t0);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  latencies.Report(state);
}

void BM_LibraryPythonHello(benchmark::State& state) { LibraryRun(state, kPython); }
void BM_RawRunscRunPython(benchmark::State& state) { RawRun(state, env->raw_python_bundle); }
void BM_LibraryBashEcho(benchmark::State& state) { LibraryRun(state, kBash); }
void BM_RawRunscRunBash(benchmark::State& state) { RawRun(state, env->raw_bash_bundle); }

// state.range(0) threads each do one Run of python hello at once; the time
// is the wall time until the last one is done. Warm: with a pool as large as
// the number of callers, full (waited for untimed) before each round.
void ConcurrentRuns(benchmark::State& state, bool warm) {
  const int n = static_cast<int>(state.range(0));
  const Config config = warm ? WarmConfig("python", n) : env->config;
  if (warm) {
    // The first run creates the pool (a miss, not measured).
    if (absl::Status s = CheckHello(RunSnippet(kPython, config)); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
  TreeMemory base = ProcessTree(getpid()).Measure(/*with_pss=*/true);
  TreeMemory peak;
  double slowest_s = 0, total_s = 0;
  int runs = 0;
  PhaseCounters phases;
  for (auto _ : state) {
    if (warm) {
      state.PauseTiming();
      absl::Status s = WaitForIdle(n);
      state.ResumeTiming();
      if (!s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        break;
      }
    }
    // Warm, the idle pool is most of the tree from the start, so the
    // sampler's grow-then-read-PSS rule never fires; reading PSS of the
    // whole pool would only steal CPU from the runs being timed.
    PeakTreeMemorySampler sampler(getpid(), kSamplePeriod,
                                  warm ? absl::ZeroDuration() : pss_period);
    std::vector<Result> results(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&results, &config, i] { results[i] = RunSnippet(kPython, config); });
    }
    for (std::thread& t : threads) t.join();
    TreeMemory m = sampler.Stop();
    peak.rss_bytes = std::max(peak.rss_bytes, m.rss_bytes);
    peak.pss_bytes = std::max(peak.pss_bytes, m.pss_bytes);
    peak.processes = std::max(peak.processes, m.processes);
    absl::Status failed;
    for (const Result& r : results) {
      if (absl::Status s = CheckHello(r); !s.ok()) failed = s;
      slowest_s = std::max(slowest_s, r.duration_s());
      total_s += r.duration_s();
      ++runs;
    }
    if (!failed.ok()) {
      state.SkipWithError(std::string(failed.message()).c_str());
      break;
    }
  }
  phases.Report(state);  // warm: pool_misses > 0 means some runs were cold
  state.counters["peak_rss_MiB"] = static_cast<double>(peak.rss_bytes) / kMiB;
  state.counters["peak_pss_MiB"] = static_cast<double>(peak.pss_bytes) / kMiB;
  // The benchmark process (and, warm, the idle pool) before the runs.
  state.counters["base_rss_MiB"] = static_cast<double>(base.rss_bytes) / kMiB;
  state.counters["base_pss_MiB"] = static_cast<double>(base.pss_bytes) / kMiB;
  state.counters["peak_procs"] = peak.processes;
  state.counters["slowest_run_s"] = slowest_s;
  state.counters["mean_run_s"] = runs > 0 ? total_s / runs : 0;
  if (warm) libsandbox::Shutdown();
}

void BM_LibraryConcurrent(benchmark::State& state) { ConcurrentRuns(state, /*warm=*/false); }
void BM_LibraryConcurrentWarm(benchmark::State& state) { ConcurrentRuns(state, /*warm=*/true); }

// What a pool of idle python sandboxes costs while it waits: host memory of
// the process tree (RSS and PSS) against before the pool, and the memory the
// sandboxes' cgroups are charged, each per idle sandbox. The time is how
// long the pool took to fill (from the run that creates it).
void BM_PoolIdleMemory(benchmark::State& state) {
  libsandbox::Shutdown();  // no pools from earlier benchmarks
  const Config config = WarmConfig("python", kIdlePoolSize);
  ProcessTree tree(getpid());
  absl::SleepFor(absl::Milliseconds(500));  // let earlier teardowns finish
  const TreeMemory base = tree.Measure(/*with_pss=*/true);
  TreeMemory idle;
  CgroupMemory cgroups;
  for (auto _ : state) {
    absl::Status s = CheckHello(RunSnippet(kPython, config));
    if (s.ok()) s = WaitForIdle(kIdlePoolSize);
    state.PauseTiming();
    if (s.ok()) {
      // Settle: the run that created the pool is torn down, boots are done.
      absl::SleepFor(absl::Seconds(1));
      idle = tree.Measure(/*with_pss=*/true);
      absl::StatusOr<CgroupMemory> c = SandboxCgroupMemory(tree.Pids());
      if (c.ok()) {
        cgroups = *c;
      } else {
        s = c.status();
      }
    }
    libsandbox::Shutdown();
    state.ResumeTiming();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  const double n = kIdlePoolSize;
  state.counters["idle_sandboxes"] = n;
  state.counters["rss_MiB_per_idle"] =
      static_cast<double>(idle.rss_bytes - base.rss_bytes) / kMiB / n;
  state.counters["pss_MiB_per_idle"] =
      static_cast<double>(idle.pss_bytes - base.pss_bytes) / kMiB / n;
  state.counters["cgroup_MiB_per_idle"] = static_cast<double>(cgroups.usage_bytes) / kMiB / n;
  // Should equal idle_sandboxes: else some sandbox was not found in a cgroup.
  state.counters["cgroups_seen"] = cgroups.cgroups;
  state.counters["procs_per_idle"] = (idle.processes - base.processes) / n;
}

// Each library benchmark sits next to its baseline so that load from
// elsewhere on the machine hits both alike.
// The serial benchmarks: a fixed count of wall-clock timed runs, in ms.
void SerialRuns(benchmark::internal::Benchmark* b) {
  b->Iterations(kSerialIterations)->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_LibraryPythonHello)->Apply(SerialRuns);
BENCHMARK(BM_RawRunscRunPython)->Apply(SerialRuns);
BENCHMARK(BM_LibraryBashEcho)->Apply(SerialRuns);
BENCHMARK(BM_RawRunscRunBash)->Apply(SerialRuns);
BENCHMARK(BM_RawRunscExecPython)->Apply(SerialRuns);
BENCHMARK(BM_LibraryPythonHelloWarmPool)->Apply(SerialRuns);
BENCHMARK(BM_RawRunscExecBash)->Apply(SerialRuns);
BENCHMARK(BM_LibraryBashEchoWarmPool)->Apply(SerialRuns);
BENCHMARK(BM_LibraryConcurrent)
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Iterations(kConcurrentIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LibraryConcurrentWarm)
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Iterations(kConcurrentIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PoolIdleMemory)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace libsandbox::bench

int main(int argc, char** argv) {
  using libsandbox::bench::env;
  std::string runsc_flag;
  auto pss_flag = [](const std::string& arg) {
    int ms = 0;
    if (!absl::StartsWith(arg, "--pss_period_ms=") || !absl::SimpleAtoi(arg.substr(16), &ms) ||
        ms < 0) {
      return false;
    }
    libsandbox::bench::pss_period = absl::Milliseconds(ms);
    return true;
  };
  if (!libsandbox::bench::ParseFlags(argc, argv, runsc_flag, pss_flag)) return 2;

  auto created = libsandbox::bench::CreateEnv(runsc_flag);
  if (!created.ok()) {
    std::fprintf(stderr, "cold_bench: %s\n", std::string(created.status().message()).c_str());
    return 1;
  }
  env = created->get();
  if (absl::Status s = libsandbox::bench::WarmUp(); !s.ok()) {
    std::fprintf(stderr, "cold_bench: warm-up failed: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  libsandbox::bench::AddVersionContext(env->runsc);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Drains the warm pool before its state dir goes away with `created`.
  libsandbox::Shutdown();
  env = nullptr;
  return 0;
}
