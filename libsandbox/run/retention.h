// Keeps the regular files a finished run left in its workspace, per user,
// under quotas. The workspace was writable by hostile code: it is walked by
// directory fds without following symlinks, and everything read from it is
// bounded.
//
// Storage layout: <storage_dir>/<UserKey(user)>/<execution id>/<relative path>,
// directories 0700 and files 0600. Execution ids sort by creation time.
#ifndef LIBSANDBOX_RUN_RETENTION_H_
#define LIBSANDBOX_RUN_RETENTION_H_

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

struct RetainedFile {
  std::string path;  // relative to the workspace
  int64_t size = 0;
  std::string host_path;  // where it is kept
};

// One kept execution of a user.
struct RetainedExecution {
  std::string id;
  std::vector<RetainedFile> files;  // sorted by path
};

struct UserUsage {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t executions = 0;
};

// Bounds on the workspace walk, so a hostile tree cannot exhaust the host.
inline constexpr int kRetentionMaxDepth = 64;            // directories below the root
inline constexpr int64_t kRetentionMaxEntries = 100000;  // entries of any type
inline constexpr size_t kRetentionMaxPathBytes = 2048;   // of a relative path

// The storage directory name of `user`: injective and filesystem-safe.
// [A-Za-z0-9_-]{1,64} -> "u_<id>", the empty id -> "anonymous", anything else
// -> "x_<lowercase base32 of the bytes>". Ids longer than 128 bytes or
// containing NUL are rejected with InvalidArgument.
absl::StatusOr<std::string> UserKey(std::string_view user);

// Called for each regular file of the workspace; true skips it (e.g. an
// unchanged input file).
using RetentionSkipFn = std::function<bool(const std::string& rel_path, const struct stat& st)>;

// What changes when a regular file is written or replaced: its size, mtime
// and inode.
struct FileSignature {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  static FileSignature Of(const struct stat& st);
  bool operator==(const FileSignature&) const = default;
};
// The regular files of a workspace by relative path.
using WorkspaceSnapshot = std::map<std::string, FileSignature>;

// The regular files below `workspace_dir`, walked as Collect walks it (by
// directory fds, never following a symlink, with the same bounds: a larger
// tree fails with ResourceExhausted). Nothing is read from the files.
absl::StatusOr<WorkspaceSnapshot> SnapshotWorkspace(const std::string& workspace_dir);

// Thread-safe; collections of one user are serialised by a lock file in the
// user's directory, so several processes may share a storage directory.
class RetentionStore {
 public:
  explicit RetentionStore(std::string storage_dir);

  // Copies the regular files of `workspace_dir` into a new execution of
  // `user` and returns them sorted by path. No files: returns an empty list
  // and stores nothing. Quotas (0 = unlimited) are all checked before
  // anything changes; a violation returns ResourceExhausted naming the quota
  // field to raise, and then nothing is kept and nothing is evicted. Over a
  // per-user limit, whole older executions are evicted, oldest first.
  absl::StatusOr<std::vector<RetainedFile>> Collect(const std::string& workspace_dir,
                                                    std::string_view user,
                                                    const StorageQuota& quota,
                                                    const RetentionSkipFn& skip = {}) const;

  // The kept executions of `user`, oldest first.
  absl::StatusOr<std::vector<RetainedExecution>> List(std::string_view user) const;
  absl::StatusOr<UserUsage> Usage(std::string_view user) const;

  // Removes staging and half-evicted directories that a crash left behind.
  // Users with a collection in progress are skipped.
  absl::Status RemoveStaleStaging() const;

  const std::string& storage_dir() const { return storage_dir_; }

 private:
  std::string storage_dir_;
};

// Keeps the files of a run or session exec that `skip` does not skip in
// `storage_dir` under `quota`, and lists them in `result.files`. A failure
// (see KeepFailed) never loses the outcome of the code.
void KeepWorkspaceFiles(const std::string& storage_dir, const StorageQuota& quota,
                        const std::string& workspace_dir, std::string_view user,
                        const RetentionSkipFn& skip, Result* result);
// Files could not be kept because of `error`: an OK result becomes
// STORAGE_ERROR saying so; any other keeps its status, the reason appended
// to its message.
void KeepFailed(const absl::Status& error, Result* result);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_RETENTION_H_
