#include "libsandbox/run/admission.h"

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

// Issue: six runs of one user filled the queue, and another user was refused
// "busy" while a slot was free for them.
TEST(AdmissionTest, AFullQueueOfOneUserNeverRefusesAnotherWhoCanRun) {
  Admission a({.max_concurrent = 2, .max_per_user = 1, .max_queued = 3});
  auto running = a.Acquire("heavy", absl::Now());
  ASSERT_TRUE(running.ok());
  std::vector<std::thread> heavy;
  std::atomic<int> refused{0};
  for (int i = 0; i < 5; ++i) {
    heavy.emplace_back([&] {
      auto t = a.Acquire("heavy", absl::Now() + absl::Milliseconds(500));
      if (absl::IsResourceExhausted(t.status())) ++refused;
    });
  }
  absl::Time give_up = absl::Now() + absl::Seconds(5);
  while ((a.queued() < 3 || refused < 2) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(a.queued(), 3);
  // A global slot is free and "light" has nothing running: it runs at once.
  auto light = a.Acquire("light", absl::Now());
  EXPECT_TRUE(light.ok()) << light.status();
  for (auto& t : heavy) t.join();
}

TEST(AdmissionTest, AFullQueueMakesRoomForAUserWithFewerQueuedRuns) {
  Admission a({.max_concurrent = 1, .max_queued = 3});
  std::optional<Admission::Ticket> held;
  held.emplace(*a.Acquire("x", absl::Now()));
  std::atomic<int> heavy_busy{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      auto t = a.Acquire("heavy", absl::Now() + absl::Seconds(10));
      if (absl::IsResourceExhausted(t.status())) ++heavy_busy;
    });
    while (a.queued() < i + 1) absl::SleepFor(absl::Milliseconds(1));
  }
  // The queue is full of "heavy"; "light" takes the place of heavy's newest.
  std::atomic<bool> light_ok{false};
  threads.emplace_back(
      [&] { light_ok = a.Acquire("light", absl::Now() + absl::Seconds(10)).ok(); });
  absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (heavy_busy == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(heavy_busy, 1);
  EXPECT_EQ(a.queued(), 3);
  // "light" asking again would hold as many as "heavy" (2): refused.
  EXPECT_TRUE(absl::IsResourceExhausted(a.Acquire("light", absl::Now()).status()));
  held.reset();
  for (auto& t : threads) t.join();
  EXPECT_TRUE(light_ok);
  EXPECT_EQ(heavy_busy, 1);
}

}  // namespace
}  // namespace libsandbox
