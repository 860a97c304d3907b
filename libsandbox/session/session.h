// Persistent per-user sessions: one long-lived sandbox per SessionKey,
// booted on first use and reused across execs, with a workspace on disk
// under <storage_dir>/sessions/<key>/workspace that outlives the sandbox and
// the host process. State carries from exec to exec: files, the current
// directory and background processes (until the session stops).
//
// Each exec is a `runsc exec` into the session's sandbox of a fixed wrapper
// that restores the last cwd, runs the code file (never on argv) and records
// the cwd again. A timeout kills only that exec's process group; a sandbox
// that dies (e.g. out of memory) is replaced on the next exec, on the same
// workspace.
//
// For an interactive terminal server (one session per user), beside Exec:
// background processes (Start, then Poll for output from stream offsets,
// WriteInput/CloseInput, Kill) whose output the host keeps in capped
// buffers, and file operations (ReadFile, WriteFile, ListDir) that a fixed
// helper performs inside the sandbox, so the sandbox's own view decides what
// a path reaches. A server maps its routes onto these one to one.
//
// A SessionManager lets at most Config.max_sessions sandboxes run; booting
// one more first stops the least recently used idle session.
#ifndef LIBSANDBOX_SESSION_SESSION_H_
#define LIBSANDBOX_SESSION_SESSION_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/proto/config.pb.h"
#include "libsandbox/rules/policy.h"
#include "libsandbox/run/instance.h"
#include "libsandbox/run/retention.h"
#include "libsandbox/run/workspace_volume.h"
#include "libsandbox/session/session_audit.h"
#include "libsandbox/session/session_files.h"

namespace libsandbox {

// Background processes one session may be allowed at once.
inline constexpr int kMaxBackgroundProcesses = 1024;
// Records of ended processes kept (each until process_ttl_s), and the host
// memory their kept output may take together; past either the oldest go.
inline constexpr int kMaxEndedProcesses = 256;
inline constexpr int64_t kMaxEndedOutputBytes = 64 << 20;
inline constexpr int64_t kMaxProcessBuffer = 64 << 20;
inline constexpr absl::Duration kMaxProcessTtl = absl::Hours(24);
// Port streams (ConnectPort) open at once in one session.
inline constexpr int kMaxPortStreams = 64;
// The longest one Wait blocks.
inline constexpr absl::Duration kMaxProcessWait = absl::Minutes(10);

// Why a session of the empty user id is refused.
inline constexpr char kEmptySessionUser[] =
    "user: a session needs a user id (one empty id would give every caller the same workspace); "
    "give each end user their own id";

// The directory of a session below <storage_dir>/sessions: the UserKey of
// user, policy and chat as nested directories, so distinct keys never share
// one; no policy is kNoPolicyDir and no chat kAllChatsDir. `legacy`: the
// name earlier versions used (UserKey's "anonymous" for both), still used
// where only that one exists. InvalidArgument for parts UserKey rejects.
inline constexpr char kNoPolicyDir[] = "no-policy";
inline constexpr char kAllChatsDir[] = "all-chats";
absl::StatusOr<std::string> SessionDirName(const SessionKey& key, bool legacy = false);

class SessionLauncher;  // session_launcher.h: the thread that starts sandboxes
class SessionSlots;     // session_slots.h: the max_sessions cap
class BackgroundProcess;

// The live session of one key, held by its SessionManager. Hosts reach it
// through the public handle libsandbox::Session (include/libsandbox/
// session.h), which finds it again by key on every call.
class ManagedSession {
 public:
  ~ManagedSession();
  ManagedSession(const ManagedSession&) = delete;
  ManagedSession& operator=(const ManagedSession&) = delete;

  // Runs one command in the session, booting its sandbox if it is not
  // running. Concurrent calls on one session run one after the other; file
  // calls and Start never wait for one (it holds the session shared while
  // its command runs).
  // request.files are written into the workspace first; with
  // request.keep_files the files the exec created or changed there (found by
  // comparing size, mtime and inode of each regular file before and after)
  // are kept like a one-shot run's: in the user's storage under the
  // config's quota (or request.keep_storage_dir and keep_quota), listed in
  // Result.files, STORAGE_ERROR when they break it.
  Result Exec(const ExecRequest& request);
  // Stops the sandbox (background processes end); the workspace is kept.
  absl::Status Stop();
  // Stops the sandbox and empties the workspace.
  absl::Status Reset();

  // ---- Background processes ----
  // Starts `request` (code and language as for Exec, with request.cwd or
  // the cwd of the last exec) without waiting, booting the sandbox if
  // needed; returns its id. Its stdin stays open for WriteInput
  // (request.stdin comes first); request.pty runs it on a terminal. No
  // timeout unless request.timeout_s is set. The newest output is kept per
  // stream up to request.max_output_bytes, else the session's, else 1 MiB
  // (never more than 64 MiB). ResourceExhausted when the session's
  // max_processes run already.
  absl::StatusOr<std::string> Start(const ExecRequest& request);
  // Output from the given stream offsets (0, 0 the first time; then the
  // offsets of the last answer), and whether it still runs. Never consumes:
  // the record stays until Release or process_ttl_s after the end. Never
  // waits for an Exec.
  absl::StatusOr<ProcessOutput> Poll(const std::string& id, int64_t stdout_offset,
                                     int64_t stderr_offset);
  // Poll once there is output past either offset, the process has ended or
  // `timeout` (at most kMaxProcessWait) passed.
  absl::StatusOr<ProcessOutput> Wait(const std::string& id, int64_t stdout_offset,
                                     int64_t stderr_offset, absl::Duration timeout);
  // Forgets the record; a running process is killed first.
  absl::Status Release(const std::string& id);
  // Sets the size of a pty process's terminal.
  absl::Status Resize(const std::string& id, int rows, int cols);
  absl::Status WriteInput(const std::string& id, const std::string& data);
  absl::Status CloseInput(const std::string& id);
  // Sends `signal` (1..31) to the process and its children inside the
  // sandbox.
  absl::Status Kill(const std::string& id, int signal);
  // Running processes and kept records, by start order.
  std::vector<ProcessInfo> Processes();

  // ---- Files, done inside the sandbox (booted if needed) ----
  // A relative path is relative to /home/user. NotFound, InvalidArgument
  // (a directory, not a regular file, a bad path), PermissionDenied,
  // OutOfRange (larger than max_bytes, at most kMaxFileOpBytes).
  absl::StatusOr<std::string> ReadFile(const std::string& path,
                                       int64_t max_bytes = kDefaultReadBytes);
  // Creates or replaces a regular file (and missing parent directories).
  absl::Status WriteFile(const std::string& path, const std::string& data);
  // At most kMaxListEntries entries.
  absl::StatusOr<DirListing> ListDir(const std::string& path);
  // A final symlink is described, not followed.
  absl::StatusOr<FileStat> Stat(const std::string& path);
  // AlreadyExists when it exists (not a directory, or !parents).
  absl::Status MakeDir(const std::string& path, bool parents);
  // A file, a symlink (never its target) or an empty directory; with
  // `recursive` a whole tree, never following a symlink in it. Never the
  // workspace itself. FailedPrecondition for a non-empty directory.
  absl::Status Remove(const std::string& path, bool recursive);
  // AlreadyExists when `to` exists: never replaces it.
  absl::Status Rename(const std::string& from, const std::string& to);
  // At most `length` (1..kMaxFileOpBytes) bytes from `offset`.
  absl::StatusOr<FileChunk> ReadRange(const std::string& path, int64_t offset, int64_t length);
  // Writes `data` at `offset` (the file and its parents made if missing,
  // nothing truncated), or at its end when `offset` is -1.
  absl::Status WriteAt(const std::string& path, const std::string& data, int64_t offset);
  absl::StatusOr<FindResult> Find(const FindRequest& request);
  // A zip of `paths` (directories whole, symlinks left out); OutOfRange
  // past `max_bytes` (at most kMaxFileOpBytes).
  absl::StatusOr<std::string> Archive(const std::vector<std::string>& paths, int64_t max_bytes);

  // ---- Ports of the sandbox (session_ports.cc) ----
  // Its listening TCP ports, each with the process holding it where /proc
  // inside shows one.
  absl::StatusOr<PortListing> ListPorts();
  // A byte stream to `port` on the sandbox's loopback through a relay
  // inside it: the caller's end of a socket pair (blocking; closing it ends
  // the relay). Nothing is opened on the host's network. Unavailable when
  // nothing listens there; ResourceExhausted past kMaxPortStreams at once.
  absl::StatusOr<UniqueFd> ConnectPort(int port);

  // Never wait for a running exec (which counts as live and busy).
  SessionInfo Info() const;
  bool live() const;
  const SessionKey& key() const { return key_; }
  // Host path of the workspace. A size-capped one (workspace_mb > 0) is a
  // volume whose files show there only while the sandbox runs.
  const std::string& workspace() const { return workspace_; }

 private:
  friend class SessionManager;
  friend class SessionSlots;
  ManagedSession() = default;
  // Boots the sandbox unless it runs, replacing one that died (then
  // `replaced` is set); takes a max_sessions slot first.
  absl::Status EnsureBootedLocked(bool* replaced) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // BootLocked after taking a max_sessions slot (given back if it fails).
  absl::Status AdmitAndBootLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the code file and process spec of an exec or a background
  // process (session_request.cc); returns them and the host command that
  // runs it. Nothing is left behind when it fails.
  enum class ExecKind { kExec, kBackground };
  struct ExecFiles {
    std::string code_file, process_file, pid_file;
    std::vector<std::string> argv;
  };
  absl::StatusOr<ExecFiles> WriteExecFilesLocked(ExecKind kind, const Language& language,
                                                 const ExecRequest& request)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Runs `fn` (returning a Status or StatusOr) with the sandbox up and mu_
  // held at least shared: shared when it already runs, so that it never
  // waits behind a running exec; exclusive when it must boot first.
  template <typename Fn>
  auto WithSandbox(Fn fn) -> decltype(fn());
  // Counts an exec from its first lock to its last: between its phases it
  // holds no lock, yet the session is busy.
  class ExecInProgress {
   public:
    explicit ExecInProgress(std::atomic<int>& n) : n_(n) { ++n_; }
    ~ExecInProgress() { --n_; }
    ExecInProgress(const ExecInProgress&) = delete;
    ExecInProgress& operator=(const ExecInProgress&) = delete;

   private:
    std::atomic<int>& n_;
  };
  // Makes the workspace directory, owned by the sandbox user.
  static absl::Status PrepareWorkspaceDir(const std::string& workspace);
  // Runs the file helper in the sandbox (booted if needed).
  absl::StatusOr<ProcessResult> RunFileHelper(FileOp op, const std::string& path, int64_t limit,
                                              std::optional<std::string> input,
                                              const std::vector<std::string>& extra = {});
  // The same in the booted sandbox, mu_ held.
  absl::StatusOr<ProcessResult> RunFileHelperLocked(FileOp op, const std::string& path,
                                                    int64_t limit, std::optional<std::string> input,
                                                    const std::vector<std::string>& extra = {})
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // RunFileHelper, then its status for the call named `what`.
  absl::StatusOr<ProcessResult> FileCall(const char* what, FileOp op, const std::string& path,
                                         int64_t limit, std::optional<std::string> input,
                                         const std::vector<std::string>& extra = {});
  // Runs a fixed helper (`argv` inside, as the sandbox user) in the booted
  // sandbox with `input` on its stdin, keeping `out_cap` bytes of stdout.
  absl::StatusOr<ProcessResult> RunHelperLocked(std::vector<std::string> argv,
                                                const std::string& input, size_t out_cap)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Writes an exec's input files (request.files) into the workspace, inside
  // the sandbox (session_files.h: never through a symlink).
  absl::Status WriteInputFilesLocked(const ExecRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<BackgroundProcess>> FindProcess(const std::string& id);
  // Releases records past process_ttl_, then the oldest ended ones past
  // kMaxEndedProcesses or kMaxEndedOutputBytes.
  void ExpireProcessesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(procs_mu_);
  // An ended process's info says "sandbox" when its sandbox is gone.
  void ExplainEnd(ProcessOutput& out);
  // When the session was last used: by an exec, or by a call on its
  // processes or files.
  absl::Time LastActivityLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Touch();
  void StopProcesses();
  // For the max_sessions cap: when it was last used if its sandbox runs and
  // nothing runs in it (no exec, no background process); else nullopt.
  std::optional<absl::Time> IdleSince() const;
  bool StopIfStillIdle();
  absl::Status BootLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LockWorkspace() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops the sandbox if no exec ran for longer than the idle timeout.
  // Never waits for a running exec. True if it stopped it.
  bool StopIfIdle(absl::Time now);
  // Keeps the files of the workspace that differ from `before` (and are not
  // in request.keep_exclude) for `result` (an exec's, the code ran).
  void KeepChangedFiles(const ExecRequest& request, const absl::StatusOr<WorkspaceSnapshot>& before,
                        Result* result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kills the process group of the exec whose sandbox pid runsc wrote to
  // `pid_file`, leaving the session running.
  void KillExec(const std::string& pid_file) ABSL_SHARED_LOCKS_REQUIRED(mu_);

  std::shared_ptr<const Environment> env_;
  std::shared_ptr<SessionLauncher> launcher_;
  SessionKey key_;
  Limits limits_;  // after the policy
  bool network_ = false;
  std::optional<EgressAllowlist> egress_;  // network through the allowlist proxy
  std::map<std::string, std::string> env_vars_;
  absl::Duration idle_timeout_ = kDefaultSessionIdleTimeout;
  std::shared_ptr<SessionSlots> slots_;
  int max_per_user_ = kDefaultMaxSessionsPerUser;  // sandboxes of key_.user() at once
  int max_processes_ = kDefaultMaxProcesses;       // background ones running at once
  absl::Duration process_ttl_ = kDefaultProcessTtl;
  std::string notes_;  // caps that run unenforced (config allows it)
  std::string dir_;    // <storage_dir>/sessions/<key>
  std::string workspace_;
  std::string rootfs_;     // a policy's image; empty: the host's directories
  int64_t volume_mb_ = 0;  // > 0: the workspace is a volume of this size

  // Taken by an Exec for its whole run, before mu_: execs one at a time.
  absl::Mutex exec_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::atomic<int> execs_running_ = 0;
  // Exclusive to boot or stop the sandbox; shared while using it.
  mutable absl::Mutex mu_;
  std::unique_ptr<Instance> instance_ ABSL_GUARDED_BY(mu_);
  int64_t boots_ ABSL_GUARDED_BY(mu_) = 0;  // sandboxes booted: tells one from the next
  // Mounted on workspace_ while a sandbox runs (volume_mb_ > 0).
  std::unique_ptr<WorkspaceVolume> volume_ ABSL_GUARDED_BY(mu_);
  // Held while a sandbox uses the workspace, so two host processes never
  // run one session at once.
  UniqueFd lock_ ABSL_GUARDED_BY(mu_);
  int64_t execs_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> next_exec_ = 0;  // names an exec's files; bumped under a shared mu_
  absl::Time last_used_ ABSL_GUARDED_BY(mu_);
  bool holds_slot_ ABSL_GUARDED_BY(mu_) = false;

  // Background processes: a lock of their own, so polls never wait for an
  // exec. Taken after mu_ when both are needed.
  mutable absl::Mutex procs_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::map<int64_t, std::shared_ptr<BackgroundProcess>> procs_ ABSL_GUARDED_BY(procs_mu_);
  // The relays of ConnectPort streams (outside max_processes).
  std::vector<Subprocess> relays_ ABSL_GUARDED_BY(procs_mu_);
  int64_t next_proc_ ABSL_GUARDED_BY(procs_mu_) = 0;
  absl::Time last_touched_ ABSL_GUARDED_BY(procs_mu_) = absl::InfinitePast();
};

template <typename Fn>
auto ManagedSession::WithSandbox(Fn fn) -> decltype(fn()) {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (instance_ != nullptr && instance_->alive() && !instance_->OomKilled()) {
      Touch();
      return fn();
    }
  }
  absl::MutexLock lock(&mu_);
  bool replaced = false;
  if (absl::Status s = EnsureBootedLocked(&replaced); !s.ok()) return s;
  last_used_ = absl::Now();
  return fn();
}

// The sessions of one Config. Thread-safe; sessions of different keys run
// in parallel. Destruction stops every session it holds (workspaces stay).
class SessionManager {
 public:
  // The process-wide manager of `config` (resolved here), created on first
  // use. Kept until ShutdownAll (no cap: session_manager.cc); a forked child
  // starts with none (base/registry.h).
  static absl::StatusOr<std::shared_ptr<SessionManager>> ForConfig(const Config& config);
  // A manager of its own, outside the process-wide registry.
  static absl::StatusOr<std::unique_ptr<SessionManager>> Create(const Config& config);
  // Stops every session of every ForConfig manager and forgets them.
  static void ShutdownAll();

  ~SessionManager();
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // The session of `key`, created on first use with `options` (later calls'
  // options are ignored while it exists). Its sandbox boots on the first
  // Exec. InvalidArgument for a bad key or options; FailedPrecondition when
  // the policy file is broken.
  absl::StatusOr<std::shared_ptr<ManagedSession>> Get(
      const SessionKey& key, const SessionOptions& options = SessionOptions());
  // Sessions whose sandbox is running, sorted by workspace.
  std::vector<SessionInfo> List() const;
  // Stops the session's sandbox; the workspace is kept. OK if none runs.
  absl::Status Stop(const SessionKey& key);
  // Stops the session and empties its workspace.
  absl::Status Reset(const SessionKey& key);

  // Where the public API logs its calls on this manager's sessions.
  const SessionAudit& audit() const { return audit_; }

 private:
  explicit SessionManager(std::shared_ptr<const Environment> env);
  void ReapLoop();

  const std::shared_ptr<const Environment> env_;
  const std::shared_ptr<SessionLauncher> launcher_;
  const std::shared_ptr<SessionSlots> slots_;
  PolicyStore policies_;
  const SessionAudit audit_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ManagedSession>> sessions_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t added_ ABSL_GUARDED_BY(mu_) = 0;  // sessions ever added; wakes the reaper
  std::thread reaper_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_H_
