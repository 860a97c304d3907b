#include "libsandbox/host/statx_shim.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/statx_compat_so.h"

namespace libsandbox {
namespace {

// gVisor builds from 2023 on drop AT_NO_AUTOMOUNT (it has no automounts);
// the Debian 12 package (2022-12-19) fails with EINVAL.
constexpr int kFirstFixedBuild = 20230601;

}  // namespace

bool NeedsStatxShim(const RunscInfo& runsc) {
  return runsc.build_date > 0 && runsc.build_date < kFirstFixedBuild;
}

absl::StatusOr<std::string> InstallStatxShim(const std::string& state_dir) {
  const std::string dir = absl::StrCat(state_dir, "/compat");
  if (absl::Status s = MakeDirs(dir, 0755); !s.ok()) return s;
  const std::string path = absl::StrCat(dir, "/statx.so");
  const std::string bytes(reinterpret_cast<const char*>(kStatxCompatSo), sizeof(kStatxCompatSo));
  absl::StatusOr<std::string> existing = ReadFile(path, sizeof(kStatxCompatSo) + 1);
  if (existing.ok() && *existing == bytes) return dir;
  // Written aside and renamed, so a sandbox starting now never maps half a
  // file; several processes may race here harmlessly.
  const std::string tmp = absl::StrCat(path, ".", ::getpid(), ".tmp");
  if (absl::Status s = WriteFile(tmp, bytes, 0644); !s.ok()) return s;
  // Whatever the umask: the sandbox's user must be able to map it.
  if (::chmod(tmp.c_str(), 0644) != 0 || ::chmod(dir.c_str(), 0755) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(absl::StrCat("chmod ", tmp), err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(absl::StrCat("rename ", tmp), err);
  }
  return dir;
}

}  // namespace libsandbox
