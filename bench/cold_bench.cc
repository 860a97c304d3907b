// Cold-start cost of one sandboxed run: the library's Run side by side with a
// bare `runsc run` of an equivalent bundle, N runs at once with the peak host
// memory of the whole process tree, and (for contrast) a warm-pool run.
//
//   cold_bench [--runsc=PATH] [--pss_period_ms=100] [benchmark flags]
//
// Needs root (cgroups, tmpfs workspaces), like the library itself. Every run
// boots a fresh sandbox, except in BM_LibraryPythonHelloWarmPool, which
// takes one a warm pool booted ahead of time.
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
#include "bench/raw_runsc.h"
#include "bench/tree_memory.h"
#include "libsandbox/fs_util.h"
#include "libsandbox/process.h"
#include "libsandbox/runsc.h"
#include "libsandbox/sandbox.h"

namespace libsandbox::bench {
namespace {

constexpr int kSerialIterations = 15;
constexpr int kConcurrentIterations = 3;
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
};

const Snippet kPython = {
    "python", "print('hello')", {{"/usr/bin/python3"}, "main.py", "print('hello')\n"}};
const Snippet kBash = {"bash", "echo hello", {{"/bin/bash"}, "main.sh", "echo hello\n"}};

// Everything the benchmarks share, created once in main and removed at exit.
struct BenchEnv {
  TempDir root;
  std::string runsc;
  Config config;         // cold: no pool, every run boots a sandbox
  Config warm_config;    // the same with a warm pool, for comparison
  std::string raw_root;  // runsc --root of the baseline
  std::string raw_python_bundle;
  std::string raw_bash_bundle;
};
BenchEnv* env = nullptr;

absl::Status CheckHello(const Result& r) {
  if (r.status() == Result::OK && r.stdout() == "hello\n") return absl::OkStatus();
  return absl::InternalError(absl::StrCat("library run: ", std::string(StatusName(r.status())), " ",
                                          r.message(), " stdout=", r.stdout(),
                                          " stderr=", r.stderr()));
}

absl::Status CheckHello(const absl::StatusOr<ProcessResult>& p) {
  if (!p.ok()) return p.status();
  if (p->exit_code == 0 && p->out.data == "hello\n") return absl::OkStatus();
  return absl::InternalError(absl::StrCat("raw runsc: exit ", p->exit_code, " stdout=", p->out.data,
                                          " stderr=", p->err.data));
}

Result RunSnippet(const Snippet& snippet, const Config& config) {
  RunRequest request;
  request.set_language(snippet.language);
  request.set_code(snippet.code);
  return Run(request, config);  // default limits
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
  e->warm_config = e->config;
  e->warm_config.set_pool_size(1);
  e->warm_config.add_pool_languages("python");
  e->raw_root = e->root.path() + "/raw-root";
  if (absl::Status s = MakeDirs(e->raw_root, 0700); !s.ok()) return s;
  absl::StatusOr<std::string> py = WriteRawBundle(e->root.path() + "/raw-python", kPython.raw);
  if (!py.ok()) return py.status();
  e->raw_python_bundle = *py;
  absl::StatusOr<std::string> sh = WriteRawBundle(e->root.path() + "/raw-bash", kBash.raw);
  if (!sh.ok()) return sh.status();
  e->raw_bash_bundle = *sh;
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
  for (auto _ : state) {
    if (absl::Status s = CheckHello(RunSnippet(snippet, env->config)); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  phases.Report(state);
}

int64_t PoolIdle() {
  Metrics m = GetMetrics();
  auto it = m.gauges().find("pool_idle");
  return it == m.gauges().end() ? 0 : it->second;
}

// Not cold: the latency a user sees when a pre-booted sandbox is waiting.
// Between iterations (untimed) the pool gets time to boot the next one.
void BM_LibraryPythonHelloWarmPool(benchmark::State& state) {
  // The first run creates the pool; it is a miss and is not measured.
  if (absl::Status s = CheckHello(RunSnippet(kPython, env->warm_config)); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  PhaseCounters phases;
  for (auto _ : state) {
    state.PauseTiming();
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (PoolIdle() < 1 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
    state.ResumeTiming();
    if (absl::Status s = CheckHello(RunSnippet(kPython, env->warm_config)); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  phases.Report(state);
  // The idle sandbox and its refill thread would skew what runs next.
  libsandbox::Shutdown();
}

void RawRun(benchmark::State& state, const std::string& bundle) {
  for (auto _ : state) {
    absl::Status s = CheckHello(RunRawRunsc(env->runsc, env->raw_root, bundle, RawId()));
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
}

void BM_LibraryPythonHello(benchmark::State& state) { LibraryRun(state, kPython); }
void BM_RawRunscRunPython(benchmark::State& state) { RawRun(state, env->raw_python_bundle); }
void BM_LibraryBashEcho(benchmark::State& state) { LibraryRun(state, kBash); }
void BM_RawRunscRunBash(benchmark::State& state) { RawRun(state, env->raw_bash_bundle); }

// state.range(0) threads each do one Run of python hello at once; the time
// is the wall time until the last one is done.
void BM_LibraryConcurrent(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  TreeMemory base = ProcessTree(getpid()).Measure(/*with_pss=*/true);
  TreeMemory peak;
  double slowest_s = 0, total_s = 0;
  int runs = 0;
  for (auto _ : state) {
    PeakTreeMemorySampler sampler(getpid(), kSamplePeriod, pss_period);
    std::vector<Result> results(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&results, i] { results[i] = RunSnippet(kPython, env->config); });
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
  state.counters["peak_rss_MiB"] = static_cast<double>(peak.rss_bytes) / kMiB;
  state.counters["peak_pss_MiB"] = static_cast<double>(peak.pss_bytes) / kMiB;
  // The benchmark process alone, before any sandbox: subtract for per-run cost.
  state.counters["base_rss_MiB"] = static_cast<double>(base.rss_bytes) / kMiB;
  state.counters["base_pss_MiB"] = static_cast<double>(base.pss_bytes) / kMiB;
  state.counters["peak_procs"] = peak.processes;
  state.counters["slowest_run_s"] = slowest_s;
  state.counters["mean_run_s"] = runs > 0 ? total_s / runs : 0;
}

// Each library benchmark sits next to its baseline so that load from
// elsewhere on the machine hits both alike.
BENCHMARK(BM_LibraryPythonHello)
    ->Iterations(kSerialIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRunscRunPython)
    ->Iterations(kSerialIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LibraryBashEcho)
    ->Iterations(kSerialIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRunscRunBash)
    ->Iterations(kSerialIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LibraryPythonHelloWarmPool)
    ->Iterations(kSerialIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LibraryConcurrent)
    ->Arg(1)
    ->Arg(8)
    ->Iterations(kConcurrentIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace libsandbox::bench

int main(int argc, char** argv) {
  using libsandbox::bench::env;
  // Our own flag first; Google Benchmark rejects flags it does not know.
  std::string runsc_flag;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    int ms = 0;
    if (absl::StartsWith(arg, "--runsc=")) {
      runsc_flag = arg.substr(8);
    } else if (absl::StartsWith(arg, "--pss_period_ms=") && absl::SimpleAtoi(arg.substr(16), &ms) &&
               ms >= 0) {
      libsandbox::bench::pss_period = absl::Milliseconds(ms);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

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
  libsandbox::Config config;
  config.set_runsc_path(env->runsc);
  absl::StatusOr<std::string> version = libsandbox::RunscVersion(config);
  benchmark::AddCustomContext("runsc", env->runsc);
  benchmark::AddCustomContext("runsc_version", version.ok() ? *version : "unknown");
  benchmark::AddCustomContext("libsandbox_version", std::string(libsandbox::kVersion));

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Drains the warm pool before its state dir goes away with `created`.
  libsandbox::Shutdown();
  env = nullptr;
  return 0;
}
