#include "libsandbox/session/session_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/process.h"
#include "libsandbox/run/outcome.h"

namespace libsandbox {
namespace {

// Once the process has exited, children it left behind may still hold its
// output pipes: read only this much longer.
constexpr absl::Duration kDrainGrace = absl::Milliseconds(200);
constexpr absl::Duration kKillTimeout = absl::Seconds(5);
// runsc writes the in-sandbox pid shortly after the exec starts.
constexpr absl::Duration kPidFileWait = absl::Seconds(3);
// A terminal server shows the command a process runs; longer code is cut.
constexpr size_t kCommandShown = 64 << 10;
constexpr size_t kReadChunk = 64 << 10;

// Runs in the forked child: async-signal-safe calls only. With `tty`, fd 0
// becomes its controlling terminal, so a resize signals its group.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, int in_fd, int out_fd, int err_fd,
                            bool tty) {
  ::setsid();
  // Die with the host process: no orphaned runsc exec.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(127);
  if (tty && ::ioctl(0, TIOCSCTTY, 0) != 0) ::_exit(127);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ::execve(argv[0], argv, envp);
  ::_exit(127);
}

struct winsize WindowSize(int rows, int cols) {
  struct winsize ws = {};
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  return ws;
}

// A new pseudo-terminal of rows x cols: its host (master) and process ends.
absl::Status OpenPty(int rows, int cols, UniqueFd& host, UniqueFd& process) {
  host = UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!host.valid()) return ErrnoStatus("posix_openpt", errno);
  char name[128];
  if (::grantpt(host.get()) != 0 || ::unlockpt(host.get()) != 0 ||
      ::ptsname_r(host.get(), name, sizeof(name)) != 0) {
    return ErrnoStatus("pseudo-terminal setup", errno);
  }
  process = UniqueFd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!process.valid()) return ErrnoStatus(name, errno);
  const struct winsize ws = WindowSize(rows, cols);
  if (::ioctl(host.get(), TIOCSWINSZ, &ws) != 0) return ErrnoStatus("TIOCSWINSZ", errno);
  return absl::OkStatus();
}

int ExitCode(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BackgroundProcess>> BackgroundProcess::Start(BackgroundSpec spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::optional<std::string> exe = FindInPath(spec.argv[0]);
  if (!exe) return absl::NotFoundError(absl::StrCat(spec.argv[0], ": not found"));
  std::vector<std::string> argv_storage = spec.argv;
  argv_storage[0] = *exe;
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = SpawnOptions().env;  // never the host's
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  // The child's ends (in_r, out_w, err_w) and ours (in_w, out_r, err_r).
  UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, pty;
  if (spec.pty) {
    UniqueFd process;
    if (auto s = OpenPty(spec.rows, spec.cols, pty, process); !s.ok()) return s;
    in_w = UniqueFd(::fcntl(pty.get(), F_DUPFD_CLOEXEC, 0));
    out_r = UniqueFd(::fcntl(pty.get(), F_DUPFD_CLOEXEC, 0));
    if (!in_w.valid() || !out_r.valid()) return ErrnoStatus("dup", errno);
    in_r = std::move(process);
  } else {
    // stdin is a socket: send(MSG_NOSIGNAL) cannot raise SIGPIPE in the host.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return ErrnoStatus("socketpair", errno);
    }
    in_r = UniqueFd(sv[0]);
    in_w = UniqueFd(sv[1]);
    ::shutdown(in_r.get(), SHUT_WR);
    if (auto s = MakePipe(out_r, out_w); !s.ok()) return s;
    if (auto s = MakePipe(err_r, err_w); !s.ok()) return s;
  }
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return ErrnoStatus("eventfd", errno);

  auto p = std::unique_ptr<BackgroundProcess>(new BackgroundProcess(std::move(spec)));
  // On a terminal, one end carries all three streams.
  const int child_out = p->spec_.pty ? in_r.get() : out_w.get();
  const int child_err = p->spec_.pty ? in_r.get() : err_w.get();
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", errno);
  if (pid == 0) {
    ExecChild(argv.data(), envp.data(), in_r.get(), child_out, child_err, p->spec_.pty);
  }
  p->pid_ = pid;
  p->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (p->pidfd_ < 0) {
    absl::Status s = ErrnoStatus("pidfd_open", errno);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    p->pid_ = -1;
    return s;
  }
  // The process's terminal end lives on in the child only: once every
  // holder closes it, reading ours ends with EIO, like a pipe's EOF.
  in_r.Reset();
  for (int fd : {in_w.get(), out_r.get(), err_r.get()}) {
    if (fd >= 0) ::fcntl(fd, F_SETFL, O_NONBLOCK);
  }
  p->stdin_fd_ = in_w.release();
  p->pty_fd_ = pty.release();
  p->wake_fd_ = wake.release();
  {
    absl::MutexLock lock(&p->mu_);
    p->out_.fd = out_r.release();
    p->err_.fd = err_r.release();
    if (p->spec_.stdin_data) p->input_ = *p->spec_.stdin_data;
  }
  p->pump_ = std::thread([raw = p.get()] { raw->Pump(); });
  return p;
}

BackgroundProcess::~BackgroundProcess() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  Wake();
  if (pump_.joinable()) pump_.join();
  if (pid_ > 0) {
    // The host runsc exec and anything it started; the child alone if it
    // never got as far as setsid (then it leads no group).
    if (::kill(-pid_, SIGKILL) != 0) ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  absl::MutexLock lock(&mu_);
  for (int* fd : {&pidfd_, &wake_fd_, &stdin_fd_, &pty_fd_, &out_.fd, &err_.fd}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  for (const std::string& f : spec_.files) ::unlink(f.c_str());
}

void BackgroundProcess::Wake() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void BackgroundProcess::Trim(Stream& s, size_t keep) {
  if (s.data.size() <= keep) return;
  // Keep the newest output, like a terminal's scrollback.
  const size_t drop = s.data.size() - keep;
  s.data.erase(0, drop);
  s.base += static_cast<int64_t>(drop);
}

void BackgroundProcess::Append(Stream& s, const char* buf, size_t n) {
  s.data.append(buf, n);
  // Trimmed only past half a buffer of slack: a flood costs amortized
  // constant work per byte, not a move of the whole buffer per read. Polls
  // trim to the cap itself.
  const size_t cap = spec_.max_buffered;
  if (s.data.size() > cap + std::max(cap / 2, kReadChunk)) Trim(s, cap);
}

void BackgroundProcess::Pump() {
  char buf[kReadChunk];
  bool exited = false;
  bool timed_out = false;
  absl::Time drain_until = absl::InfiniteFuture();
  while (true) {
    struct pollfd fds[5];
    int n = 0;
    bool want_out = false;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      fds[n++] = {wake_fd_, POLLIN, 0};
      fds[n++] = {exited ? -1 : pidfd_, POLLIN, 0};
      fds[n++] = {out_.fd, POLLIN, 0};
      fds[n++] = {err_.fd, POLLIN, 0};
      want_out = stdin_fd_ >= 0 && !input_.empty();
      fds[n++] = {want_out ? stdin_fd_ : -1, POLLOUT, 0};
      if (stdin_fd_ >= 0 && input_.empty() && input_closed_) {
        if (!spec_.pty) ::shutdown(stdin_fd_, SHUT_WR);  // EOF for the process
        ::close(stdin_fd_);
        stdin_fd_ = -1;
      }
    }
    absl::Time wake_at =
        exited ? drain_until : (timed_out ? absl::InfiniteFuture() : spec_.deadline);
    int timeout_ms = -1;
    if (wake_at != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(absl::ToInt64Milliseconds(wake_at - absl::Now()) + 1, 0, 60000));
    }
    int ready = ::poll(fds, n, timeout_ms);
    if (ready < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof(v));
    }
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    for (int i : {2, 3}) {
      Stream& s = i == 2 ? out_ : err_;
      if (s.fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t r = ::read(s.fd, buf, sizeof(buf));
      if (r > 0) {
        Append(s, buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(s.fd);
        s.fd = -1;
      }
    }
    if (want_out && (fds[4].revents & (POLLOUT | POLLERR | POLLHUP)) && stdin_fd_ >= 0) {
      ssize_t w =
          spec_.pty ? ::write(stdin_fd_, input_.data(), input_.size())
                    : ::send(stdin_fd_, input_.data(), input_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        input_.erase(0, static_cast<size_t>(w));
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        input_.clear();  // the process stopped reading (EPIPE)
        input_closed_ = true;
      }
    }
    if (!exited && (fds[1].revents & POLLIN)) {
      int wstatus = 0;
      if (::waitpid(pid_, &wstatus, 0) == pid_) {
        exit_code_ = ExitCode(wstatus);
        pid_ = -1;
      }
      exited = true;
      ended_at_ = absl::Now();
      drain_until = ended_at_ + kDrainGrace;
    }
    if (!exited && !timed_out && absl::Now() >= spec_.deadline) {
      timed_out = true;
      reason_ = REASON_TIMEOUT;
      sent_signal_ = SIGKILL;
      mu_.Unlock();  // runs a runsc exec; polls must not wait for it
      if (!SignalInside(SIGKILL).ok() && pid_ > 0) ::kill(-pid_, SIGKILL);
      mu_.Lock();
    }
    if (exited && ((out_.fd < 0 && err_.fd < 0) || absl::Now() >= drain_until)) {
      for (Stream* s : {&out_, &err_}) {
        if (s->fd >= 0) ::close(s->fd);
        s->fd = -1;
      }
      ended_ = true;
      // The record may be kept for minutes: only the output it keeps.
      for (Stream* s : {&out_, &err_}) {
        Trim(*s, spec_.max_buffered);
        s->data.shrink_to_fit();
      }
      for (const std::string& f : spec_.files) ::unlink(f.c_str());
      return;
    }
  }
}

ProcessOutput BackgroundProcess::ReadLocked(int64_t stdout_offset, int64_t stderr_offset) const {
  ProcessOutput out;
  const int64_t cap = static_cast<int64_t>(spec_.max_buffered);
  auto take = [&](const Stream& s, int64_t offset, std::string* data, int64_t* next,
                  bool* truncated) {
    const int64_t end = s.base + static_cast<int64_t>(s.data.size());
    // The newest `cap` bytes are what is kept (Append trims with slack).
    const int64_t first = std::max(s.base, end - cap);
    offset = std::min(offset, end);
    if (offset < first) {
      *truncated = true;
      offset = first;
    }
    data->assign(s.data, static_cast<size_t>(offset - s.base));
    *next = end;
  };
  int64_t out_next = 0, err_next = 0;
  bool out_truncated = false, err_truncated = false;
  take(out_, stdout_offset, out.mutable_stdout(), &out_next, &out_truncated);
  take(err_, stderr_offset, out.mutable_stderr(), &err_next, &err_truncated);
  out.set_stdout_truncated(out_truncated);
  out.set_stderr_truncated(err_truncated);
  out.set_stdout_offset(out_next);
  out.set_stderr_offset(err_next);
  *out.mutable_info() = InfoLocked();
  return out;
}

absl::StatusOr<ProcessOutput> BackgroundProcess::Poll(int64_t stdout_offset,
                                                      int64_t stderr_offset) const {
  return Wait(stdout_offset, stderr_offset, absl::ZeroDuration());
}

absl::StatusOr<ProcessOutput> BackgroundProcess::Wait(int64_t stdout_offset, int64_t stderr_offset,
                                                      absl::Duration timeout) const {
  if (stdout_offset < 0 || stderr_offset < 0) {
    return absl::InvalidArgumentError("offsets must be >= 0");
  }
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ended_ || out_.base + static_cast<int64_t>(out_.data.size()) > stdout_offset ||
           err_.base + static_cast<int64_t>(err_.data.size()) > stderr_offset;
  };
  absl::MutexLock lock(&mu_);
  if (timeout > absl::ZeroDuration()) {
    // Woken by the pump's unlock after output or the end; no polling.
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }
  return ReadLocked(stdout_offset, stderr_offset);
}

ProcessInfo BackgroundProcess::Info() const {
  absl::MutexLock lock(&mu_);
  return InfoLocked();
}

ProcessInfo BackgroundProcess::InfoLocked() const {
  ProcessInfo info;
  info.set_id(spec_.id);
  info.set_command(spec_.command.substr(0, kCommandShown));
  info.set_language(spec_.language);
  info.set_pty(spec_.pty);
  info.set_running(!ended_);
  if (ended_ && exit_code_) {
    info.set_exit_code(*exit_code_);
    if (sent_signal_ > 0 && *exit_code_ == 128 + sent_signal_) info.set_signal(sent_signal_);
  }
  info.set_reason_code(reason_);
  info.set_reason(std::string(ReasonName(reason_)));
  info.set_stdout_bytes(out_.base + static_cast<int64_t>(out_.data.size()));
  info.set_stderr_bytes(err_.base + static_cast<int64_t>(err_.data.size()));
  const absl::Time now = absl::Now();
  const absl::Time end = ended_ ? ended_at_ : now;
  info.set_duration_s(absl::ToDoubleSeconds(end - started_));
  if (ended_) info.set_ended_s(absl::ToDoubleSeconds(now - ended_at_));
  return info;
}

bool BackgroundProcess::running() const {
  absl::MutexLock lock(&mu_);
  return !ended_;
}

absl::Time BackgroundProcess::ended_at() const {
  absl::MutexLock lock(&mu_);
  return ended_ ? ended_at_ : absl::InfiniteFuture();
}

size_t BackgroundProcess::buffered_bytes() const {
  absl::MutexLock lock(&mu_);
  return out_.data.capacity() + err_.data.capacity();
}

absl::Status BackgroundProcess::WriteInput(const std::string& data) {
  {
    absl::MutexLock lock(&mu_);
    if (ended_ || input_closed_ || stdin_fd_ < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("process ", spec_.id, ": its input is closed (or it has ended)"));
    }
    if (input_.size() + data.size() > kMaxPendingInput) {
      return absl::ResourceExhaustedError(
          absl::StrCat("process ", spec_.id, ": more than ", kMaxPendingInput,
                       " bytes of input wait unread; write again once the process has read some"));
    }
    input_ += data;
  }
  Wake();
  return absl::OkStatus();
}

absl::Status BackgroundProcess::CloseInput() {
  {
    absl::MutexLock lock(&mu_);
    // A terminal has no end of input of its own: type the EOF character.
    if (spec_.pty && !input_closed_ && stdin_fd_ >= 0) input_ += '\x04';
    input_closed_ = true;
  }
  Wake();
  return absl::OkStatus();
}

absl::Status BackgroundProcess::Signal(int sig) {
  if (sig < 1 || sig > 31) {
    return absl::InvalidArgumentError(absl::StrCat("signal: ", sig, " is not between 1 and 31"));
  }
  if (!running()) return absl::OkStatus();  // nothing left to signal
  absl::Status s = SignalInside(sig);
  absl::MutexLock lock(&mu_);
  if (s.ok()) sent_signal_ = sig;
  if (s.ok() && reason_ == REASON_NONE && (sig == SIGKILL || sig == SIGTERM || sig == SIGINT)) {
    reason_ = REASON_KILLED;
  }
  return s;
}

absl::Status BackgroundProcess::Resize(int rows, int cols) {
  if (!spec_.pty) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", spec_.id, " has no terminal (start it with pty)"));
  }
  if (rows < 1 || rows > 1000 || cols < 1 || cols > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows x cols: ", rows, " x ", cols, " is not between 1 and 1000 each"));
  }
  // The kernel signals the runsc exec's group, which relays SIGWINCH to the
  // terminal's foreground group inside the sandbox.
  const struct winsize ws = WindowSize(rows, cols);
  if (::ioctl(pty_fd_, TIOCSWINSZ, &ws) != 0) return ErrnoStatus("TIOCSWINSZ", errno);
  return absl::OkStatus();
}

absl::Status BackgroundProcess::SignalInside(int sig) {
  // The pid comes from runsc, written as the process started; until then
  // there is nothing to signal yet.
  int pid = 0;
  const absl::Time give_up = absl::Now() + kPidFileWait;
  while (true) {
    absl::StatusOr<std::string> text = ReadFile(spec_.pid_file, 32);
    if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) && pid > 1) break;
    if (!running()) return absl::OkStatus();
    if (absl::Now() >= give_up) {
      return absl::UnavailableError(
          absl::StrCat("process ", spec_.id, " has not started inside the sandbox yet"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::vector<std::string> argv = spec_.kill_argv;
  // The process leads its own group inside the sandbox: its children too.
  argv.insert(argv.end(), {absl::StrCat("-", sig), "--", absl::StrCat("-", pid)});
  absl::StatusOr<ProcessResult> r = RunCommand(argv, kKillTimeout);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0 && running()) {
    return absl::InternalError(
        absl::StrCat("kill of process ", spec_.id, " failed: ", r->err.data.substr(0, 200)));
  }
  return absl::OkStatus();
}

}  // namespace libsandbox
