#include "libsandbox/session/session_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
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
constexpr size_t kCommandShown = 256;
constexpr size_t kReadChunk = 64 << 10;

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, int in_fd, int out_fd,
                            int err_fd) {
  ::setsid();
  // Die with the host process: no orphaned runsc exec.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(127);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ::execve(argv[0], argv, envp);
  ::_exit(127);
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

  // stdin is a socket: send(MSG_NOSIGNAL) cannot raise SIGPIPE in the host.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus("socketpair", errno);
  }
  UniqueFd in_r(sv[0]), in_w(sv[1]), out_r, out_w, err_r, err_w;
  ::shutdown(in_r.get(), SHUT_WR);
  if (auto s = MakePipe(out_r, out_w); !s.ok()) return s;
  if (auto s = MakePipe(err_r, err_w); !s.ok()) return s;
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return ErrnoStatus("eventfd", errno);

  auto p = std::unique_ptr<BackgroundProcess>(new BackgroundProcess(std::move(spec)));
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", errno);
  if (pid == 0) ExecChild(argv.data(), envp.data(), in_r.get(), out_w.get(), err_w.get());
  p->pid_ = pid;
  p->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (p->pidfd_ < 0) {
    absl::Status s = ErrnoStatus("pidfd_open", errno);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    p->pid_ = -1;
    return s;
  }
  for (int fd : {in_w.get(), out_r.get(), err_r.get()}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
  p->stdin_fd_ = in_w.release();
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
    ::kill(-pid_, SIGKILL);  // the host runsc exec and anything it started
    ::waitpid(pid_, nullptr, 0);
  }
  absl::MutexLock lock(&mu_);
  for (int* fd : {&pidfd_, &wake_fd_, &stdin_fd_, &out_.fd, &err_.fd}) {
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
        ::shutdown(stdin_fd_, SHUT_WR);  // EOF for the process
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
      ssize_t w = ::send(stdin_fd_, input_.data(), input_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
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
      for (const std::string& f : spec_.files) ::unlink(f.c_str());
      return;
    }
  }
}

absl::StatusOr<ProcessOutput> BackgroundProcess::Poll(int64_t stdout_offset,
                                                      int64_t stderr_offset) {
  if (stdout_offset < 0 || stderr_offset < 0) {
    return absl::InvalidArgumentError("offsets must be >= 0");
  }
  ProcessOutput out;
  {
    absl::MutexLock lock(&mu_);
    const size_t cap = spec_.max_buffered;
    auto take = [&](Stream& s, int64_t offset, std::string* data, int64_t* next, bool* truncated) {
      Trim(s, cap);
      const int64_t end = s.base + static_cast<int64_t>(s.data.size());
      offset = std::min(offset, end);
      if (offset < s.base) {
        *truncated = true;
        offset = s.base;
      }
      // What the caller has seen is freed.
      s.data.erase(0, static_cast<size_t>(offset - s.base));
      s.base = offset;
      *data = s.data;
      *next = end;
    };
    bool out_truncated = false, err_truncated = false;
    take(out_, stdout_offset, out.mutable_stdout(), &stdout_offset, &out_truncated);
    take(err_, stderr_offset, out.mutable_stderr(), &stderr_offset, &err_truncated);
    out.set_stdout_truncated(out_truncated);
    out.set_stderr_truncated(err_truncated);
    out.set_stdout_offset(stdout_offset);
    out.set_stderr_offset(stderr_offset);
    if (ended_) drained_ = true;
  }
  *out.mutable_info() = Info();
  return out;
}

ProcessInfo BackgroundProcess::Info() const {
  ProcessInfo info;
  info.set_id(spec_.id);
  info.set_command(spec_.command.substr(0, kCommandShown));
  info.set_language(spec_.language);
  absl::MutexLock lock(&mu_);
  info.set_running(!ended_);
  if (ended_ && exit_code_) info.set_exit_code(*exit_code_);
  info.set_reason_code(reason_);
  info.set_reason(std::string(ReasonName(reason_)));
  info.set_stdout_bytes(out_.base + static_cast<int64_t>(out_.data.size()));
  info.set_stderr_bytes(err_.base + static_cast<int64_t>(err_.data.size()));
  const absl::Time end = ended_ ? ended_at_ : absl::Now();
  info.set_duration_s(absl::ToDoubleSeconds(end - started_));
  return info;
}

bool BackgroundProcess::running() const {
  absl::MutexLock lock(&mu_);
  return !ended_;
}

bool BackgroundProcess::drained() const {
  absl::MutexLock lock(&mu_);
  return drained_;
}

absl::Time BackgroundProcess::ended_at() const {
  absl::MutexLock lock(&mu_);
  return ended_at_;
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
  if (s.ok() && reason_ == REASON_NONE && (sig == SIGKILL || sig == SIGTERM || sig == SIGINT)) {
    reason_ = REASON_KILLED;
  }
  return s;
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
