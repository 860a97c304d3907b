#include "libsandbox/host/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/end_marker.h"

namespace libsandbox {
namespace {

// Bound on reading after the child is gone or killed: a grandchild that kept
// our pipes open must not hold the caller forever.
constexpr absl::Duration kDrainGrace = absl::Seconds(2);

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int ShellExitCode(int wstatus, bool* signaled) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) {
    if (signaled != nullptr) *signaled = true;
    return 128 + WTERMSIG(wstatus);
  }
  return -1;
}

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void ExecChild(const SpawnOptions& options, char* const* argv, char* const* envp,
                            int in_fd, int out_fd, int err_fd, int status_fd, int cgroup_fd) {
  auto fail = [status_fd](int stage) {
    int err[2] = {stage, errno};
    (void)!::write(status_fd, err, sizeof(err));
    ::_exit(127);
  };
  // "0" moves the writer itself.
  if (cgroup_fd >= 0 && ::write(cgroup_fd, "0", 1) != 1) fail(5);
  ::setsid();
  // Die with the host process: no orphaned runsc or helpers.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (options.netns_fd >= 0 && ::setns(options.netns_fd, CLONE_NEWNET) != 0) fail(1);
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) fail(2);
  if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) fail(3);
  // Everything else closes on exec, except fds the caller hands down on purpose.
  ::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
  for (int fd : options.keep_fds) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ::execve(argv[0], argv, envp);
  fail(4);
  ::_exit(127);
}

void AppendCapped(CapturedStream& s, const char* data, size_t n, size_t cap) {
  s.total_bytes += n;
  size_t room = cap == 0 ? n : (s.data.size() < cap ? cap - s.data.size() : 0);
  s.data.append(data, std::min(n, room));
  if (n > room) s.truncated = true;
}

}  // namespace

std::optional<std::string> FindInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return std::nullopt;
  }
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr && *env != '\0'
                         ? env
                         : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

absl::StatusOr<Subprocess> Subprocess::Start(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::optional<std::string> exe = FindInPath(options.argv[0]);
  if (!exe) return absl::NotFoundError(absl::StrCat(options.argv[0], ": not found"));

  // Everything the child needs is prepared before fork.
  std::vector<std::string> argv_storage = options.argv;
  argv_storage[0] = *exe;
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = options.env;
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoStatus("open /dev/null", errno);
  UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, st_r, st_w;
  if (options.stdin_data || options.stdin_later) {
    // A socket, not a pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE in the
    // host when the child stops reading.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return ErrnoStatus("socketpair", errno);
    }
    in_r.Reset(sv[0]);
    in_w.Reset(sv[1]);
    ::shutdown(in_r.get(), SHUT_WR);
  }
  if (options.capture_output) {
    if (auto s = MakePipe(out_r, out_w); !s.ok()) return s;
    if (auto s = MakePipe(err_r, err_w); !s.ok()) return s;
  }
  if (auto s = MakePipe(st_r, st_w); !s.ok()) return s;

  UniqueFd cgroup_procs;
  if (!options.cgroup_dir.empty()) {
    const std::string procs = options.cgroup_dir + "/cgroup.procs";
    cgroup_procs.Reset(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!cgroup_procs.valid()) return ErrnoStatus("open " + procs, errno);
  }
  int child_in = in_r.valid() ? in_r.get() : devnull.get();
  int child_out = out_w.valid() ? out_w.get() : devnull.get();
  if (options.stdio_fd >= 0) child_in = child_out = options.stdio_fd;
  int child_err = err_w.valid() ? err_w.get() : devnull.get();
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", errno);
  if (pid == 0) {
    ExecChild(options, argv.data(), envp.data(), child_in, child_out, child_err, st_w.get(),
              cgroup_procs.get());
  }
  st_w.Reset();
  Subprocess p;
  p.pid_ = pid;
  p.pidfd_ = PidfdOpen(pid);

  int err[2];
  ssize_t n;
  do {
    n = ::read(st_r.get(), err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  if (n == sizeof(err)) {
    (void)p.Wait();
    static const char* kStages[] = {"", "setns", "dup2", "chdir", "execve", "join cgroup"};
    int stage = err[0] >= 1 && err[0] <= 5 ? err[0] : 0;
    return ErrnoStatus(absl::StrCat(kStages[stage], " ", *exe), err[1]);
  }
  if (p.pidfd_ < 0) return ErrnoStatus("pidfd_open", errno);
  if (in_w.valid()) {
    p.stdin_fd_ = in_w.release();
    ::fcntl(p.stdin_fd_, F_SETFL, O_NONBLOCK);
    p.stdin_data_ = options.stdin_data.value_or("");
  }
  if (out_r.valid()) p.stdout_fd_ = out_r.release();
  if (err_r.valid()) p.stderr_fd_ = err_r.release();
  p.exit_drain_grace_ = options.exit_drain_grace;
  return p;
}

Subprocess::Subprocess(Subprocess&& o) noexcept { *this = std::move(o); }

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    Close();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::exchange(o.pidfd_, -1);
    stdin_fd_ = std::exchange(o.stdin_fd_, -1);
    stdout_fd_ = std::exchange(o.stdout_fd_, -1);
    stderr_fd_ = std::exchange(o.stderr_fd_, -1);
    stdin_data_ = std::move(o.stdin_data_);
    exit_drain_grace_ = o.exit_drain_grace_;
  }
  return *this;
}

Subprocess::~Subprocess() { Close(); }

bool Subprocess::HasExited() const {
  if (pid_ <= 0 || pidfd_ < 0) return pid_ <= 0;
  // A pidfd polls readable once the process has exited.
  struct pollfd fd = {pidfd_, POLLIN, 0};
  return ::poll(&fd, 1, 0) == 1 && (fd.revents & POLLIN) != 0;
}

void Subprocess::Close() {
  if (pid_ > 0) {
    KillGroup(SIGKILL);
    (void)Wait();
  }
  for (int* fd : {&pidfd_, &stdin_fd_, &stdout_fd_, &stderr_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void Subprocess::KillGroup(int sig) {
  if (pid_ <= 0) return;
  // The child is a session leader, so its pid is the group id.
  if (::kill(-pid_, sig) != 0) ::kill(pid_, sig);
}

absl::StatusOr<std::string> Subprocess::ReadStdout(size_t n, absl::Time deadline) {
  std::string out;
  while (out.size() < n) {
    if (stdout_fd_ < 0) return absl::FailedPreconditionError("stdout is not captured");
    struct pollfd pfd = {stdout_fd_, POLLIN, 0};
    int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError("no output before the deadline");
    int r = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(ms, 60000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("poll", errno);
    if (r == 0) continue;
    char buf[256];
    ssize_t got = ::read(stdout_fd_, buf, std::min(sizeof(buf), n - out.size()));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return absl::UnavailableError("the child closed its output");
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

absl::StatusOr<int> Subprocess::Wait() {
  if (pid_ <= 0) return absl::FailedPreconditionError("no running child");
  int wstatus = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wstatus, 0);
  } while (r < 0 && errno == EINTR);
  pid_ = -1;
  if (r < 0) return ErrnoStatus("waitpid", errno);
  return ShellExitCode(wstatus, nullptr);
}

absl::StatusOr<ProcessResult> Subprocess::Communicate(size_t max_output_bytes, absl::Time deadline,
                                                      const std::function<void()>& on_deadline) {
  if (pid_ <= 0) return absl::FailedPreconditionError("no running child");
  ProcessResult result;
  size_t stdin_off = 0;
  if (stdin_fd_ >= 0 && stdin_data_.empty()) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
  bool exited = false;
  int wstatus = 0;
  // Once set, reading stops at this time even if pipes are still open.
  absl::Time drain_until = absl::InfiniteFuture();
  bool killed = false;
  char buf[65536];
  EndMarkerScanner marker(end_marker_);

  while (!marker.exit_code().has_value()) {
    if (exited && stdout_fd_ < 0 && stderr_fd_ < 0) break;
    absl::Time now = absl::Now();
    if (!result.timed_out && now >= deadline) {
      result.timed_out = true;
      if (on_deadline) on_deadline();
      drain_until = std::min(drain_until, absl::Now() + kDrainGrace);
    }
    if (now >= drain_until) {
      if (!killed) {
        KillGroup(SIGKILL);
        killed = true;
        drain_until = absl::Now() + (exited ? exit_drain_grace_ : kDrainGrace);
        continue;
      }
      break;
    }
    struct pollfd fds[4];
    int nfds = 0;
    auto add = [&](int fd, short events) {
      if (fd >= 0) fds[nfds++] = {fd, events, 0};
    };
    add(exited ? -1 : pidfd_, POLLIN);
    add(stdin_fd_, POLLOUT);
    add(stdout_fd_, POLLIN);
    add(stderr_fd_, POLLIN);
    absl::Time wake = std::min(result.timed_out ? drain_until : deadline, drain_until);
    int timeout_ms = wake == absl::InfiniteFuture()
                         ? -1
                         : static_cast<int>(std::clamp<int64_t>(
                               absl::ToInt64Milliseconds(wake - absl::Now()) + 1, 0, 60000));
    int r = ::poll(fds, nfds, timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("poll", errno);
    }
    for (int i = 0; i < nfds; ++i) {
      if (fds[i].revents == 0) continue;
      int fd = fds[i].fd;
      if (fd == pidfd_) {
        pid_t w;
        do {
          w = ::waitpid(pid_, &wstatus, WNOHANG);
        } while (w < 0 && errno == EINTR);
        if (w == pid_) {
          exited = true;
          pid_ = -1;
          // Grandchildren may hold the pipes; bound how long we wait for EOF.
          drain_until = std::min(drain_until, absl::Now() + exit_drain_grace_);
        }
      } else if (fd == stdin_fd_) {
        ssize_t n = ::send(fd, stdin_data_.data() + stdin_off, stdin_data_.size() - stdin_off,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) stdin_off += static_cast<size_t>(n);
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || stdin_off == stdin_data_.size()) {
          ::close(stdin_fd_);
          stdin_fd_ = -1;
        }
      } else {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        const bool is_err = fd == stderr_fd_;
        CapturedStream& s = is_err ? result.err : result.out;
        if (is_err && !end_marker_.empty()) {
          // stderr through the scanner, which holds back what may be the marker.
          std::string text = n > 0 ? marker.Feed(absl::string_view(buf, n)) : marker.Flush();
          AppendCapped(s, text.data(), text.size(), max_output_bytes);
        } else if (n > 0) {
          AppendCapped(s, buf, static_cast<size_t>(n), max_output_bytes);
        }
        if (n <= 0) {
          ::close(fd);
          (is_err ? stderr_fd_ : stdout_fd_) = -1;
        }
      }
    }
  }
  if (marker.exit_code().has_value()) {
    // The writer's stdout went out before its marker: it is in the pipe.
    struct pollfd p = {stdout_fd_, POLLIN, 0};
    while (stdout_fd_ >= 0 && ::poll(&p, 1, 0) > 0) {
      ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
      if (n <= 0) break;
      AppendCapped(result.out, buf, static_cast<size_t>(n), max_output_bytes);
    }
    result.ended_by_marker = true;
  }
  if (!exited) {
    KillGroup(SIGKILL);
    pid_t w;
    do {
      w = ::waitpid(pid_, &wstatus, 0);
    } while (w < 0 && errno == EINTR);
    pid_ = -1;
  }
  // Ended by its marker: the status it gave, not the kill's.
  if (result.ended_by_marker) wstatus = *marker.exit_code() << 8;
  result.exit_code = ShellExitCode(wstatus, &result.signaled);
  Close();
  return result;
}

absl::StatusOr<ProcessResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout,
                                         std::optional<std::string> stdin_data) {
  SpawnOptions options;
  options.argv = argv;
  options.stdin_data = std::move(stdin_data);
  absl::StatusOr<Subprocess> p = Subprocess::Start(options);
  if (!p.ok()) return p.status();
  return p->Communicate(1 << 20, absl::Now() + timeout);
}

}  // namespace libsandbox
