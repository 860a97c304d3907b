#include "libsandbox/session.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/bundle.h"
#include "libsandbox/outcome.h"
#include "libsandbox/process.h"
#include "libsandbox/retention.h"
#include "libsandbox/run_dir.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/text.h"
#include "libsandbox/validate.h"

namespace libsandbox {

// Runs sandbox launches on one long-lived thread: runsc gets
// PR_SET_PDEATHSIG, which fires when the thread that started it exits, and a
// session's sandbox must outlive the caller thread of its first exec.
class SessionLauncher {
 public:
  SessionLauncher() : thread_([this] { Loop(); }) {}
  ~SessionLauncher() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  // Runs `fn` on the launcher thread and waits for it.
  void Run(std::function<void()> fn) {
    bool done = false;
    absl::MutexLock lock(&mu_);
    tasks_.push_back([&] {
      fn();
      absl::MutexLock inner(&mu_);
      done = true;
    });
    mu_.Await(absl::Condition(&done));
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](SessionLauncher* l)
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu_) { return l->stop_ || !l->tasks_.empty(); },
            this));
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

namespace {

constexpr absl::Duration kBootTimeout = absl::Seconds(30);
constexpr absl::Duration kKillTimeout = absl::Seconds(5);
// Background processes of an exec keep its output pipes open; once the exec
// itself has ended, wait only this long for the rest of its output.
constexpr absl::Duration kExecDrainGrace = absl::Milliseconds(200);
constexpr absl::Duration kMinReapInterval = absl::Milliseconds(100);
constexpr absl::Duration kMaxReapInterval = absl::Seconds(10);

// The sandbox's pid 1: says it is ready, then reaps orphans (background
// processes outlive their exec and are reparented to it).
constexpr char kInitScript[] =
    "import os, sys, time\n"
    "sys.stdout.write('\\x06')\n"
    "sys.stdout.flush()\n"
    "while True:\n"
    "    try:\n"
    "        os.wait()\n"
    "    except ChildProcessError:\n"
    "        time.sleep(1)\n";

// Inside the sandbox (in its /tmp): the cwd the last exec ended in. Only the
// session's own code reads or writes it, so it is trusted no further than
// being a directory under /home/user or /tmp.
#define LIBSANDBOX_CWD_DIR "/tmp/.libsandbox-session"

// Shell wrapper, $1 the code file: restore the cwd, run the code in this
// shell (so its `cd` counts), record the cwd when the shell exits.
constexpr char kShellWrapper[] =
    "c=$(cat " LIBSANDBOX_CWD_DIR
    "/cwd 2>/dev/null)\n"
    "case \"$c\" in\n"
    "  */..|*/../*) cd /home/user ;;\n"
    "  /home/user|/home/user/*|/tmp|/tmp/*) cd -- \"$c\" 2>/dev/null || cd /home/user ;;\n"
    "  *) cd /home/user ;;\n"
    "esac\n"
    "unset c\n"
    "trap 'mkdir -p " LIBSANDBOX_CWD_DIR
    " 2>/dev/null && "
    "printf %s \"$PWD\" > " LIBSANDBOX_CWD_DIR
    "/cwd 2>/dev/null' EXIT\n"
    ". \"$1\"\n";

// Python wrapper, argv[1] the code file: the same for os.chdir.
constexpr char kPythonWrapper[] =
    "import atexit, os, runpy, sys\n"
    "def _libsandbox_cwd():\n"
    "    try:\n"
    "        with open('" LIBSANDBOX_CWD_DIR
    "/cwd') as f:\n"
    "            c = f.read(4096)\n"
    "    except OSError:\n"
    "        c = ''\n"
    "    ok = (c in ('/home/user', '/tmp') or c.startswith(('/home/user/', '/tmp/'))) and \\\n"
    "        '/..' not in c\n"
    "    try:\n"
    "        os.chdir(c if ok else '/home/user')\n"
    "    except OSError:\n"
    "        os.chdir('/home/user')\n"
    "def _libsandbox_save():\n"
    "    try:\n"
    "        os.makedirs('" LIBSANDBOX_CWD_DIR
    "', exist_ok=True)\n"
    "        with open('" LIBSANDBOX_CWD_DIR
    "/cwd', 'w') as f:\n"
    "            f.write(os.getcwd())\n"
    "    except OSError:\n"
    "        pass\n"
    "_libsandbox_cwd()\n"
    "atexit.register(_libsandbox_save)\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n";

absl::Mutex registry_mu(absl::kConstInit);

std::map<std::string, std::shared_ptr<SessionManager>>& Registry()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  static auto* managers = new std::map<std::string, std::shared_ptr<SessionManager>>();
  return *managers;
}

// The sandbox-side argv that runs `code_path` for `language`.
std::vector<std::string> WrapperArgv(const Language& language, const std::string& code_path) {
  if (language.in_process_python) {
    return {kExecutorPython, "-c", kPythonWrapper, code_path};
  }
  return {language.argv[0], "-c", kShellWrapper, "libsandbox-exec", code_path};
}

absl::Status PrepareWorkspaceDir(const std::string& workspace) {
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

std::string KeyString(const SessionKey& key) {
  return absl::StrCat(key.user().size(), ":", key.user(), key.policy().size(), ":", key.policy(),
                      key.chat());
}

}  // namespace

absl::StatusOr<std::string> SessionDirName(const SessionKey& key) {
  std::string dir;
  for (const std::string* part : {&key.user(), &key.policy(), &key.chat()}) {
    absl::StatusOr<std::string> k = UserKey(*part);
    if (!k.ok()) return k.status();
    absl::StrAppend(&dir, dir.empty() ? "" : "/", *k);
  }
  return dir;
}

Limits DefaultSessionLimits() {
  Limits l = DefaultLimits();
  l.set_workspace_mb(0);
  l.set_tmp_mb(64);
  return l;
}

// ---- Session ----

Session::~Session() {
  absl::MutexLock lock(&mu_);
  StopLocked();
}

bool Session::live() const {
  // A running exec holds the lock, and its sandbox is live.
  if (!mu_.TryLock()) return true;
  bool live = instance_ != nullptr && instance_->alive();
  mu_.Unlock();
  return live;
}

SessionInfo Session::Info() const {
  SessionInfo info;
  *info.mutable_key() = key_;
  info.set_workspace(workspace_);
  // A running exec holds the lock: report it as busy rather than wait.
  if (!mu_.TryLock()) return info;
  info.set_execs(execs_);
  info.set_idle_s(absl::ToDoubleSeconds(absl::Now() - last_used_));
  if (instance_) info.set_memory_bytes(instance_->MemoryUsageBytes());
  mu_.Unlock();
  return info;
}

absl::Status Session::LockWorkspace() {
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

absl::Status Session::BootLocked() {
  if (auto s = LockWorkspace(); !s.ok()) return s;
  if (auto s = PrepareWorkspaceDir(workspace_); !s.ok()) return s;
  InstanceSpec spec;
  spec.language = FindLanguage("python");
  spec.init_argv = {kExecutorPython, "-c", kInitScript};
  spec.limits = limits_;
  spec.network = network_;
  spec.workspace_dir = workspace_;
  absl::StatusOr<std::unique_ptr<Instance>> in = absl::InternalError("not started");
  std::string notes;
  launcher_->Run([&] {
    in = Instance::Prepare(env_, spec, &notes);
    if (!in.ok()) return;
    if (absl::Status s = (*in)->Launch(std::nullopt, absl::Now() + kBootTimeout); !s.ok()) {
      in = s;
    }
  });
  if (!in.ok()) {
    lock_.Reset();
    return in.status();
  }
  instance_ = *std::move(in);
  if (!notes.empty()) notes_ = notes;
  execs_ = 0;
  last_used_ = absl::Now();
  return absl::OkStatus();
}

void Session::StopLocked() {
  instance_.reset();  // kills the sandbox and every process in it
  lock_.Reset();
}

absl::Status Session::Stop() {
  absl::MutexLock lock(&mu_);
  StopLocked();
  return absl::OkStatus();
}

absl::Status Session::Reset() {
  absl::MutexLock lock(&mu_);
  StopLocked();
  // Hold the lock while wiping: no other host process may be using it.
  if (auto s = LockWorkspace(); !s.ok()) return s;
  // The tree was written by sandboxed code: never follow its symlinks.
  absl::Status s = RemoveTree(workspace_);
  if (s.ok()) s = PrepareWorkspaceDir(workspace_);
  lock_.Reset();
  return s;
}

bool Session::StopIfIdle(absl::Time now) {
  if (!mu_.TryLock()) return false;  // an exec is running: not idle
  bool stop = instance_ != nullptr && now - last_used_ > idle_timeout_;
  if (stop) StopLocked();
  mu_.Unlock();
  return stop;
}

void Session::KillExec(const std::string& pid_file) {
  absl::StatusOr<std::string> text = ReadFile(pid_file, 32);
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 1) return;
  // The exec leads its own process group inside the sandbox: kill the
  // group (its children too), never the sandbox.
  const std::string group = absl::StrCat("-", pid);
  (void)RunCommand(instance_->RunscCommand({"exec", "--user", "1000:1000", instance_->container(),
                                            "/bin/kill", "-KILL", "--", group}),
                   kKillTimeout);
}

Result Session::Exec(const ExecRequest& request) {
  const absl::Time start = absl::Now();
  const Language* language =
      FindLanguage(request.language().empty() ? "python" : request.language());
  if (language == nullptr) {
    return FailedResult(Result::INVALID_INPUT, "",
                        absl::StrCat("language: '", request.language(), "' is not one of ",
                                     absl::StrJoin(LanguageNames(), ", ")),
                        start);
  }
  RunRequest as_run;  // reuses the one-shot checks (sizes, env names)
  as_run.set_code(request.code());
  as_run.set_language(language->name);
  as_run.set_user(key_.user());
  *as_run.mutable_env() = request.env();
  if (request.has_stdin()) as_run.set_stdin(request.stdin());
  Limits limits = limits_;
  if (request.has_timeout_s()) limits.set_timeout_s(request.timeout_s());
  if (request.has_max_output_bytes()) limits.set_max_output_bytes(request.max_output_bytes());
  if (absl::Status s = ValidateRequest(as_run, limits); !s.ok()) {
    return FailedResult(Result::INVALID_INPUT, "", std::string(s.message()), start);
  }

  absl::MutexLock lock(&mu_);
  std::string message_prefix;
  if (instance_ != nullptr && !instance_->alive()) {
    message_prefix =
        "The session's sandbox had stopped; a new one was started on the same "
        "workspace (background processes are gone). ";
    StopLocked();
  }
  if (instance_ == nullptr) {
    if (absl::Status s = BootLocked(); !s.ok()) {
      return FailedResult(StatusForSetupError(s), "",
                          absl::StrCat("The session's sandbox did not start: ", s.message()),
                          start);
    }
  }

  // The code goes to a file in the read-only code dir, never on argv; the
  // process spec (it holds the env) stays in the host-only run dir.
  const std::string name = absl::StrCat("exec-", ++next_exec_, "-", language->file_name);
  const std::string code_file = absl::StrCat(instance_->code_dir(), "/", name);
  const std::string base = absl::StrCat(instance_->run_path(), "/exec-", next_exec_);
  const std::string process_file = base + ".json";
  const std::string pid_file = base + ".pid";
  std::map<std::string, std::string> env = env_vars_;
  for (const auto& [k, v] : request.env()) env[k] = v;
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = false;
  auto json_status = google::protobuf::util::MessageToJsonString(
      SandboxProcess(WrapperArgv(*language, absl::StrCat(kSandboxCodeDir, "/", name)), env,
                     limits_.max_pids()),
      &json, print);
  absl::Status written = json_status.ok() ? WriteFile(code_file, request.code(), 0644)
                                          : absl::InternalError(std::string(json_status.message()));
  if (written.ok()) written = WriteFile(process_file, json, 0600);
  absl::StatusOr<ProcessResult> p = absl::InternalError("not run");
  if (!written.ok()) {
    p = written;
  } else {
    SpawnOptions spawn;
    spawn.argv = instance_->RunscCommand({"exec", "--process", process_file, "--internal-pid-file",
                                          pid_file, instance_->container()});
    if (request.has_stdin()) spawn.stdin_data = request.stdin();
    spawn.exit_drain_grace = kExecDrainGrace;
    absl::StatusOr<Subprocess> child = Subprocess::Start(spawn);
    if (child.ok()) {
      const absl::Time deadline = limits.timeout_s() > 0
                                      ? absl::Now() + absl::Seconds(limits.timeout_s())
                                      : absl::InfiniteFuture();
      p = child->Communicate(static_cast<size_t>(limits.max_output_bytes()), deadline,
                             [&] { KillExec(pid_file); });
    } else {
      p = child.status();
    }
  }
  for (const std::string* f : {&code_file, &process_file, &pid_file}) ::unlink(f->c_str());

  Result result;
  const bool oom = instance_->OomKilled();
  const bool pids_hit = instance_->PidsLimitHit();
  const bool died = !instance_->alive();
  if (!p.ok()) {
    result.set_status(Result::SANDBOX_ERROR);
    result.set_message(absl::StrCat("runsc exec: ", p.status().message()));
  } else {
    SetOutput(*p, &result);
    if (oom) {
      result.set_status(Result::INTERRUPTED);
      result.set_reason("memory");
      result.set_message(absl::StrCat(
          "The session ran out of memory (limit ", limits_.memory_mb(),
          " MiB) and its sandbox was stopped; the workspace is kept and the next exec starts a "
          "new sandbox. Raise memory_mb if the code needs more."));
    } else if (p->timed_out) {
      result.set_status(Result::TIMEOUT);
      result.set_message(absl::StrCat(
          "The command ran longer than the limit of ", limits.timeout_s(),
          " s and was stopped; output up to then is kept and the session goes on. Raise "
          "timeout_s to allow more time."));
    } else if (died) {
      result.set_status(Result::INTERRUPTED);
      result.set_reason(pids_hit ? "pids" : "sandbox");
      result.set_message(
          absl::StrCat(pids_hit ? absl::StrCat("The session hit the process limit (max_pids=",
                                               limits_.max_pids(), ") and its sandbox stopped")
                                : std::string("The session's sandbox stopped during the command"),
                       "; the workspace is kept and the next exec starts a new sandbox."));
    } else {
      SetExitStatus(p->exit_code, &result);
    }
  }
  if (!message_prefix.empty()) result.set_message(message_prefix + result.message());
  if (!notes_.empty()) absl::StrAppend(result.mutable_message(), "\nNot enforced: ", notes_);
  if (oom || died) {
    StopLocked();
  } else {
    ++execs_;
  }
  last_used_ = absl::Now();
  result.set_duration_s(absl::ToDoubleSeconds(last_used_ - start));
  return result;
}

// ---- SessionManager ----

absl::StatusOr<std::shared_ptr<SessionManager>> SessionManager::ForConfig(const Config& config) {
  const Config resolved = ResolvedConfig(config);
  std::string key = resolved.SerializeAsString();
  absl::MutexLock lock(&registry_mu);
  auto& managers = Registry();
  if (auto it = managers.find(key); it != managers.end()) return it->second;
  absl::StatusOr<std::unique_ptr<SessionManager>> m = Create(resolved);
  if (!m.ok()) return m.status();
  std::shared_ptr<SessionManager> shared = std::move(*m);
  managers[key] = shared;
  return shared;
}

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Create(const Config& config) {
  absl::StatusOr<std::shared_ptr<const Environment>> env = MakeEnvironment(ResolvedConfig(config));
  if (!env.ok()) return env.status();
  // Sandboxes of a host process that died are reaped like any run's; their
  // workspaces stay.
  ReapStaleRuns((*env)->config.state_dir(), (*env)->runsc_path);
  return std::unique_ptr<SessionManager>(new SessionManager(*std::move(env)));
}

void SessionManager::ShutdownAll() {
  std::map<std::string, std::shared_ptr<SessionManager>> managers;
  {
    absl::MutexLock lock(&registry_mu);
    managers.swap(Registry());
  }
  // Destroyed outside the lock: stopping sandboxes takes a while.
}

SessionManager::SessionManager(std::shared_ptr<const Environment> env)
    : env_(std::move(env)), launcher_(std::make_shared<SessionLauncher>()) {
  reaper_ = std::thread([this] { ReapLoop(); });
}

SessionManager::~SessionManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  reaper_.join();
  std::map<std::string, std::shared_ptr<Session>> sessions;
  {
    absl::MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  for (auto& [key, session] : sessions) (void)session->Stop();
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Get(const SessionKey& key,
                                                             const SessionOptions& options) {
  absl::StatusOr<std::string> dir_name = SessionDirName(key);
  if (!dir_name.ok()) return dir_name.status();
  const std::string id = KeyString(key);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = sessions_.find(id); it != sessions_.end()) return it->second;
  }

  // The session's caps, under the config's policy like a run's.
  const Config& config = env_->config;
  RunRequest as_run;
  as_run.set_user(key.user());
  as_run.set_policy(key.policy());
  as_run.set_network(options.network());
  *as_run.mutable_env() = options.env();
  *as_run.mutable_limits() = options.has_limits() ? options.limits() : DefaultSessionLimits();
  std::string policy_name;
  absl::StatusOr<RunRequest> effective =
      RequestUnderPolicy(policies_, config, as_run, &policy_name);
  if (!effective.ok()) return effective.status();
  // Checked like a run's (user, env, limits); the code comes with each exec.
  RunRequest check = *effective;
  check.set_code("pass");
  if (absl::Status s = ValidateRequest(check, check.limits()); !s.ok()) return s;
  if (options.idle_timeout_s() < 0 || absl::Seconds(options.idle_timeout_s()) > kMaxIdleTimeout) {
    return absl::InvalidArgumentError("idle_timeout_s: must be between 0 and 24 hours");
  }

  auto session = std::shared_ptr<Session>(new Session());
  session->env_ = env_;
  session->launcher_ = launcher_;
  session->key_ = key;
  session->limits_ = effective->limits();
  session->network_ = effective->network();
  session->env_vars_.insert(effective->env().begin(), effective->env().end());
  if (options.idle_timeout_s() > 0) {
    session->idle_timeout_ = absl::Seconds(options.idle_timeout_s());
  }
  if (session->limits_.workspace_mb() > 0) {
    // A persistent directory has no size cap of its own yet.
    if (!config.allow_unenforced_limits()) {
      return absl::InvalidArgumentError(
          "workspace_mb: session workspaces are persistent directories whose size cannot be "
          "capped yet; set workspace_mb=0 (or allow_unenforced_limits)");
    }
    session->notes_ = "workspace size (session workspaces are not size-capped)\n";
  }
  session->dir_ = absl::StrCat(config.storage_dir(), "/sessions/", *dir_name);
  session->workspace_ = session->dir_ + "/workspace";
  if (auto s = MakeDirs(session->dir_, 0700); !s.ok()) return s;
  if (auto s = PrepareWorkspaceDir(session->workspace_); !s.ok()) return s;

  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.emplace(id, session);
  if (inserted) ++added_;  // its idle timeout may be shorter than the reaper's wait
  return it->second;       // a concurrent Get may have won; use its session
}

std::vector<SessionInfo> SessionManager::List() const {
  std::vector<std::shared_ptr<Session>> sessions;
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
  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(KeyString(key));
    if (it == sessions_.end()) return absl::OkStatus();
    session = it->second;
  }
  return session->Stop();
}

absl::Status SessionManager::Reset(const SessionKey& key) {
  absl::StatusOr<std::shared_ptr<Session>> session = Get(key, SessionOptions());
  if (!session.ok()) return session.status();
  return (*session)->Reset();
}

void SessionManager::ReapLoop() {
  while (true) {
    std::vector<std::shared_ptr<Session>> sessions;
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

// ---- The public functions (sandbox.h) ----

Result SessionExec(const SessionKey& key, const ExecRequest& request, const SessionOptions& options,
                   const Config& config) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) {
    return FailedResult(StatusForSetupError(manager.status()), "",
                        std::string(manager.status().message()), start);
  }
  absl::StatusOr<std::shared_ptr<Session>> session = (*manager)->Get(key, options);
  if (!session.ok()) {
    return FailedResult(StatusForSetupError(session.status()), "",
                        std::string(session.status().message()), start);
  }
  return (*session)->Exec(request);
}

absl::Status StopSession(const SessionKey& key, const Config& config) {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) return manager.status();
  return (*manager)->Stop(key);
}

absl::Status ResetSession(const SessionKey& key, const Config& config) {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) return manager.status();
  return (*manager)->Reset(key);
}

absl::StatusOr<std::vector<SessionInfo>> ListSessions(const Config& config) {
  absl::StatusOr<std::shared_ptr<SessionManager>> manager = SessionManager::ForConfig(config);
  if (!manager.ok()) return manager.status();
  return (*manager)->List();
}

void ShutdownSessions() { SessionManager::ShutdownAll(); }

}  // namespace libsandbox
