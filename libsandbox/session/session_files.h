// File operations of a session, done INSIDE its sandbox: a fixed helper
// (python3 with a script of ours, as the sandbox user) reads, writes or lists
// a path, so the sandbox's own view and permissions decide what it reaches;
// the host never touches the user's files for them. A relative path is
// relative to the workspace (/home/user). What comes back is untrusted
// (other code of the session runs as the same user) and capped.
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

// kPut writes several files (an exec's input files) from its stdin
// (PutFilesInput): each below /home/user, its directories made as needed
// and never entered through a symlink, the file itself replaced (a symlink
// in its place is replaced, not followed).
enum class FileOp { kRead, kWrite, kList, kPut };

// InvalidArgument for an empty, overlong, non-UTF-8 or NUL-holding path.
absl::Status CheckSandboxPath(const std::string& path);

// The in-sandbox argv of the helper; `limit` is max bytes (read) or entries
// (list).
std::vector<std::string> FileHelperArgv(FileOp op, const std::string& path, int64_t limit);

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

// The helper's listing output (type NUL size NUL name NUL ...), sorted.
absl::StatusOr<DirListing> ParseListing(const std::string& out, int limit);

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_FILES_H_
