// Helpers shared by the benchmark binaries: checking that a run printed
// "hello", and p50/p90 of single-run latencies.
#ifndef LIBSANDBOX_BENCH_BENCH_UTIL_H_
#define LIBSANDBOX_BENCH_BENCH_UTIL_H_

#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libsandbox/process.h"
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

}  // namespace libsandbox::bench

#endif  // LIBSANDBOX_BENCH_BENCH_UTIL_H_
