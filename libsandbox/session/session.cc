#include "libsandbox/session/session.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/text.h"
#include "libsandbox/base/units.h"
#include "libsandbox/host/process.h"
#include "libsandbox/host/run_dir.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/run/outcome.h"
#include "libsandbox/run/retention.h"
#include "libsandbox/run/workspace_volume.h"
#include "libsandbox/session/session_process.h"

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
constexpr absl::Duration kFileOpTimeout = absl::Seconds(60);
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

// A background process restores the cwd like an exec but never records
// its own: the wrappers without their recording part.
std::vector<std::string> BackgroundWrapperArgv(const Language& language,
                                               const std::string& code_path) {
  if (language.in_process_python) {
    std::string script = kPythonWrapper;
    const std::string record = "atexit.register(_libsandbox_save)\n";
    script.erase(script.find(record), record.size());
    return {kExecutorPython, "-c", script, code_path};
  }
  std::string script = kShellWrapper;
  script = script.substr(0, script.find("trap ")) + ". \"$1\"\n";
  return {language.argv[0], "-c", script, "libsandbox-exec", code_path};
}

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

// The max_sessions cap of one SessionManager: a slot per running sandbox.
class SessionSlots {
 public:
  explicit SessionSlots(int max) : max_(max) {}

  void Add(std::weak_ptr<Session> session) {
    absl::MutexLock lock(&mu_);
    std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    sessions_.push_back(std::move(session));
  }

  // A slot for `self` (whose mu_ the caller holds). When all are taken,
  // stops the least recently used idle session first.
  absl::Status Acquire(const Session* self) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::vector<std::shared_ptr<Session>> others;  // released outside mu_
      {
        absl::MutexLock lock(&mu_);
        if (used_ < max_) {
          ++used_;
          return absl::OkStatus();
        }
        for (const auto& w : sessions_) {
          if (auto s = w.lock(); s && s.get() != self) others.push_back(std::move(s));
        }
      }
      std::shared_ptr<Session> victim;
      absl::Time oldest = absl::InfiniteFuture();
      for (const auto& s : others) {
        std::optional<absl::Time> since = s->IdleSince();
        if (since && *since < oldest) {
          oldest = *since;
          victim = s;
        }
      }
      if (victim == nullptr) break;
      victim->StopIfStillIdle();  // frees its slot; then try again
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "all ", max_,
        " session sandboxes are busy (Config.max_sessions); try again when one is idle, or "
        "raise max_sessions"));
  }

  void Release() {
    absl::MutexLock lock(&mu_);
    if (used_ > 0) --used_;
  }

 private:
  const int max_;
  absl::Mutex mu_;
  int used_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::weak_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
};

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
  if (volume_mb_ > 0 && volume_ == nullptr) {
    absl::StatusOr<std::unique_ptr<WorkspaceVolume>> volume =
        WorkspaceVolume::Mount(dir_ + "/workspace.img", workspace_, volume_mb_);
    if (!volume.ok()) {
      lock_.Reset();
      return volume.status();
    }
    volume_ = *std::move(volume);
  }
  InstanceSpec spec;
  spec.language = FindLanguage("python");
  spec.init_argv = {kExecutorPython, "-c", kInitScript};
  spec.limits = limits_;
  spec.network = network_;
  spec.egress = egress_;
  spec.workspace_dir = workspace_;
  spec.rootfs = rootfs_;
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
    volume_.reset();  // unmounted before the lock goes
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
  StopProcesses();    // no runsc exec outlives the sandbox's run dir
  instance_.reset();  // kills the sandbox and every process in it
  volume_.reset();    // unmounts the workspace before the lock goes
  lock_.Reset();
  if (holds_slot_) {
    slots_->Release();
    holds_slot_ = false;
  }
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

bool Session::StopIfIdle(absl::Time now) {
  if (!mu_.TryLock()) return false;  // an exec is running: not idle
  bool stop = instance_ != nullptr && now - LastActivityLocked() > idle_timeout_;
  if (stop) StopLocked();
  mu_.Unlock();
  return stop;
}

void Session::KillExec(const std::string& pid_file) {
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

Result Session::Exec(const ExecRequest& request) {
  const absl::Time start = absl::Now();
  const Language* language =
      FindLanguage(request.language().empty() ? "python" : request.language());
  if (language == nullptr) {
    return FailedResult(Result::INVALID_INPUT, REASON_NONE,
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
    return FailedResult(Result::INVALID_INPUT, REASON_NONE, std::string(s.message()), start);
  }

  absl::MutexLock lock(&mu_);
  std::string message_prefix;
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

  // The code goes to a file in the read-only code dir, never on argv; the
  // process spec (it holds the env) stays in the host-only run dir.
  const std::string name = absl::StrCat("exec-", ++next_exec_, "-", language->file_name);
  const std::string code_file = absl::StrCat(instance_->code_dir(), "/", name);
  const std::string base = absl::StrCat(instance_->run_path(), "/exec-", next_exec_);
  const std::string process_file = base + ".json";
  const std::string pid_file = base + ".pid";
  std::map<std::string, std::string> env = instance_->BaseEnv();
  for (const auto& [k, v] : env_vars_) env[k] = v;
  for (const auto& [k, v] : request.env()) env[k] = v;
  const EgressProxy* proxy = instance_->egress_proxy();
  const EgressReport egress_before = proxy ? proxy->Report() : EgressReport();
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = false;
  auto json_status = google::protobuf::util::MessageToJsonString(
      SandboxProcess(WrapperArgv(*language, absl::StrCat(kSandboxCodeDir, "/", name)), env,
                     limits_.max_pids()),
      &json, print);
  absl::Status written = json_status.ok() ? libsandbox::WriteFile(code_file, request.code(), 0644)
                                          : absl::InternalError(std::string(json_status.message()));
  if (written.ok()) written = libsandbox::WriteFile(process_file, json, 0600);
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
  if (proxy) *result.mutable_egress() = proxy->ReportSince(egress_before);
  Ending ending;
  ending.oom = instance_->OomKilled();
  ending.pids_hit = instance_->PidsLimitHit();
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
  }
  if (!message_prefix.empty()) result.set_message(message_prefix + result.message());
  if (!notes_.empty()) absl::StrAppend(result.mutable_message(), "\nNot enforced: ", notes_);
  if (ending.oom || ending.sandbox_gone) {
    StopLocked();
  } else {
    ++execs_;
  }
  last_used_ = absl::Now();
  result.set_duration_s(absl::ToDoubleSeconds(last_used_ - start));
  return result;
}

// ---- Admission, background processes and files ----

absl::Status Session::AdmitAndBootLocked() {
  if (!holds_slot_) {
    if (absl::Status s = slots_->Acquire(this); !s.ok()) return s;
    holds_slot_ = true;
  }
  absl::Status s = BootLocked();
  if (!s.ok()) {
    slots_->Release();
    holds_slot_ = false;
  }
  return s;
}

absl::Status Session::EnsureBootedLocked(bool* replaced) {
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

absl::Time Session::LastActivityLocked() const {
  absl::MutexLock lock(&procs_mu_);
  return std::max(last_used_, last_touched_);
}

void Session::Touch() {
  absl::MutexLock lock(&procs_mu_);
  last_touched_ = absl::Now();
}

void Session::StopProcesses() {
  std::map<int64_t, std::shared_ptr<BackgroundProcess>> procs;
  {
    absl::MutexLock lock(&procs_mu_);
    procs.swap(procs_);
  }
  // Destroyed here: each joins its pump thread.
}

std::optional<absl::Time> Session::IdleSince() const {
  if (!mu_.TryLock()) return std::nullopt;  // an exec runs
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

bool Session::StopIfStillIdle() {
  if (!mu_.TryLock()) return false;
  bool busy = instance_ == nullptr;
  if (!busy) {
    absl::MutexLock lock(&procs_mu_);
    for (const auto& [n, p] : procs_) busy = busy || p->running();
  }
  if (!busy) StopLocked();
  mu_.Unlock();
  return !busy;
}

absl::StatusOr<Session::ExecFiles> Session::PrepareBackgroundLocked(const Language& language,
                                                                    const ExecRequest& request) {
  const std::string name = absl::StrCat("bg-", ++next_exec_, "-", language.file_name);
  const std::string base = absl::StrCat(instance_->run_path(), "/bg-", next_exec_);
  ExecFiles f;
  f.code_file = absl::StrCat(instance_->code_dir(), "/", name);
  f.process_file = base + ".json";
  f.pid_file = base + ".pid";
  std::map<std::string, std::string> env = instance_->BaseEnv();
  for (const auto& [k, v] : env_vars_) env[k] = v;
  for (const auto& [k, v] : request.env()) env[k] = v;
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = false;
  auto json_status = google::protobuf::util::MessageToJsonString(
      SandboxProcess(BackgroundWrapperArgv(language, absl::StrCat(kSandboxCodeDir, "/", name)), env,
                     limits_.max_pids()),
      &json, print);
  if (!json_status.ok()) return absl::InternalError(std::string(json_status.message()));
  if (auto s = libsandbox::WriteFile(f.code_file, request.code(), 0644); !s.ok()) return s;
  if (auto s = libsandbox::WriteFile(f.process_file, json, 0600); !s.ok()) {
    ::unlink(f.code_file.c_str());
    return s;
  }
  f.argv = instance_->RunscCommand({"exec", "--process", f.process_file, "--internal-pid-file",
                                    f.pid_file, instance_->container()});
  return f;
}

absl::StatusOr<std::string> Session::Start(const ExecRequest& request) {
  const Language* language =
      FindLanguage(request.language().empty() ? "python" : request.language());
  if (language == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("language: '", request.language(),
                                                   "' is not one of ",
                                                   absl::StrJoin(LanguageNames(), ", ")));
  }
  RunRequest as_run;  // the one-shot checks (sizes, env names)
  as_run.set_code(request.code());
  as_run.set_language(language->name);
  as_run.set_user(key_.user());
  *as_run.mutable_env() = request.env();
  if (request.has_stdin()) as_run.set_stdin(request.stdin());
  Limits limits = limits_;
  limits.set_timeout_s(request.has_timeout_s() ? request.timeout_s() : 0);
  if (request.has_max_output_bytes()) limits.set_max_output_bytes(request.max_output_bytes());
  if (absl::Status s = ValidateRequest(as_run, limits); !s.ok()) return s;
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
  absl::StatusOr<ExecFiles> files = PrepareBackgroundLocked(*language, request);
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
  absl::StatusOr<std::unique_ptr<BackgroundProcess>> proc = absl::InternalError("not started");
  // On the launcher thread: the runsc exec must outlive this caller's thread.
  launcher_->Run([&] { proc = BackgroundProcess::Start(spec); });
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

absl::StatusOr<std::shared_ptr<BackgroundProcess>> Session::FindProcess(const std::string& id) {
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

absl::StatusOr<ProcessOutput> Session::Poll(const std::string& id, int64_t stdout_offset,
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

absl::Status Session::WriteInput(const std::string& id, const std::string& data) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  return (*p)->WriteInput(data);
}

absl::Status Session::CloseInput(const std::string& id) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  return (*p)->CloseInput();
}

absl::Status Session::Kill(const std::string& id, int signal) {
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> p = FindProcess(id);
  if (!p.ok()) return p.status();
  return (*p)->Signal(signal);
}

std::vector<ProcessInfo> Session::Processes() const {
  std::vector<ProcessInfo> out;
  absl::MutexLock lock(&procs_mu_);
  for (const auto& [n, p] : procs_) out.push_back(p->Info());
  return out;
}

absl::StatusOr<ProcessResult> Session::RunFileHelper(FileOp op, const std::string& path,
                                                     int64_t limit,
                                                     std::optional<std::string> input) {
  if (absl::Status s = CheckSandboxPath(path); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  bool replaced = false;
  if (absl::Status s = EnsureBootedLocked(&replaced); !s.ok()) return s;
  // Like an exec's: the spec (uid 1000, no capabilities, rlimits) in the
  // host-only run dir; the path goes in it, never on the host's argv.
  const std::string process_file =
      absl::StrCat(instance_->run_path(), "/file-", ++next_exec_, ".json");
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = false;
  auto json_status = google::protobuf::util::MessageToJsonString(
      SandboxProcess(FileHelperArgv(op, path, limit), {}, limits_.max_pids()), &json, print);
  if (!json_status.ok()) return absl::InternalError(std::string(json_status.message()));
  if (auto s = libsandbox::WriteFile(process_file, json, 0600); !s.ok()) return s;
  SpawnOptions spawn;
  spawn.argv = instance_->RunscCommand({"exec", "--process", process_file, instance_->container()});
  spawn.stdin_data = input.value_or("");
  spawn.exit_drain_grace = kExecDrainGrace;
  absl::StatusOr<ProcessResult> r = absl::InternalError("not run");
  absl::StatusOr<Subprocess> child = Subprocess::Start(spawn);
  if (child.ok()) {
    r = child->Communicate(FileHelperOutputCap(op, limit), absl::Now() + kFileOpTimeout);
  } else {
    r = child.status();
  }
  ::unlink(process_file.c_str());
  last_used_ = absl::Now();
  return r;
}

absl::StatusOr<std::string> Session::ReadFile(const std::string& path, int64_t max_bytes) {
  if (max_bytes <= 0 || max_bytes > kMaxFileOpBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes: must be between 1 and ", kMaxFileOpBytes));
  }
  absl::StatusOr<ProcessResult> r = RunFileHelper(FileOp::kRead, path, max_bytes, std::nullopt);
  if (!r.ok()) return r.status();
  if (absl::Status s = FileHelperStatus(*r, "read_file", path); !s.ok()) return s;
  if (static_cast<int64_t>(r->out.data.size()) > max_bytes) {  // never trust the helper
    return absl::OutOfRangeError(
        absl::StrCat("read_file '", SanitizeUtf8(path), "': larger than ", max_bytes, " bytes"));
  }
  return std::move(r->out.data);
}

absl::Status Session::WriteFile(const std::string& path, const std::string& data) {
  if (static_cast<int64_t>(data.size()) > kMaxFileOpBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("write_file: ", data.size(), " bytes, more than ", kMaxFileOpBytes));
  }
  absl::StatusOr<ProcessResult> r = RunFileHelper(FileOp::kWrite, path, 0, data);
  if (!r.ok()) return r.status();
  return FileHelperStatus(*r, "write_file", path);
}

absl::StatusOr<DirListing> Session::ListDir(const std::string& path) {
  absl::StatusOr<ProcessResult> r =
      RunFileHelper(FileOp::kList, path, kMaxListEntries, std::nullopt);
  if (!r.ok()) return r.status();
  if (absl::Status s = FileHelperStatus(*r, "list_dir", path); !s.ok()) return s;
  return ParseListing(r->out.data, kMaxListEntries);
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
  if (config.max_sessions() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_sessions: ", config.max_sessions(),
                                                   " is negative; use 0 for the default of ",
                                                   kDefaultMaxSessions));
  }
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
    : env_(std::move(env)),
      launcher_(std::make_shared<SessionLauncher>()),
      slots_(std::make_shared<SessionSlots>(
          env_->config.max_sessions() > 0 ? env_->config.max_sessions() : kDefaultMaxSessions)) {
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
  *as_run.mutable_egress() = options.egress();
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
  session->slots_ = slots_;
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
  if (auto s = MakeDirs(session->dir_, 0700); !s.ok()) return s;
  if (auto s = PrepareWorkspaceDir(session->workspace_); !s.ok()) return s;

  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.emplace(id, session);
  if (inserted) {
    ++added_;  // its idle timeout may be shorter than the reaper's wait
    slots_->Add(session);
  }
  return it->second;  // a concurrent Get may have won; use its session
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
    return SetupFailedResult(manager.status(), start);
  }
  absl::StatusOr<std::shared_ptr<Session>> session = (*manager)->Get(key, options);
  if (!session.ok()) {
    return SetupFailedResult(session.status(), start);
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
