#include "libsandbox/api/doctor.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/cgroup.h"
#include "libsandbox/host/process.h"
#include "libsandbox/host/runsc.h"
#include "libsandbox/run/workspace_volume.h"
#include "libsandbox/sandbox.h"

namespace libsandbox {
namespace {

// Remedies name the exact options of the two places we usually run in.
constexpr char kSeccompRemedy[] =
    "Docker: --security-opt seccomp=unconfined (or a seccomp profile that allows unshare, "
    "mount, pivot_root and ptrace); Kubernetes: securityContext.seccompProfile.type: "
    "Unconfined. (--privileged / privileged: true also works but gives away the host.)";
constexpr char kAppArmorRemedy[] =
    "Docker: --security-opt apparmor=unconfined; Kubernetes: "
    "securityContext.appArmorProfile.type: Unconfined (before 1.30 the annotation "
    "container.apparmor.security.beta.kubernetes.io/<container>: unconfined)";
constexpr char kSelinuxRemedy[] =
    "Docker/Podman: --security-opt label=type:container_engine_t; Kubernetes: "
    "securityContext.seLinuxOptions.type: container_engine_t";
constexpr char kRootRemedy[] =
    "run the host process as root inside its container (Docker: --user 0; Kubernetes: "
    "securityContext.runAsUser: 0 and runAsNonRoot: false); gVisor's rootless mode weakens "
    "isolation and is not used";
constexpr char kInstallRemedy[] = "apt-get install runsc slirp4netns iptables";

Check MakeCheck(absl::string_view name, bool ok, std::string detail, std::string remedy = "") {
  Check c;
  c.set_name(std::string(name));
  c.set_ok(ok);
  c.set_detail(std::move(detail));
  if (!ok) c.set_remedy(std::move(remedy));
  return c;
}

// A short, single-line excerpt of text we did not write (kernel files,
// messages that may quote sandbox output).
std::string Excerpt(absl::string_view text, size_t max = 300) {
  std::string out;
  for (char c : absl::StripAsciiWhitespace(text)) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out.push_back(absl::ascii_isprint(c) ? c : ' ');
  }
  return out;
}

// The first line of a small kernel file, trimmed; empty if unreadable.
std::string ReadLine(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 4096);
  if (!text.ok()) return "";
  absl::string_view line = *text;
  line = line.substr(0, line.find('\n'));
  return std::string(absl::StripAsciiWhitespace(absl::string_view(line).substr(0, 256)));
}

// A field of /proc/self/status ("Seccomp", "NoNewPrivs"), or "".
std::string ProcStatusField(absl::string_view field) {
  absl::StatusOr<std::string> text = ReadFile("/proc/self/status", 1 << 16);
  if (!text.ok()) return "";
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, field) && absl::ConsumePrefix(&line, ":")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool HasEffectiveCap(cap_value_t cap) {
  cap_t caps = cap_get_proc();
  if (caps == nullptr) return false;
  cap_flag_value_t v = CAP_CLEAR;
  bool ok = cap_get_flag(caps, cap, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
  cap_free(caps);
  return ok;
}

// "EPERM (Operation not permitted)": the name is what people search for.
std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return absl::StrCat(name != nullptr ? name : "errno", " (", std::strerror(err), ")");
}

// Creates and removes a uniquely named directory in `dir`: the real test of
// writability (access(2) ignores read-only bind mounts for some callers and
// all permissions for root).
absl::Status ProbeMkdir(const std::string& dir) {
  std::string probe = absl::StrCat(dir, "/.libsandbox-doctor-", RandomHex(6));
  if (::mkdir(probe.c_str(), 0700) != 0) return ErrnoStatus(absl::StrCat("mkdir in ", dir), errno);
  if (::rmdir(probe.c_str()) != 0) return ErrnoStatus(absl::StrCat("rmdir ", probe), errno);
  return absl::OkStatus();
}

// What the namespace probe child reports: errno per step, 0 for success,
// -1 for "not attempted".
struct NamespaceProbe {
  int unshare_err = -1;  // the namespaces runsc creates as root
  int mount_err = -1;    // making / private inside the new mount namespace
  int userns_err = -1;   // a user namespace (needed only without root)
};

absl::StatusOr<NamespaceProbe> ProbeNamespacesInChild() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", errno);
  if (pid == 0) {
    // Child: async-signal-safe calls only; never touches the caller's namespaces.
    NamespaceProbe r;
    r.unshare_err =
        ::unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) == 0
            ? 0
            : errno;
    if (r.unshare_err == 0) {
      r.mount_err = ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 ? 0 : errno;
    }
    r.userns_err = ::unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
    (void)!::write(write_end.get(), &r, sizeof(r));
    ::_exit(0);
  }
  write_end.Reset();
  NamespaceProbe r;
  ssize_t n;
  do {
    n = ::read(read_end.get(), &r, sizeof(r));
  } while (n < 0 && errno == EINTR);
  int wstatus = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &wstatus, 0);
  } while (waited < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(r))) {
    if (waited == pid && WIFSIGNALED(wstatus)) {
      return absl::AbortedError(absl::StrCat("the probe child was killed by signal ",
                                             WTERMSIG(wstatus),
                                             " (a seccomp filter that kills on unshare?)"));
    }
    return absl::InternalError("the probe child reported nothing");
  }
  return r;
}

std::string SeccompHint() {
  std::string mode = ProcStatusField("Seccomp");
  if (mode == "2") return "; this process runs under a seccomp filter (Seccomp: 2)";
  if (mode == "1") return "; this process runs in seccomp strict mode";
  return "";
}

Check CgroupControllerCheck(const CgroupHost& host, const std::string& controller,
                            absl::string_view what) {
  std::string name = absl::StrCat("cgroup_", controller);
  if (!host.Has(controller)) {
    return MakeCheck(
        name, false,
        absl::StrCat("the '", controller, "' cgroup controller is not available, so the ", what,
                     " cap cannot be enforced (runs asking for it are refused)"),
        kCgroupRemedy);
  }
  const std::string& dir = host.own_dirs.at(controller);
  std::string version = host.version == CgroupVersion::kV2 ? "v2" : "v1";
  if (absl::Status s = ProbeMkdir(dir); !s.ok()) {
    return MakeCheck(name, false,
                     absl::StrCat(version, " cgroup ", dir, " is not writable (", s.message(),
                                  "), so the ", what, " cap cannot be enforced"),
                     kCgroupRemedy);
  }
  return MakeCheck(name, true, absl::StrCat(version, " cgroup ", dir, " is writable"));
}

// "cgroups": the version and, on v2, the layout found and what the first
// capped run will change in it.
Check CgroupLayoutCheck(const CgroupHost& host, const Config& config) {
  std::string found = host.Describe();
  if (host.version != CgroupVersion::kV2 || host.Ready()) {
    return MakeCheck("cgroups", true, absl::StrCat(found, "; sandbox cgroups go below it"));
  }
  if (host.true_root) {
    return MakeCheck("cgroups", true,
                     absl::StrCat(found,
                                  "; the first capped run enables memory, cpu and pids "
                                  "for the root's children"));
  }
  if (host.others.empty()) {
    return MakeCheck(
        "cgroups", true,
        absl::StrCat(found, "; the first capped run moves this process into ", host.base, "/",
                     kCgroupLeaf, " and hands the controllers to sandbox cgroups beside it"));
  }
  std::string pids;
  for (size_t i = 0; i < host.others.size() && i < 8; ++i) {
    absl::StrAppend(&pids, i ? " " : "", host.others[i]);
  }
  if (config.keep_cgroup_processes()) {
    return MakeCheck(
        "cgroups", false,
        absl::StrCat(found, "; keep_cgroup_processes forbids moving the other processes (", pids,
                     ") into ", kCgroupLeaf, ", so capped runs are refused"),
        "start the host process in a cgroup of its own (systemd: Delegate=yes; Docker/Kubernetes: "
        "the container's own cgroup, not --cgroupns=host with a shared cgroup), or unset "
        "keep_cgroup_processes");
  }
  return MakeCheck(
      "cgroups", true,
      absl::StrCat(found, "; NOTE: the first capped run moves every process of ", host.base, " (",
                   pids, ") into ", host.base, "/", kCgroupLeaf,
                   ", once: a real change to this host's cgroups (cgroup v2 hands controllers "
                   "down only from a cgroup without processes); set keep_cgroup_processes to "
                   "forbid it"));
}

bool SwapInUse() {
  absl::StatusOr<std::string> swaps = ReadFile("/proc/swaps", 1 << 16);
  if (!swaps.ok()) return false;
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(*swaps, '\n', absl::SkipEmpty())) {
    (void)line;
    ++lines;
  }
  return lines > 1;  // the first line is the header
}

Check CgroupSwapCheck(const CgroupHost& host) {
  constexpr absl::string_view kName = "cgroup_swap";
  bool swap = SwapInUse();
  bool accounted = false;
  std::string how;
  if (host.version == CgroupVersion::kV1) {
    accounted = host.memsw;
    how = "v1 memory.memsw";
  } else if (host.version == CgroupVersion::kV2 && host.Has("memory")) {
    // The root cgroup has no memory.swap.max; a child of it has when swap is accounted.
    const std::string& dir = host.own_dirs.at("memory");
    accounted = PathExists(dir + "/memory.swap.max") || PathExists(dir + "/memory.swap.current");
    how = "v2 memory.swap.max";
  }
  if (accounted) return MakeCheck(kName, true, absl::StrCat(how, " present: swap is capped too"));
  if (!swap) {
    return MakeCheck(kName, true,
                     absl::StrCat(how.empty() ? "no memory cgroup" : how + " absent",
                                  "; no swap in use, so the memory cap is not bypassed"));
  }
  return MakeCheck(kName, false,
                   absl::StrCat(how.empty() ? "no memory cgroup" : how + " absent",
                                " while swap is in use: a sandbox can exceed its memory cap "
                                "by swapping"),
                   "boot the host kernel with swapaccount=1 (or disable swap: swapoff -a)");
}

}  // namespace

Check CheckArch() {
  struct utsname u;
  if (::uname(&u) != 0) {
    return MakeCheck("arch", false, absl::StrCat("uname failed: ", std::strerror(errno)),
                     "run on a Linux x86_64 or aarch64 host");
  }
  std::string machine = u.machine;
  bool ok =
      absl::string_view(u.sysname) == "Linux" && (machine == "x86_64" || machine == "aarch64");
  return MakeCheck("arch", ok, absl::StrCat(u.sysname, " ", machine, ", kernel ", u.release),
                   "gVisor runs only on Linux x86_64 and aarch64 (arm64) hosts");
}

Check CheckRoot() {
  uid_t euid = ::geteuid();
  if (euid != 0) {
    return MakeCheck("root", false,
                     absl::StrCat("running as uid ", euid,
                                  ": runsc needs root here, so runs fail with SANDBOX_ERROR; "
                                  "the self-check, input validation and runsc_version still work"),
                     kRootRemedy);
  }
  // Root of a user namespace is not root on the host: runsc may lack what it needs.
  std::string map = ReadLine("/proc/self/uid_map");
  std::vector<std::string> fields = absl::StrSplit(map, ' ', absl::SkipEmpty());
  bool init_ns = fields.size() == 3 && fields[0] == "0" && fields[1] == "0";
  return MakeCheck(
      "root", true,
      init_ns
          ? "running as root"
          : absl::StrCat("running as root of a user namespace (uid_map: ", Excerpt(map, 80), ")"));
}

Check CheckRunsc(const Config& config) {
  constexpr absl::string_view kName = "runsc";
  const std::string remedy = absl::StrCat(
      "apt-get install runsc (or install gVisor's release from gvisor.dev), or set runsc_path "
      "to the runsc binary");
  absl::StatusOr<std::string> path = LocateRunsc(config.runsc_path());
  if (!path.ok()) return MakeCheck(kName, false, std::string(path.status().message()), remedy);
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(*path);
  if (!info.ok()) return MakeCheck(kName, false, std::string(info.status().message()), remedy);
  const RunscInfo& r = **info;
  std::string detail = absl::StrCat("runsc version ", r.version, " at ", r.path);
  if (r.build_date != 0) {
    absl::StrAppendFormat(&detail, " (built %04d-%02d-%02d)", r.build_date / 10000,
                          r.build_date / 100 % 100, r.build_date % 100);
  }
  absl::StatusOr<std::string> platform = ChoosePlatform(r, config.platform());
  if (!platform.ok()) {
    return MakeCheck(kName, false, absl::StrCat(detail, "; ", platform.status().message()),
                     absl::StrCat("set platform to one of: ", absl::StrJoin(r.platforms, ", "),
                                  " (never kvm inside a VM without nested virtualisation), or "
                                  "leave it empty for the build's default"));
  }
  if (!platform->empty()) {
    absl::StrAppend(&detail, "; platform ", *platform,
                    config.platform().empty() ? " (build default)" : " (configured)");
  }
  return MakeCheck(kName, true, std::move(detail));
}

Check CheckNamespaces() {
  constexpr absl::string_view kName = "namespaces";
  absl::StatusOr<NamespaceProbe> probe = ProbeNamespacesInChild();
  if (!probe.ok()) {
    return MakeCheck(
        kName, false,
        absl::StrCat("could not probe namespaces: ", probe.status().message(), SeccompHint()),
        kSeccompRemedy);
  }
  bool root = ::geteuid() == 0;
  std::string userns = probe->userns_err == 0
                           ? "user namespaces allowed"
                           : absl::StrCat("user namespaces refused: ", ErrnoName(probe->userns_err),
                                          root ? " (not needed as root)" : "");
  if (probe->unshare_err != 0) {
    bool eperm = probe->unshare_err == EPERM;
    std::string remedy = kSeccompRemedy;
    if (eperm && !HasEffectiveCap(CAP_SYS_ADMIN)) {
      remedy = absl::StrCat(
          "add CAP_SYS_ADMIN (Docker: --cap-add SYS_ADMIN; Kubernetes: "
          "securityContext.capabilities.add: [SYS_ADMIN]); and if a seccomp filter is active: ",
          kSeccompRemedy);
    }
    return MakeCheck(
        kName, false,
        absl::StrCat(
            "unshare of mount/pid/ipc/uts/net namespaces failed: ", ErrnoName(probe->unshare_err),
            eperm ? ", as Docker's default seccomp profile does" : "", SeccompHint(), "; ", userns),
        std::move(remedy));
  }
  if (probe->mount_err != 0) {
    return MakeCheck(
        kName, false,
        absl::StrCat(
            "namespaces can be created but mount inside them failed: ", ErrnoName(probe->mount_err),
            " (AppArmor's docker-default profile denies mount)", SeccompHint(), "; ", userns),
        absl::StrCat(kAppArmorRemedy, "; and if a seccomp filter is active: ", kSeccompRemedy));
  }
  if (!root && probe->userns_err != 0) {
    return MakeCheck(kName, false, absl::StrCat("not root and ", userns),
                     absl::StrCat(kRootRemedy,
                                  "; or allow user namespaces (sysctl "
                                  "user.max_user_namespaces=15000)"));
  }
  return MakeCheck(kName, true,
                   absl::StrCat("mount, pid, ipc, uts and net namespaces and mounts in them "
                                "work in a child process; ",
                                userns));
}

Check CheckCapabilities() {
  constexpr absl::string_view kName = "capabilities";
  struct Cap {
    cap_value_t value;
    const char* name;
    bool network_only;
  };
  // What runsc's sandbox and gofer use when started as root; NET_ADMIN wires
  // the network namespace for network=on.
  static constexpr Cap kCaps[] = {
      {CAP_SYS_ADMIN, "SYS_ADMIN", false},   {CAP_SYS_PTRACE, "SYS_PTRACE", false},
      {CAP_SYS_CHROOT, "SYS_CHROOT", false}, {CAP_SETUID, "SETUID", false},
      {CAP_SETGID, "SETGID", false},         {CAP_DAC_OVERRIDE, "DAC_OVERRIDE", false},
      {CAP_CHOWN, "CHOWN", false},           {CAP_FOWNER, "FOWNER", false},
      {CAP_NET_ADMIN, "NET_ADMIN", true},
  };
  cap_t caps = cap_get_proc();
  if (caps == nullptr) {
    return MakeCheck(kName, false, absl::StrCat("cap_get_proc failed: ", std::strerror(errno)),
                     kRootRemedy);
  }
  std::vector<std::string> have, missing, missing_net;
  for (const Cap& c : kCaps) {
    cap_flag_value_t v = CAP_CLEAR;
    if (cap_get_flag(caps, c.value, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET) {
      have.push_back(c.name);
    } else {
      (c.network_only ? missing_net : missing).push_back(c.name);
    }
  }
  cap_free(caps);
  if (missing.empty() && missing_net.empty()) {
    return MakeCheck(kName, true, absl::StrCat("effective: ", absl::StrJoin(have, ", ")));
  }
  std::vector<std::string> all_missing = missing;
  all_missing.insert(all_missing.end(), missing_net.begin(), missing_net.end());
  std::string detail = absl::StrCat("missing: ", absl::StrJoin(all_missing, ", "));
  if (!missing.empty()) {
    absl::StrAppend(&detail, " (sandboxes cannot start)");
  } else {
    absl::StrAppend(&detail, " (only network=on is affected)");
  }
  std::string docker;
  for (const std::string& c : all_missing) absl::StrAppend(&docker, " --cap-add ", c);
  return MakeCheck(
      kName, false, std::move(detail),
      absl::StrCat("Docker:", docker, "; Kubernetes: securityContext.capabilities.add: [",
                   absl::StrJoin(all_missing, ", "), "]"));
}

Check CheckAppArmor() {
  constexpr absl::string_view kName = "apparmor";
  bool enabled = PathExists("/sys/kernel/security/apparmor") ||
                 ReadLine("/sys/module/apparmor/parameters/enabled") == "Y";
  if (!enabled) return MakeCheck(kName, true, "AppArmor is not enabled");
  // Newer kernels have a per-LSM file; the generic one belongs to whichever
  // LSM is primary.
  std::string label = ReadLine("/proc/self/attr/apparmor/current");
  if (label.empty()) {
    label = ReadLine("/proc/self/attr/current");
    if (absl::StrContains(label, ':')) label.clear();  // an SELinux context
  }
  label = Excerpt(label, 120);
  if (label.empty())
    return MakeCheck(kName, true, "AppArmor is enabled; this process's profile is unknown");
  if (label == "unconfined" || absl::EndsWith(label, "(unconfined)") ||
      absl::EndsWith(label, "(complain)")) {
    return MakeCheck(kName, true, absl::StrCat("AppArmor is enabled; profile: ", label));
  }
  return MakeCheck(kName, false,
                   absl::StrCat("this process is confined by AppArmor profile ", label,
                                ", which denies the mounts gVisor needs"),
                   kAppArmorRemedy);
}

Check CheckSelinux() {
  constexpr absl::string_view kName = "selinux";
  std::string enforce = ReadLine("/sys/fs/selinux/enforce");
  if (enforce.empty()) return MakeCheck(kName, true, "SELinux is not enabled");
  std::string label = Excerpt(ReadLine("/proc/self/attr/current"), 200);
  std::vector<std::string> parts = absl::StrSplit(label, ':');
  std::string type = parts.size() >= 3 ? parts[2] : "";
  std::string detail = absl::StrCat("SELinux is ", enforce == "1" ? "enforcing" : "permissive",
                                    "; label: ", label.empty() ? "unknown" : label);
  // container_t (svirt_lxc_net_t on old hosts) is the default container type;
  // it may not create the namespaces and mounts gVisor needs.
  bool confined = type == "container_t" || type == "svirt_lxc_net_t";
  if (enforce == "1" && confined) return MakeCheck(kName, false, std::move(detail), kSelinuxRemedy);
  return MakeCheck(kName, true, std::move(detail));
}

std::vector<Check> CheckCgroups(const Config& config) {
  std::vector<Check> out;
  absl::StatusOr<CgroupHost> host = DetectCgroups();
  if (!host.ok() || host->version == CgroupVersion::kNone) {
    std::string why = host.ok() ? "no cgroup hierarchy with memory, cpu or pids found"
                                : std::string(host.status().message());
    out.push_back(MakeCheck("cgroups", false,
                            absl::StrCat(why, ": memory, CPU and pids caps cannot be enforced"),
                            kCgroupRemedy));
    return out;
  }
  out.push_back(CgroupLayoutCheck(*host, config));
  out.push_back(CgroupControllerCheck(*host, "memory", "memory"));
  out.push_back(CgroupControllerCheck(*host, "cpu", "CPU"));
  out.push_back(CgroupControllerCheck(*host, "pids", "process count"));
  out.push_back(CgroupSwapCheck(*host));
  return out;
}

Check CheckTool(const std::string& tool) {
  std::optional<std::string> path = FindInPath(tool);
  if (!path) {
    return MakeCheck(tool, false,
                     absl::StrCat(tool,
                                  " not found on PATH; network=on runs will fail "
                                  "(network=off is unaffected)"),
                     kInstallRemedy);
  }
  return MakeCheck(tool, true, absl::StrCat(*path, " (used for network=on)"));
}

// Sessions cap their persistent workspace with an ext4 volume by default.
Check CheckSessionWorkspaces() {
  constexpr char kName[] = "session_workspaces";
  if (absl::Status s = WorkspaceVolumeSupported(); !s.ok()) {
    return MakeCheck(kName, false,
                     absl::StrCat("size-capped session workspaces (the sessions' default) cannot "
                                  "be made here: ",
                                  s.message(), "; one-shot runs are unaffected"),
                     "install e2fsprogs and give the host process loop devices (in a container: "
                     "--device /dev/loop-control plus CAP_SYS_ADMIN), or run sessions with "
                     "workspace_mb=0 (SESSION_WORKSPACE_MEGABYTES=0 in Open WebUI)");
  }
  return MakeCheck(kName, true,
                   "e2fsprogs and /dev/loop-control present: session workspaces "
                   "can be size-capped volumes");
}

Check CheckDirWritable(absl::string_view name, const std::string& path) {
  const std::string remedy =
      absl::StrCat("set ", name, " to a writable directory, or make ", path.empty() ? "it" : path,
                   " writable by this user (in a container: mount a writable volume there)");
  if (path.empty() || path.front() != '/') {
    return MakeCheck(name, false, absl::StrCat(name, " \"", path, "\" is not an absolute path"),
                     remedy);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return MakeCheck(name, false, absl::StrCat(path, " exists but is not a directory"), remedy);
    }
    if (absl::Status s = ProbeMkdir(path); !s.ok()) {
      return MakeCheck(name, false, absl::StrCat(path, " is not writable: ", s.message()), remedy);
    }
    std::string detail = absl::StrCat(path, " is writable");
    struct statvfs vfs;
    if (::statvfs(path.c_str(), &vfs) == 0) {
      absl::StrAppendFormat(&detail, " (%.1f GiB free)",
                            static_cast<double>(vfs.f_bavail) * vfs.f_frsize / (1 << 30));
    }
    return MakeCheck(name, true, std::move(detail));
  }
  // Not there yet: it is created on first use below its nearest existing ancestor.
  std::string ancestor = path;
  while (true) {
    size_t slash = ancestor.find_last_of('/');
    ancestor = slash == 0 ? "/" : ancestor.substr(0, slash);
    if (::stat(ancestor.c_str(), &st) == 0 || ancestor == "/") break;
  }
  if (!S_ISDIR(st.st_mode)) {
    return MakeCheck(name, false,
                     absl::StrCat(path, " cannot be created: ", ancestor, " is not a directory"),
                     remedy);
  }
  if (absl::Status s = ProbeMkdir(ancestor); !s.ok()) {
    return MakeCheck(name, false,
                     absl::StrCat(path, " does not exist and cannot be created: ", s.message()),
                     remedy);
  }
  return MakeCheck(name, true,
                   absl::StrCat(path, " does not exist yet; it will be created in ", ancestor,
                                ", which is writable"));
}

Check CheckSmokeRun(const Config& config) {
  constexpr absl::string_view kName = "smoke_run";
  RunRequest request;
  request.set_code("print('ok')");
  request.set_language("python");
  Result r = Run(request, config);
  std::string status(StatusName(r.status()));
  if (r.status() == Result::OK && r.stdout() == "ok\n") {
    return MakeCheck(kName, true,
                     absl::StrFormat("print('ok') ran in a sandbox in %.2f s", r.duration_s()));
  }
  std::string detail = absl::StrCat("print('ok') gave ", status);
  if (!r.message().empty()) absl::StrAppend(&detail, ": ", Excerpt(r.message()));
  if (r.status() == Result::OK || r.status() == Result::ERROR) {
    absl::StrAppend(&detail, "; stdout: \"", Excerpt(r.stdout(), 100), "\", stderr: \"",
                    Excerpt(r.stderr(), 200), "\"");
  }
  return MakeCheck(kName, false, std::move(detail),
                   absl::StrCat("fix the failed checks above; ",
                                r.message().empty() ? "" : Excerpt(r.message()) + "; ",
                                "set debug to keep runsc's logs of the run"));
}

std::vector<Check> RunDoctor(const Config& config) {
  Config resolved = ResolvedConfig(config);
  std::vector<Check> checks;
  checks.push_back(CheckArch());
  checks.push_back(CheckRoot());
  checks.push_back(CheckRunsc(resolved));
  bool runsc_ok = checks.back().ok();
  checks.push_back(CheckNamespaces());
  checks.push_back(CheckCapabilities());
  checks.push_back(CheckAppArmor());
  checks.push_back(CheckSelinux());
  for (Check& c : CheckCgroups(config)) checks.push_back(std::move(c));
  checks.push_back(CheckTool("slirp4netns"));
  checks.push_back(CheckTool("iptables"));
  checks.push_back(CheckSessionWorkspaces());
  checks.push_back(CheckDirWritable("state_dir", resolved.state_dir()));
  bool dirs_ok = checks.back().ok();
  checks.push_back(CheckDirWritable("storage_dir", resolved.storage_dir()));
  dirs_ok = dirs_ok && checks.back().ok();
  if (runsc_ok && dirs_ok) {
    checks.push_back(CheckSmokeRun(config));
  } else {
    checks.push_back(MakeCheck("smoke_run", false,
                               "skipped: a sandbox cannot start without runsc and writable "
                               "state and storage directories",
                               "fix the failed runsc, state_dir or storage_dir check first"));
  }
  return checks;
}

}  // namespace libsandbox
