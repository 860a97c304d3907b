#include "libsandbox/run/retention.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/text.h"
#include "libsandbox/run/workspace_volume.h"

namespace libsandbox {
namespace {

constexpr char kLockName[] = ".lock";
// Leftovers of interrupted collections; never valid execution ids.
constexpr char kStagingPrefix[] = ".staging-";
constexpr char kEvictPrefix[] = ".evict-";
// Execution id: zero-padded unix nanoseconds, '-', 8 hex digits.
constexpr size_t kIdNanosDigits = 20;
// 96 random bits: execution directories may be served as unguessable links.
constexpr size_t kIdSuffixBytes = 12;
constexpr size_t kIdSize = kIdNanosDigits + 1 + 2 * kIdSuffixBytes;
constexpr size_t kMaxUserIdBytes = 128;
constexpr size_t kMaxPlainUserIdBytes = 64;

constexpr int kDirOpenFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

bool IsExecutionId(std::string_view name) {
  if (name.size() != kIdSize || name[kIdNanosDigits] != '-') return false;
  for (size_t i = 0; i < kIdSize; ++i) {
    if (i == kIdNanosDigits) continue;
    const char c = name[i];
    const bool ok = i < kIdNanosDigits ? absl::ascii_isdigit(c)
                                       : (absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'));
    if (!ok) return false;
  }
  return true;
}

bool IsUserKey(std::string_view name) {
  return name == "anonymous" || name.starts_with("u_") || name.starts_with("x_");
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  return absl::StrFormat("%.1f MiB (%d bytes)", static_cast<double>(bytes) / (1 << 20), bytes);
}

// A name chosen by the sandbox, short and printable, for error messages.
std::string Printable(const std::string& name) {
  constexpr size_t kMax = 80;
  std::string out;
  for (size_t i = 0; i < name.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (name.size() > kMax) out += "...";
  return out;
}

absl::Status TooManyEntries() {
  return absl::ResourceExhaustedError(
      absl::StrCat("the workspace holds more than ", kRetentionMaxEntries,
                   " entries; files are only kept from workspaces with fewer entries"));
}

// The names in a directory (without "." and ".."), sorted. Each name costs
// one unit of `budget`; running out fails rather than reading on.
absl::StatusOr<std::vector<std::string>> ReadDirNames(int dir_fd, int64_t& budget) {
  // A fresh open file description, so the listing never shares a read
  // position with `dir_fd` or with an earlier listing.
  UniqueFd fd(::openat(dir_fd, ".", kDirOpenFlags));
  if (!fd.valid()) return ErrnoStatus("open directory", errno);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd.get()), &::closedir);
  if (dir == nullptr) return ErrnoStatus("fdopendir", errno);
  fd.release();
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* e = ::readdir(dir.get());
    if (e == nullptr) break;
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (--budget < 0) return TooManyEntries();
    names.emplace_back(name);
  }
  if (errno != 0) return ErrnoStatus("readdir", errno);
  std::sort(names.begin(), names.end());
  return names;
}

// Depth-first walk by directory fds that never follows a symlink and reports
// only regular files, with paths relative to the root.
class TreeWalker {
 public:
  using FileFn = std::function<absl::Status(const std::string& rel, const struct stat& st)>;
  explicit TreeWalker(FileFn on_file) : on_file_(std::move(on_file)) {}

  absl::Status Walk(int root_fd) { return WalkDir(root_fd, "", 0); }

 private:
  absl::Status WalkDir(int dir_fd, const std::string& prefix, int depth) {
    absl::StatusOr<std::vector<std::string>> names = ReadDirNames(dir_fd, budget_);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      std::string rel = prefix.empty() ? name : absl::StrCat(prefix, "/", name);
      struct stat st;
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoStatus(absl::StrCat("stat ", Printable(rel)), errno);
      }
      if (S_ISREG(st.st_mode)) {
        if (absl::Status s = on_file_(rel, st); !s.ok()) return s;
      } else if (S_ISDIR(st.st_mode)) {
        if (depth + 1 > kRetentionMaxDepth) {
          return absl::ResourceExhaustedError(
              absl::StrCat("the workspace nests directories more than ", kRetentionMaxDepth,
                           " levels deep (at ", Printable(rel), ")"));
        }
        // O_NOFOLLOW: a directory swapped for a symlink fails instead of
        // leading the walk out of the tree.
        UniqueFd sub(::openat(dir_fd, name.c_str(), kDirOpenFlags));
        if (!sub.valid())
          return ErrnoStatus(absl::StrCat("open directory ", Printable(rel)), errno);
        if (absl::Status s = WalkDir(sub.get(), rel, depth + 1); !s.ok()) return s;
      }
      // Symlinks, fifos, sockets and devices are never kept.
    }
    return absl::OkStatus();
  }

  FileFn on_file_;
  int64_t budget_ = kRetentionMaxEntries;
};

// Opens directories below a root one component at a time with O_NOFOLLOW,
// keeping the chain of the previous target open: visiting files in walk
// order opens each directory once.
class DirCursor {
 public:
  DirCursor(int root_fd, bool create) : root_fd_(root_fd), create_(create) {}

  // The fd of `dir_rel` ("" is the root); valid until the next call.
  absl::StatusOr<int> Enter(const std::string& dir_rel) {
    std::vector<std::string> parts;
    if (!dir_rel.empty()) parts = absl::StrSplit(dir_rel, '/');
    size_t common = 0;
    while (common < parts.size() && common < names_.size() && names_[common] == parts[common]) {
      ++common;
    }
    names_.resize(common);
    fds_.resize(common);
    for (size_t i = common; i < parts.size(); ++i) {
      const int parent = fds_.empty() ? root_fd_ : fds_.back().get();
      std::string& name = parts[i];
      bool created = false;
      if (create_) {
        if (::mkdirat(parent, name.c_str(), 0700) == 0) {
          created = true;
        } else if (errno != EEXIST) {
          return ErrnoStatus(absl::StrCat("mkdir ", Printable(dir_rel)), errno);
        }
      }
      UniqueFd fd(::openat(parent, name.c_str(), kDirOpenFlags));
      if (!fd.valid())
        return ErrnoStatus(absl::StrCat("open directory ", Printable(dir_rel)), errno);
      // Exact mode whatever the umask.
      if (created && ::fchmod(fd.get(), 0700) != 0) {
        return ErrnoStatus(absl::StrCat("chmod ", Printable(dir_rel)), errno);
      }
      names_.push_back(std::move(name));
      fds_.push_back(std::move(fd));
    }
    return fds_.empty() ? root_fd_ : fds_.back().get();
  }

 private:
  int root_fd_;
  bool create_;
  std::vector<std::string> names_;
  std::vector<UniqueFd> fds_;
};

// Copies bytes [off, end) at the same offsets.
absl::Status CopyRange(int src, int dst, int64_t off, int64_t end, bool& use_copy_file_range) {
  char buf[64 * 1024];
  while (off < end) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(end - off, 1 << 30));
    ssize_t n;
    if (use_copy_file_range) {
      loff_t in = off;
      loff_t out = off;
      n = ::copy_file_range(src, &in, dst, &out, want, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        // Not between these filesystems: plain reads and writes.
        use_copy_file_range = false;
        continue;
      }
    } else {
      n = ::pread(src, buf, std::min(want, sizeof(buf)), off);
      for (ssize_t done = 0; n > 0 && done < n;) {
        const ssize_t w = ::pwrite(dst, buf + done, static_cast<size_t>(n - done), off + done);
        if (w < 0) {
          if (errno == EINTR) continue;
          return ErrnoStatus("write", errno);
        }
        done += w;
      }
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("copy", errno);
    }
    if (n == 0) return absl::AbortedError("a file shrank while it was being kept");
    off += n;
  }
  return absl::OkStatus();
}

// Copies the regular file `name` of `src_dir` (it must still be the file that
// was scanned) to a new 0600 file of `dst_dir`. Holes stay holes, so a sparse
// file costs the host only the bytes actually written.
absl::Status CopyFileAt(int src_dir, int dst_dir, const std::string& name,
                        const struct stat& scanned) {
  // O_NONBLOCK: a name swapped for a fifo must not block the open.
  UniqueFd src(
      ::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!src.valid()) return ErrnoStatus(absl::StrCat("open ", Printable(name)), errno);
  struct stat st;
  if (::fstat(src.get(), &st) != 0)
    return ErrnoStatus(absl::StrCat("stat ", Printable(name)), errno);
  if (!S_ISREG(st.st_mode) || st.st_dev != scanned.st_dev || st.st_ino != scanned.st_ino ||
      st.st_size != scanned.st_size) {
    return absl::AbortedError("the workspace changed while its files were being kept");
  }
  UniqueFd dst(
      ::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!dst.valid()) return ErrnoStatus(absl::StrCat("create ", Printable(name)), errno);
  if (::fchmod(dst.get(), 0600) != 0)
    return ErrnoStatus(absl::StrCat("chmod ", Printable(name)), errno);

  const int64_t size = scanned.st_size;
  bool use_copy_file_range = true;
  int64_t off = 0;
  while (off < size) {
    off_t data = ::lseek(src.get(), off, SEEK_DATA);
    off_t hole = size;
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      if (errno != EINVAL) return ErrnoStatus(absl::StrCat("seek ", Printable(name)), errno);
      data = off;  // no hole support: everything is data
    } else {
      hole = ::lseek(src.get(), data, SEEK_HOLE);
      if (hole < 0) hole = size;
    }
    if (data >= size) break;
    hole = std::min<int64_t>(hole, size);
    if (absl::Status s = CopyRange(src.get(), dst.get(), data, hole, use_copy_file_range);
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("keeping ", Printable(name), ": ", s.message()));
    }
    off = hole;
  }
  if (::ftruncate(dst.get(), size) != 0) {
    if (errno == EFBIG) {
      return absl::ResourceExhaustedError(
          absl::StrCat(Printable(name), " is too large for the storage filesystem"));
    }
    return ErrnoStatus(absl::StrCat("size ", Printable(name)), errno);
  }
  return absl::OkStatus();
}

// A locked per-user lock file; the lock goes with the fd.
absl::StatusOr<UniqueFd> LockUser(int user_fd, int operation) {
  UniqueFd fd(::openat(user_fd, kLockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("open lock file", errno);
  while (::flock(fd.get(), operation) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return absl::UnavailableError("the user's storage is busy");
    return ErrnoStatus("lock user storage", errno);
  }
  return fd;
}

struct UserDir {
  std::string path;
  UniqueFd fd;
};

// Opens (or with `create`, makes) the user's directory. Without `create`, a
// missing directory is NotFound.
absl::StatusOr<UserDir> OpenUserDir(const std::string& storage_dir, std::string_view user,
                                    bool create) {
  absl::StatusOr<std::string> key = UserKey(user);
  if (!key.ok()) return key.status();
  if (storage_dir.empty()) {
    return absl::FailedPreconditionError("no storage directory is configured (storage_dir)");
  }
  if (create) {
    struct stat st;
    // An existing storage root keeps the mode its admin chose.
    if (::stat(storage_dir.c_str(), &st) != 0) {
      if (absl::Status s = MakeDirs(storage_dir, 0700); !s.ok()) return s;
    }
  }
  UniqueFd root(::open(storage_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoStatus(absl::StrCat("open ", storage_dir), errno);
  if (create) {
    if (::mkdirat(root.get(), key->c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus(absl::StrCat("mkdir ", storage_dir, "/", *key), errno);
    }
  }
  UserDir dir{absl::StrCat(storage_dir, "/", *key),
              UniqueFd(::openat(root.get(), key->c_str(), kDirOpenFlags))};
  if (!dir.fd.valid()) return ErrnoStatus(absl::StrCat("open ", dir.path), errno);
  return dir;
}

// The executions of a user, oldest first, with their files.
absl::StatusOr<std::vector<RetainedExecution>> ReadExecutions(const UserDir& user) {
  int64_t budget = kRetentionMaxEntries;
  absl::StatusOr<std::vector<std::string>> names = ReadDirNames(user.fd.get(), budget);
  if (!names.ok()) return names.status();
  std::vector<RetainedExecution> executions;
  for (const std::string& name : *names) {
    if (!IsExecutionId(name)) continue;
    UniqueFd exec_fd(::openat(user.fd.get(), name.c_str(), kDirOpenFlags));
    if (!exec_fd.valid()) return ErrnoStatus(absl::StrCat("open ", user.path, "/", name), errno);
    RetainedExecution& exec = executions.emplace_back();
    exec.id = name;
    const std::string base = absl::StrCat(user.path, "/", name, "/");
    TreeWalker walker([&](const std::string& rel, const struct stat& st) {
      exec.files.push_back({rel, st.st_size, base + rel});
      return absl::OkStatus();
    });
    if (absl::Status s = walker.Walk(exec_fd.get()); !s.ok()) return s;
  }
  return executions;  // names were sorted, and ids sort by time
}

// Removes what interrupted collections left in a user's directory. The
// caller holds the user's lock exclusively, so nothing found is in use.
absl::Status RemoveLeftovers(const UserDir& user) {
  int64_t budget = kRetentionMaxEntries;
  absl::StatusOr<std::vector<std::string>> names = ReadDirNames(user.fd.get(), budget);
  if (!names.ok()) return names.status();
  absl::Status result;
  for (const std::string& name : *names) {
    if (name.starts_with(kStagingPrefix) || name.starts_with(kEvictPrefix)) {
      result.Update(RemoveTree(absl::StrCat(user.path, "/", name)));
    }
  }
  return result;
}

// Sum of two sizes (both >= 0) that sticks at the maximum instead of wrapping.
int64_t SatAdd(int64_t a, int64_t b) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return b > kMax - a ? kMax : a + b;
}

struct PlannedFile {
  std::string rel;
  struct stat st;
};

}  // namespace

absl::StatusOr<std::string> UserKey(std::string_view user) {
  if (user.empty()) return std::string("anonymous");
  if (user.size() > kMaxUserIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("user id is ", user.size(), " bytes; at most ", kMaxUserIdBytes, " allowed"));
  }
  if (user.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("user id contains a NUL byte");
  }
  const bool plain =
      user.size() <= kMaxPlainUserIdBytes && std::all_of(user.begin(), user.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '_' || c == '-';
      });
  if (plain) return std::string("u_").append(user);
  // Base32 (not hex) keeps a 128-byte id within NAME_MAX: 2 + 205 bytes.
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string key = "x_";
  uint32_t bits = 0;
  int nbits = 0;
  for (unsigned char c : user) {
    bits = (bits << 8) | c;
    nbits += 8;
    while (nbits >= 5) {
      nbits -= 5;
      key.push_back(kAlphabet[(bits >> nbits) & 31]);
    }
  }
  if (nbits > 0) key.push_back(kAlphabet[(bits << (5 - nbits)) & 31]);
  return key;
}

RetentionStore::RetentionStore(std::string storage_dir) {
  if (!storage_dir.empty()) {
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(storage_dir, ec);
    storage_dir_ = ec ? storage_dir : abs.lexically_normal().string();
    while (storage_dir_.size() > 1 && storage_dir_.back() == '/') storage_dir_.pop_back();
  }
}

FileSignature FileSignature::Of(const struct stat& st) {
  FileSignature sig;
  sig.size = st.st_size;
  sig.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  sig.inode = st.st_ino;
  return sig;
}

absl::StatusOr<WorkspaceSnapshot> SnapshotWorkspace(const std::string& workspace_dir) {
  UniqueFd workspace(::open(workspace_dir.c_str(), kDirOpenFlags));
  if (!workspace.valid()) return ErrnoStatus(absl::StrCat("open ", workspace_dir), errno);
  WorkspaceSnapshot snapshot;
  TreeWalker walker([&](const std::string& rel, const struct stat& st) {
    snapshot.emplace(rel, FileSignature::Of(st));
    return absl::OkStatus();
  });
  if (absl::Status s = walker.Walk(workspace.get()); !s.ok()) return s;
  return snapshot;
}

void KeepWorkspaceFiles(const std::string& storage_dir, const StorageQuota& quota,
                        const std::string& workspace_dir, std::string_view user,
                        const RetentionSkipFn& skip, Result* result) {
  absl::StatusOr<std::vector<RetainedFile>> files =
      RetentionStore(storage_dir).Collect(workspace_dir, user, quota, skip);
  if (!files.ok()) {
    KeepFailed(files.status(), result);
    return;
  }
  for (const RetainedFile& f : *files) {
    File* out = result->add_files();
    // Names come from the sandbox: any bytes but '/' and NUL.
    out->set_path(SanitizeUtf8(f.path));
    out->set_size(f.size);
    out->set_host_path(SanitizeUtf8(f.host_path));
  }
}

void KeepFailed(const absl::Status& error, Result* result) {
  if (result->status() == Result::OK) {
    result->set_status(Result::STORAGE_ERROR);
    result->set_message(
        absl::StrCat("The files the code created were not kept: ", error.message()));
  } else {
    absl::StrAppend(result->mutable_message(), " Files were not kept: ", error.message());
  }
}

absl::StatusOr<std::vector<RetainedFile>> RetentionStore::Collect(
    const std::string& workspace_dir, std::string_view user, const StorageQuota& quota,
    const RetentionSkipFn& skip) const {
  if (absl::StatusOr<std::string> key = UserKey(user); !key.ok()) return key.status();
  if (quota.max_files_per_execution() < 0 || quota.max_files_per_user() < 0 ||
      quota.max_bytes_per_user() < 0 || quota.min_free_bytes() < 0) {
    return absl::InvalidArgumentError("storage quotas must not be negative (0 means no limit)");
  }

  // 1. Scan the workspace; nothing is read from files yet.
  UniqueFd workspace(::open(workspace_dir.c_str(), kDirOpenFlags));
  if (!workspace.valid()) return ErrnoStatus(absl::StrCat("open ", workspace_dir), errno);
  std::vector<PlannedFile> files;
  int64_t new_bytes = 0;
  TreeWalker walker([&](const std::string& rel, const struct stat& st) {
    if (skip && skip(rel, st)) return absl::OkStatus();
    if (rel.size() > kRetentionMaxPathBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("a file path in the workspace is longer than ", kRetentionMaxPathBytes,
                       " bytes (", Printable(rel), ")"));
    }
    files.push_back({rel, st});
    new_bytes = SatAdd(new_bytes, st.st_size);
    return absl::OkStatus();
  });
  if (absl::Status s = walker.Walk(workspace.get()); !s.ok()) return s;
  if (files.empty()) return std::vector<RetainedFile>();
  const int64_t new_files = static_cast<int64_t>(files.size());
  if (quota.max_files_per_execution() > 0 && new_files > quota.max_files_per_execution()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%d files exceed the per-execution limit of %d; raise max_files_per_execution or "
        "create fewer files",
        new_files, quota.max_files_per_execution()));
  }

  // 2. Under the user's lock: plan evictions and check every limit.
  absl::StatusOr<UserDir> user_dir = OpenUserDir(storage_dir_, user, /*create=*/true);
  if (!user_dir.ok()) return user_dir.status();
  absl::StatusOr<UniqueFd> lock = LockUser(user_dir->fd.get(), LOCK_EX);
  if (!lock.ok()) return lock.status();
  if (absl::Status s = RemoveLeftovers(*user_dir); !s.ok()) return s;
  absl::StatusOr<std::vector<RetainedExecution>> existing = ReadExecutions(*user_dir);
  if (!existing.ok()) return existing.status();

  // What stays if the `i` oldest executions go: suffix sums (saturating, so
  // huge sparse files cannot wrap around a limit).
  const size_t n = existing->size();
  std::vector<int64_t> files_from(n + 1, 0);
  std::vector<int64_t> bytes_from(n + 1, 0);
  for (size_t i = n; i-- > 0;) {
    files_from[i] = SatAdd(files_from[i + 1], static_cast<int64_t>((*existing)[i].files.size()));
    bytes_from[i] = bytes_from[i + 1];
    for (const RetainedFile& f : (*existing)[i].files)
      bytes_from[i] = SatAdd(bytes_from[i], f.size);
  }
  auto fits_after_evicting = [&](size_t i) {
    return (quota.max_files_per_user() == 0 ||
            SatAdd(files_from[i], new_files) <= quota.max_files_per_user()) &&
           (quota.max_bytes_per_user() == 0 ||
            SatAdd(bytes_from[i], new_bytes) <= quota.max_bytes_per_user());
  };
  size_t evict = 0;
  while (evict < n && !fits_after_evicting(evict)) ++evict;
  if (!fits_after_evicting(evict)) {  // even with every older execution gone
    if (quota.max_files_per_user() > 0 && new_files > quota.max_files_per_user()) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "%d files exceed the per-user limit of %d even with all older files of the user "
          "removed; raise max_files_per_user or create fewer files",
          new_files, quota.max_files_per_user()));
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        FormatBytes(new_bytes), " of files exceed the per-user limit of ",
        FormatBytes(quota.max_bytes_per_user()),
        " even with all older files of the user removed; raise max_bytes_per_user or create "
        "smaller files"));
  }
  if (quota.min_free_bytes() > 0) {
    struct statvfs vfs;
    if (::fstatvfs(user_dir->fd.get(), &vfs) != 0) return ErrnoStatus("statvfs storage", errno);
    const int64_t block = std::max<int64_t>(vfs.f_frsize, 1);
    // Room promised to mounted session volumes (which may share the disk)
    // is not ours to fill.
    const int64_t free_bytes =
        static_cast<int64_t>(vfs.f_bavail) * block - MountedVolumesRoomBytes();
    // Copies land before evictions free anything, so evictions are not
    // credited; sizes round up to whole blocks.
    int64_t need = 0;
    for (const PlannedFile& f : files) {
      need = SatAdd(need, SatAdd(f.st.st_size, block - 1) / block * block);
    }
    if (need > free_bytes || free_bytes - need < quota.min_free_bytes()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "keeping ", FormatBytes(need), " of files would leave ",
          FormatBytes(std::max<int64_t>(free_bytes - need, 0)),
          " free on the storage filesystem, below the reserve of ",
          FormatBytes(quota.min_free_bytes()), "; free disk space or lower min_free_bytes"));
    }
  }

  // 3. Copy into a staging directory that a failure (or the next collection
  // after a crash) removes.
  int64_t nanos = absl::GetCurrentTimeNanos();
  if (!existing->empty()) {
    // Ids must keep sorting by age even if the clock steps back.
    uint64_t last = 0;
    if (absl::SimpleAtoi(absl::string_view(existing->back().id).substr(0, kIdNanosDigits), &last)) {
      nanos = std::max<int64_t>(nanos, static_cast<int64_t>(last) + 1);
    }
  }
  const std::string id = absl::StrFormat("%020d-%s", nanos, RandomHex(kIdSuffixBytes));
  const std::string staging_name = absl::StrCat(kStagingPrefix, id);
  if (::mkdirat(user_dir->fd.get(), staging_name.c_str(), 0700) != 0) {
    return ErrnoStatus("create staging directory", errno);
  }
  TempDir staging(absl::StrCat(user_dir->path, "/", staging_name));
  {
    UniqueFd staging_fd(::openat(user_dir->fd.get(), staging_name.c_str(), kDirOpenFlags));
    if (!staging_fd.valid()) return ErrnoStatus("open staging directory", errno);
    if (::fchmod(staging_fd.get(), 0700) != 0) return ErrnoStatus("chmod staging", errno);
    DirCursor from(workspace.get(), /*create=*/false);
    DirCursor to(staging_fd.get(), /*create=*/true);
    for (const PlannedFile& f : files) {
      const size_t slash = f.rel.rfind('/');
      const std::string dir = slash == std::string::npos ? std::string() : f.rel.substr(0, slash);
      const std::string name = slash == std::string::npos ? f.rel : f.rel.substr(slash + 1);
      absl::StatusOr<int> src_dir = from.Enter(dir);
      if (!src_dir.ok()) return src_dir.status();
      absl::StatusOr<int> dst_dir = to.Enter(dir);
      if (!dst_dir.ok()) return dst_dir.status();
      if (absl::Status s = CopyFileAt(*src_dir, *dst_dir, name, f.st); !s.ok()) return s;
    }
  }

  // 4. Commit: move evicted executions aside, then the staging directory into
  // place; undo the moves if the commit fails.
  const int user_fd = user_dir->fd.get();
  std::vector<std::string> evicted;
  auto undo_evictions = [&] {
    for (const std::string& name : evicted) {
      (void)::renameat(user_fd, absl::StrCat(kEvictPrefix, name).c_str(), user_fd, name.c_str());
    }
  };
  for (size_t i = 0; i < evict; ++i) {
    const std::string& name = (*existing)[i].id;
    if (::renameat(user_fd, name.c_str(), user_fd, absl::StrCat(kEvictPrefix, name).c_str()) != 0) {
      const int err = errno;
      undo_evictions();
      return ErrnoStatus(absl::StrCat("evict execution ", name), err);
    }
    evicted.push_back(name);
  }
  if (::renameat(user_fd, staging_name.c_str(), user_fd, id.c_str()) != 0) {
    const int err = errno;
    undo_evictions();
    return ErrnoStatus("commit execution", err);
  }
  staging.release();
  // A failed removal is retried by the next collection (RemoveLeftovers).
  for (const std::string& name : evicted) {
    (void)RemoveTree(absl::StrCat(user_dir->path, "/", kEvictPrefix, name));
  }

  std::vector<RetainedFile> kept;
  kept.reserve(files.size());
  const std::string base = absl::StrCat(user_dir->path, "/", id, "/");
  for (const PlannedFile& f : files) kept.push_back({f.rel, f.st.st_size, base + f.rel});
  return kept;
}

absl::StatusOr<std::vector<RetainedExecution>> RetentionStore::List(std::string_view user) const {
  absl::StatusOr<UserDir> user_dir = OpenUserDir(storage_dir_, user, /*create=*/false);
  if (absl::IsNotFound(user_dir.status())) return std::vector<RetainedExecution>();
  if (!user_dir.ok()) return user_dir.status();
  // Shared: a collection's evictions and commit are never seen half done.
  absl::StatusOr<UniqueFd> lock = LockUser(user_dir->fd.get(), LOCK_SH);
  if (!lock.ok()) return lock.status();
  return ReadExecutions(*user_dir);
}

absl::StatusOr<UserUsage> RetentionStore::Usage(std::string_view user) const {
  absl::StatusOr<std::vector<RetainedExecution>> executions = List(user);
  if (!executions.ok()) return executions.status();
  UserUsage usage;
  usage.executions = static_cast<int64_t>(executions->size());
  for (const RetainedExecution& e : *executions) {
    usage.files += static_cast<int64_t>(e.files.size());
    for (const RetainedFile& f : e.files) usage.bytes = SatAdd(usage.bytes, f.size);
  }
  return usage;
}

absl::Status RetentionStore::RemoveStaleStaging() const {
  if (storage_dir_.empty()) return absl::OkStatus();
  UniqueFd root(::open(storage_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(absl::StrCat("open ", storage_dir_), errno);
  }
  int64_t budget = kRetentionMaxEntries;
  absl::StatusOr<std::vector<std::string>> names = ReadDirNames(root.get(), budget);
  if (!names.ok()) return names.status();
  absl::Status result;
  for (const std::string& name : *names) {
    if (!IsUserKey(name)) continue;
    UserDir user{absl::StrCat(storage_dir_, "/", name),
                 UniqueFd(::openat(root.get(), name.c_str(), kDirOpenFlags))};
    if (!user.fd.valid()) continue;  // not a directory
    absl::StatusOr<UniqueFd> lock = LockUser(user.fd.get(), LOCK_EX | LOCK_NB);
    if (absl::IsUnavailable(lock.status())) continue;  // a live collection owns it
    if (!lock.ok()) {
      result.Update(lock.status());
      continue;
    }
    result.Update(RemoveLeftovers(user));
  }
  return result;
}

}  // namespace libsandbox
