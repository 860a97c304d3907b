// Cost of persistent sessions: the first exec of a new session (which boots
// its sandbox), a warm exec into a session already running, side by side
// with a bare `runsc exec` into a raw running sandbox, and what an idle
// session costs in memory (hence how many fit on one machine).
//
//   session_bench [--runsc=PATH] [benchmark flags]
//
// Needs root (cgroups, namespaces), like the library itself. Latency
// benchmarks report p50/p90 of single execs (p50_ms, p90_ms) beside the
// mean, which one slow exec on a busy machine drags up.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/cgroup_memory.h"
#include "bench/raw_runsc.h"
#include "bench/tree_memory.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/runsc.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session/session.h"

namespace libsandbox::bench {
namespace {

constexpr int kFirstExecIterations = 8;
constexpr int kWarmIterations = 15;
// Idle sessions measured by BM_SessionIdleMemory.
constexpr int kIdleSessions = 8;
// After the last boot: lets exec teardown and sentry start-up settle.
constexpr absl::Duration kSettle = absl::Seconds(2);
// The machine size the product owner asked about.
constexpr double kMachineBytes = 24.0 * (int64_t{1} << 30);
constexpr double kMiB = 1 << 20;

struct Snippet {
  const char* language;
  const char* code;
  std::vector<std::string> exec_argv;  // the same for `runsc exec`
};
const Snippet kPython = {"python", "print('hello')", {"/usr/bin/python3", "-c", "print('hello')"}};
const Snippet kBash = {"bash", "echo hello", {"/bin/bash", "-c", "echo hello"}};
// The init of the raw sandbox that `runsc exec` goes into: waits forever.
const RawBundleOptions kRawIdle = {{"/bin/bash"}, "idle.sh", "exec sleep infinity\n"};

// Everything the benchmarks share, created once in main and removed at exit.
struct BenchEnv {
  TempDir root;
  std::string runsc;
  Config config;
  std::string raw_root;  // runsc --root of the baseline
  std::string raw_idle_bundle;
};
BenchEnv* env = nullptr;

absl::StatusOr<std::unique_ptr<BenchEnv>> CreateEnv(const std::string& runsc_flag) {
  auto e = std::make_unique<BenchEnv>();
  absl::StatusOr<TempDir> root = TempDir::Create("/tmp", "libsandbox-session-bench-");
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
  absl::StatusOr<std::string> idle = WriteRawBundle(e->root.path() + "/raw-idle", kRawIdle);
  if (!idle.ok()) return idle.status();
  e->raw_idle_bundle = *idle;
  return e;
}

std::string UniqueName(const char* prefix) {
  static std::atomic<int> counter{0};
  return absl::StrCat(prefix, "-", getpid(), "-", counter++);
}

SessionKey NewKey() {
  SessionKey key;
  key.set_user(UniqueName("bench-user"));
  return key;
}

absl::StatusOr<std::unique_ptr<SessionManager>> NewManager(benchmark::State& state) {
  absl::StatusOr<std::unique_ptr<SessionManager>> m = SessionManager::Create(env->config);
  if (!m.ok()) state.SkipWithError(std::string(m.status().message()).c_str());
  return m;
}

// Get (creating the session) and one exec of `snippet`.
absl::Status ExecHello(SessionManager& manager, const SessionKey& key, const Snippet& snippet) {
  absl::StatusOr<std::shared_ptr<ManagedSession>> session = manager.Get(key);
  if (!session.ok()) return session.status();
  ExecRequest request;
  request.set_language(snippet.language);
  request.set_code(snippet.code);
  return CheckHello((*session)->Exec(request));
}

// A user's first exec: a new session, whose sandbox boots on it. Stopping
// it afterwards is not timed.
void BM_SessionFirstExec(benchmark::State& state) {
  absl::StatusOr<std::unique_ptr<SessionManager>> manager = NewManager(state);
  if (!manager.ok()) return;
  Latencies latencies;
  for (auto _ : state) {
    const SessionKey key = NewKey();
    const absl::Time t0 = absl::Now();
    absl::Status s = ExecHello(**manager, key, kPython);
    latencies.Add(absl::Now() - t0);
    state.PauseTiming();
    absl::Status stopped = (*manager)->Stop(key);
    if (s.ok()) s = stopped;
    state.ResumeTiming();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  latencies.Report(state);
}

// An exec into a session whose sandbox runs already (booted and used once,
// untimed).
void WarmExec(benchmark::State& state, const Snippet& snippet) {
  absl::StatusOr<std::unique_ptr<SessionManager>> manager = NewManager(state);
  if (!manager.ok()) return;
  const SessionKey key = NewKey();
  if (absl::Status s = ExecHello(**manager, key, snippet); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  Latencies latencies;
  for (auto _ : state) {
    const absl::Time t0 = absl::Now();
    absl::Status s = ExecHello(**manager, key, snippet);
    latencies.Add(absl::Now() - t0);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  latencies.Report(state);
  // The manager's destruction stops the session (untimed: after the loop).
}

void BM_SessionWarmExecPython(benchmark::State& state) { WarmExec(state, kPython); }
void BM_SessionWarmExecBash(benchmark::State& state) { WarmExec(state, kBash); }

// The baseline of a warm exec: bare `runsc exec` into a raw sandbox booted
// (untimed) before the first iteration, with no wrapper, cwd or workspace.
void RawExec(benchmark::State& state, const Snippet& snippet) {
  TimeRawExec(state, env->runsc, env->raw_root, env->raw_idle_bundle, UniqueName("bench-raw"),
              snippet.exec_argv);
}

void BM_RawRunscExecPython(benchmark::State& state) { RawExec(state, kPython); }
void BM_RawRunscExecBash(benchmark::State& state) { RawExec(state, kBash); }

// What idle sessions cost: kIdleSessions sessions, each booted by one python
// exec and then left idle, against the process tree before them: host RSS
// and PSS, and the memory their cgroups are charged, each per session. The
// time is how long the boots took. idle_sessions_per_24GiB divides 24 GiB by
// the larger of PSS and cgroup charge per session (host overhead such as
// page cache of runsc itself is not in it).
void BM_SessionIdleMemory(benchmark::State& state) {
  ProcessTree tree(getpid());
  absl::SleepFor(absl::Milliseconds(500));  // let earlier teardowns finish
  const TreeMemory base = tree.Measure(/*with_pss=*/true);
  TreeMemory idle;
  CgroupMemory cgroups;
  int64_t info_bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<SessionManager>> manager = NewManager(state);
    if (!manager.ok()) break;
    std::vector<SessionKey> keys;
    absl::Status s;
    for (int i = 0; i < kIdleSessions && s.ok(); ++i) {
      keys.push_back(NewKey());
      s = ExecHello(**manager, keys.back(), kPython);
    }
    state.PauseTiming();
    if (s.ok()) {
      absl::SleepFor(kSettle);
      idle = tree.Measure(/*with_pss=*/true);
      absl::StatusOr<CgroupMemory> c = SandboxCgroupMemory(tree.Pids());
      if (c.ok()) {
        cgroups = *c;
      } else {
        s = c.status();
      }
      for (const SessionInfo& info : (*manager)->List()) info_bytes += info.memory_bytes();
    }
    for (const SessionKey& key : keys) {
      if (absl::Status stopped = (*manager)->Stop(key); s.ok()) s = stopped;
    }
    state.ResumeTiming();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  const double n = kIdleSessions;
  const double pss = static_cast<double>(idle.pss_bytes - base.pss_bytes) / n;
  const double cgroup = static_cast<double>(cgroups.usage_bytes) / n;
  state.counters["idle_sessions"] = n;
  state.counters["rss_MiB_per_idle"] =
      static_cast<double>(idle.rss_bytes - base.rss_bytes) / kMiB / n;
  state.counters["pss_MiB_per_idle"] = pss / kMiB;
  state.counters["cgroup_MiB_per_idle"] = cgroup / kMiB;
  // The library's own figure (SessionInfo.memory_bytes), for comparison.
  state.counters["info_MiB_per_idle"] = static_cast<double>(info_bytes) / kMiB / n;
  // Should equal idle_sessions: else some sandbox was not found in a cgroup.
  state.counters["cgroups_seen"] = cgroups.cgroups;
  state.counters["procs_per_idle"] = (idle.processes - base.processes) / n;
  const double per_session = std::max(pss, cgroup);
  if (per_session > 0) state.counters["idle_sessions_per_24GiB"] = kMachineBytes / per_session;
}

// One session exec of each language and one raw exec before measuring:
// proves the paths work and pays one-time costs (probing runsc, page cache)
// that would otherwise land on the first timed iteration.
absl::Status WarmUp() {
  absl::StatusOr<std::unique_ptr<SessionManager>> manager = SessionManager::Create(env->config);
  if (!manager.ok()) return manager.status();
  const SessionKey key = NewKey();
  for (const Snippet* snippet : {&kPython, &kBash}) {
    if (absl::Status s = ExecHello(**manager, key, *snippet); !s.ok()) return s;
  }
  if (absl::Status s = (*manager)->Stop(key); !s.ok()) return s;
  absl::StatusOr<RawRunningSandbox> raw = RawRunningSandbox::Start(
      env->runsc, env->raw_root, env->raw_idle_bundle, UniqueName("bench-raw"));
  if (!raw.ok()) return raw.status();
  return CheckHello(raw->Exec(kPython.exec_argv));
}

void FirstExecRuns(benchmark::internal::Benchmark* b) {
  b->Iterations(kFirstExecIterations)->UseRealTime()->Unit(benchmark::kMillisecond);
}
void WarmRuns(benchmark::internal::Benchmark* b) {
  b->Iterations(kWarmIterations)->UseRealTime()->Unit(benchmark::kMillisecond);
}

// Warm session execs sit next to their raw baseline so that load from
// elsewhere on the machine hits both alike.
BENCHMARK(BM_SessionFirstExec)->Apply(FirstExecRuns);
BENCHMARK(BM_SessionWarmExecPython)->Apply(WarmRuns);
BENCHMARK(BM_RawRunscExecPython)->Apply(WarmRuns);
BENCHMARK(BM_SessionWarmExecBash)->Apply(WarmRuns);
BENCHMARK(BM_RawRunscExecBash)->Apply(WarmRuns);
BENCHMARK(BM_SessionIdleMemory)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace libsandbox::bench

int main(int argc, char** argv) {
  using libsandbox::bench::env;
  std::string runsc_flag;
  if (!libsandbox::bench::ParseFlags(argc, argv, runsc_flag)) return 2;

  auto created = libsandbox::bench::CreateEnv(runsc_flag);
  if (!created.ok()) {
    std::fprintf(stderr, "session_bench: %s\n", std::string(created.status().message()).c_str());
    return 1;
  }
  env = created->get();
  if (absl::Status s = libsandbox::bench::WarmUp(); !s.ok()) {
    std::fprintf(stderr, "session_bench: warm-up failed: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  libsandbox::bench::AddVersionContext(env->runsc);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  env = nullptr;
  return 0;
}
