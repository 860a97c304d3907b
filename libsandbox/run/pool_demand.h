// How many ready sandboxes a warm pool should hold for one language: as many
// as runs arrived within the time it takes to boot one (the most seen in any
// such interval of the last minute), so a burst like the last one finds the
// pool full and a steady rate never waits on a boot. Quiet for a minute, it
// falls back to the floor.
#ifndef LIBSANDBOX_RUN_POOL_DEMAND_H_
#define LIBSANDBOX_RUN_POOL_DEMAND_H_

#include <deque>

#include "absl/time/time.h"

namespace libsandbox {

class PoolDemand {
 public:
  // How far back arrivals count, and at most how many are remembered.
  static constexpr absl::Duration kMemory = absl::Seconds(60);
  static constexpr size_t kMaxArrivals = 4096;

  // A run asked the pool for a sandbox (whether or not it got one).
  void Arrived(absl::Time now);
  // A pooled sandbox took `took` to boot and become ready.
  void Booted(absl::Duration took);

  // Sandboxes to hold ready: the peak arrivals per boot time, within
  // [floor, ceiling].
  int Wanted(absl::Time now, int floor, int ceiling);

  // The interval arrivals are counted over: twice the typical boot time
  // (boots overlap and slow each other under load), within [0.5 s, 10 s].
  absl::Duration Window() const;

  // The typical time a boot takes now (a moving average).
  absl::Duration BootTime() const { return boot_; }

 private:
  std::deque<absl::Time> arrivals_;
  absl::Duration boot_ = absl::Milliseconds(400);  // moving average
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_POOL_DEMAND_H_
