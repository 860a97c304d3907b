// ManagedSession::Exec: one command run in the session's sandbox under the cwd
// wrapper (session_scripts.h), waited for, its outcome made a Result; its
// input files written first and, if asked, the files it changed kept.
#include <unistd.h>

#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/process.h"
#include "libsandbox/run/outcome.h"
#include "libsandbox/run/retention.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_request.h"

namespace libsandbox {
namespace {

constexpr absl::Duration kKillTimeout = absl::Seconds(5);
// How long a sandbox a cap has hit gets to finish going down.
constexpr absl::Duration kSandboxEndGrace = absl::Seconds(2);

}  // namespace

void ManagedSession::KillExec(const std::string& pid_file) {
  absl::StatusOr<std::string> text = libsandbox::ReadFile(pid_file, 32);
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 1) return;
  // The exec leads its own process group inside the sandbox: kill the
  // group (its children too), never the sandbox.
  const std::string group = absl::StrCat("-", pid);
  (void)RunCommand(instance_->RunscCommand({"exec", "--user", "1000:1000", instance_->container(),
                                            "/bin/kill", "-KILL", "--", group}),
                   kKillTimeout);
}

// Like a one-shot run's files: kept for every outcome where the code ran,
// before a dead sandbox's volume goes away.
void ManagedSession::KeepChangedFiles(const ExecRequest& request,
                                      const absl::StatusOr<WorkspaceSnapshot>& before,
                                      Result* result) {
  if (!before.ok()) {
    KeepFailed(before.status(), result);
    return;
  }
  const std::set<std::string> excluded(request.keep_exclude().begin(),
                                       request.keep_exclude().end());
  auto unchanged = [&](const std::string& rel, const struct stat& st) {
    if (excluded.contains(rel)) return true;
    auto it = before->find(rel);
    return it != before->end() && it->second == FileSignature::Of(st);
  };
  const std::string& storage_dir =
      request.keep_storage_dir().empty() ? env_->config.storage_dir() : request.keep_storage_dir();
  const StorageQuota& quota =
      request.has_keep_quota() ? request.keep_quota() : env_->config.quota();
  KeepWorkspaceFiles(storage_dir, quota, workspace_, key_.user(), unchanged, result);
}

Result ManagedSession::Exec(const ExecRequest& request) {
  const absl::Time start = absl::Now();
  absl::StatusOr<CheckedExec> checked =
      CheckExecRequest(request, key_.user(), limits_, /*background=*/false);
  if (!checked.ok()) {
    return FailedResult(Result::INVALID_INPUT, REASON_NONE, std::string(checked.status().message()),
                        start);
  }
  const Limits& limits = checked->limits;
  // Execs run one after the other; the session itself is held exclusively
  // only to boot and to stop, so file calls and starts go on meanwhile.
  absl::MutexLock serial(&exec_mu_);
  const ExecInProgress in_progress(execs_running_);

  std::string message_prefix;
  absl::StatusOr<WorkspaceSnapshot> before = absl::InternalError("not taken");
  absl::StatusOr<ExecFiles> files = absl::InternalError("not written");
  int64_t boot = 0;
  {
    absl::MutexLock lock(&mu_);
    if (instance_ != nullptr && (!instance_->alive() || instance_->OomKilled())) {
      message_prefix =
          "The session's sandbox had stopped; a new one was started on the same "
          "workspace (background processes are gone). ";
      StopLocked();
    }
    if (instance_ == nullptr) {
      if (absl::Status s = AdmitAndBootLocked(); !s.ok()) {
        return SetupFailedResult(s, start, "The session's sandbox did not start: ");
      }
    }
    if (absl::Status s = WriteInputFilesLocked(request); !s.ok()) {
      Result failed = SetupFailedResult(s, start, "The input files were not written: ");
      if (!message_prefix.empty()) failed.set_message(message_prefix + failed.message());
      last_used_ = absl::Now();
      return failed;
    }
    // What the workspace holds before the code runs (the input files
    // included), for keep_files.
    if (request.keep_files()) before = SnapshotWorkspace(workspace_);
    files = WriteExecFilesLocked(ExecKind::kExec, *checked->language, request);
    boot = boots_;
  }

  Result result;
  Ending ending;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (boots_ != boot || instance_ == nullptr) {
      // Stop() came between: the files went with the sandbox's dirs.
      return FailedResult(Result::SANDBOX_ERROR, REASON_NONE,
                          "the session was stopped before the command ran; run it again", start);
    }
    const EgressProxy* proxy = instance_->egress_proxy();
    const EgressReport egress_before = proxy ? proxy->Report() : EgressReport();
    absl::StatusOr<ProcessResult> p = absl::InternalError("not run");
    if (!files.ok()) {
      p = files.status();
    } else {
      SpawnOptions spawn;
      spawn.argv = files->argv;
      if (request.has_stdin()) spawn.stdin_data = request.stdin();
      spawn.exit_drain_grace = kExecDrainGrace;
      absl::StatusOr<Subprocess> child = Subprocess::Start(spawn);
      if (child.ok()) {
        const absl::Time deadline = limits.timeout_s() > 0
                                        ? absl::Now() + absl::Seconds(limits.timeout_s())
                                        : absl::InfiniteFuture();
        p = child->Communicate(static_cast<size_t>(limits.max_output_bytes()), deadline,
                               [&] { KillExec(files->pid_file); });
      } else {
        p = child.status();
      }
      for (const std::string* f : {&files->code_file, &files->process_file, &files->pid_file}) {
        ::unlink(f->c_str());
      }
    }

    if (proxy) *result.mutable_egress() = proxy->ReportSince(egress_before);
    ending.oom = instance_->OomKilled();
    ending.pids_hit = instance_->PidsLimitHit();
    // When a cap takes the sandbox down, `runsc exec` fails (runsc's status
    // 128) a moment before `runsc run` ends: wait for that, so the cap is
    // what gets reported rather than runsc's lost connection.
    if ((ending.oom || ending.pids_hit) && p.ok() && p->exit_code == 128) {
      const absl::Time until = absl::Now() + kSandboxEndGrace;
      while (instance_->alive() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
    }
    ending.sandbox_gone = !instance_->alive();
    if (!p.ok()) {
      result.set_status(Result::SANDBOX_ERROR);
      result.set_message(absl::StrCat("runsc exec: ", p.status().message()));
    } else {
      SetOutput(*p, &result);
      ending.timed_out = p->timed_out;
      ending.exit_code = p->exit_code;
      // The session's caps, with this command's timeout.
      Limits caps = limits_;
      caps.set_timeout_s(limits.timeout_s());
      Classify(ending, caps, RunKind::kSessionExec, &result);
      if (request.keep_files()) KeepChangedFiles(request, before, &result);
    }
    if (!message_prefix.empty()) result.set_message(message_prefix + result.message());
    if (!notes_.empty()) absl::StrAppend(result.mutable_message(), "\nNot enforced: ", notes_);
  }
  absl::MutexLock lock(&mu_);
  if (boots_ == boot) {
    if (ending.oom || ending.sandbox_gone) {
      StopLocked();
    } else {
      ++execs_;
    }
  }
  last_used_ = absl::Now();
  result.set_duration_s(absl::ToDoubleSeconds(last_used_ - start));
  return result;
}

}  // namespace libsandbox
