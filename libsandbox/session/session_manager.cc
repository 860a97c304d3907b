// SessionManager: the sessions of one Config, their idle reaper, and the
// process-wide registry of managers behind the functions of sandbox.h.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/registry.h"
#include "libsandbox/host/run_dir.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/run/workspace_volume.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_launcher.h"
#include "libsandbox/session/session_request.h"
#include "libsandbox/session/session_slots.h"
#include "libsandbox/session/stale_volumes.h"

namespace libsandbox {
namespace {

constexpr absl::Duration kMinReapInterval = absl::Milliseconds(100);
constexpr absl::Duration kMaxReapInterval = absl::Seconds(10);

// No cap, unlike the engines': a manager holds running sandboxes, their
// background processes and the locks on their workspaces, so forgetting one
// still in use would stop sessions its users count on, or let a second
// manager of the same Config contend for the same workspaces. Idle sessions
// are stopped by each manager's reaper instead.
Registry<SessionManager>& Managers() {
  static auto* managers = new Registry<SessionManager>(Registry<SessionManager>::kNoCap);
  return *managers;
}

std::string KeyString(const SessionKey& key) {
  return absl::StrCat(key.user().size(), ":", key.user(), key.policy().size(), ":", key.policy(),
                      key.chat());
}

}  // namespace

absl::StatusOr<std::shared_ptr<SessionManager>> SessionManager::ForConfig(const Config& config) {
  const Config resolved = ResolvedConfig(config);
  return Managers().Get(resolved.SerializeAsString(),
                        [&]() -> absl::StatusOr<std::shared_ptr<SessionManager>> {
                          absl::StatusOr<std::unique_ptr<SessionManager>> m = Create(resolved);
                          if (!m.ok()) return m.status();
                          return std::shared_ptr<SessionManager>(*std::move(m));
                        });
}

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Create(const Config& config) {
  if (config.max_sessions() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_sessions: ", config.max_sessions(),
                                                   " is negative; use 0 for the default of ",
                                                   kDefaultMaxSessions));
  }
  if (config.max_sessions_per_user() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_sessions_per_user: ", config.max_sessions_per_user(),
                     " is negative; use 0 for the default of ", kDefaultMaxSessionsPerUser));
  }
  absl::StatusOr<std::shared_ptr<const Environment>> env = MakeEnvironment(ResolvedConfig(config));
  if (!env.ok()) return env.status();
  // Sandboxes of a host process that died are reaped like any run's; their
  // workspaces stay.
  ReapStaleRuns((*env)->config.state_dir(), (*env)->runsc_path);
  // So are the volumes their sessions had mounted.
  DetachStaleSessionVolumes((*env)->config.storage_dir() + "/sessions");
  return std::unique_ptr<SessionManager>(new SessionManager(*std::move(env)));
}

void SessionManager::ShutdownAll() {
  std::vector<std::shared_ptr<SessionManager>> managers = Managers().TakeAll();
  // Destroyed outside the registry's lock: stopping sandboxes takes a while.
}

SessionManager::SessionManager(std::shared_ptr<const Environment> env)
    : env_(std::move(env)),
      launcher_(std::make_shared<SessionLauncher>()),
      slots_(std::make_shared<SessionSlots>(
          env_->config.max_sessions() > 0 ? env_->config.max_sessions() : kDefaultMaxSessions)),
      audit_(env_->config) {
  reaper_ = std::thread([this] { ReapLoop(); });
}

SessionManager::~SessionManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  reaper_.join();
  std::map<std::string, std::shared_ptr<ManagedSession>> sessions;
  {
    absl::MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  for (auto& [key, session] : sessions) (void)session->Stop();
}

absl::StatusOr<std::shared_ptr<ManagedSession>> SessionManager::Get(const SessionKey& key,
                                                                    const SessionOptions& options) {
  // One empty id for everyone would be one workspace shared by every caller.
  if (key.user().empty()) return absl::InvalidArgumentError(kEmptySessionUser);
  absl::StatusOr<std::string> dir_name = SessionDirName(key);
  if (!dir_name.ok()) return dir_name.status();
  // A workspace made by an earlier version keeps its files where they are.
  const std::string sessions_dir = env_->config.storage_dir() + "/sessions/";
  if (absl::StatusOr<std::string> legacy = SessionDirName(key, /*legacy=*/true);
      legacy.ok() && *legacy != *dir_name && !Exists(sessions_dir + *dir_name) &&
      Exists(sessions_dir + *legacy)) {
    dir_name = legacy;
  }
  const std::string id = KeyString(key);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = sessions_.find(id); it != sessions_.end()) return it->second;
  }

  // The session's caps, under the config's policy like a run's.
  const Config& config = env_->config;
  std::string policy_name;
  absl::StatusOr<RunRequest> effective =
      SessionRequest(policies_, config, key, options, &policy_name);
  if (!effective.ok()) return effective.status();

  auto session = std::shared_ptr<ManagedSession>(new ManagedSession());
  session->env_ = env_;
  session->launcher_ = launcher_;
  session->key_ = key;
  session->limits_ = effective->limits();
  session->network_ = effective->network();
  if (effective->egress().domains_size() > 0) session->egress_ = effective->egress();
  session->env_vars_.insert(effective->env().begin(), effective->env().end());
  // The policy's idle_timeout applies; the options may ask for less.
  std::optional<absl::Duration> policy_idle;
  if (!config.policy_file().empty()) {
    absl::StatusOr<ResolvedPolicy> policy = policies_.Resolve(key.policy(), nullptr);
    if (!policy.ok()) return absl::InvalidArgumentError(policy.status().message());
    policy_idle = policy->idle_timeout;
  }
  if (policy_idle) session->idle_timeout_ = *policy_idle;
  if (options.idle_timeout_s() > 0) {
    const absl::Duration asked = absl::Seconds(options.idle_timeout_s());
    if (policy_idle && asked > *policy_idle) {
      return absl::InvalidArgumentError(absl::StrCat(
          "idle_timeout_s: ", options.idle_timeout_s(), " is over the idle_timeout of policy \"",
          policy_name, "\" (", absl::FormatDuration(*policy_idle), "); ask for less or 0"));
    }
    session->idle_timeout_ = asked;
  }
  // Background processes: the options may ask for up to the policy's cap.
  const int process_cap = config.policy_file().empty() ? 0 : policies_.ProcessesPerSession();
  if (options.max_processes() < 0 || options.max_processes() > kMaxBackgroundProcesses) {
    return absl::InvalidArgumentError(absl::StrCat("max_processes: must be between 0 and ",
                                                   kMaxBackgroundProcesses, " (0: the default)"));
  }
  if (process_cap > 0 && options.max_processes() > process_cap) {
    return absl::InvalidArgumentError(absl::StrCat("max_processes: ", options.max_processes(),
                                                   " is over the policy file's "
                                                   "caps.processes_per_session (",
                                                   process_cap, "); ask for less or 0"));
  }
  session->max_processes_ = options.max_processes() > 0 ? options.max_processes()
                            : process_cap > 0           ? process_cap
                                                        : kDefaultMaxProcesses;
  if (options.process_ttl_s() < 0 || absl::Seconds(options.process_ttl_s()) > kMaxProcessTtl) {
    return absl::InvalidArgumentError("process_ttl_s: must be between 0 and 24 hours");
  }
  if (options.process_ttl_s() > 0) session->process_ttl_ = absl::Seconds(options.process_ttl_s());
  session->slots_ = slots_;
  // The policy file (synced by SessionRequest) may set the per-user cap.
  const int per_user = config.policy_file().empty() ? 0 : policies_.SessionsPerUser();
  session->max_per_user_ = per_user > 0                         ? per_user
                           : config.max_sessions_per_user() > 0 ? config.max_sessions_per_user()
                                                                : kDefaultMaxSessionsPerUser;
  if (session->limits_.workspace_mb() > 0) {
    // The persistent workspace is capped as a volume (workspace_volume.h).
    if (absl::Status s = WorkspaceVolumeSupported(); s.ok()) {
      session->volume_mb_ = session->limits_.workspace_mb();
    } else if (!config.allow_unenforced_limits()) {
      return absl::FailedPreconditionError(
          absl::StrCat("workspace_mb: ", s.message(), " (or set allow_unenforced_limits)"));
    } else {
      session->notes_ = absl::StrCat("workspace size: ", s.message(), "\n");
    }
  }
  session->rootfs_ = effective->rootfs();
  if (!session->rootfs_.empty()) {
    // The session's init is Python, and a timeout kills its exec with kill.
    for (const char* program : {kExecutorPython, "/bin/kill"}) {
      if (absl::Status s = CheckRootfsProgram(session->rootfs_, program); !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(s.message(), " (sessions need it)"));
      }
    }
  }
  session->dir_ = absl::StrCat(config.storage_dir(), "/sessions/", *dir_name);
  session->workspace_ = session->dir_ + "/workspace";
  // Their names are user, policy and chat ids: no one else may list them.
  if (auto s = MakePrivateDirs(config.storage_dir() + "/sessions", *dir_name); !s.ok()) return s;
  if (auto s = ManagedSession::PrepareWorkspaceDir(session->workspace_); !s.ok()) return s;

  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.emplace(id, session);
  if (inserted) {
    ++added_;  // its idle timeout may be shorter than the reaper's wait
    slots_->Add(session);
  }
  return it->second;  // a concurrent Get may have won; use its session
}

std::vector<SessionInfo> SessionManager::List() const {
  std::vector<std::shared_ptr<ManagedSession>> sessions;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, s] : sessions_) sessions.push_back(s);
  }
  std::vector<SessionInfo> out;
  for (const auto& s : sessions) {
    if (s->live()) out.push_back(s->Info());
  }
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return a.workspace() < b.workspace();
  });
  return out;
}

absl::Status SessionManager::Stop(const SessionKey& key) {
  std::shared_ptr<ManagedSession> session;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(KeyString(key));
    if (it == sessions_.end()) return absl::OkStatus();
    session = it->second;
  }
  return session->Stop();
}

absl::Status SessionManager::Reset(const SessionKey& key) {
  absl::StatusOr<std::shared_ptr<ManagedSession>> session = Get(key, SessionOptions());
  if (!session.ok()) return session.status();
  return (*session)->Reset();
}

void SessionManager::ReapLoop() {
  while (true) {
    std::vector<std::shared_ptr<ManagedSession>> sessions;
    absl::Duration interval = kMaxReapInterval;
    int64_t added = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      added = added_;
      for (const auto& [id, s] : sessions_) {
        sessions.push_back(s);
        interval = std::min(interval, s->idle_timeout_ / 4);
      }
    }
    const absl::Time now = absl::Now();
    for (const auto& s : sessions) s->StopIfIdle(now);
    sessions.clear();
    interval = std::max(interval, kMinReapInterval);
    absl::MutexLock lock(&mu_);
    auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || added_ != added; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), interval);
  }
}

}  // namespace libsandbox
