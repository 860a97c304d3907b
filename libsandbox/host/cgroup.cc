#include "libsandbox/host/cgroup.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox {
namespace {

absl::Status WriteValue(const std::string& dir, const std::string& file, const std::string& value) {
  std::string path = absl::StrCat(dir, "/", file);
  absl::Status s = WriteFile(path, value, 0644, /*overwrite=*/true);
  if (!s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot set ", file, "=", value, " (", s.message(), "): ", kCgroupRemedy));
  }
  return absl::OkStatus();
}

// cpu.shares (v1) or cpu.weight (v2): `share` of the kernel's default, at
// least its lowest.
std::string CpuWeight(bool v1, double share) {
  if (v1) return absl::StrCat(std::clamp<int64_t>(std::llround(1024 * share), 2, 262144));
  return absl::StrCat(std::clamp<int64_t>(std::llround(100 * share), 1, 10000));
}

int64_t ReadKeyed(const std::string& path, absl::string_view key) {
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 16);
  if (!text.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, ' ');
    int64_t v = 0;
    if (kv.size() == 2 && kv[0] == key && absl::SimpleAtoi(kv[1], &v)) return v;
  }
  return 0;
}

// SIGKILLs what is in `dir` now (v2 atomically, where the kernel has
// cgroup.kill); true if it held nothing.
bool SignalDir(const std::string& dir) {
  (void)WriteFile(absl::StrCat(dir, "/cgroup.kill"), "1", 0644, true);
  std::vector<pid_t> pids = CgroupProcs(dir);
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  return pids.empty();
}

// True once nothing is left in `dir`.
bool KillDir(const std::string& dir) {
  // Again until nothing is left: without cgroup.kill a process may fork
  // while we read the list.
  for (int round = 0; round < 50; ++round) {
    if (SignalDir(dir)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(round < 10 ? 5 : 50));
  }
  return CgroupProcs(dir).empty();
}

void RemoveDir(const std::string& dir) {
  for (int round = 0; round < 40; ++round) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;
    KillDir(dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

int64_t ReadProcNumber(const char* path, int64_t fallback) {
  absl::StatusOr<std::string> text = ReadFile(path, 64);
  int64_t v = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v) || v <= 0) {
    return fallback;
  }
  return v;
}

}  // namespace

int64_t SandboxTasksBudget() {
  const int64_t kernel = std::min(ReadProcNumber("/proc/sys/kernel/pid_max", 32768),
                                  ReadProcNumber("/proc/sys/kernel/threads-max", 32768));
  return std::max<int64_t>(kernel / 2, 1024);
}

absl::StatusOr<std::unique_ptr<SandboxCgroup>> SandboxCgroup::Create(const CgroupHost& host,
                                                                     const std::string& name,
                                                                     const CgroupLimits& limits) {
  std::unique_ptr<SandboxCgroup> cg(new SandboxCgroup());
  cg->version_ = host.version;
  cg->name_ = name;
  if (host.version == CgroupVersion::kNone) {
    return absl::FailedPreconditionError(
        absl::StrCat("no cgroup filesystem found: ", kCgroupRemedy));
  }
  if (host.version == CgroupVersion::kV2 && !host.Ready()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the cgroup ", host.base, " does not delegate its controllers yet: ", kCgroupRemedy));
  }
  std::vector<std::string> needed = {"memory"};
  // The CPU weight (runs share the CPU fairly between users) wherever the
  // host has the cpu controller; the CPU cap needs it.
  if (limits.cpus > 0 || host.Has("cpu")) needed.push_back("cpu");
  if (limits.pids > 0) needed.push_back("pids");
  for (const std::string& c : needed) {
    if (!host.Has(c)) {
      return absl::FailedPreconditionError(absl::StrCat("the cgroup controller '", c,
                                                        "' is not available (", host.Describe(),
                                                        "): ", kCgroupRemedy));
    }
  }

  // Distinct hierarchy directories, each created once.
  std::set<std::string> own;
  for (const std::string& c : needed) own.insert(host.own_dirs.at(c));
  for (const std::string& base : own) {
    std::string parent = absl::StrCat(base, "/", kCgroupParent);
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat("cannot create cgroup ", parent, ": ",
                                                        ErrnoStatus("mkdir", errno).message(), "; ",
                                                        kCgroupRemedy));
    }
    if (host.version == CgroupVersion::kV2) {
      // The base delegates (PrepareCgroups); hand the controllers one level
      // further down, to the sandbox cgroups.
      std::string enable;
      for (const std::string& c : needed)
        absl::StrAppend(&enable, enable.empty() ? "" : " ", "+", c);
      if (absl::Status s = WriteValue(parent, "cgroup.subtree_control", enable); !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(s.message(), " [", host.Describe(), "]"));
      }
    }
    if (limits.pids > 0 && base == host.own_dirs.at("pids")) {
      // Every sandbox together (SandboxTasksBudget says why).
      if (absl::Status s = WriteValue(parent, "pids.max", absl::StrCat(SandboxTasksBudget()));
          !s.ok()) {
        return s;
      }
    }
    std::string dir = absl::StrCat(parent, "/", name);
    if (::mkdir(dir.c_str(), 0755) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot create cgroup ", dir, ": ",
                                                        ErrnoStatus("mkdir", errno).message(), "; ",
                                                        kCgroupRemedy));
    }
    cg->dirs_.push_back(dir);
  }
  cg->memory_dir_ = absl::StrCat(host.own_dirs.at("memory"), "/", kCgroupParent, "/", name);
  cg->memsw_ = host.memsw;
  for (const std::string& c : needed) {
    cg->controller_dirs_[c] = absl::StrCat(host.own_dirs.at(c), "/", kCgroupParent, "/", name);
  }
  if (absl::Status s = cg->Update(limits); !s.ok()) return s;
  return cg;
}

absl::Status SandboxCgroup::Update(const CgroupLimits& limits) {
  // 0 means no limit: write the controller's "unlimited" so that a warm
  // sandbox booted with caps can serve a run without them.
  auto dir = [&](const char* c) -> const std::string* {
    auto it = controller_dirs_.find(c);
    return it == controller_dirs_.end() ? nullptr : &it->second;
  };
  if ((limits.cpus > 0 && !dir("cpu")) || (limits.pids > 0 && !dir("pids"))) {
    return absl::FailedPreconditionError("the sandbox's cgroup lacks a controller for these caps");
  }
  const bool v1 = version_ == CgroupVersion::kV1;
  const int64_t period = 100000;
  const int64_t quota = std::max<int64_t>(1000, std::llround(limits.cpus * period));
  if (const std::string* d = dir("memory")) {
    std::string v =
        limits.memory_bytes > 0 ? absl::StrCat(limits.memory_bytes) : (v1 ? "-1" : "max");
    if (v1) {
      // memsw must stay >= the memory limit: widen it first, set it last.
      if (memsw_) (void)WriteValue(*d, "memory.memsw.limit_in_bytes", "-1");
      if (auto s = WriteValue(*d, "memory.limit_in_bytes", v); !s.ok()) return s;
      // Swap off: memory+swap capped at the same value.
      if (memsw_) {
        if (auto s = WriteValue(*d, "memory.memsw.limit_in_bytes", v); !s.ok()) return s;
      }
      (void)WriteValue(*d, "memory.swappiness", "0");
    } else {
      if (auto s = WriteValue(*d, "memory.max", v); !s.ok()) return s;
      // No swap, not even compressed: the cap is the memory the code gets.
      for (const char* file : {"memory.swap.max", "memory.zswap.max"}) {
        if (!Exists(absl::StrCat(*d, "/", file))) continue;
        if (auto s = WriteValue(*d, file, "0"); !s.ok()) return s;
      }
    }
  }
  if (const std::string* d = dir("cpu")) {
    if (auto s = SetCpuShare(limits.cpu_share); !s.ok()) return s;
    if (v1) {
      if (auto s = WriteValue(*d, "cpu.cfs_period_us", absl::StrCat(period)); !s.ok()) return s;
      std::string q = limits.cpus > 0 ? absl::StrCat(quota) : "-1";
      if (auto s = WriteValue(*d, "cpu.cfs_quota_us", q); !s.ok()) return s;
    } else {
      std::string q = limits.cpus > 0 ? absl::StrCat(quota, " ", period) : "max";
      if (auto s = WriteValue(*d, "cpu.max", q); !s.ok()) return s;
    }
  }
  if (const std::string* d = dir("pids")) {
    std::string v = limits.pids > 0 ? absl::StrCat(limits.pids) : "max";
    if (auto s = WriteValue(*d, "pids.max", v); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SandboxCgroup::SetCpuShare(double share) {
  auto it = controller_dirs_.find("cpu");
  if (it == controller_dirs_.end()) return absl::OkStatus();
  const bool v1 = version_ == CgroupVersion::kV1;
  return WriteValue(it->second, v1 ? "cpu.shares" : "cpu.weight", CpuWeight(v1, share));
}

int64_t SandboxCgroup::MemoryUsageBytes() const {
  std::string file = version_ == CgroupVersion::kV2 ? "/memory.current" : "/memory.usage_in_bytes";
  absl::StatusOr<std::string> text = ReadFile(memory_dir_ + file, 64);
  int64_t v = 0;
  if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v)) return v;
  return 0;
}

SandboxCgroup::~SandboxCgroup() {
  KillAll();
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) RemoveDir(*it);
}

std::string SandboxCgroup::relative_path() const {
  return version_ == CgroupVersion::kV1 ? absl::StrCat(kCgroupParent, "/", name_) : "";
}

std::string SandboxCgroup::join_dir() const {
  return version_ == CgroupVersion::kV2 ? memory_dir_ : "";
}

bool SandboxCgroup::OomKilled() const {
  if (memory_dir_.empty()) return false;
  if (version_ == CgroupVersion::kV2) {
    return ReadKeyed(memory_dir_ + "/memory.events", "oom_kill") > 0;
  }
  return ReadKeyed(memory_dir_ + "/memory.oom_control", "oom_kill") > 0;
}

bool SandboxCgroup::PidsLimitHit() const {
  auto it = controller_dirs_.find("pids");
  return it != controller_dirs_.end() && ReadKeyed(it->second + "/pids.events", "max") > 0;
}

int64_t SandboxCgroup::MemoryPeakBytes() const {
  std::string file = version_ == CgroupVersion::kV2 ? "/memory.peak" : "/memory.max_usage_in_bytes";
  absl::StatusOr<std::string> text = ReadFile(memory_dir_ + file, 64);
  int64_t v = 0;
  if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v)) return v;
  return 0;
}

void SandboxCgroup::SendKill() {
  for (const std::string& dir : dirs_) (void)SignalDir(dir);
}

bool SandboxCgroup::KillAll() {
  bool empty = true;
  for (const std::string& dir : dirs_) empty = KillDir(dir) && empty;
  return empty;
}

void ReapStaleCgroups(const CgroupHost& host,
                      const std::function<bool(const std::string&)>& is_stale) {
  std::set<std::string> bases;
  for (const auto& [c, dir] : host.own_dirs) bases.insert(absl::StrCat(dir, "/", kCgroupParent));
  for (const std::string& base : bases) {
    DIR* d = ::opendir(base.c_str());
    if (d == nullptr) continue;
    std::vector<std::string> stale;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (e->d_type != DT_DIR || n == "." || n == "..") continue;
      if (is_stale(n)) stale.push_back(absl::StrCat(base, "/", n));
    }
    ::closedir(d);
    for (const std::string& dir : stale) {
      KillDir(dir);
      RemoveDir(dir);
    }
  }
}

}  // namespace libsandbox
