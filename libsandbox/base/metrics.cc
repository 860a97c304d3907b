#include "libsandbox/base/metrics.h"

#include <algorithm>
#include <iterator>

namespace libsandbox {
namespace {

// Bucket bounds in seconds: fine where warm runs live, coarse up to a minute.
constexpr double kBounds[] = {0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3,
                              0.5,   1,    2,    5,    10,   30,  60};

}  // namespace

void MetricsRegistry::Increment(const std::string& counter, int64_t by) {
  absl::MutexLock lock(&mu_);
  (*metrics_.mutable_counters())[counter] += by;
}

void MetricsRegistry::AddGauge(const std::string& gauge, int64_t delta) {
  absl::MutexLock lock(&mu_);
  (*metrics_.mutable_gauges())[gauge] += delta;
}

void MetricsRegistry::Observe(const std::string& histogram, absl::Duration d) {
  double s = absl::ToDoubleSeconds(d);
  absl::MutexLock lock(&mu_);
  Histogram& h = (*metrics_.mutable_histograms())[histogram];
  if (h.upper_bounds_s_size() == 0) {
    for (double b : kBounds) h.add_upper_bounds_s(b);
    for (size_t i = 0; i <= std::size(kBounds); ++i) h.add_counts(0);
  }
  size_t bucket = std::lower_bound(std::begin(kBounds), std::end(kBounds), s) - std::begin(kBounds);
  h.set_counts(static_cast<int>(bucket), h.counts(static_cast<int>(bucket)) + 1);
  h.set_count(h.count() + 1);
  h.set_sum_s(h.sum_s() + s);
}

Metrics MetricsRegistry::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return metrics_;
}

MetricsRegistry& GlobalMetrics() {
  static auto* registry = new MetricsRegistry();
  return *registry;
}

}  // namespace libsandbox
