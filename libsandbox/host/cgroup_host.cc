#include "libsandbox/host/cgroup_host.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox {

const char kCgroupRemedy[] =
    "give the process a writable cgroup filesystem whose cgroup it may delegate: Docker: "
    "-v /sys/fs/cgroup:/sys/fs/cgroup:rw (or --privileged); compose: "
    "volumes: [\"/sys/fs/cgroup:/sys/fs/cgroup:rw\"]; Kubernetes: securityContext.privileged: "
    "true; systemd: Delegate=yes in the unit. Sandboxes always stay below the container's or "
    "service's own cgroup. Or set allow_unenforced_limits to run without caps";

std::vector<pid_t> CgroupProcs(const std::string& dir) {
  std::vector<pid_t> pids;
  absl::StatusOr<std::string> text = ReadFile(absl::StrCat(dir, "/cgroup.procs"), 4 << 20);
  if (!text.ok()) return pids;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.push_back(pid);
  }
  return pids;
}

namespace {

// The controllers sandboxes use on v2.
constexpr const char* kV2Controllers[] = {"memory", "cpu", "pids"};
// Bounds of the search for this process's cgroup by membership.
constexpr int kMaxSearchDirs = 20000;
constexpr int kMaxMoveRounds = 20;

struct Mount {
  std::string root;
  std::string mountpoint;
};

// Parses /proc/self/mountinfo into v1 controller -> mount and the visible v2
// mount (the last one listed: later mounts cover earlier ones).
void ParseMounts(const std::string& mountinfo, std::map<std::string, Mount>& v1,
                 std::optional<Mount>& v2) {
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> halves = absl::StrSplit(line, " - ");
    if (halves.size() != 2) continue;
    std::vector<absl::string_view> pre = absl::StrSplit(halves[0], ' ');
    std::vector<absl::string_view> post = absl::StrSplit(halves[1], ' ');
    if (pre.size() < 5 || post.size() < 3) continue;
    Mount m{std::string(pre[3]), std::string(pre[4])};
    if (post[0] == "cgroup2") {
      v2 = m;
    } else if (post[0] == "cgroup") {
      for (absl::string_view opt : absl::StrSplit(post[2], ',')) {
        if (opt == "memory" || opt == "cpu" || opt == "pids" || opt == "cpuacct") {
          v1.emplace(std::string(opt), m);
        }
      }
    }
  }
}

// Joins a mount with a cgroup path from /proc/self/cgroup. A mount whose
// root lies outside our cgroup namespace ("/..") gives no answer.
std::optional<std::string> DirUnder(const Mount& m, absl::string_view cgroup_path) {
  if (absl::StartsWith(m.root, "/..")) return std::nullopt;
  absl::string_view rel = cgroup_path;
  if (m.root != "/" && !absl::ConsumePrefix(&rel, m.root)) {
    // The mount shows another part of the tree than the one we are in.
    return std::nullopt;
  }
  std::string dir = m.mountpoint;
  if (!rel.empty() && rel != "/") absl::StrAppend(&dir, rel);
  return dir;
}

std::vector<std::string> Words(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 4096);
  if (!text.ok()) return {};
  return absl::StrSplit(absl::StripAsciiWhitespace(*text), ' ', absl::SkipEmpty());
}

bool Contains(const std::vector<std::string>& v, absl::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool Lists(const std::string& dir, pid_t pid) {
  std::vector<pid_t> pids = CgroupProcs(dir);
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

// Breadth-first search of the mounted tree for the cgroup listing `pid`.
std::optional<std::string> FindByMembership(const std::string& top, pid_t pid) {
  std::deque<std::string> queue = {top};
  for (int seen = 0; !queue.empty() && seen < kMaxSearchDirs; ++seen) {
    std::string dir = std::move(queue.front());
    queue.pop_front();
    if (Lists(dir, pid)) return dir;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (e->d_type == DT_DIR && n != "." && n != "..") queue.push_back(absl::StrCat(dir, "/", n));
    }
    ::closedir(d);
  }
  return std::nullopt;
}

std::string Parent(const std::string& dir) { return dir.substr(0, dir.rfind('/')); }

absl::Status Write(const std::string& dir, const std::string& file, const std::string& value) {
  absl::Status s = WriteFile(absl::StrCat(dir, "/", file), value, 0644, /*overwrite=*/true);
  if (s.ok()) return s;
  return absl::FailedPreconditionError(
      absl::StrCat("cannot write ", value, " to ", dir, "/", file, " (", s.message(), ")"));
}

// Fills the v2 fields of `host` from this process's cgroup directory.
void FillV2(const Mount& mount, const std::string& own, bool namespaced, CgroupHost& host) {
  host.version = CgroupVersion::kV2;
  host.mountpoint = mount.mountpoint;
  host.namespaced = namespaced;
  host.moved = own != mount.mountpoint && own.substr(own.rfind('/') + 1) == kCgroupLeaf;
  host.base = host.moved ? Parent(own) : own;
  // The true root has no cgroup.type; a namespace's root does.
  host.true_root =
      host.base == mount.mountpoint && !Exists(absl::StrCat(host.base, "/cgroup.type"));
  host.available = Words(absl::StrCat(host.base, "/cgroup.controllers"));
  host.delegated = Words(absl::StrCat(host.base, "/cgroup.subtree_control"));
  for (const char* c : kV2Controllers) {
    if (Contains(host.available, c)) host.own_dirs[c] = host.base;
  }
  const pid_t self = ::getpid();
  for (pid_t p : CgroupProcs(host.base)) {
    if (p != self) host.others.push_back(p);
  }
}

}  // namespace

bool CgroupHost::Ready() const {
  if (version != CgroupVersion::kV2) return version == CgroupVersion::kV1;
  for (const char* c : kV2Controllers) {
    if (Contains(available, c) && !Contains(delegated, c)) return false;
  }
  return Contains(delegated, "memory");
}

std::string CgroupHost::Describe() const {
  switch (version) {
    case CgroupVersion::kNone:
      return "no cgroup filesystem";
    case CgroupVersion::kV1: {
      auto it = own_dirs.find("memory");
      return absl::StrCat("cgroup v1, memory cgroup ",
                          it == own_dirs.end() ? "(none)" : it->second);
    }
    case CgroupVersion::kV2:
      break;
  }
  std::string layout =
      true_root        ? "the hierarchy's root (a VM or bare host)"
      : namespaced     ? "a private cgroup namespace over the host's cgroupfs"
      : moved          ? "delegated, this process in its leaf"
      : others.empty() ? "a cgroup of its own"
                       : absl::StrCat("a cgroup shared with ", others.size(), " other process(es)");
  return absl::StrCat("cgroup v2, base ", base, " (", layout, "), controllers [",
                      absl::StrJoin(available, " "), "], delegated [",
                      absl::StrJoin(delegated, " "), "]");
}

absl::StatusOr<CgroupHost> DetectCgroups() {
  absl::StatusOr<std::string> mountinfo = ReadFile("/proc/self/mountinfo", 4 << 20);
  if (!mountinfo.ok()) return mountinfo.status();
  absl::StatusOr<std::string> self = ReadFile("/proc/self/cgroup", 1 << 16);
  if (!self.ok()) return self.status();
  std::map<std::string, Mount> v1;
  std::optional<Mount> v2;
  ParseMounts(*mountinfo, v1, v2);

  // "hierarchy-id:controller[,controller]:path" per line; "0::path" is v2.
  std::map<std::string, std::string> v1_paths;
  std::optional<std::string> v2_path;
  for (absl::string_view line : absl::StrSplit(*self, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    if (parts[0] == "0" && parts[1].empty()) {
      v2_path = std::string(parts[2]);
      continue;
    }
    for (absl::string_view c : absl::StrSplit(parts[1], ',')) {
      v1_paths[std::string(c)] = std::string(parts[2]);
    }
  }

  CgroupHost host;
  if (v2 && v2_path) {
    // Only a unified hierarchy with the memory controller is v2 for us (a
    // hybrid host's is empty).
    std::vector<std::string> top = Words(v2->mountpoint + "/cgroup.controllers");
    if (Contains(top, "memory")) {
      const pid_t self_pid = ::getpid();
      std::optional<std::string> own = DirUnder(*v2, *v2_path);
      bool namespaced = false;
      if (!own || !Lists(*own, self_pid)) {
        // The path names another place than where we are: find ourselves.
        own = FindByMembership(v2->mountpoint, self_pid);
        namespaced = true;
      }
      if (!own) {
        return absl::FailedPreconditionError(
            absl::StrCat("cgroup v2 is mounted at ", v2->mountpoint,
                         ", but no cgroup there lists this process (", self_pid,
                         "): mount the cgroup filesystem of this container's own cgroup "
                         "namespace, or the host's whole tree"));
      }
      FillV2(*v2, *own, namespaced, host);
      return host;
    }
  }
  for (const auto& [controller, mount] : v1) {
    auto it = v1_paths.find(controller);
    if (it == v1_paths.end()) continue;
    // Inside a container that bind-mounts its own sub-hierarchy, the mount
    // root is a prefix of our path.
    absl::string_view rel = it->second;
    if (mount.root != "/") (void)absl::ConsumePrefix(&rel, mount.root);
    std::string dir = mount.mountpoint;
    if (!rel.empty() && rel != "/") absl::StrAppend(&dir, rel);
    host.own_dirs[controller] = dir;
  }
  if (!host.own_dirs.empty()) {
    host.version = CgroupVersion::kV1;
    if (host.Has("memory")) {
      host.memsw = Exists(host.own_dirs["memory"] + "/memory.memsw.limit_in_bytes");
    }
  }
  return host;
}

namespace {

// Moves every process of `base` into base/kCgroupLeaf, then enables the
// controllers for base's children. Processes may fork while we move them:
// repeat until the base is empty.
absl::Status DelegateV2(const CgroupHost& host, const CgroupSetup& setup) {
  std::string enable;
  for (const char* c : kV2Controllers) {
    if (Contains(host.available, c)) absl::StrAppend(&enable, enable.empty() ? "" : " ", "+", c);
  }
  if (!host.true_root) {
    if (!host.others.empty() && setup.keep_other_processes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this process shares its cgroup ", host.base, " with ", host.others.size(),
          " other process(es) (pid ", host.others.front(),
          "...), and cgroup v2 enables controllers only for cgroups without processes; "
          "keep_cgroup_processes forbids moving them into ",
          kCgroupLeaf,
          ": start this process in a cgroup of its own (systemd: Delegate=yes; Docker/"
          "Kubernetes: the container's own cgroup), or unset keep_cgroup_processes"));
    }
    const std::string leaf = absl::StrCat(host.base, "/", kCgroupLeaf);
    if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create ", leaf, " (", ErrnoStatus("mkdir", errno).message(), ")"));
    }
    for (int round = 0;; ++round) {
      std::vector<pid_t> left = CgroupProcs(host.base);
      if (left.empty()) break;
      if (round == kMaxMoveRounds) {
        return absl::FailedPreconditionError(absl::StrCat("processes keep appearing in ", host.base,
                                                          " while moving them into ", leaf));
      }
      for (pid_t pid : left) {
        absl::Status s = WriteFile(leaf + "/cgroup.procs", absl::StrCat(pid), 0644, true);
        // A process that exited meanwhile is fine.
        if (!s.ok() && Lists(host.base, pid)) {
          return absl::FailedPreconditionError(absl::StrCat("cannot move process ", pid, " from ",
                                                            host.base, " into ", leaf, " (",
                                                            s.message(), ")"));
        }
      }
    }
  }
  return Write(host.base, "cgroup.subtree_control", enable);
}

}  // namespace

absl::StatusOr<CgroupHost> PrepareCgroups(const CgroupSetup& setup) {
  // One preparation at a time in this process; the result is re-detected so
  // that a move done by an earlier call (or process) is seen.
  ABSL_CONST_INIT static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  absl::StatusOr<CgroupHost> host = DetectCgroups();
  if (!host.ok() || host->version != CgroupVersion::kV2 || host->Ready()) return host;
  if (absl::Status s = DelegateV2(*host, setup); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(s.message(), "; found ", host->Describe(), ". ", kCgroupRemedy));
  }
  host = DetectCgroups();
  if (host.ok() && host->version == CgroupVersion::kV2 && !host->Ready()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the cgroup controllers were enabled but are not delegated: ", host->Describe()));
  }
  return host;
}

}  // namespace libsandbox
