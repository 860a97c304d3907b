// The task thread and the per-key registry of base/: order, results,
// draining, the cap, and what a forked child sees.
#include "libsandbox/base/task_thread.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "libsandbox/base/registry.h"

namespace libsandbox {
namespace {

TEST(TaskThreadTest, RunsTasksInOrderOnOneThread) {
  TaskThread thread;
  std::vector<int> order;
  std::thread::id first;
  for (int i = 0; i < 100; ++i) {
    thread.Post([&order, &first, i] {
      if (i == 0) first = std::this_thread::get_id();
      EXPECT_EQ(std::this_thread::get_id(), first);
      order.push_back(i);
    });
  }
  thread.Drain();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_NE(first, std::this_thread::get_id());
}

TEST(TaskThreadTest, CallReturnsTheResult) {
  TaskThread thread;
  auto moved = thread.Call([] { return std::make_unique<std::string>("done"); });
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(*moved, "done");
  int ran = 0;
  thread.Call([&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(TaskThreadTest, DestructorRunsWhatIsQueued) {
  int ran = 0;
  {
    TaskThread thread;
    for (int i = 0; i < 10; ++i) {
      thread.Post([&ran] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ++ran;
      });
    }
  }
  EXPECT_EQ(ran, 10);
}

TEST(TaskThreadTest, ForkedChildGetsAThreadOfItsOwn) {
  TaskThread thread;
  const pid_t parent = ::getpid();
  EXPECT_EQ(thread.Call([] { return ::getpid(); }), parent);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    thread.Drain();  // nothing of the child's: returns at once
    const bool ok = thread.Call([] { return ::getpid(); }) == ::getpid();
    ::_exit(ok ? 0 : 1);  // the parent's state stays untouched
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(thread.Call([] { return ::getpid(); }), parent);
}

TEST(RegistryTest, OneObjectPerKeyAndTheLeastRecentlyUsedGoes) {
  Registry<int> registry(2);
  int made = 0;
  auto make = [&]() -> absl::StatusOr<std::shared_ptr<int>> {
    return std::make_shared<int>(++made);
  };
  std::shared_ptr<int> a = *registry.Get("a", make);
  EXPECT_EQ(*registry.Get("a", make), a);
  std::shared_ptr<int> b = *registry.Get("b", make);
  EXPECT_EQ(*registry.Get("a", make), a);  // b is now the least recently used
  (void)*registry.Get("c", make);
  EXPECT_EQ(*registry.Get("a", make), a);
  EXPECT_NE(*registry.Get("b", make), b);  // made again
  EXPECT_EQ(made, 4);
  EXPECT_EQ(registry.TakeAll().size(), 2u);
  EXPECT_TRUE(registry.TakeAll().empty());
}

TEST(RegistryTest, FailureIsNotKept) {
  Registry<int> registry(Registry<int>::kNoCap);
  auto fail = []() -> absl::StatusOr<std::shared_ptr<int>> {
    return absl::FailedPreconditionError("no");
  };
  EXPECT_FALSE(registry.Get("a", fail).ok());
  EXPECT_TRUE(registry.TakeAll().empty());
}

TEST(RegistryTest, ForkedChildStartsAfresh) {
  Registry<int> registry(Registry<int>::kNoCap);
  auto make = []() -> absl::StatusOr<std::shared_ptr<int>> { return std::make_shared<int>(1); };
  std::shared_ptr<int> a = *registry.Get("a", make);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const bool fresh = registry.TakeAll().empty() && *registry.Get("a", make) != a;
    ::_exit(fresh ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(*registry.Get("a", make), a);
}

}  // namespace
}  // namespace libsandbox
