// Small RAII and file helpers shared by the core.
#ifndef LIBSANDBOX_BASE_FS_UTIL_H_
#define LIBSANDBOX_BASE_FS_UTIL_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace libsandbox {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A directory removed recursively (without following symlinks) on destruction.
class TempDir {
 public:
  // Creates a fresh directory named `prefix` + random suffix under `parent`.
  static absl::StatusOr<TempDir> Create(const std::string& parent, absl::string_view prefix);
  TempDir() = default;
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  TempDir& operator=(TempDir&& o) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  // Stops owning the directory; it is left in place.
  std::string release() { return std::exchange(path_, {}); }

 private:
  std::string path_;
};

absl::Status ErrnoStatus(absl::string_view what, int err);

// A close-on-exec pipe.
absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end);

// Creates `path` and missing parents with `mode`.
absl::Status MakeDirs(const std::string& path, unsigned mode = 0755);
// `base` and every directory of the relative path `rel` below it, each
// made (or, when it exists, changed to) mode 0700: for paths whose names
// are private, such as users' ids.
absl::Status MakePrivateDirs(const std::string& base, absl::string_view rel);
// Writes `data` to a new file (O_EXCL unless `overwrite`), not following symlinks.
absl::Status WriteFile(const std::string& path, absl::string_view data, unsigned mode = 0644,
                       bool overwrite = false);
// True if `path` exists (following symlinks).
bool Exists(const std::string& path);
// Reads at most `max_bytes` of a file.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 1 << 20);
// The target of the symlink `path`, as written in it.
absl::StatusOr<std::string> ReadLink(const std::string& path);
// Reads from `fd` until its end or `max_bytes`; a failure names `what`.
absl::StatusOr<std::string> ReadFd(int fd, size_t max_bytes, absl::string_view what = "read");
// Removes a tree without following symlinks; a missing path is not an error.
absl::Status RemoveTree(const std::string& path);
// A random lowercase hex string of `bytes` random bytes.
std::string RandomHex(size_t bytes);

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_FS_UTIL_H_
