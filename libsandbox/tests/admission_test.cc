#include "libsandbox/admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace libsandbox {
namespace {

TEST(AdmissionTest, UnlimitedAdmitsAtOnce) {
  Admission a({});
  std::vector<Admission::Ticket> tickets;
  for (int i = 0; i < 100; ++i) {
    auto t = a.Acquire("u", absl::Now());
    ASSERT_TRUE(t.ok());
    tickets.push_back(*std::move(t));
  }
  EXPECT_EQ(a.running(), 100);
  tickets.clear();
  EXPECT_EQ(a.running(), 0);
}

TEST(AdmissionTest, GlobalCapMakesOthersWaitThenTimeOut) {
  Admission a({.max_concurrent = 2});
  auto t1 = a.Acquire("a", absl::Now());
  auto t2 = a.Acquire("b", absl::Now());
  ASSERT_TRUE(t1.ok() && t2.ok());
  absl::Time start = absl::Now();
  auto t3 = a.Acquire("c", absl::Now() + absl::Milliseconds(200));
  EXPECT_TRUE(absl::IsDeadlineExceeded(t3.status()));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_EQ(a.queued(), 0);
}

TEST(AdmissionTest, ReleaseWakesAWaiter) {
  Admission a({.max_concurrent = 1});
  std::optional<Admission::Ticket> held;
  held.emplace(*a.Acquire("a", absl::Now()));
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto t = a.Acquire("b", absl::Now() + absl::Seconds(10));
    got = t.ok();
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(got);
  held.reset();
  waiter.join();
  EXPECT_TRUE(got);
}

TEST(AdmissionTest, PerUserCapLeavesRoomForOthers) {
  Admission a({.max_concurrent = 4, .max_per_user = 1});
  auto mine = a.Acquire("heavy", absl::Now());
  ASSERT_TRUE(mine.ok());
  EXPECT_TRUE(
      absl::IsDeadlineExceeded(a.Acquire("heavy", absl::Now() + absl::Milliseconds(50)).status()));
  EXPECT_TRUE(a.Acquire("light", absl::Now()).ok());
}

TEST(AdmissionTest, QueueIsBounded) {
  Admission a({.max_concurrent = 1, .max_queued = 1});
  auto held = a.Acquire("a", absl::Now());
  ASSERT_TRUE(held.ok());
  std::thread waiter([&] { (void)a.Acquire("b", absl::Now() + absl::Milliseconds(500)); });
  while (a.queued() == 0) absl::SleepFor(absl::Milliseconds(1));
  auto rejected = a.Acquire("c", absl::Now() + absl::Seconds(1));
  EXPECT_TRUE(absl::IsResourceExhausted(rejected.status()));
  waiter.join();
}

// A user with many queued runs does not starve one who arrives later.
TEST(AdmissionTest, FairBetweenUsers) {
  Admission a({.max_concurrent = 1});
  std::optional<Admission::Ticket> held;
  held.emplace(*a.Acquire("x", absl::Now()));
  absl::Mutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> threads;
  auto enqueue = [&](const std::string& user) {
    int before = a.queued();
    threads.emplace_back([&, user] {
      auto t = a.Acquire(user, absl::Now() + absl::Seconds(10));
      ASSERT_TRUE(t.ok()) << t.status();
      absl::MutexLock lock(&mu);
      order.push_back(user);
    });
    while (a.queued() == before) absl::SleepFor(absl::Milliseconds(1));
  };
  for (int i = 0; i < 4; ++i) enqueue("busy");
  enqueue("late");
  held.reset();
  for (auto& t : threads) t.join();
  ASSERT_EQ(order.size(), 5u);
  // "late" is served right after busy's first run, not after all four.
  EXPECT_EQ(order[1], "late");
}

}  // namespace
}  // namespace libsandbox
