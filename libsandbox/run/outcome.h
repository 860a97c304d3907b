// The parts of a Result that one-shot runs and session execs fill the same
// way.
#ifndef LIBSANDBOX_RUN_OUTCOME_H_
#define LIBSANDBOX_RUN_OUTCOME_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "libsandbox/host/process.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// "OK", "ERROR", ... as in the public contract.
std::string_view StatusName(Result::Status status);

// A result for a run that never got to run the code.
Result FailedResult(Result::Status status, std::string reason, std::string message,
                    absl::Time start);

// The captured output: valid UTF-8 (the bytes come from the sandbox) and
// whether each stream was cut at its cap.
void SetOutput(const ProcessResult& p, Result* result);

// OK or ERROR by the code's own exit status.
void SetExitStatus(int exit_code, Result* result);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_OUTCOME_H_
