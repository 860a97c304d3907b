#include "bench/cgroup_memory.h"

#include <dirent.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/cgroup.h"

namespace libsandbox::bench {
namespace {

// Sandbox cgroups hold a handful of processes; pid lists beyond this are
// not ours to parse.
constexpr size_t kMaxProcsFile = 1 << 20;

bool HoldsAny(const std::string& dir, const absl::flat_hash_set<pid_t>& pids) {
  absl::StatusOr<std::string> procs = ReadFile(dir + "/cgroup.procs", kMaxProcsFile);
  if (!procs.ok()) return false;
  for (absl::string_view line : absl::StrSplit(*procs, '\n', absl::SkipEmpty())) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pids.contains(pid)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<CgroupMemory> SandboxCgroupMemory(const absl::flat_hash_set<pid_t>& pids) {
  absl::StatusOr<CgroupHost> host = DetectCgroups();
  if (!host.ok()) return host.status();
  if (!host->Has("memory")) return absl::FailedPreconditionError("no memory cgroup controller");
  const std::string parent = absl::StrCat(host->own_dirs.at("memory"), "/", kCgroupParent);
  const char* usage_file =
      host->version == CgroupVersion::kV2 ? "/memory.current" : "/memory.usage_in_bytes";
  std::vector<std::string> dirs;
  if (DIR* d = ::opendir(parent.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (e->d_type == DT_DIR && name != "." && name != "..") dirs.push_back(parent + "/" + name);
    }
    ::closedir(d);
  }
  CgroupMemory m;
  for (const std::string& dir : dirs) {
    if (!HoldsAny(dir, pids)) continue;
    absl::StatusOr<std::string> text = ReadFile(dir + usage_file, 64);
    int64_t bytes = 0;
    if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &bytes)) continue;
    m.usage_bytes += bytes;
    ++m.cgroups;
  }
  return m;
}

}  // namespace libsandbox::bench
