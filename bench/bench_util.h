// Helpers shared by the benchmark binaries: checking that a run printed
// "hello", p50/p90 of single-run latencies, and the raw `runsc exec`
// baseline.
#ifndef LIBSANDBOX_BENCH_BENCH_UTIL_H_
#define LIBSANDBOX_BENCH_BENCH_UTIL_H_

#include <benchmark/benchmark.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/raw_runsc.h"
#include "libsandbox/host/process.h"
#include "libsandbox/sandbox.h"

namespace libsandbox::bench {

inline absl::Status CheckHello(const Result& r) {
  if (r.status() == Result::OK && r.stdout() == "hello\n") return absl::OkStatus();
  return absl::InternalError(absl::StrCat("library run: ", std::string(StatusName(r.status())), " ",
                                          r.message(), " stdout=", r.stdout(),
                                          " stderr=", r.stderr()));
}

inline absl::Status CheckHello(const absl::StatusOr<ProcessResult>& p) {
  if (!p.ok()) return p.status();
  if (p->exit_code == 0 && p->out.data == "hello\n") return absl::OkStatus();
  return absl::InternalError(absl::StrCat("raw runsc: exit ", p->exit_code, " stdout=", p->out.data,
                                          " stderr=", p->err.data));
}

// Latency of single runs, for percentiles (the benchmark's own figure is a
// mean, which one slow run on a busy machine drags up).
class Latencies {
 public:
  void Add(absl::Duration d) { ms_.push_back(absl::ToDoubleMilliseconds(d)); }
  void Report(benchmark::State& state) {
    if (ms_.empty()) return;
    std::sort(ms_.begin(), ms_.end());
    auto at = [&](double q) { return ms_[static_cast<size_t>(q * (ms_.size() - 1) + 0.5)]; };
    state.counters["p50_ms"] = at(0.5);
    state.counters["p90_ms"] = at(0.9);
    state.counters["min_ms"] = ms_.front();
    state.counters["max_ms"] = ms_.back();
  }

 private:
  std::vector<double> ms_;
};

// Times `runsc exec` of `argv` into a raw sandbox of `idle_bundle` (an init
// that waits forever) named `id`: the best bare runsc can do without a boot.
// The sandbox is booted and exec'd into once (paying first-exec costs and
// proving the path works) untimed, before the first iteration.
inline void TimeRawExec(benchmark::State& state, const std::string& runsc, const std::string& root,
                        const std::string& idle_bundle, const std::string& id,
                        const std::vector<std::string>& argv) {
  absl::StatusOr<RawRunningSandbox> sandbox =
      RawRunningSandbox::Start(runsc, root, idle_bundle, id);
  if (!sandbox.ok()) {
    state.SkipWithError(std::string(sandbox.status().message()).c_str());
    return;
  }
  if (absl::Status s = CheckHello(sandbox->Exec(argv)); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  Latencies latencies;
  for (auto _ : state) {
    const absl::Time t0 = absl::Now();
    absl::Status s = CheckHello(sandbox->Exec(argv));
    latencies.Add(absl::Now() - t0);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  latencies.Report(state);
}

// Takes this project's own flags out of argv before Google Benchmark sees
// them (it rejects flags it does not know): --runsc=PATH, whose value is
// returned, and whatever `extra` accepts. Then initialises Google
// Benchmark; false when an argument is left that neither knows.
inline bool ParseFlags(int& argc, char** argv, std::string& runsc,
                       const std::function<bool(const std::string&)>& extra = nullptr) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--runsc=")) {
      runsc = arg.substr(8);
    } else if (!extra || !extra(arg)) {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  return !benchmark::ReportUnrecognizedArguments(argc, argv);
}

// Records which runsc and library the figures come from.
inline void AddVersionContext(const std::string& runsc) {
  Config config;
  config.set_runsc_path(runsc);
  absl::StatusOr<std::string> version = RunscVersion(config);
  benchmark::AddCustomContext("runsc", runsc);
  benchmark::AddCustomContext("runsc_version", version.ok() ? *version : "unknown");
  benchmark::AddCustomContext("libsandbox_version", std::string(kVersion));
}

}  // namespace libsandbox::bench

#endif  // LIBSANDBOX_BENCH_BENCH_UTIL_H_
