// The host side of one background process of a session: a `runsc exec`
// started without waiting, whose stdout/stderr a pump thread reads into
// capped buffers and whose stdin takes input given later. The code inside is
// hostile: everything it writes is capped here, and it can neither block the
// host (all fds are non-blocking behind poll) nor grow host memory.
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
  size_t max_buffered = 1 << 20;  // per stream, output not yet polled
  absl::Time deadline = absl::InfiniteFuture();
  std::optional<std::string> stdin_data;  // written first
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
  // the end: the end). Output before the offsets counts as received and is
  // freed.
  absl::StatusOr<ProcessOutput> Poll(int64_t stdout_offset, int64_t stderr_offset);
  ProcessInfo Info() const;
  bool running() const;
  // Ended, and the last poll returned everything.
  bool drained() const;
  absl::Time ended_at() const;

  // FailedPrecondition after CloseInput or once it ended; ResourceExhausted
  // when too much input waits unread.
  absl::Status WriteInput(const std::string& data);
  // EOF on stdin once pending input is written.
  absl::Status CloseInput();
  // Sends `sig` to the process group inside the sandbox.
  absl::Status Signal(int sig);

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

  const BackgroundSpec spec_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int wake_fd_ = -1;  // eventfd: input arrived, or stop
  int stdin_fd_ = -1;
  const absl::Time started_ = absl::Now();
  std::thread pump_;

  mutable absl::Mutex mu_;
  Stream out_ ABSL_GUARDED_BY(mu_);
  Stream err_ ABSL_GUARDED_BY(mu_);
  std::string input_ ABSL_GUARDED_BY(mu_);
  bool input_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;  // exited and output read
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<int> exit_code_ ABSL_GUARDED_BY(mu_);
  Reason reason_ ABSL_GUARDED_BY(mu_) = REASON_NONE;
  absl::Time ended_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_PROCESS_H_
