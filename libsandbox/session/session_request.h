// What an exec, a background process and a new session share before
// anything runs: their requests are checked like a one-shot run's (sizes,
// env names, limits; validate.h), and a process's spec is written as JSON
// for `runsc exec --process`, in the host-only run dir.
#ifndef LIBSANDBOX_SESSION_SESSION_REQUEST_H_
#define LIBSANDBOX_SESSION_SESSION_REQUEST_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libsandbox/proto/config.pb.h"
#include "libsandbox/rules/languages.h"
#include "libsandbox/rules/policy.h"

namespace libsandbox {

// Background processes of an exec keep its output pipes open; once the exec
// itself has ended, wait only this long for the rest of its output.
inline constexpr absl::Duration kExecDrainGrace = absl::Milliseconds(200);

// An exec's input files (ExecRequest.files): at most this many, of at most
// this many bytes together (they pass through one pipe into the sandbox).
inline constexpr int kMaxExecInputFiles = 4096;
inline constexpr int64_t kMaxExecInputBytes = 64 << 20;

// A terminal's rows and columns at most (Start with pty, Resize).
inline constexpr int kMaxTerminalSide = 1000;
// The variable that hands an ExecRequest.cwd to the wrapper.
inline constexpr char kCwdVariable[] = "LIBSANDBOX_CWD";

// An exec's (or background process's) request, checked.
struct CheckedExec {
  const Language* language = nullptr;
  Limits limits;  // the session's, with the request's timeout and output cap
};
// `session_limits` are the session's; `background`: no timeout unless the
// request sets one (an exec has the session's), and no files to write or
// keep. Input files are checked like RunRequest.files (relative, no "..",
// fitting the workspace) and against the caps above. InvalidArgument (or what
// ValidateRequest says) for a bad request.
absl::StatusOr<CheckedExec> CheckExecRequest(const ExecRequest& request, const std::string& user,
                                             const Limits& session_limits, bool background);

// The caps of a new session: `options` under the config's policy (its name
// goes to `policy_name`), checked like a run's; the code comes with each
// exec.
absl::StatusOr<RunRequest> SessionRequest(PolicyStore& policies, const Config& config,
                                          const SessionKey& key, const SessionOptions& options,
                                          std::string* policy_name);

// Writes the spec of a process that runs `argv` as the sandbox user (no
// capabilities, rlimits) to `path` (0600); with `terminal`, on the terminal
// runsc exec is given as its stdin.
absl::Status WriteProcessSpec(const std::string& path, std::vector<std::string> argv,
                              const std::map<std::string, std::string>& env, int64_t max_pids,
                              bool terminal = false);

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_REQUEST_H_
