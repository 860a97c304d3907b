#include "libsandbox/host/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "libsandbox/host/end_marker.h"

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

TEST(ProcessTest, EndMarkerEndsTheRunWithItsStatusAndKeepsTheOutput) {
  // The child says it is done, then would go on for 30 s: Communicate
  // returns with the status the marker gave and everything written before.
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c",
            "echo out; printf 'x\\001 2'; printf '\\001end 7\\n' >&2; echo lost >&2; sleep 30"};
  auto p = Subprocess::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  p->SetEndMarker("\001end ");
  absl::Time start = absl::Now();
  auto r = p->Communicate(0, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(r->ended_by_marker);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_EQ(r->out.data, "out\nx\001 2");
  EXPECT_EQ(r->err.data, "");
}

TEST(ProcessTest, WithoutItsMarkerAChildEndsAsUsual) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "printf '\\001end x\\n\\001en' >&2; exit 4"};
  auto p = Subprocess::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  p->SetEndMarker("\001end ");
  auto r = p->Communicate(0, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->ended_by_marker);
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_EQ(r->err.data, "\001end x\n\001en");
}

TEST(EndMarkerScannerTest, FindsTheMarkerAcrossReadsAndPassesLookAlikes) {
  EndMarkerScanner s("<END:");
  std::string out = s.Feed("a<EN");
  out += s.Feed("b <E");
  out += s.Feed("ND:x\n<END:2");
  EXPECT_FALSE(s.exit_code().has_value());
  out += s.Feed("55");
  out += s.Feed("\nafter");
  ASSERT_TRUE(s.exit_code().has_value());
  EXPECT_EQ(*s.exit_code(), 255);
  EXPECT_EQ(out, "a<ENb <END:x\n");
  EXPECT_EQ(s.Feed("more"), "");

  EndMarkerScanner bad("<END:");
  out = bad.Feed("<END:256\n<END:12345<END:");
  out += bad.Flush();
  EXPECT_FALSE(bad.exit_code().has_value());
  EXPECT_EQ(out, "<END:256\n<END:12345<END:");

  EndMarkerScanner none("");
  EXPECT_EQ(none.Feed("<END:1\n"), "<END:1\n");
}

TEST(ProcessTest, MissingProgramIsAnError) {
  auto r = RunCommand({"/nonexistent/program"});
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace libsandbox
