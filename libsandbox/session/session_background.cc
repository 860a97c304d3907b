// A session's background processes: started without waiting (Start), then
// polled for output, fed input and signalled by id. The host side of each
// is a BackgroundProcess (session_process.h).
#include <unistd.h>

#include <algorithm>
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

  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock procs(&procs_mu_);
    int running = 0;
    for (const auto& [n, p] : procs_) running += p->running() ? 1 : 0;
    if (running >= kMaxBackgroundProcesses) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the session already runs ", running, " background processes (at most ",
                       kMaxBackgroundProcesses, "); kill one or wait for one to end"));
    }
  }
  bool replaced = false;
  if (absl::Status s = EnsureBootedLocked(&replaced); !s.ok()) return s;
  absl::StatusOr<ExecFiles> files = WriteExecFilesLocked(ExecKind::kBackground, *language, request);
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
  spec.kill_argv =
      instance_->RunscCommand({"exec", "--user", "1000:1000", instance_->container(), "/bin/kill"});
  spec.pid_file = files->pid_file;
  spec.files = {files->code_file, files->process_file, files->pid_file};
  spec.max_buffered = static_cast<size_t>(buffer);
  if (limits.timeout_s() > 0) spec.deadline = absl::Now() + absl::Seconds(limits.timeout_s());
  if (request.has_stdin()) spec.stdin_data = request.stdin();
  // On the launcher thread: the runsc exec must outlive this caller's thread.
  absl::StatusOr<std::unique_ptr<BackgroundProcess>> proc = launcher_->StartProcess(spec);
  if (!proc.ok()) {
    for (const std::string& f : spec.files) ::unlink(f.c_str());
    return proc.status();
  }
  last_used_ = absl::Now();
  absl::MutexLock procs(&procs_mu_);
  procs_[n] = std::shared_ptr<BackgroundProcess>(std::move(*proc));
  // Forget the oldest ended processes beyond the number kept.
  int ended = 0;
  for (auto it = procs_.rbegin(); it != procs_.rend(); ++it) ended += it->second->running() ? 0 : 1;
  for (auto it = procs_.begin(); it != procs_.end() && ended > kMaxEndedProcesses;) {
    if (!it->second->running()) {
      it = procs_.erase(it);
      --ended;
    } else {
      ++it;
    }
  }
  return spec.id;
}

absl::StatusOr<std::shared_ptr<BackgroundProcess>> ManagedSession::FindProcess(
    const std::string& id) {
  int64_t n = 0;
  absl::MutexLock lock(&procs_mu_);
  last_touched_ = absl::Now();
  if (absl::StartsWith(id, "p") && absl::SimpleAtoi(id.substr(1), &n)) {
    if (auto it = procs_.find(n); it != procs_.end()) return it->second;
  }
  return absl::NotFoundError(
      absl::StrCat("no process ", QuoteForMessage(id),
                   " in this session (an ended process is forgotten once polled to its end; all "
                   "stop with the session's sandbox)"));
}

absl::StatusOr<ProcessOutput> ManagedSession::Poll(const std::string& id, int64_t stdout_offset,
                                                   int64_t stderr_offset) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  absl::StatusOr<ProcessOutput> out = (*p)->Poll(stdout_offset, stderr_offset);
  // Ended without a reason of its own while the sandbox is gone (out of
  // memory, the pids cap): say so. An exec holding mu_ means it runs.
  if (out.ok() && !out->info().running() && out->info().reason().empty() && mu_.TryLock()) {
    const bool stopped = instance_ == nullptr || !instance_->alive() || instance_->OomKilled();
    mu_.Unlock();
    if (stopped) {
      out->mutable_info()->set_reason_code(REASON_SANDBOX);
      out->mutable_info()->set_reason(std::string(ReasonName(REASON_SANDBOX)));
    }
  }
  if (out.ok() && (*p)->drained()) {
    absl::MutexLock lock(&procs_mu_);
    int64_t n = 0;
    if (absl::SimpleAtoi(id.substr(1), &n)) {
      if (auto it = procs_.find(n); it != procs_.end() && it->second == *p) procs_.erase(it);
    }
  }
  return out;
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

std::vector<ProcessInfo> ManagedSession::Processes() const {
  std::vector<ProcessInfo> out;
  absl::MutexLock lock(&procs_mu_);
  for (const auto& [n, p] : procs_) out.push_back(p->Info());
  return out;
}

}  // namespace libsandbox
