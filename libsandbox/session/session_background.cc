// A session's background processes: started without waiting (Start), then
// polled for output, fed input and signalled by id. The host side of each
// is a BackgroundProcess (session_process.h).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/units.h"
#include "libsandbox/run/outcome.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_launcher.h"
#include "libsandbox/session/session_process.h"
#include "libsandbox/session/session_request.h"

namespace libsandbox {

absl::StatusOr<std::string> ManagedSession::Start(const ExecRequest& request) {
  absl::StatusOr<CheckedExec> checked =
      CheckExecRequest(request, key_.user(), limits_, /*background=*/true);
  if (!checked.ok()) return checked.status();
  const Language* language = checked->language;
  const Limits& limits = checked->limits;
  int64_t buffer =
      limits.max_output_bytes() > 0 ? limits.max_output_bytes() : kDefaultProcessBuffer;
  buffer = std::min(buffer, kMaxProcessBuffer);

  {
    absl::MutexLock procs(&procs_mu_);
    int running = 0;
    for (const auto& [n, p] : procs_) running += p->running() ? 1 : 0;
    if (running >= max_processes_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the session already runs ", running, " background processes (at most ", max_processes_,
          ": SessionOptions.max_processes, or the policy file's caps.processes_per_session); "
          "kill one or wait for one to end"));
    }
  }
  return WithSandbox([&]() -> absl::StatusOr<std::string> {
    mu_.AssertReaderHeld();
    absl::StatusOr<ExecFiles> files =
        WriteExecFilesLocked(ExecKind::kBackground, *language, request);
    if (!files.ok()) return files.status();

    BackgroundSpec spec;
    int64_t n = 0;
    {
      absl::MutexLock procs(&procs_mu_);
      n = ++next_proc_;
    }
    spec.id = absl::StrCat("p", n);
    spec.command = request.code();
    spec.language = language->name;
    spec.argv = files->argv;
    spec.kill_argv = instance_->RunscCommand(
        {"exec", "--user", "1000:1000", instance_->container(), "/bin/kill"});
    spec.pid_file = files->pid_file;
    spec.files = {files->code_file, files->process_file, files->pid_file};
    spec.max_buffered = static_cast<size_t>(buffer);
    if (limits.timeout_s() > 0) spec.deadline = absl::Now() + absl::Seconds(limits.timeout_s());
    if (request.has_stdin()) spec.stdin_data = request.stdin();
    spec.pty = request.pty();
    if (request.rows() > 0) spec.rows = request.rows();
    if (request.cols() > 0) spec.cols = request.cols();
    // On the launcher thread: the runsc exec must outlive this caller's
    // thread.
    absl::StatusOr<std::unique_ptr<BackgroundProcess>> proc = launcher_->StartProcess(spec);
    if (!proc.ok()) {
      for (const std::string& f : spec.files) ::unlink(f.c_str());
      return proc.status();
    }
    absl::MutexLock procs(&procs_mu_);
    last_touched_ = absl::Now();
    procs_[n] = std::shared_ptr<BackgroundProcess>(std::move(*proc));
    ExpireProcessesLocked();
    return spec.id;
  });
}

void ManagedSession::ExpireProcessesLocked() {
  const absl::Time now = absl::Now();
  int ended = 0;
  int64_t bytes = 0;
  // Newest first: what is over a budget is the oldest.
  for (auto it = procs_.rbegin(); it != procs_.rend();) {
    const absl::Time end = it->second->ended_at();
    if (end == absl::InfiniteFuture()) {
      ++it;
      continue;
    }
    bytes += static_cast<int64_t>(it->second->buffered_bytes());
    if (now - end > process_ttl_ || ++ended > kMaxEndedProcesses || bytes > kMaxEndedOutputBytes) {
      it = std::make_reverse_iterator(procs_.erase(std::next(it).base()));
    } else {
      ++it;
    }
  }
}

absl::StatusOr<std::shared_ptr<BackgroundProcess>> ManagedSession::FindProcess(
    const std::string& id) {
  int64_t n = 0;
  absl::MutexLock lock(&procs_mu_);
  last_touched_ = absl::Now();
  ExpireProcessesLocked();
  if (absl::StartsWith(id, "p") && absl::SimpleAtoi(id.substr(1), &n)) {
    if (auto it = procs_.find(n); it != procs_.end()) return it->second;
  }
  return absl::NotFoundError(absl::StrCat(
      "no process ", QuoteForMessage(id),
      " in this session (a record goes on release, process_ttl_s after the end, or when the "
      "session's sandbox stops)"));
}

void ManagedSession::ExplainEnd(ProcessOutput& out) {
  // Ended without a reason of its own while the sandbox is gone (out of
  // memory, the pids cap): say so. An exec holding mu_ means it runs.
  if (out.info().running() || !out.info().reason().empty() || !mu_.TryLock()) return;
  const bool stopped = instance_ == nullptr || !instance_->alive() || instance_->OomKilled();
  mu_.Unlock();
  if (stopped) {
    out.mutable_info()->set_reason_code(REASON_SANDBOX);
    out.mutable_info()->set_reason(std::string(ReasonName(REASON_SANDBOX)));
  }
}

absl::StatusOr<ProcessOutput> ManagedSession::Poll(const std::string& id, int64_t stdout_offset,
                                                   int64_t stderr_offset) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  absl::StatusOr<ProcessOutput> out = (*p)->Poll(stdout_offset, stderr_offset);
  if (out.ok()) ExplainEnd(*out);
  return out;
}

absl::StatusOr<ProcessOutput> ManagedSession::Wait(const std::string& id, int64_t stdout_offset,
                                                   int64_t stderr_offset, absl::Duration timeout) {
  if (timeout < absl::ZeroDuration() || timeout > kMaxProcessWait) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout: must be between 0 and ", absl::FormatDuration(kMaxProcessWait)));
  }
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  // No session lock is held while it waits.
  absl::StatusOr<ProcessOutput> out = (*p)->Wait(stdout_offset, stderr_offset, timeout);
  if (out.ok()) ExplainEnd(*out);
  Touch();
  return out;
}

absl::Status ManagedSession::Release(const std::string& id) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  // Killed inside the sandbox: ending the host runsc exec alone would leave
  // the process running there.
  if ((*p)->running()) {
    if (absl::Status s = (*p)->Signal(SIGKILL); !s.ok()) return s;
  }
  absl::MutexLock lock(&procs_mu_);
  for (auto it = procs_.begin(); it != procs_.end(); ++it) {
    if (it->second == *p) {
      procs_.erase(it);
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status ManagedSession::Resize(const std::string& id, int rows, int cols) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  return (*p)->Resize(rows, cols);
}

absl::Status ManagedSession::WriteInput(const std::string& id, const std::string& data) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  return (*p)->WriteInput(data);
}

absl::Status ManagedSession::CloseInput(const std::string& id) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  return (*p)->CloseInput();
}

absl::Status ManagedSession::Kill(const std::string& id, int signal) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  return (*p)->Signal(signal);
}

std::vector<ProcessInfo> ManagedSession::Processes() {
  std::vector<ProcessInfo> out;
  absl::MutexLock lock(&procs_mu_);
  ExpireProcessesLocked();
  for (const auto& [n, p] : procs_) out.push_back(p->Info());
  return out;
}

}  // namespace libsandbox
