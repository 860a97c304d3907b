#include "libsandbox/run/etc_tree.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox {
namespace {

namespace fs = std::filesystem;

constexpr std::pair<const char*, const char*> kGenerated[] = {
    {"passwd",
     "root:x:0:0:root:/root:/usr/sbin/nologin\n"
     "user:x:1000:1000:user:/home/user:/bin/bash\n"
     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
    {"group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n"},
    {"hostname", "sandbox\n"},
    {"hosts", "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
    {"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"},
};
constexpr char kLocaltime[] = "/usr/share/zoneinfo/Etc/UTC";

// Where a shared entry's content is on the host: a symlink at its top is
// followed, as a bind mount of it would be (symlinks inside it are kept).
std::optional<std::string> HostEntry(const std::string& host_root, const char* shared) {
  std::error_code ec;
  fs::path real = fs::canonical(host_root + shared, ec);
  if (ec) return std::nullopt;  // missing, or a dangling symlink: skipped
  return real.string();
}

// Removes the trees (and abandoned halves) under `parent` last changed
// more than `keep_old` before `newest` was made.
void RemoveOldTrees(const std::string& parent, const std::string& newest, absl::Duration keep_old) {
  std::error_code ec;
  const fs::file_time_type cutoff =
      fs::last_write_time(newest, ec) - std::chrono::seconds(absl::ToInt64Seconds(keep_old));
  if (ec) return;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code age_ec;
    if (it->path() != newest && fs::last_write_time(it->path(), age_ec) < cutoff && !age_ec) {
      (void)RemoveTree(it->path().string());
    }
  }
}

}  // namespace

std::string SharedEntryIn(const std::string& dir, absl::string_view shared) {
  return absl::StrCat(dir, absl::StripPrefix(shared, "/etc"));
}

absl::Status WriteGeneratedEtc(const std::string& dir, const std::string& resolv_conf) {
  if (absl::Status s = MakeDirs(dir, 0755); !s.ok()) return s;
  for (const auto& [name, content] : kGenerated) {
    if (absl::Status s = WriteFile(absl::StrCat(dir, "/", name), content, 0644); !s.ok()) return s;
  }
  if (absl::Status s = WriteFile(dir + "/resolv.conf", resolv_conf, 0644); !s.ok()) return s;
  if (::symlink(kLocaltime, (dir + "/localtime").c_str()) != 0) {
    return ErrnoStatus("symlink localtime", errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SharedEtc::Current() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - checked_ < options_.look_every) {
    if (current_.empty()) return failure_;  // not tried again at every run
    return current_;
  }
  checked_ = now;
  absl::StatusOr<uint64_t> signature = Signature();
  if (signature.ok() && (current_.empty() || *signature != signature_)) {
    absl::StatusOr<std::string> dir = BuildLocked(*signature);
    if (!dir.ok()) signature = dir.status();
    if (dir.ok()) current_ = *std::move(dir);
  }
  if (!signature.ok()) {
    current_.clear();
    failure_ = signature.status();
    return failure_;
  }
  signature_ = *signature;
  return current_;
}

// What the tree is made of: the generated files and, for every host entry
// under kEtcShared, its path, type, size and mtime.
absl::StatusOr<uint64_t> SharedEtc::Signature() const {
  std::vector<std::string> lines;
  for (const auto& [name, content] : kGenerated) lines.push_back(absl::StrCat(name, "=", content));
  lines.push_back(absl::StrCat("localtime=", kLocaltime));
  uint64_t bytes = 0;
  auto add = [&](const std::string& path) -> absl::Status {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(absl::StrCat("lstat ", path), errno);
    if (S_ISREG(st.st_mode)) bytes += static_cast<uint64_t>(st.st_size);
    lines.push_back(absl::StrFormat("%s %o %d %d.%09d", path, st.st_mode, st.st_size,
                                    st.st_mtim.tv_sec, st.st_mtim.tv_nsec));
    if (lines.size() > options_.max_entries || bytes > options_.max_bytes) {
      return absl::ResourceExhaustedError(
          "the host's shared /etc entries are more than a /etc holds; not copied");
    }
    return absl::OkStatus();
  };
  for (const char* shared : kEtcShared) {
    std::optional<std::string> host = HostEntry(options_.host_root, shared);
    if (!host) continue;
    lines.push_back(absl::StrCat(shared, " -> ", *host));
    if (absl::Status s = add(*host); !s.ok()) return s;
    std::error_code ec;
    if (!fs::is_directory(fs::symlink_status(*host, ec))) continue;
    for (fs::recursive_directory_iterator it(*host, ec), end; !ec && it != end; it.increment(ec)) {
      if (absl::Status s = add(it->path().string()); !s.ok()) return s;
    }
    if (ec) return absl::InternalError(absl::StrCat("reading ", *host, ": ", ec.message()));
  }
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const std::string& line : lines) absl::StrAppend(&all, line, "\n");
  // libstdc++'s string hash has a fixed seed: processes sharing a state dir
  // agree on the name (if they did not, each would only make its own tree).
  return std::hash<std::string_view>{}(all);
}

// Copies the host entries into `dir` as they are (symlinks as symlinks,
// modes kept) and writes the generated files.
absl::Status SharedEtc::Fill(const std::string& dir) const {
  if (absl::Status s = WriteGeneratedEtc(dir, ""); !s.ok()) return s;
  for (const char* shared : kEtcShared) {
    std::optional<std::string> host = HostEntry(options_.host_root, shared);
    if (!host) continue;
    const std::string target = SharedEntryIn(dir, shared);
    if (absl::Status s = MakeDirs(target.substr(0, target.rfind('/')), 0755); !s.ok()) return s;
    std::error_code ec;
    fs::copy(*host, target, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return absl::InternalError(absl::StrCat("copying ", *host, ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SharedEtc::BuildLocked(uint64_t signature) {
  const std::string parent = state_dir_ + "/etc";
  const std::string dir = absl::StrFormat("%s/%016x", parent, signature);
  if (Exists(dir)) return dir;  // made by an earlier process: renamed in whole
  if (absl::Status s = MakeDirs(parent, 0755); !s.ok()) return s;
  // Filled aside and renamed, so no sandbox ever shows half a tree; several
  // processes may race here harmlessly.
  const std::string tmp = absl::StrCat(parent, "/.new-", RandomHex(8));
  absl::Status s = Fill(tmp);
  // Whatever the umask: the sandbox's user reads it.
  if (s.ok() && ::chmod(tmp.c_str(), 0755) != 0) s = ErrnoStatus("chmod " + tmp, errno);
  if (s.ok() && ::rename(tmp.c_str(), dir.c_str()) != 0 && errno != EEXIST && errno != ENOTEMPTY) {
    s = ErrnoStatus("rename " + tmp, errno);
  }
  (void)RemoveTree(tmp);  // gone after the rename, unless another process won
  if (!s.ok()) return s;
  RemoveOldTrees(parent, dir, options_.keep_old);
  return dir;
}

}  // namespace libsandbox
