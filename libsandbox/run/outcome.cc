#include "libsandbox/run/outcome.h"

#include <utility>

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

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case REASON_MEMORY:
      return "memory";
    case REASON_PIDS:
      return "pids";
    case REASON_TIMEOUT:
      return "timeout";
    case REASON_SANDBOX:
      return "sandbox";
    case REASON_SETUP:
      return "setup";
    case REASON_POLICY:
      return "policy";
    case REASON_BUSY:
      return "busy";
    case REASON_KILLED:
      return "killed";
    default:
      return "";
  }
}

void SetOutcome(Result::Status status, Reason reason, std::string message, Result* result) {
  result->set_status(status);
  result->set_reason_code(reason);
  result->set_reason(std::string(ReasonName(reason)));
  result->set_message(std::move(message));
}

Result FailedResult(Result::Status status, Reason reason, std::string message, absl::Time start) {
  Result r;
  SetOutcome(status, reason, std::move(message), &r);
  r.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
  return r;
}

Result::Status StatusForSetupError(const absl::Status& status) {
  return absl::IsInvalidArgument(status) ? Result::INVALID_INPUT : Result::SANDBOX_ERROR;
}

Result SetupFailedResult(const absl::Status& error, absl::Time start, absl::string_view prefix) {
  const Result::Status status = StatusForSetupError(error);
  return FailedResult(status, status == Result::SANDBOX_ERROR ? REASON_SETUP : REASON_NONE,
                      absl::StrCat(prefix, error.message()), start);
}

void SetOutput(const ProcessResult& p, Result* result) {
  result->set_stdout(SanitizeUtf8(p.out.data));
  result->set_stderr(SanitizeUtf8(p.err.data));
  result->set_stdout_truncated(p.out.truncated);
  result->set_stderr_truncated(p.err.truncated);
}

void Classify(const Ending& e, const Limits& limits, RunKind kind, Result* result) {
  const bool session = kind == RunKind::kSessionExec;
  // What happens to the sandbox, said after each stop.
  const char* after = session ? " and its sandbox was stopped; the workspace is kept and the "
                                "next exec starts a new sandbox"
                              : " and was stopped";
  // Inside, max_pids makes fork and clone fail, which the code handles or
  // not (its own exit). The host-side cap behind it (sized in instance.cc)
  // counts gVisor's own threads, and when it trips the sandbox goes down: a
  // failing exit for a one-shot run; a session's sandbox is only "over the
  // cap" when the cap stopped it.
  const bool pids_stopped = e.pids_hit && (session ? e.sandbox_gone : e.exit_code != 0);
  if (e.oom) {
    SetOutcome(Result::INTERRUPTED, REASON_MEMORY,
               absl::StrCat("The ", session ? "session" : "sandbox", " ran out of memory (limit ",
                            limits.memory_mb(), " MiB)", after,
                            ". Raise memory_mb if the code needs more."),
               result);
  } else if (e.timed_out) {
    SetOutcome(Result::TIMEOUT, REASON_TIMEOUT,
               absl::StrCat("The ", session ? "command" : "code", " ran longer than the limit of ",
                            limits.timeout_s(), " s and was stopped; output up to then is kept",
                            session ? " and the session goes on" : "",
                            ". Raise timeout_s to allow more time."),
               result);
  } else if (pids_stopped) {
    SetOutcome(Result::INTERRUPTED, REASON_PIDS,
               absl::StrCat("The ", session ? "session" : "code",
                            " hit the process limit (max_pids=", limits.max_pids(), ")", after,
                            ". Raise max_pids if it needs more processes or threads."),
               result);
  } else if (session && e.sandbox_gone) {
    SetOutcome(Result::INTERRUPTED, REASON_SANDBOX,
               "The session's sandbox stopped during the command; the workspace is kept and the "
               "next exec starts a new sandbox.",
               result);
  } else if (e.start_failure.has_value()) {
    SetOutcome(Result::SANDBOX_ERROR, REASON_SETUP,
               absl::StrCat("The sandbox failed to start: ", *e.start_failure,
                            ". Run the self-check (doctor) for remedies."),
               result);
  } else {
    result->set_exit_code(e.exit_code);
    if (e.exit_code == 0) {
      SetOutcome(Result::OK, REASON_NONE, "", result);
    } else {
      SetOutcome(Result::ERROR, REASON_NONE,
                 absl::StrCat("The code exited with status ", e.exit_code, "."), result);
    }
  }
}

}  // namespace libsandbox
