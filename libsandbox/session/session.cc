// A session's life: its workspace and lock, booting and stopping its
// sandbox (under a max_sessions slot), idleness. Exec, background processes
// and file operations have files of their own (session_*.cc).
#include "libsandbox/session/session.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/run/retention.h"
#include "libsandbox/run/workspace_volume.h"
#include "libsandbox/session/session_launcher.h"
#include "libsandbox/session/session_process.h"
#include "libsandbox/session/session_scripts.h"
#include "libsandbox/session/session_slots.h"

namespace libsandbox {

absl::StatusOr<std::string> SessionDirName(const SessionKey& key, bool legacy) {
  // No UserKey looks like the names of an empty policy or chat (UserKey
  // gives "anonymous", "u_…", "x_…").
  const std::pair<const std::string*, const char*> parts[] = {
      {&key.user(), nullptr}, {&key.policy(), kNoPolicyDir}, {&key.chat(), kAllChatsDir}};
  std::string dir;
  for (const auto& [part, empty_name] : parts) {
    absl::StatusOr<std::string> k = UserKey(*part);
    if (!k.ok()) return k.status();
    if (part->empty() && empty_name != nullptr && !legacy) *k = empty_name;
    absl::StrAppend(&dir, dir.empty() ? "" : "/", *k);
  }
  return dir;
}

absl::Status ManagedSession::PrepareWorkspaceDir(const std::string& workspace) {
  if (auto s = MakeDirs(workspace, 0700); !s.ok()) return s;
  struct stat st;
  if (::lstat(workspace.c_str(), &st) != 0) return ErrnoStatus("lstat " + workspace, errno);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(workspace, " is not a directory"));
  }
  if (::lchown(workspace.c_str(), kSandboxUid, kSandboxGid) != 0) {
    return ErrnoStatus("chown " + workspace, errno);
  }
  return absl::OkStatus();
}

ManagedSession::~ManagedSession() {
  absl::MutexLock lock(&mu_);
  StopLocked();
}

bool ManagedSession::live() const {
  // Only a boot or a stop holds the lock exclusively: call it live.
  if (!mu_.ReaderTryLock()) return true;
  bool live = instance_ != nullptr && instance_->alive();
  mu_.ReaderUnlock();
  return live;
}

SessionInfo ManagedSession::Info() const {
  SessionInfo info;
  *info.mutable_key() = key_;
  info.set_workspace(workspace_);
  // A boot or stop holds the lock: report it as busy rather than wait.
  if (!mu_.ReaderTryLock()) return info;
  info.set_execs(execs_);
  info.set_idle_s(absl::ToDoubleSeconds(absl::Now() - LastActivityLocked()));
  if (instance_) info.set_memory_bytes(instance_->MemoryUsageBytes());
  mu_.ReaderUnlock();
  return info;
}

absl::Status ManagedSession::LockWorkspace() {
  if (lock_.valid()) return absl::OkStatus();
  UniqueFd fd(::open((dir_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return ErrnoStatus("open " + dir_ + "/lock", errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        "the session is in use by another host process (or another SessionManager)");
  }
  lock_ = std::move(fd);
  return absl::OkStatus();
}

absl::Status ManagedSession::BootLocked() {
  if (auto s = LockWorkspace(); !s.ok()) return s;
  if (auto s = PrepareWorkspaceDir(workspace_); !s.ok()) return s;
  if (volume_mb_ > 0 && volume_ == nullptr) {
    absl::StatusOr<std::unique_ptr<WorkspaceVolume>> volume = WorkspaceVolume::Mount(
        dir_ + "/workspace.img", workspace_, volume_mb_, env_->config.quota().min_free_bytes());
    if (!volume.ok()) {
      lock_.Reset();
      return volume.status();
    }
    volume_ = *std::move(volume);
  }
  InstanceSpec spec;
  spec.language = FindLanguage("python");
  spec.init_argv = SessionInitArgv();
  spec.limits = limits_;
  spec.network = network_;
  spec.egress = egress_;
  spec.workspace_dir = workspace_;
  spec.rootfs = rootfs_;
  std::string notes;
  absl::StatusOr<std::unique_ptr<Instance>> in = launcher_->Boot(env_, spec, &notes);
  if (!in.ok()) {
    volume_.reset();  // unmounted before the lock goes
    lock_.Reset();
    return in.status();
  }
  instance_ = *std::move(in);
  ++boots_;
  if (!notes.empty()) notes_ = notes;
  execs_ = 0;
  last_used_ = absl::Now();
  return absl::OkStatus();
}

void ManagedSession::StopLocked() {
  StopProcesses();    // no runsc exec outlives the sandbox's run dir
  instance_.reset();  // kills the sandbox and every process in it
  volume_.reset();    // unmounts the workspace before the lock goes
  lock_.Reset();
  if (holds_slot_) {
    slots_->Release(key_.user());
    holds_slot_ = false;
  }
}

absl::Status ManagedSession::Stop() {
  absl::MutexLock lock(&mu_);
  StopLocked();
  return absl::OkStatus();
}

absl::Status ManagedSession::Reset() {
  absl::MutexLock lock(&mu_);
  StopLocked();
  // Hold the lock while wiping: no other host process may be using it.
  if (auto s = LockWorkspace(); !s.ok()) return s;
  // A dead host process's volume may still be mounted there.
  absl::Status s = DetachStaleMounts(workspace_);
  // The tree was written by sandboxed code: never follow its symlinks.
  if (s.ok()) s = RemoveTree(workspace_);
  if (s.ok()) s = PrepareWorkspaceDir(workspace_);
  // A volume's files are in its image: a new one is made on the next boot.
  if (s.ok() && ::unlink((dir_ + "/workspace.img").c_str()) != 0 && errno != ENOENT) {
    s = ErrnoStatus("remove the workspace image", errno);
  }
  lock_.Reset();
  return s;
}

bool ManagedSession::StopIfIdle(absl::Time now) {
  // A call using the sandbox holds the lock (shared): not idle.
  if (execs_running_ > 0 || !mu_.TryLock()) return false;
  bool stop = instance_ != nullptr && now - LastActivityLocked() > idle_timeout_;
  if (stop) StopLocked();
  mu_.Unlock();
  return stop;
}

absl::Status ManagedSession::AdmitAndBootLocked() {
  if (!holds_slot_) {
    if (absl::Status s = slots_->Acquire(this, max_per_user_); !s.ok()) return s;
    holds_slot_ = true;
  }
  absl::Status s = BootLocked();
  if (!s.ok()) {
    slots_->Release(key_.user());
    holds_slot_ = false;
  }
  return s;
}

absl::Status ManagedSession::EnsureBootedLocked(bool* replaced) {
  *replaced = false;
  // Out of memory, the sandbox is on its way down even if runsc still runs.
  if (instance_ != nullptr && (!instance_->alive() || instance_->OomKilled())) {
    *replaced = true;
    StopLocked();
  }
  if (instance_ != nullptr) return absl::OkStatus();
  if (absl::Status s = AdmitAndBootLocked(); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("the session's sandbox did not start: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Time ManagedSession::LastActivityLocked() const {
  absl::MutexLock lock(&procs_mu_);
  return std::max(last_used_, last_touched_);
}

void ManagedSession::Touch() {
  absl::MutexLock lock(&procs_mu_);
  last_touched_ = absl::Now();
}

void ManagedSession::StopProcesses() {
  std::map<int64_t, std::shared_ptr<BackgroundProcess>> procs;
  std::vector<Subprocess> relays;
  {
    absl::MutexLock lock(&procs_mu_);
    procs.swap(procs_);
    relays.swap(relays_);
  }
  // Destroyed here: each joins its pump thread.
}

std::optional<absl::Time> ManagedSession::IdleSince() const {
  if (execs_running_ > 0 || !mu_.TryLock()) return std::nullopt;  // in use
  std::optional<absl::Time> since;
  if (instance_ != nullptr) {
    absl::MutexLock lock(&procs_mu_);
    bool busy = false;
    for (const auto& [n, p] : procs_) busy = busy || p->running();
    if (!busy) since = std::max(last_used_, last_touched_);
  }
  mu_.Unlock();
  return since;
}

bool ManagedSession::StopIfStillIdle() {
  if (execs_running_ > 0 || !mu_.TryLock()) return false;
  bool busy = instance_ == nullptr;
  if (!busy) {
    absl::MutexLock lock(&procs_mu_);
    for (const auto& [n, p] : procs_) busy = busy || p->running();
  }
  if (!busy) StopLocked();
  mu_.Unlock();
  return !busy;
}

}  // namespace libsandbox
