// Process-wide counters, gauges and latency histograms of runs.
#ifndef LIBSANDBOX_BASE_METRICS_H_
#define LIBSANDBOX_BASE_METRICS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

class MetricsRegistry {
 public:
  void Increment(const std::string& counter, int64_t by = 1);
  void AddGauge(const std::string& gauge, int64_t delta);
  void Observe(const std::string& histogram, absl::Duration d);
  Metrics Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  Metrics metrics_ ABSL_GUARDED_BY(mu_);
};

MetricsRegistry& GlobalMetrics();

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_METRICS_H_
