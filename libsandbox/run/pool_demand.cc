#include "libsandbox/run/pool_demand.h"

#include <algorithm>

namespace libsandbox {

void PoolDemand::Arrived(absl::Time now) {
  arrivals_.push_back(now);
  if (arrivals_.size() > kMaxArrivals) arrivals_.pop_front();
}

void PoolDemand::Booted(absl::Duration took) {
  // An exponential moving average: recent boots count most (load changes).
  boot_ = boot_ * 0.75 + took * 0.25;
}

absl::Duration PoolDemand::Window() const {
  return std::clamp(boot_ * 2, absl::Milliseconds(500), absl::Seconds(10));
}

int PoolDemand::Wanted(absl::Time now, int floor, int ceiling) {
  while (!arrivals_.empty() && arrivals_.front() < now - kMemory) arrivals_.pop_front();
  // The most arrivals in any interval of Window() length (two pointers over
  // the sorted times).
  const absl::Duration window = Window();
  int peak = 0;
  size_t first = 0;
  for (size_t last = 0; last < arrivals_.size(); ++last) {
    while (arrivals_[last] - arrivals_[first] >= window) ++first;
    peak = std::max(peak, static_cast<int>(last - first + 1));
  }
  return std::clamp(peak, floor, std::max(floor, ceiling));
}

}  // namespace libsandbox
