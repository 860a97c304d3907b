// File operations of a session, done INSIDE its sandbox: a fixed helper
// (python3 with scripts/file_helper.py, as the sandbox user) reads, writes,
// lists, searches or archives a path, so the sandbox's own view and
// permissions decide what it reaches; the host never touches the user's
// files for them. A relative path is relative to the workspace
// (/home/user). What comes back is untrusted (other code of the session
// runs as the same user): parsed strictly and capped.
#ifndef LIBSANDBOX_SESSION_SESSION_FILES_H_
#define LIBSANDBOX_SESSION_SESSION_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/host/process.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

inline constexpr int64_t kMaxFileOpBytes = 64 << 20;  // one read or write
inline constexpr int kMaxListEntries = 10000;
inline constexpr int kDefaultFindResults = 1000;
inline constexpr int kMaxFindResults = 10000;
inline constexpr int kMaxArchivePaths = 1000;

// kPut writes several files (an exec's input files) from its stdin
// (PutFilesInput): each below /home/user, its directories made as needed
// and never entered through a symlink, the file itself replaced (a symlink
// in its place is replaced, not followed).
// The others as scripts/file_helper.py describes them.
enum class FileOp {
  kRead,
  kWrite,
  kList,
  kPut,
  kRange,
  kWriteAt,
  kStat,
  kMkdir,
  kRemove,
  kRename,
  kFind,
  kArchive,
};

// InvalidArgument for an empty, overlong, non-UTF-8 or NUL-holding path.
absl::Status CheckSandboxPath(const std::string& path);

// The in-sandbox argv of the helper; `limit` is max bytes (read, range,
// archive), entries (list, find) or a flag (mkdir, remove); `extra` the
// op's own arguments.
std::vector<std::string> FileHelperArgv(FileOp op, const std::string& path, int64_t limit,
                                        const std::vector<std::string>& extra = {});

// The helper's stdout cap for `op` with `limit`.
size_t FileHelperOutputCap(FileOp op, int64_t limit);

// The status the helper reported: OK, or NotFound / InvalidArgument /
// PermissionDenied / OutOfRange / ResourceExhausted / Internal with a
// message naming `what` and the path.
absl::Status FileHelperStatus(const ProcessResult& result, const std::string& what,
                              const std::string& path);

// The stdin of kPut for `files` (paths already checked relative): a decimal
// header length and newline, the header (path NUL size NUL per file), then
// the contents one after the other.
std::string PutFilesInput(const google::protobuf::RepeatedPtrField<InputFile>& files);

// The helper's answers, checked: a listing (sorted by name), a stat, a
// range read ("SIZE\n" then the bytes, at most `length`), a find.
absl::StatusOr<DirListing> ParseListing(const std::string& out, int limit);
absl::StatusOr<FileStat> ParseStat(const std::string& out);
absl::StatusOr<FileChunk> ParseRange(const std::string& out, int64_t offset, int64_t length);
absl::StatusOr<FindResult> ParseFind(const std::string& out, int limit);

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_FILES_H_
