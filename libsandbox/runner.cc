#include "libsandbox/runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libsandbox/bundle.h"
#include "libsandbox/cgroup.h"
#include "libsandbox/fs_util.h"
#include "libsandbox/languages.h"
#include "libsandbox/network.h"
#include "libsandbox/process.h"
#include "libsandbox/retention.h"
#include "libsandbox/run_dir.h"
#include "libsandbox/runsc.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/text.h"
#include "libsandbox/validate.h"

namespace libsandbox {
namespace {

// Host threads/processes gVisor itself needs on top of the sandbox's own
// tasks (sentry and gofer threads, platform stubs).
constexpr int64_t kPidsOverhead = 96;

constexpr char kUnenforcedHint[] =
    " (set allow_unenforced_limits to run without it, or REQUIRE_RESOURCE_LIMITING=false in "
    "Open WebUI)";

Result Fail(Result::Status status, std::string message, absl::Time start) {
  Result r;
  r.set_status(status);
  r.set_message(std::move(message));
  r.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
  return r;
}

// Reaps each state dir once per process, before its first run.
void ReapOnce(const std::string& state_dir, const std::string& runsc) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* done = new std::set<std::string>();
  absl::MutexLock lock(&mu);
  if (!done->insert(state_dir).second) return;
  ReapStaleRuns(state_dir, runsc);
}

const absl::StatusOr<CgroupHost>& HostCgroups() {
  static const auto* host = new absl::StatusOr<CgroupHost>(DetectCgroups());
  return *host;
}

// The workspace: a size-capped tmpfs owned by the sandbox user.
absl::Status PrepareWorkspace(const std::string& dir, int64_t size_mb) {
  if (::mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus("mkdir " + dir, errno);
  if (size_mb > 0) {
    std::string opts = absl::StrFormat("size=%dm,mode=0700,uid=%d,gid=%d,nr_inodes=%d", size_mb,
                                       kSandboxUid, kSandboxGid, 65536);
    if (::mount("libsandbox-workspace", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) !=
        0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot mount the size-capped workspace (", ErrnoStatus("mount tmpfs", errno).message(),
          "); the host process needs CAP_SYS_ADMIN, or set workspace_mb=0"));
    }
    return absl::OkStatus();
  }
  if (::chown(dir.c_str(), kSandboxUid, kSandboxGid) != 0) return ErrnoStatus("chown", errno);
  return absl::OkStatus();
}

struct Stamp {
  off_t size;
  struct timespec mtime;
};

// Writes the caller's input files, owned by the sandbox user, and remembers
// them so that unchanged inputs are not collected as outputs.
absl::StatusOr<std::map<std::string, Stamp>> WriteInputs(const std::string& workspace,
                                                         const RunRequest& request) {
  std::map<std::string, Stamp> stamps;
  for (const InputFile& f : request.files()) {
    std::string rel;
    for (absl::string_view part : absl::StrSplit(f.path(), '/', absl::SkipEmpty())) {
      if (part == ".") continue;
      if (!rel.empty()) {
        std::string dir = absl::StrCat(workspace, "/", rel);
        if (::mkdir(dir.c_str(), 0755) == 0) {
          (void)::chown(dir.c_str(), kSandboxUid, kSandboxGid);
        } else if (errno != EEXIST) {
          return ErrnoStatus("mkdir " + rel, errno);
        }
      }
      absl::StrAppend(&rel, rel.empty() ? "" : "/", part);
    }
    std::string path = absl::StrCat(workspace, "/", rel);
    if (auto s = WriteFile(path, f.content(), 0644, /*overwrite=*/true); !s.ok()) return s;
    struct stat st;
    if (::lchown(path.c_str(), kSandboxUid, kSandboxGid) != 0 || ::lstat(path.c_str(), &st) != 0) {
      return ErrnoStatus("stat " + rel, errno);
    }
    stamps[rel] = {st.st_size, st.st_mtim};
  }
  return stamps;
}

bool RunscStateLeft(const std::string& runsc_root, const std::string& container) {
  DIR* d = ::opendir(runsc_root.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (struct dirent* e = ::readdir(d)) {
    if (absl::StrContains(e->d_name, container)) found = true;
  }
  ::closedir(d);
  return found;
}

// runsc reports its own failures (not the code's) with exit status 128 and a
// last stderr line like "running container: ...".
bool IsRunscFailure(const ProcessResult& p) {
  if (p.exit_code != 128) return false;
  absl::string_view err = absl::StripTrailingAsciiWhitespace(p.err.data);
  absl::string_view last =
      err.substr(err.rfind('\n') == absl::string_view::npos ? 0 : err.rfind('\n') + 1);
  for (absl::string_view prefix :
       {"running container:", "creating container:", "starting container:", "loading container:"}) {
    if (absl::StartsWith(last, prefix)) return true;
  }
  return false;
}

}  // namespace

Result RunOnce(const RunRequest& request, const Config& config) {
  const absl::Time start = absl::Now();
  const Limits limits = request.has_limits() ? request.limits() : DefaultLimits();
  if (absl::Status s = ValidateRequest(request, limits); !s.ok()) {
    return Fail(Result::INVALID_INPUT, std::string(s.message()), start);
  }
  const Language* language =
      FindLanguage(request.language().empty() ? "python" : request.language());

  absl::StatusOr<std::string> runsc_path = LocateRunsc(config.runsc_path());
  if (!runsc_path.ok()) {
    return Fail(Result::SANDBOX_ERROR, std::string(runsc_path.status().message()), start);
  }
  absl::StatusOr<std::shared_ptr<const RunscInfo>> runsc = ProbeRunsc(*runsc_path);
  if (!runsc.ok()) return Fail(Result::SANDBOX_ERROR, std::string(runsc.status().message()), start);
  absl::StatusOr<std::string> platform = ChoosePlatform(**runsc, config.platform());
  if (!platform.ok()) {
    return Fail(Result::SANDBOX_ERROR, std::string(platform.status().message()), start);
  }
  ReapOnce(config.state_dir(), *runsc_path);

  std::string notes;  // caps that were asked for but run unenforced
  absl::StatusOr<RunDir> run = RunDir::Create(config.state_dir());
  if (!run.ok()) {
    return Fail(Result::SANDBOX_ERROR,
                absl::StrCat("cannot create the run directory: ", run.status().message(),
                             "; check that state_dir is writable"),
                start);
  }
  const std::string workspace = run->workspace();
  if (absl::Status s = PrepareWorkspace(workspace, limits.workspace_mb()); !s.ok()) {
    if (!config.allow_unenforced_limits()) {
      return Fail(Result::SANDBOX_ERROR, absl::StrCat(s.message(), kUnenforcedHint), start);
    }
    absl::StrAppend(&notes, "workspace size not enforced: ", s.message(), "\n");
    if (absl::Status s2 = PrepareWorkspace(workspace, 0); !s2.ok()) {
      return Fail(Result::SANDBOX_ERROR, std::string(s2.message()), start);
    }
  }
  absl::StatusOr<std::map<std::string, Stamp>> inputs = WriteInputs(workspace, request);
  if (!inputs.ok()) {
    return Fail(Result::INVALID_INPUT,
                absl::StrCat("cannot write input files: ", inputs.status().message()), start);
  }

  // Caps through a cgroup below our own.
  std::unique_ptr<SandboxCgroup> cgroup;
  CgroupLimits cg_limits;
  cg_limits.memory_bytes = limits.memory_mb() * (int64_t{1} << 20);
  cg_limits.cpus = limits.cpus();
  cg_limits.pids = limits.max_pids() > 0 ? limits.max_pids() + kPidsOverhead : 0;
  {
    absl::Status s = HostCgroups().status();
    if (s.ok()) {
      absl::StatusOr<std::unique_ptr<SandboxCgroup>> cg =
          SandboxCgroup::Create(*HostCgroups(), run->id(), cg_limits);
      if (cg.ok()) {
        cgroup = std::move(*cg);
      } else {
        s = cg.status();
      }
    }
    bool wanted = cg_limits.memory_bytes > 0 || cg_limits.cpus > 0 || cg_limits.pids > 0;
    if (!cgroup && wanted) {
      if (!config.allow_unenforced_limits()) {
        return Fail(Result::SANDBOX_ERROR,
                    absl::StrCat("memory/CPU/pids limits cannot be enforced: ", s.message(),
                                 kUnenforcedHint),
                    start);
      }
      absl::StrAppend(&notes, "memory/CPU/pids limits not enforced: ", s.message(), "\n");
    }
  }

  std::unique_ptr<SandboxNetwork> network;
  if (request.network()) {
    NetworkOptions net_options;
    for (const std::string& cidr : config.allowed_cidrs())
      net_options.allowed_cidrs.push_back(cidr);
    absl::StatusOr<std::unique_ptr<SandboxNetwork>> net = SandboxNetwork::Create(net_options);
    if (!net.ok()) {
      return Fail(
          absl::IsInvalidArgument(net.status()) ? Result::INVALID_INPUT : Result::SANDBOX_ERROR,
          absl::StrCat("cannot set up the sandbox network: ", net.status().message()), start);
    }
    network = std::move(*net);
  }

  BundleOptions bundle;
  bundle.language = language;
  bundle.code = request.code();
  bundle.workspace_dir = workspace;
  bundle.tmp_mb = limits.tmp_mb() > 0 ? limits.tmp_mb() : limits.workspace_mb();
  bundle.env.insert(request.env().begin(), request.env().end());
  bundle.cgroups_path = cgroup ? cgroup->relative_path() : "";
  bundle.own_network_namespace = network == nullptr;
  bundle.resolv_conf = network ? network->ResolvConf() : "";
  bundle.max_pids = limits.max_pids();
  bundle.extra_ro_mounts.assign(config.extra_ro_mounts().begin(), config.extra_ro_mounts().end());
  absl::StatusOr<std::string> bundle_dir = WriteBundle(run->path(), bundle);
  if (!bundle_dir.ok()) {
    return Fail(absl::IsInvalidArgument(bundle_dir.status()) ? Result::INVALID_INPUT
                                                             : Result::SANDBOX_ERROR,
                std::string(bundle_dir.status().message()), start);
  }

  const std::string runsc_root = RunscRoot(config.state_dir());
  const std::string container = ContainerId(run->id());
  SpawnOptions spawn;
  spawn.argv = {*runsc_path, "--root", runsc_root, "--platform=" + *platform,
                network ? "--network=host" : "--network=none"};
  if (!cgroup) spawn.argv.push_back("--ignore-cgroups");
  // Newer builds otherwise leave a "null-netns" mount behind in --root.
  if ((*runsc)->Supports("gofer-network-namespace")) {
    spawn.argv.push_back("--gofer-network-namespace=new");
  }
  if (config.debug()) {
    spawn.argv.insert(spawn.argv.end(),
                      {"--debug", "--debug-log=" + run->path() + "/logs/", "--strace"});
  }
  spawn.argv.insert(spawn.argv.end(), {"run", "--bundle", *bundle_dir, container});
  spawn.netns_fd = network ? network->netns_fd() : -1;
  if (request.has_stdin()) spawn.stdin_data = request.stdin();

  absl::StatusOr<Subprocess> child = Subprocess::Start(spawn);
  if (!child.ok()) {
    return Fail(Result::SANDBOX_ERROR,
                absl::StrCat("cannot start runsc: ", child.status().message()), start);
  }
  const absl::Time deadline =
      limits.timeout_s() > 0 ? start + absl::Seconds(limits.timeout_s()) : absl::InfiniteFuture();
  auto kill_sandbox = [&] {
    // Killing the cgroup takes the sentry, gofer and every task down at once.
    if (cgroup) cgroup->KillAll();
    (void)RunCommand({*runsc_path, "--root", runsc_root, "kill", "--all", container, "KILL"},
                     absl::Seconds(5));
  };
  size_t cap = static_cast<size_t>(limits.max_output_bytes());
  absl::StatusOr<ProcessResult> p = child->Communicate(cap, deadline, kill_sandbox);
  if (!p.ok()) {
    kill_sandbox();
    return Fail(Result::SANDBOX_ERROR, absl::StrCat("runsc: ", p.status().message()), start);
  }
  const bool oom = cgroup && cgroup->OomKilled();
  if (cgroup) cgroup->KillAll();
  if (RunscStateLeft(runsc_root, container)) {
    (void)RunCommand({*runsc_path, "--root", runsc_root, "delete", "--force", container},
                     absl::Seconds(10));
  }

  Result result;
  result.set_stdout(SanitizeUtf8(p->out.data));
  result.set_stderr(SanitizeUtf8(p->err.data));
  result.set_stdout_truncated(p->out.truncated);
  result.set_stderr_truncated(p->err.truncated);
  if (oom) {
    result.set_status(Result::INTERRUPTED);
    result.set_reason("memory");
    result.set_message(absl::StrCat("The sandbox ran out of memory (limit ", limits.memory_mb(),
                                    " MiB) and was stopped; raise memory_mb "
                                    "(MAX_RAM_MEGABYTES) if the code needs more."));
  } else if (p->timed_out) {
    result.set_status(Result::TIMEOUT);
    result.set_message(absl::StrCat("The code ran longer than the limit of ", limits.timeout_s(),
                                    " s and was stopped; output up to then is kept. Raise "
                                    "timeout_s (MAX_RUNTIME_SECONDS) to allow more time."));
  } else if (IsRunscFailure(*p)) {
    result.set_status(Result::SANDBOX_ERROR);
    std::string err = std::string(absl::StripTrailingAsciiWhitespace(result.stderr()));
    result.set_message(
        absl::StrCat("The sandbox failed to start: ",
                     err.substr(err.rfind('\n') == std::string::npos ? 0 : err.rfind('\n') + 1),
                     ". Run the self-check (doctor) for remedies."));
    result.clear_stderr();
  } else {
    result.set_exit_code(p->exit_code);
    if (p->exit_code == 0) {
      result.set_status(Result::OK);
    } else {
      result.set_status(Result::ERROR);
      result.set_message(absl::StrCat("The code exited with status ", p->exit_code, "."));
    }
  }

  // Keep what the code left behind, for every outcome where it ran.
  if (result.status() != Result::SANDBOX_ERROR) {
    RetentionStore store(config.storage_dir());
    auto skip = [&](const std::string& rel, const struct stat& st) {
      auto it = inputs->find(rel);
      return it != inputs->end() && it->second.size == st.st_size &&
             it->second.mtime.tv_sec == st.st_mtim.tv_sec &&
             it->second.mtime.tv_nsec == st.st_mtim.tv_nsec;
    };
    absl::StatusOr<std::vector<RetainedFile>> files =
        store.Collect(workspace, request.user(), config.quota(), skip);
    if (files.ok()) {
      for (const RetainedFile& f : *files) {
        File* out = result.add_files();
        // Names come from the sandbox: any bytes but '/' and NUL.
        out->set_path(SanitizeUtf8(f.path));
        out->set_size(f.size);
        out->set_host_path(SanitizeUtf8(f.host_path));
      }
    } else if (result.status() == Result::OK) {
      result.set_status(Result::STORAGE_ERROR);
      result.set_message(
          absl::StrCat("The files the code created were not kept: ", files.status().message()));
    } else {
      absl::StrAppend(result.mutable_message(), " Files were not kept: ", files.status().message());
    }
  }
  if (!notes.empty()) absl::StrAppend(result.mutable_message(), "\nNot enforced: ", notes);
  result.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
  return result;
}

}  // namespace libsandbox
