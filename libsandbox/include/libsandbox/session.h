// libsandbox::Session: a handle on the persistent session of one SessionKey,
// made by Client::OpenSession (client.h).
//
//   libsandbox::Client client(config);
//   libsandbox::SessionKey key;
//   key.set_user("alice");
//   libsandbox::Session session = client.OpenSession(key);
//   libsandbox::ExecRequest req;
//   req.set_code("echo hi > note.txt");
//   req.set_language("bash");
//   libsandbox::Result r = session.Exec(req);            // boots the sandbox
//   absl::StatusOr<std::string> note = session.ReadFile("note.txt");
//
// A session is one sandbox and one workspace per key. The workspace lives
// under <storage_dir>/sessions/ and survives Stop and host restarts; cwd,
// files and background processes carry from call to call while the sandbox
// runs. Sessions idle past their idle timeout stop.
//
// The handle is a value: copies share one key, options and config, and are
// cheap. It holds no sandbox itself: every call finds the process-wide
// session of its key under the Client's Config, creating it with the
// handle's options if there is none (the options of the first to create it
// win while it exists). So handles of the same key, and the free functions
// of sandbox.h, all act on one session, and Shutdown() stops it like any
// other. Calls are thread-safe; concurrent Execs on one session run one
// after the other, and calls on processes never wait for an Exec.
//
// Nothing throws. Exec reports like Run, in the Result; the other calls
// return absl::Status: InvalidArgument for a bad key, options or argument,
// FailedPrecondition when the policy file or the workspace cannot be used
// (e.g. another host process holds it), ResourceExhausted over a cap,
// NotFound for a missing file or process, PermissionDenied, OutOfRange (a
// file larger than asked), AlreadyExists (a rename or mkdir target),
// Unavailable (nothing listens on a port), DeadlineExceeded (the file helper
// hung).
#ifndef LIBSANDBOX_SESSION_H_
#define LIBSANDBOX_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// The bytes Session::ReadFile reads at most unless asked for other.
inline constexpr int64_t kSessionReadBytes = 1 << 20;
// The most Session::ReadFile and WriteFile move in one call.
inline constexpr int64_t kSessionMaxFileBytes = 64 << 20;

class Client;

class Session {
 public:
  Session(const Session&) = default;
  Session& operator=(const Session&) = default;
  Session(Session&&) = default;
  Session& operator=(Session&&) = default;
  ~Session();

  const SessionKey& key() const;
  const SessionOptions& options() const;

  // Runs one command, booting the sandbox if it is not running. Same
  // statuses as Run; a TIMEOUT stops only this command, INTERRUPTED
  // "memory" means the sandbox was stopped and the next call starts a new
  // one on the same workspace.
  Result Exec(const ExecRequest& request) const;

  // ---- Background processes ----
  // Starts `request` without waiting (in request.cwd, else the cwd of the
  // last Exec), booting the sandbox if needed, and returns its id. Its
  // stdin stays open for WriteInput (request.stdin comes first). With
  // request.pty it runs on a terminal of rows x cols (stdout carries
  // everything; Resize). No timeout unless request.timeout_s is set; the
  // newest output is kept per stream up to request.max_output_bytes, else
  // the session's, else 1 MiB. ResourceExhausted when the session's
  // SessionOptions.max_processes (16) run already; the library's own
  // helpers never count.
  absl::StatusOr<std::string> Start(const ExecRequest& request) const;
  // Output from the given stream offsets (0, 0 the first time; then those
  // of the last answer) and the process's info. Reading never consumes:
  // several readers may follow one process at their own offsets. The
  // record stays until Release, SessionOptions.process_ttl_s (10 minutes)
  // after the end, or the sandbox stops.
  absl::StatusOr<ProcessOutput> Poll(const std::string& id, int64_t stdout_offset = 0,
                                     int64_t stderr_offset = 0) const;
  // Poll, once there is output past either offset, the process has ended,
  // or `timeout` (at most 10 minutes) passed: no busy polling. Holds no
  // lock of the session while it blocks.
  absl::StatusOr<ProcessOutput> Wait(const std::string& id, int64_t stdout_offset,
                                     int64_t stderr_offset, absl::Duration timeout) const;
  // Forgets the process's record, killing it first if it still runs.
  absl::Status Release(const std::string& id) const;
  // Sets a pty process's terminal size; it gets SIGWINCH.
  absl::Status Resize(const std::string& id, int rows, int cols) const;
  // Queues `data` for the process's stdin.
  absl::Status WriteInput(const std::string& id, const std::string& data) const;
  // Closes its stdin once queued input is written.
  absl::Status CloseInput(const std::string& id) const;
  // Sends `signal` (1..31) to the process and its children.
  absl::Status Kill(const std::string& id, int signal = 9) const;
  // Running processes and kept records, by start order.
  absl::StatusOr<std::vector<ProcessInfo>> Processes() const;

  // ---- Files, read and written inside the sandbox (booted if needed) ----
  // A relative path is relative to /home/user; the sandbox's own view
  // decides what a path reaches.
  // A regular file's bytes; OutOfRange when it has more than `max_bytes`
  // (at most kSessionMaxFileBytes).
  absl::StatusOr<std::string> ReadFile(const std::string& path,
                                       int64_t max_bytes = kSessionReadBytes) const;
  // Creates or replaces a regular file (and missing parent directories).
  absl::Status WriteFile(const std::string& path, const std::string& data) const;
  // A directory's entries (type, size, mtime, mode, writable), sorted by
  // name (at most 10000).
  absl::StatusOr<DirListing> ListDir(const std::string& path = ".") const;
  // One path; a final symlink is described (with its target), not followed.
  absl::StatusOr<FileStat> Stat(const std::string& path) const;
  // Makes a directory; with `parents` its missing parents too and no error
  // when it exists. AlreadyExists otherwise (or when a non-directory is
  // there).
  absl::Status MakeDir(const std::string& path, bool parents = true) const;
  // Removes a file, a symlink (never its target) or an empty directory;
  // with `recursive` a whole tree, never following a symlink in it.
  // FailedPrecondition for a non-empty directory without `recursive`; the
  // workspace itself is never removed.
  absl::Status Remove(const std::string& path, bool recursive = false) const;
  // Moves `from` to `to`; AlreadyExists when `to` exists (never replaced).
  absl::Status Rename(const std::string& from, const std::string& to) const;
  // At most `length` (up to kSessionMaxFileBytes) bytes from `offset`, and
  // the file's size: read a large file chunk by chunk.
  absl::StatusOr<FileChunk> ReadFileRange(const std::string& path, int64_t offset,
                                          int64_t length) const;
  // Writes `data` at `offset` without truncating (the file and its parents
  // made if missing): upload a large file chunk by chunk.
  absl::Status WriteFileAt(const std::string& path, const std::string& data, int64_t offset) const;
  // Appends `data` to a file (made if missing).
  absl::Status AppendFile(const std::string& path, const std::string& data) const;
  // Paths below request.path whose name matches request.glob and, with
  // request.grep, the lines of text files (up to 8 MiB each) holding it;
  // at most request.max_results (1000; 10000), symlinks never followed.
  absl::StatusOr<FindResult> Find(const FindRequest& request) const;
  // A zip of `paths` (directories whole, symlinks left out); OutOfRange when
  // it would be larger than `max_bytes` (up to kSessionMaxFileBytes).
  absl::StatusOr<std::string> Archive(const std::vector<std::string>& paths,
                                      int64_t max_bytes = kSessionMaxFileBytes) const;

  // ---- Ports of the sandbox ----
  // Its listening TCP ports, each with the process holding it (pid inside
  // the sandbox and command line) where the sandbox shows one.
  absl::StatusOr<PortListing> ListPorts() const;
  // A byte stream to `port` on the sandbox's own loopback, for a reverse
  // proxy: a connected socket the caller owns (close it when done; closing
  // ends the relay inside). Nothing is exposed on the host's network. The
  // sandbox side may close first: write with send(MSG_NOSIGNAL), or ignore
  // SIGPIPE, so that is an error and not a signal.
  // Unavailable when nothing listens there; at most 64 open per session.
  absl::StatusOr<int> ConnectPort(int port) const;

  // ---- The session itself ----
  // Key, workspace and use; never waits for a running Exec (it then
  // reports only key and workspace).
  absl::StatusOr<SessionInfo> Info() const;
  // Whether its sandbox runs now (an Exec in progress counts).
  absl::StatusOr<bool> Running() const;
  // Stops the sandbox (background processes end); the workspace is kept
  // and the next call boots a new sandbox on it. OK if none runs.
  absl::Status Stop() const;
  // Stops the sandbox and empties the workspace.
  absl::Status Reset() const;

 private:
  friend class Client;
  struct State;
  explicit Session(std::shared_ptr<const State> state);

  std::shared_ptr<const State> state_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_H_
