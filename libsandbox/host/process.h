// Child processes: spawn with a clean environment, feed stdin, capture capped
// stdout/stderr, enforce a deadline. Used for runsc and for host tools.
#ifndef LIBSANDBOX_HOST_PROCESS_H_
#define LIBSANDBOX_HOST_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace libsandbox {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is an absolute path or found in PATH
  // The complete environment. The host's environment is never inherited.
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  int netns_fd = -1;  // if set, the child joins this network namespace
  // If set, the child moves itself into this (v2) cgroup before exec, so it
  // and everything it starts are counted there from the first instruction.
  std::string cgroup_dir;
  std::string cwd;                        // empty: inherit
  bool capture_output = true;             // false: stdout/stderr go to /dev/null
  std::optional<std::string> stdin_data;  // nullopt: /dev/null (unless stdin_later)
  // Keep stdin open for data given later with Subprocess::SetStdinData.
  bool stdin_later = false;
  // Extra fds to keep open in the child, at the same numbers.
  std::vector<int> keep_fds;
  // If set, the child's stdin and stdout are this fd (a socket whose other
  // end the caller keeps): stdin_data and stdout capture do not apply.
  int stdio_fd = -1;
  // After the child exits, how long Communicate still waits for EOF from
  // grandchildren that hold its pipes (e.g. background processes).
  absl::Duration exit_drain_grace = absl::Seconds(2);
};

struct CapturedStream {
  std::string data;        // at most the cap
  bool truncated = false;  // more was written than kept
  size_t total_bytes = 0;
};

struct ProcessResult {
  // Exit status as a shell reports it: the code, or 128 + signal number.
  int exit_code = -1;
  bool signaled = false;
  bool timed_out = false;        // the deadline passed before the child finished
  bool ended_by_marker = false;  // stderr said the work was over (SetEndMarker)
  CapturedStream out;
  CapturedStream err;
};

// A running child in its own session/process group. Killed (whole group,
// SIGKILL) and reaped on destruction if still running. The child gets
// PR_SET_PDEATHSIG, which fires when the *thread* that started it exits:
// start and wait for a child on the same thread (as Run does).
class Subprocess {
 public:
  static absl::StatusOr<Subprocess> Start(const SpawnOptions& options);
  Subprocess() = default;
  Subprocess(Subprocess&& o) noexcept;
  Subprocess& operator=(Subprocess&& o) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Sends `sig` to the child's whole process group.
  void KillGroup(int sig);
  // Drives stdin/stdout/stderr until the child exits and its pipes close.
  // Each stream keeps at most `max_output_bytes` (0: unlimited) and drains
  // the rest. At `deadline`, calls `on_deadline` (which should stop the
  // work, e.g. kill the sandbox), then kills the group if still alive.
  absl::StatusOr<ProcessResult> Communicate(size_t max_output_bytes, absl::Time deadline,
                                            const std::function<void()>& on_deadline = {});
  // Data Communicate writes to the child's stdin (needs stdin_later).
  void SetStdinData(std::string data) { stdin_data_ = std::move(data); }
  // A line `<prefix><status>\n` on stderr (end_marker.h) ends Communicate at
  // once with that exit status, without waiting for the child to exit: what
  // stdout holds by then is read, the line itself is not output, and the
  // child is killed.
  void SetEndMarker(std::string prefix) { end_marker_ = std::move(prefix); }
  // Reads exactly `n` bytes of stdout before `deadline`, e.g. a ready marker.
  absl::StatusOr<std::string> ReadStdout(size_t n, absl::Time deadline);
  // Waits for exit without reading; returns the shell-style exit code.
  absl::StatusOr<int> Wait();
  // True once the child has exited (not reaped yet: Wait still reports it).
  bool HasExited() const;

 private:
  void Close();
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::string end_marker_;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string stdin_data_;
  absl::Duration exit_drain_grace_ = absl::Seconds(2);
};

// Runs a host command to completion with captured output (1 MiB per stream).
absl::StatusOr<ProcessResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout = absl::Seconds(30),
                                         std::optional<std::string> stdin_data = std::nullopt);

// Searches PATH (of this process, or the default system PATH) for `name`.
std::optional<std::string> FindInPath(const std::string& name);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_PROCESS_H_
