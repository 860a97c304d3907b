#include "libsandbox/run/outcome.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/text.h"

namespace libsandbox {

std::string_view StatusName(Result::Status status) {
  switch (status) {
    case Result::OK:
      return "OK";
    case Result::ERROR:
      return "ERROR";
    case Result::TIMEOUT:
      return "TIMEOUT";
    case Result::INTERRUPTED:
      return "INTERRUPTED";
    case Result::STORAGE_ERROR:
      return "STORAGE_ERROR";
    case Result::SANDBOX_ERROR:
      return "SANDBOX_ERROR";
    case Result::INVALID_INPUT:
      return "INVALID_INPUT";
    default:
      return "STATUS_UNSPECIFIED";
  }
}

Result FailedResult(Result::Status status, std::string reason, std::string message,
                    absl::Time start) {
  Result r;
  r.set_status(status);
  r.set_reason(std::move(reason));
  r.set_message(std::move(message));
  r.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
  return r;
}

void SetOutput(const ProcessResult& p, Result* result) {
  result->set_stdout(SanitizeUtf8(p.out.data));
  result->set_stderr(SanitizeUtf8(p.err.data));
  result->set_stdout_truncated(p.out.truncated);
  result->set_stderr_truncated(p.err.truncated);
}

void SetExitStatus(int exit_code, Result* result) {
  result->set_exit_code(exit_code);
  if (exit_code == 0) {
    result->set_status(Result::OK);
  } else {
    result->set_status(Result::ERROR);
    result->set_message(absl::StrCat("The code exited with status ", exit_code, "."));
  }
}

}  // namespace libsandbox
