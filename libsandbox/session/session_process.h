// The host side of one background process of a session: a `runsc exec`
// started without waiting, whose stdout/stderr (or pseudo-terminal) a pump
// thread reads into capped buffers and whose stdin takes input given later.
// Reads never consume: the newest output is kept for any number of readers
// at their own offsets, who may block until there is more. The code inside
// is hostile: everything it writes is capped here, and it can neither block
// the host (all fds are non-blocking behind poll) nor grow host memory.
#ifndef LIBSANDBOX_SESSION_SESSION_PROCESS_H_
#define LIBSANDBOX_SESSION_SESSION_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// Input waiting to be read by one process; more is refused until it reads.
inline constexpr size_t kMaxPendingInput = 1 << 20;

struct BackgroundSpec {
  std::string id;
  std::string command;  // shown in ProcessInfo (cut)
  std::string language;
  std::vector<std::string> argv;  // the host command: `runsc ... exec ...`
  // `runsc ... exec ... /bin/kill`: signals go to the process group inside
  // the sandbox (the host runsc exec only relays).
  std::vector<std::string> kill_argv;
  std::string pid_file;  // where runsc writes the in-sandbox pid
  // Host files the process needs until it ends (code, spec); removed then.
  std::vector<std::string> files;
  size_t max_buffered = 1 << 20;  // per stream, the newest output kept
  absl::Time deadline = absl::InfiniteFuture();
  std::optional<std::string> stdin_data;  // written first
  // On a pseudo-terminal of rows x cols: the host end of it carries input
  // and the merged output; runsc gives the sandbox side to the process as
  // its controlling terminal and forwards SIGWINCH to its foreground group.
  bool pty = false;
  int rows = 24;
  int cols = 80;
};

class BackgroundProcess {
 public:
  // Forks the host command. PR_SET_PDEATHSIG fires when the calling thread
  // exits: call this on a thread that outlives the process.
  static absl::StatusOr<std::unique_ptr<BackgroundProcess>> Start(BackgroundSpec spec);
  // Kills the host command if it still runs, stops the pump, removes files.
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // Output from the given stream offsets (negative: InvalidArgument; past
  // the end: the end; before the oldest kept: from there, flagged
  // truncated). Nothing is consumed.
  absl::StatusOr<ProcessOutput> Poll(int64_t stdout_offset, int64_t stderr_offset) const;
  // The same once there is output past either offset, the process has
  // ended, or `timeout` passed, whichever comes first.
  absl::StatusOr<ProcessOutput> Wait(int64_t stdout_offset, int64_t stderr_offset,
                                     absl::Duration timeout) const;
  ProcessInfo Info() const;
  bool running() const;
  absl::Time ended_at() const;
  // Host memory its kept output takes.
  size_t buffered_bytes() const;

  // FailedPrecondition after CloseInput or once it ended; ResourceExhausted
  // when too much input waits unread.
  absl::Status WriteInput(const std::string& data);
  // EOF on stdin once pending input is written.
  absl::Status CloseInput();
  // Sends `sig` to the process group inside the sandbox.
  absl::Status Signal(int sig);
  // Sets the terminal's size (the process gets SIGWINCH); FailedPrecondition
  // without a pty.
  absl::Status Resize(int rows, int cols);

 private:
  explicit BackgroundProcess(BackgroundSpec spec) : spec_(std::move(spec)) {}
  void Pump();
  void Wake();
  absl::Status SignalInside(int sig);

  struct Stream {
    std::string data;  // bytes [base, base + data.size()) of the stream
    int64_t base = 0;  // stream offset of data[0]
    int fd = -1;
  };
  void Append(Stream& s, const char* buf, size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Trim(Stream& s, size_t keep);
  ProcessOutput ReadLocked(int64_t stdout_offset, int64_t stderr_offset) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ProcessInfo InfoLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BackgroundSpec spec_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int wake_fd_ = -1;  // eventfd: input arrived, or stop
  int stdin_fd_ = -1;
  int pty_fd_ = -1;  // the terminal's host end, for Resize
  const absl::Time started_ = absl::Now();
  std::thread pump_;

  mutable absl::Mutex mu_;
  Stream out_ ABSL_GUARDED_BY(mu_);
  Stream err_ ABSL_GUARDED_BY(mu_);
  std::string input_ ABSL_GUARDED_BY(mu_);
  bool input_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;  // exited and output read
  std::optional<int> exit_code_ ABSL_GUARDED_BY(mu_);
  int sent_signal_ ABSL_GUARDED_BY(mu_) = 0;  // the last one Signal delivered
  Reason reason_ ABSL_GUARDED_BY(mu_) = REASON_NONE;
  absl::Time ended_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_PROCESS_H_
