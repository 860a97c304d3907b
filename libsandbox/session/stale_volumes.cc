#include "libsandbox/session/stale_volumes.h"

#include <fcntl.h>
#include <sys/file.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/run/workspace_volume.h"

namespace libsandbox {
namespace {

// A mount point as /proc/self/mountinfo writes it: space, tab, newline and
// backslash as \ooo.
std::string Unescape(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const absl::string_view digits = field.substr(i + 1, 3);
      if (digits.size() == 3 && digits.find_first_not_of("01234567") == absl::string_view::npos) {
        out.push_back(
            static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

}  // namespace

int DetachStaleSessionVolumes(const std::string& sessions_dir) {
  absl::StatusOr<std::string> info = ReadFile("/proc/self/mountinfo", 16 << 20);
  if (!info.ok()) return 0;
  const std::string prefix = sessions_dir + "/";
  std::vector<std::string> workspaces;
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    std::string mount_point = Unescape(fields[4]);
    if (absl::StartsWith(mount_point, prefix) && absl::EndsWith(mount_point, "/workspace")) {
      workspaces.push_back(std::move(mount_point));
    }
  }
  int detached = 0;
  for (const std::string& workspace : workspaces) {
    const std::string dir =
        workspace.substr(0, workspace.size() - std::string("/workspace").size());
    // The lock the session's host process holds while it may use the
    // volume; free means that process is gone.
    UniqueFd lock(::open((dir + "/lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!lock.valid() || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;
    if (IsMountPoint(workspace) && DetachStaleMounts(workspace).ok()) ++detached;
  }
  return detached;
}

}  // namespace libsandbox
