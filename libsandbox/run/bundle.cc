#include "libsandbox/run/bundle.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/statx_shim.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/run/etc_tree.h"
#include "libsandbox/run/executor_script.h"
#include "libsandbox/run/figures.h"
#include "libsandbox/run/plots_script.h"

namespace libsandbox {
namespace {

constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Host system directories shown read-only; missing ones are skipped.
constexpr const char* kSystemDirs[] = {"/usr",   "/bin",    "/lib", "/lib32",
                                       "/lib64", "/libx32", "/sbin"};
// Top-level names of a rootfs image that the bundle mounts itself.
constexpr const char* kImageSkipped[] = {"proc", "dev", "sys", "tmp", "home", ".libsandbox"};
// Generated /etc files shown over an image's own.
constexpr const char* kEtcGenerated[] = {"passwd",   "group",         "hosts",
                                         "hostname", "nsswitch.conf", "resolv.conf"};

// A system directory that is a symlink into /usr on the host (merged /usr:
// /bin -> usr/bin) is the same symlink in the sandbox's root, resolved there
// through the /usr bind: a mount less for runsc to set up.
std::optional<std::string> UsrSymlink(const char* dir) {
  absl::StatusOr<std::string> target = ReadLink(dir);  // fails unless a symlink
  if (!target.ok() || !absl::StartsWith(absl::StripPrefix(*target, "/"), "usr/") ||
      absl::StrContains(*target, "..")) {
    return std::nullopt;
  }
  return *target;
}

oci::Mount* AddMount(oci::Spec& spec, std::string destination, std::string type, std::string source,
                     std::vector<std::string> options) {
  oci::Mount* m = spec.add_mounts();
  m->set_destination(std::move(destination));
  m->set_type(std::move(type));
  m->set_source(std::move(source));
  for (auto& o : options) m->add_options(std::move(o));
  return m;
}

// The per-run /etc: generated files, and mount points for the shared host
// entries bound over them (when there is no shared tree).
absl::Status WriteEtc(const std::string& etc, const BundleOptions& o) {
  if (auto s = WriteGeneratedEtc(etc, o.resolv_conf); !s.ok()) return s;
  // Mount points for the shared host entries.
  for (const char* shared : kEtcShared) {
    if (!Exists(shared)) continue;
    std::string target = SharedEntryIn(etc, shared);
    struct stat st;
    ::stat(shared, &st);
    if (S_ISDIR(st.st_mode)) {
      if (auto s = MakeDirs(target, 0755); !s.ok()) return s;
    } else {
      std::string parent = target.substr(0, target.rfind('/'));
      if (auto s = MakeDirs(parent, 0755); !s.ok()) return s;
      if (auto s = WriteFile(target, "", 0644); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// The image's top-level entries as (name, lstat mode), sorted by name.
absl::StatusOr<std::vector<std::pair<std::string, mode_t>>> ImageEntries(const std::string& image) {
  DIR* d = ::opendir(image.c_str());
  if (d == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the rootfs image ", image, ": ", std::strerror(errno)));
  }
  std::vector<std::pair<std::string, mode_t>> out;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool skipped = false;
    for (const char* s : kImageSkipped) skipped = skipped || name == s;
    struct stat st;
    if (skipped || ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    out.emplace_back(std::move(name), st.st_mode);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Mounts the image's directories and files read-only at the top of the
// sandbox's tree (its symlinks are recreated in the bundle's rootfs by
// LinkImageSymlinks), then the generated /etc files over the image's own.
absl::Status AddImageMounts(oci::Spec& spec, const std::string& run_dir, const std::string& image) {
  absl::StatusOr<std::vector<std::pair<std::string, mode_t>>> entries = ImageEntries(image);
  if (!entries.ok()) return entries.status();
  bool has_etc = false;
  for (const auto& [name, mode] : *entries) {
    if (!S_ISDIR(mode) && !S_ISREG(mode)) continue;
    AddMount(spec, "/" + name, "bind", absl::StrCat(image, "/", name),
             {"rbind", "ro", "nosuid", "nodev"});
    has_etc = has_etc || (name == "etc" && S_ISDIR(mode));
  }
  if (!has_etc) {
    AddMount(spec, "/etc", "bind", run_dir + "/etc", {"rbind", "ro", "nosuid", "nodev"});
    return absl::OkStatus();
  }
  // Only over regular files: a mount needs its mount point to exist, and
  // runsc would otherwise create it in the admin's image.
  for (const char* name : kEtcGenerated) {
    struct stat st;
    const std::string in_image = absl::StrCat(image, "/etc/", name);
    if (::lstat(in_image.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    AddMount(spec, absl::StrCat("/etc/", name), "bind", absl::StrCat(run_dir, "/etc/", name),
             {"bind", "ro", "nosuid", "nodev"});
  }
  return absl::OkStatus();
}

// The image's top-level symlinks (e.g. bin -> usr/bin), as they are: they
// resolve inside the sandbox, never on the host.
absl::Status LinkImageSymlinks(const std::string& rootfs_dir, const std::string& image) {
  absl::StatusOr<std::vector<std::pair<std::string, mode_t>>> entries = ImageEntries(image);
  if (!entries.ok()) return entries.status();
  for (const auto& [name, mode] : *entries) {
    if (!S_ISLNK(mode)) continue;
    absl::StatusOr<std::string> target = ReadLink(absl::StrCat(image, "/", name));
    if (!target.ok()) return target.status();
    if (::symlink(target->c_str(), absl::StrCat(rootfs_dir, "/", name).c_str()) != 0) {
      return ErrnoStatus("symlink " + name, errno);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRootfsProgram(const std::string& rootfs, const std::string& path) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the rootfs image ", rootfs, ": ", std::strerror(errno)));
  }
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = O_PATH | O_CLOEXEC;
  // As the sandbox will see it: ".." and absolute symlinks stay in the image.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd file(
      static_cast<int>(::syscall(SYS_openat2, root.get(), path.c_str(), &how, sizeof(how))));
  struct stat st;
  if (!file.valid() || ::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      (st.st_mode & 0111) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the rootfs image ", rootfs, " has no program ", path,
                     "; add it to the image, or run under a policy without rootfs"));
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> SandboxEnvironment(
    const std::map<std::string, std::string>& caller_env) {
  // The environment is built from scratch; the host's never leaks in. No
  // PYTHONUNBUFFERED: unbuffered text writes drop data on the short writes
  // gVisor makes to a full host pipe.
  std::map<std::string, std::string> env = {
      {"PATH", kDefaultPath},
      {"HOME", kSandboxHome},
      {"USER", "user"},
      {"LOGNAME", "user"},
      {"LANG", "C.UTF-8"},
      {"LC_ALL", "C.UTF-8"},
      {"TZ", "UTC"},
      {"TMPDIR", "/tmp"},
      {"PYTHONDONTWRITEBYTECODE", "1"},
      {"MPLBACKEND", "Agg"},
      // Caches (fonts, matplotlib's font list) go to /tmp: never mistaken
      // for files the code made.
      {"XDG_CACHE_HOME", "/tmp/.cache"},
      {"MPLCONFIGDIR", "/tmp/.matplotlib"},
  };
  for (const auto& [k, v] : caller_env) env[k] = v;
  return env;
}

std::string SandboxCodePath(const Language& language) {
  return absl::StrCat(kSandboxCodeDir, "/", language.file_name);
}

oci::Process SandboxProcess(std::vector<std::string> args,
                            const std::map<std::string, std::string>& caller_env,
                            int64_t max_pids) {
  oci::Process p;
  p.set_terminal(false);
  p.mutable_user()->set_uid(kSandboxUid);
  p.mutable_user()->set_gid(kSandboxGid);
  for (std::string& a : args) p.add_args(std::move(a));
  p.set_cwd(kSandboxHome);
  p.set_no_new_privileges(true);
  // No capabilities at all: the empty sets are the point.
  p.mutable_capabilities();
  if (max_pids > 0) {
    oci::Rlimit* r = p.add_rlimits();
    r->set_type("RLIMIT_NPROC");
    r->set_hard(static_cast<uint32_t>(max_pids));
    r->set_soft(static_cast<uint32_t>(max_pids));
  }
  oci::Rlimit* nofile = p.add_rlimits();
  nofile->set_type("RLIMIT_NOFILE");
  nofile->set_hard(4096);
  nofile->set_soft(1024);
  for (const auto& [k, v] : SandboxEnvironment(caller_env)) p.add_env(absl::StrCat(k, "=", v));
  return p;
}

absl::StatusOr<oci::Spec> BuildSpec(const std::string& run_dir, const BundleOptions& o) {
  if (o.language == nullptr) return absl::InvalidArgumentError("no language");
  oci::Spec spec;
  spec.set_oci_version("1.0.2");
  spec.set_hostname("sandbox");
  oci::Root* root = spec.mutable_root();
  // Always the bundle's own empty dir: runsc creates mount points in the
  // root, and an image is shared by many runs, so it is mounted piecewise.
  root->set_path(run_dir + "/rootfs");
  root->set_readonly(true);

  std::vector<std::string> args;
  if (!o.init_argv.empty()) {
    args = o.init_argv;
  } else if (o.executor) {
    args = {kExecutorPython, absl::StrCat(kSandboxCodeDir, "/", kExecutorFile)};
  } else {
    args.assign(o.language->argv.begin(), o.language->argv.end());
    args.push_back(SandboxCodePath(*o.language));
  }
  if (!o.rootfs.empty()) {
    if (absl::Status s = CheckRootfsProgram(o.rootfs, args[0]); !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(s.message(), " (language ", o.language->name, " needs it)"));
    }
  }
  *spec.mutable_process() = SandboxProcess(std::move(args), o.env, o.max_pids);

  AddMount(spec, "/proc", "proc", "proc", {"nosuid", "noexec", "nodev"});
  AddMount(spec, "/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"});
  AddMount(spec, "/dev/pts", "devpts", "devpts",
           {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"});
  std::string size = o.tmp_mb > 0 ? absl::StrCat("size=", o.tmp_mb, "m") : "";
  std::vector<std::string> tmp_opts = {"nosuid", "nodev", "mode=1777"};
  if (!size.empty()) tmp_opts.push_back(size);
  AddMount(spec, "/dev/shm", "tmpfs", "shm", tmp_opts);
  AddMount(spec, "/tmp", "tmpfs", "tmpfs", tmp_opts);
  AddMount(spec, "/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"});
  if (o.rootfs.empty()) {
    for (const char* dir : kSystemDirs) {
      if (Exists(dir) && !UsrSymlink(dir)) {
        AddMount(spec, dir, "bind", dir, {"rbind", "ro", "nosuid", "nodev"});
      }
    }
    if (!o.etc_dir.empty()) {
      AddMount(spec, "/etc", "bind", o.etc_dir, {"rbind", "ro", "nosuid", "nodev"});
      if (!o.resolv_conf.empty()) {
        AddMount(spec, "/etc/resolv.conf", "bind", run_dir + "/resolv.conf",
                 {"bind", "ro", "nosuid", "nodev"});
      }
    } else {
      AddMount(spec, "/etc", "bind", run_dir + "/etc", {"rbind", "ro", "nosuid", "nodev"});
      for (const char* shared : kEtcShared) {
        if (Exists(shared)) {
          AddMount(spec, shared, "bind", shared, {"rbind", "ro", "nosuid", "nodev"});
        }
      }
    }
  } else if (absl::Status s = AddImageMounts(spec, run_dir, o.rootfs); !s.ok()) {
    return s;
  }
  AddMount(spec, kSandboxHome, "bind", o.workspace_dir, {"rbind", "rw", "nosuid", "nodev"});
  AddMount(spec, kSandboxCodeDir, "bind", run_dir + "/code",
           {"rbind", "ro", "nosuid", "nodev", "noexec"});
  if (!o.compat_dir.empty()) {
    AddMount(spec, kSandboxCompatDir, "bind", o.compat_dir, {"rbind", "ro", "nosuid", "nodev"});
  }
  for (const std::string& m : o.extra_ro_mounts) {
    std::vector<std::string> parts = absl::StrSplit(m, absl::MaxSplits(':', 1));
    std::string dest = parts.size() == 2 ? parts[1] : parts[0];
    if (parts[0].empty() || parts[0][0] != '/' || dest.empty() || dest[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("extra_ro_mounts: '", m, "' must be HOST_PATH[:SANDBOX_PATH], absolute"));
    }
    if (!Exists(parts[0])) {
      return absl::InvalidArgumentError(absl::StrCat("extra_ro_mounts: ", parts[0], " not found"));
    }
    AddMount(spec, dest, "bind", parts[0], {"rbind", "ro", "nosuid", "nodev"});
  }

  oci::Linux* linux = spec.mutable_linux();
  for (const char* ns : {"pid", "ipc", "uts", "mount"}) linux->add_namespaces()->set_type(ns);
  if (o.own_network_namespace) linux->add_namespaces()->set_type("network");
  linux->set_cgroups_path(o.cgroups_path);
  return spec;
}

absl::StatusOr<std::string> WriteBundle(const std::string& run_dir, const BundleOptions& o) {
  absl::StatusOr<oci::Spec> spec = BuildSpec(run_dir, o);
  if (!spec.ok()) return spec.status();
  std::string bundle = run_dir + "/bundle";
  for (const std::string& dir : {bundle, run_dir + "/rootfs", run_dir + "/code"}) {
    if (auto s = MakeDirs(dir, 0755); !s.ok()) return s;
  }
  if (!o.rootfs.empty()) {
    if (auto s = WriteEtc(run_dir + "/etc", o); !s.ok()) return s;
    if (auto s = LinkImageSymlinks(run_dir + "/rootfs", o.rootfs); !s.ok()) return s;
  } else {
    if (o.etc_dir.empty()) {
      if (auto s = WriteEtc(run_dir + "/etc", o); !s.ok()) return s;
    } else if (!o.resolv_conf.empty()) {
      if (auto s = WriteFile(run_dir + "/resolv.conf", o.resolv_conf, 0644); !s.ok()) return s;
    }
    for (const char* dir : kSystemDirs) {
      std::optional<std::string> target = UsrSymlink(dir);
      if (target &&
          ::symlink(target->c_str(), absl::StrCat(run_dir, "/rootfs", dir).c_str()) != 0) {
        return ErrnoStatus(absl::StrCat("symlink ", dir), errno);
      }
    }
  }
  // Readable by the sandbox user through the read-only bind. A session's
  // init brings no code: each exec writes its own file later.
  if (o.init_argv.empty()) {
    const std::string name = o.executor ? kExecutorFile : o.language->file_name;
    const std::string content = o.executor ? std::string(kExecutorScript) : o.code;
    if (auto s = WriteFile(absl::StrCat(run_dir, "/code/", name), content, 0644); !s.ok()) {
      return s;
    }
    // A one-shot run's figures (figures.h).
    const std::string plots = absl::StrCat(run_dir, "/code/", kPlotsModuleFile);
    if (auto s = WriteFile(plots, kPlotsScript, 0644); !s.ok()) return s;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = false;
  print.preserve_proto_field_names = false;  // OCI uses lowerCamelCase names
  if (auto s = google::protobuf::util::MessageToJsonString(*spec, &json, print); !s.ok()) {
    return absl::InternalError(absl::StrCat("serializing config.json: ", s.ToString()));
  }
  if (auto s = WriteFile(bundle + "/config.json", json, 0600); !s.ok()) return s;
  return bundle;
}

}  // namespace libsandbox
