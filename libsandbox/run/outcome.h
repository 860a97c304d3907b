// How a run or session exec ended, decided and worded in one place: the
// status, the typed reason (and its name) and the message that says what to
// change. One-shot runs (instance.cc) and session execs classify what the
// host observed with Classify; results that never ran the code come from
// FailedResult.
#ifndef LIBSANDBOX_RUN_OUTCOME_H_
#define LIBSANDBOX_RUN_OUTCOME_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libsandbox/host/process.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// "OK", "ERROR", ... as in the public contract.
std::string_view StatusName(Result::Status status);

// "memory", "pids", ...; "" for REASON_NONE.
std::string_view ReasonName(Reason reason);

// Sets the status, the reason (value and name) and the message together.
void SetOutcome(Result::Status status, Reason reason, std::string message, Result* result);

// A result for a run that never got to run the code.
Result FailedResult(Result::Status status, Reason reason, std::string message, absl::Time start);

// The status for a failed setup (policy, Prepare, Launch, a session's
// boot): INVALID_INPUT for bad input, else SANDBOX_ERROR.
Result::Status StatusForSetupError(const absl::Status& status);

// A result for a run whose setup failed: that status, reason "setup" for a
// SANDBOX_ERROR (none for bad input), the error's message after `prefix`.
Result SetupFailedResult(const absl::Status& error, absl::Time start,
                         absl::string_view prefix = "");

// The captured output: valid UTF-8 (the bytes come from the sandbox) and
// whether each stream was cut at its cap.
void SetOutput(const ProcessResult& p, Result* result);

// What the host observed when the code ended.
struct Ending {
  bool oom = false;        // the cgroup's OOM killer fired
  bool pids_hit = false;   // a fork or clone met pids.max
  bool timed_out = false;  // the host's deadline passed and the code was stopped
  // Session exec: the session's sandbox did not survive the command.
  bool sandbox_gone = false;
  // One-shot run: runsc's own error when it failed to start the sandbox.
  std::optional<std::string> start_failure;
  int exit_code = 0;
};

enum class RunKind {
  kRun,          // a one-shot sandbox, gone after the run
  kSessionExec,  // a command in a session, whose sandbox outlives it
};

// Decides status, reason, message and exit code of code that ran. `limits`
// are the caps it ran under (for a session exec: the session's memory and
// pids caps with the exec's timeout), named in the message.
void Classify(const Ending& ending, const Limits& limits, RunKind kind, Result* result);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_OUTCOME_H_
