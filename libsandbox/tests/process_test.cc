#include "libsandbox/host/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <string>

namespace libsandbox {
namespace {

TEST(ProcessTest, CapturesBothStreamsAndExitCode) {
  auto r = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out.data, "out\n");
  EXPECT_EQ(r->err.data, "err\n");
  EXPECT_FALSE(r->timed_out);
}

TEST(ProcessTest, HostEnvironmentDoesNotLeak) {
  ::setenv("LIBSANDBOX_SECRET_FOR_TEST", "hunter2", 1);
  auto r = RunCommand({"/usr/bin/env"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out.data.find("hunter2"), std::string::npos);
}

TEST(ProcessTest, FeedsStdinEvenWhenChildIgnoresIt) {
  auto r = RunCommand({"/bin/cat"}, absl::Seconds(10), std::string("hello stdin"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out.data, "hello stdin");
  // The child exits without reading 8 MiB of input: no SIGPIPE in the host.
  auto r2 = RunCommand({"/bin/true"}, absl::Seconds(10), std::string(8 << 20, 'x'));
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->exit_code, 0);
}

TEST(ProcessTest, OutputIsCappedAndFlagged) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "head -c 5000000 /dev/zero"};
  auto p = Subprocess::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  auto r = p->Communicate(1000, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out.data.size(), 1000u);
  EXPECT_TRUE(r->out.truncated);
  EXPECT_EQ(r->out.total_bytes, 5000000u);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(ProcessTest, DeadlineKeepsPartialOutputAndKillsGroup) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo before; sleep 30 & sleep 30; echo after"};
  auto p = Subprocess::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  bool called = false;
  absl::Time start = absl::Now();
  auto r = p->Communicate(0, absl::Now() + absl::Milliseconds(300), [&] { called = true; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(called);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->out.data, "before\n");
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(ProcessTest, MissingProgramIsAnError) {
  auto r = RunCommand({"/nonexistent/program"});
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace libsandbox
