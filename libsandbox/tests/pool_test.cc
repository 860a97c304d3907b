// The warm pool: demand sizing (pure), and through the public API the
// process's one pool, shared by every Config and ruled by the newest (real
// runsc).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/run/pool_demand.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

TEST(PoolDemandTest, ABurstAsksForAsManyAsArrivedAtOnce) {
  PoolDemand d;
  for (int i = 0; i < 16; ++i) d.Arrived(kT0 + absl::Milliseconds(i));
  EXPECT_EQ(d.Wanted(kT0 + absl::Seconds(1), 1, 64), 16);
  EXPECT_EQ(d.Wanted(kT0 + absl::Seconds(1), 1, 10), 10);   // the ceiling
  EXPECT_EQ(d.Wanted(kT0 + absl::Seconds(1), 20, 10), 20);  // the floor wins
}

TEST(PoolDemandTest, ASteadyRateAsksForTheArrivalsOfOneWindow) {
  PoolDemand d;
  for (int i = 0; i < 5; ++i) d.Booted(absl::Milliseconds(500));  // window ~1 s
  ASSERT_GE(d.Window(), absl::Milliseconds(900));
  ASSERT_LE(d.Window(), absl::Milliseconds(1100));
  // 4 runs a second, evenly, for 20 s.
  for (int i = 0; i < 80; ++i) d.Arrived(kT0 + absl::Milliseconds(250 * i));
  const int wanted = d.Wanted(kT0 + absl::Seconds(20), 1, 64);
  EXPECT_GE(wanted, 4);
  EXPECT_LE(wanted, 5);
}

TEST(PoolDemandTest, QuietForAMinuteFallsBackToTheFloor) {
  PoolDemand d;
  for (int i = 0; i < 8; ++i) d.Arrived(kT0);
  EXPECT_EQ(d.Wanted(kT0 + absl::Seconds(30), 2, 64), 8);
  EXPECT_EQ(d.Wanted(kT0 + PoolDemand::kMemory + absl::Seconds(1), 2, 64), 2);
}

TEST(PoolDemandTest, SlowBootsWidenTheWindowWithinBounds) {
  PoolDemand d;
  for (int i = 0; i < 50; ++i) d.Booted(absl::Seconds(60));
  EXPECT_EQ(d.Window(), absl::Seconds(10));
  PoolDemand fast;
  for (int i = 0; i < 50; ++i) fast.Booted(absl::Milliseconds(10));
  EXPECT_EQ(fast.Window(), absl::Milliseconds(500));
}

class SharedPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTestDir("pool");
    base_.set_state_dir(root_ + "/state");
    base_.set_storage_dir(root_ + "/files-a");
    base_.set_runsc_path(testing::TestRunscPath());
    base_.add_pool_languages("python");
  }
  void TearDown() override {
    Shutdown();
    (void)RemoveTree(root_);
  }

  static Result RunWith(const Config& config, const std::string& code) {
    RunRequest req;
    req.set_code(code);
    return libsandbox::Run(req, config);
  }
  static int64_t Counter(const std::string& name) {
    Metrics m = GetMetrics();
    return m.counters().contains(name) ? m.counters().at(name) : 0;
  }
  static int64_t Gauge(const std::string& name) {
    Metrics m = GetMetrics();
    return m.gauges().contains(name) ? m.gauges().at(name) : 0;
  }
  static int64_t Idle() { return Gauge("pool_idle"); }
  // Waits (up to 60 s) until `done` holds.
  template <typename F>
  static bool Eventually(F done) {
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (!done()) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return true;
  }
  // Sandboxes of this state dir that exist (pooled ones included).
  int Sandboxes() const { return static_cast<int>(testing::RunIds(base_).size()); }

  std::string root_;
  Config base_;
};

// Open WebUI's valves: each edit is a new Config; they must not each keep a pool.
TEST_F(SharedPoolTest, EditedConfigsShareOnePoolAndZeroDrainsIt) {
  Config a = base_;
  a.set_pool_size(1);
  a.set_pool_max_size(1);
  testing::WaitForWarmPool(a, 1);

  Config b = a;  // another quota, admission and pool size: the same sandboxes
  b.mutable_quota()->set_max_files_per_execution(3);
  b.set_max_concurrent(5);
  b.set_pool_size(3);
  b.set_pool_max_size(3);
  const int64_t hits = Counter("pool_hits");
  ASSERT_EQ(RunWith(b, "print(1)").status(), Result::OK);
  EXPECT_EQ(Counter("pool_hits") - hits, 1) << "b's run takes the sandbox a's Config booted";
  ASSERT_TRUE(Eventually([&] { return Idle() == 3 && Sandboxes() == 3; }))
      << "idle " << Idle() << ", sandboxes " << Sandboxes();
  // a runs again, but b is the newest Config: the pool stays at b's size.
  ASSERT_EQ(RunWith(a, "print(2)").status(), Result::OK);
  absl::SleepFor(absl::Seconds(2));
  EXPECT_TRUE(Eventually([&] { return Idle() == 3 && Sandboxes() == 3; }))
      << "idle " << Idle() << ", sandboxes " << Sandboxes();

  // Another /tmp size boots other sandboxes: the pool replaces its idle ones.
  Config d = b;
  *d.mutable_pool_limits() = DefaultLimits();
  d.mutable_pool_limits()->set_workspace_mb(32);
  ASSERT_EQ(RunWith(d, "print(3)").status(), Result::OK);
  ASSERT_TRUE(Eventually([&] { return Idle() == 3 && Sandboxes() == 3; }))
      << "idle " << Idle() << ", sandboxes " << Sandboxes();
  RunRequest small;
  small.set_code("print(4)");
  *small.mutable_limits() = DefaultLimits();
  small.mutable_limits()->set_workspace_mb(32);
  const int64_t d_hits = Counter("pool_hits");
  ASSERT_EQ(libsandbox::Run(small, d).status(), Result::OK);
  EXPECT_EQ(Counter("pool_hits") - d_hits, 1);

  Config off = a;
  off.set_pool_size(0);
  off.set_debug(false);
  off.set_max_queued(7);
  ASSERT_EQ(RunWith(off, "print(5)").status(), Result::OK);
  EXPECT_TRUE(Eventually([&] { return Idle() == 0 && Sandboxes() == 0; }))
      << "idle " << Idle() << ", sandboxes " << Sandboxes();
}

TEST_F(SharedPoolTest, APooledRunKeepsItsFilesUnderItsOwnConfig) {
  Config a = base_;
  a.set_pool_size(1);
  testing::WaitForWarmPool(a, 1);
  Config b = a;
  b.set_storage_dir(root_ + "/files-b");
  const int64_t hits = Counter("pool_hits");
  RunRequest req;
  req.set_code("open('out.txt', 'w').write('b')");
  req.set_user("bob");
  Result r = libsandbox::Run(req, b);
  ASSERT_EQ(r.status(), Result::OK) << r.message();
  EXPECT_EQ(Counter("pool_hits") - hits, 1);
  ASSERT_EQ(r.files_size(), 1);
  EXPECT_TRUE(r.files(0).host_path().starts_with(root_ + "/files-b/")) << r.files(0).host_path();
}

TEST_F(SharedPoolTest, ABurstGrowsThePoolSoTheNextFindsItReady) {
  Config c = base_;
  c.set_pool_size(1);
  c.set_pool_max_size(6);
  testing::WaitForWarmPool(c, 1);
  std::vector<std::thread> burst;
  for (int i = 0; i < 6; ++i) {
    burst.emplace_back([&] { EXPECT_EQ(RunWith(c, "print(1)").status(), Result::OK); });
  }
  for (std::thread& t : burst) t.join();
  // Six arrived at once: the pool boots (in parallel) toward six, no more.
  ASSERT_TRUE(Eventually([&] { return Idle() == 6; })) << "idle " << Idle();
  const int64_t hits = Counter("pool_hits");
  const int64_t waits = Counter("pool_waits");
  burst.clear();
  for (int i = 0; i < 6; ++i) {
    burst.emplace_back([&] { EXPECT_EQ(RunWith(c, "print(1)").status(), Result::OK); });
  }
  for (std::thread& t : burst) t.join();
  EXPECT_EQ(Counter("pool_hits") - hits, 6) << "the second burst found every sandbox ready";
  EXPECT_EQ(Counter("pool_waits") - waits, 0) << "none of them waited for a boot";
  absl::SleepFor(absl::Seconds(1));
  EXPECT_LE(Idle(), 6);
}

// A run that finds the pool empty while a refill is booting takes that
// sandbox when it is ready instead of booting another from scratch.
TEST_F(SharedPoolTest, ARunThatFindsThePoolEmptyTakesTheSandboxAlreadyBooting) {
  Config c = base_;
  c.set_pool_size(1);
  c.set_pool_max_size(1);
  testing::WaitForWarmPool(c, 1);
  ASSERT_EQ(RunWith(c, "print(1)").status(), Result::OK);  // takes the one idle
  ASSERT_TRUE(Eventually([&] { return Idle() == 0 && Gauge("pool_booting") == 1; }))
      << "idle " << Idle() << ", booting " << Gauge("pool_booting");
  const int64_t hits = Counter("pool_hits");
  const int64_t misses = Counter("pool_misses");
  const int64_t waits = Counter("pool_waits");
  Result r = RunWith(c, "print(2)");
  ASSERT_EQ(r.status(), Result::OK) << r.message();
  EXPECT_EQ(r.stdout(), "2\n");
  EXPECT_EQ(Counter("pool_waits") - waits, 1);
  EXPECT_EQ(Counter("pool_hits") - hits, 1);
  EXPECT_EQ(Counter("pool_misses") - misses, 0) << "it booted a sandbox of its own";
}

// Two users share the pool: while one has a run going, it leaves the last
// idle sandbox to the other, who then finds it ready.
TEST_F(SharedPoolTest, OneUsersRunsLeaveTheLastIdleSandboxToAnother) {
  Config c = base_;
  c.set_pool_size(1);
  c.set_pool_max_size(1);
  testing::WaitForWarmPool(c, 1);
  auto run_as = [&](const std::string& user, const std::string& code) {
    RunRequest req;
    req.set_code(code);
    req.set_user(user);
    return libsandbox::Run(req, c);
  };
  ASSERT_EQ(run_as("bea", "print(1)").status(), Result::OK);
  ASSERT_TRUE(Eventually([&] { return Idle() == 1; }));
  std::thread long_run(
      [&] { EXPECT_EQ(run_as("al", "import time; time.sleep(10)").status(), Result::OK); });
  // al's first run took the idle sandbox; the refill is idle again while it runs.
  ASSERT_TRUE(Eventually([&] { return Idle() == 1 && Gauge("running") == 1; }))
      << "idle " << Idle() << ", running " << Gauge("running");
  int64_t hits = Counter("pool_hits"), misses = Counter("pool_misses");
  Result second = run_as("al", "print(2)");
  EXPECT_EQ(second.status(), Result::OK) << second.message();
  EXPECT_EQ(Counter("pool_misses") - misses, 1) << "al's second run took the last idle sandbox";
  EXPECT_EQ(Counter("pool_hits") - hits, 0);
  hits = Counter("pool_hits");
  Result other = run_as("bea", "print(3)");
  EXPECT_EQ(other.status(), Result::OK) << other.message();
  EXPECT_EQ(Counter("pool_hits") - hits, 1) << "bea found the sandbox kept for her";
  long_run.join();
}

}  // namespace
}  // namespace libsandbox
