// The one place a run's outcome is decided: precedence, reasons and words.
#include "libsandbox/run/outcome.h"

#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Limits Caps() {
  Limits l;
  l.set_memory_mb(64);
  l.set_max_pids(32);
  l.set_timeout_s(5);
  return l;
}

Result Classified(const Ending& e, RunKind kind) {
  Result r;
  Classify(e, Caps(), kind, &r);
  return r;
}

TEST(OutcomeTest, EveryReasonHasItsOwnName) {
  std::set<std::string> names;
  const auto* descriptor = Reason_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const Reason reason = static_cast<Reason>(descriptor->value(i)->number());
    const std::string name(ReasonName(reason));
    if (reason == REASON_NONE) {
      EXPECT_EQ(name, "");
    } else {
      EXPECT_FALSE(name.empty()) << descriptor->value(i)->name();
      // The name is the value's own, lowercase: REASON_MEMORY is "memory".
      EXPECT_EQ(descriptor->value(i)->name(), "REASON_" + absl::AsciiStrToUpper(name));
    }
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(OutcomeTest, MemoryComesFirstAndNamesTheCap) {
  Ending e;
  e.oom = true;
  e.timed_out = true;
  e.pids_hit = true;
  e.exit_code = 137;
  for (RunKind kind : {RunKind::kRun, RunKind::kSessionExec}) {
    Result r = Classified(e, kind);
    EXPECT_EQ(r.status(), Result::INTERRUPTED);
    EXPECT_EQ(r.reason_code(), REASON_MEMORY);
    EXPECT_EQ(r.reason(), "memory");
    EXPECT_THAT(r.message(), HasSubstr("64 MiB"));
    EXPECT_THAT(r.message(), HasSubstr("memory_mb"));
    EXPECT_FALSE(r.has_exit_code());
  }
  EXPECT_THAT(Classified(e, RunKind::kSessionExec).message(), HasSubstr("workspace is kept"));
}

TEST(OutcomeTest, TimeoutBeatsThePidsCapAndKeepsTheSessionGoing) {
  Ending e;
  e.timed_out = true;
  e.pids_hit = true;
  e.exit_code = 1;
  Result run = Classified(e, RunKind::kRun);
  EXPECT_EQ(run.status(), Result::TIMEOUT);
  EXPECT_EQ(run.reason(), "timeout");
  EXPECT_THAT(run.message(), HasSubstr("5 s"));
  EXPECT_THAT(Classified(e, RunKind::kSessionExec).message(), HasSubstr("session goes on"));
}

TEST(OutcomeTest, PidsCapStopsARunOnlyWhenTheCodeFailed) {
  Ending e;
  e.pids_hit = true;
  e.exit_code = 0;  // fork() failed inside, the code coped
  EXPECT_EQ(Classified(e, RunKind::kRun).status(), Result::OK);
  e.exit_code = 1;
  Result r = Classified(e, RunKind::kRun);
  EXPECT_EQ(r.status(), Result::INTERRUPTED);
  EXPECT_EQ(r.reason_code(), REASON_PIDS);
  EXPECT_THAT(r.message(), HasSubstr("max_pids=32"));
}

TEST(OutcomeTest, ASessionIsOverThePidsCapOnlyWhenItsSandboxStopped) {
  Ending e;
  e.pids_hit = true;
  e.exit_code = 1;
  Result alive = Classified(e, RunKind::kSessionExec);
  EXPECT_EQ(alive.status(), Result::ERROR);
  EXPECT_EQ(alive.reason_code(), REASON_NONE);
  EXPECT_EQ(alive.exit_code(), 1);
  e.sandbox_gone = true;
  EXPECT_EQ(Classified(e, RunKind::kSessionExec).reason(), "pids");
  e.pids_hit = false;
  Result gone = Classified(e, RunKind::kSessionExec);
  EXPECT_EQ(gone.status(), Result::INTERRUPTED);
  EXPECT_EQ(gone.reason(), "sandbox");
}

TEST(OutcomeTest, RunscFailingToStartIsASetupError) {
  Ending e;
  e.start_failure = "creating container: permission denied";
  e.exit_code = 128;
  Result r = Classified(e, RunKind::kRun);
  EXPECT_EQ(r.status(), Result::SANDBOX_ERROR);
  EXPECT_EQ(r.reason(), "setup");
  EXPECT_THAT(r.message(), HasSubstr("permission denied"));
  EXPECT_THAT(r.message(), HasSubstr("doctor"));
}

TEST(OutcomeTest, ExitStatusDecidesOtherwise) {
  Ending e;
  Result ok = Classified(e, RunKind::kRun);
  EXPECT_EQ(ok.status(), Result::OK);
  EXPECT_EQ(ok.reason(), "");
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.exit_code(), 0);
  e.exit_code = 3;
  Result err = Classified(e, RunKind::kSessionExec);
  EXPECT_EQ(err.status(), Result::ERROR);
  EXPECT_EQ(err.exit_code(), 3);
  EXPECT_THAT(err.message(), HasSubstr("status 3"));
}

TEST(OutcomeTest, SetupFailuresSayWhetherTheInputOrTheSandboxWasAtFault) {
  const absl::Time start = absl::Now();
  Result bad = SetupFailedResult(absl::InvalidArgumentError("code: too long"), start);
  EXPECT_EQ(bad.status(), Result::INVALID_INPUT);
  EXPECT_EQ(bad.reason_code(), REASON_NONE);
  EXPECT_EQ(bad.message(), "code: too long");
  Result broken = SetupFailedResult(absl::InternalError("no cgroup"), start, "boot: ");
  EXPECT_EQ(broken.status(), Result::SANDBOX_ERROR);
  EXPECT_EQ(broken.reason(), "setup");
  EXPECT_EQ(broken.message(), "boot: no cgroup");
}

TEST(OutcomeTest, CoreMessagesNameNoIntegrationsSettings) {
  Ending e;
  e.oom = true;
  EXPECT_THAT(Classified(e, RunKind::kRun).message(), Not(HasSubstr("MAX_RAM_MEGABYTES")));
}

}  // namespace
}  // namespace libsandbox
