#include "libsandbox/run/instance.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/text.h"
#include "libsandbox/host/platform_probe.h"
#include "libsandbox/host/statx_shim.h"
#include "libsandbox/proto/executor.pb.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/run/figures.h"
#include "libsandbox/run/outcome.h"
#include "libsandbox/run/retention.h"

namespace libsandbox {
namespace {

// max_pids is the code's own cap: RLIMIT_NPROC in the process spec, which
// gVisor enforces on the sandbox user's tasks (threads too), so fork and
// clone fail with EAGAIN inside, as under Linux. The host-side pids cap only
// guards the host against the sandbox's runtime: the sentry, gofer and
// ptrace stubs (one host process per address space, with a thread per sentry
// thread that ran it) are host tasks the code does not see. Measured on the
// ptrace platform (pids.current of the sandbox's cgroup): 114-120 host tasks
// for an idle session; per sandbox process about 7 for forked Python
// children, 11 for 126 programs started by Python, about 20 each for 64
// programs started by bash at once and 35 each for 122-126 (4300-4550 in
// all), since the stubs grow with the sentry's threads; threads of one
// process cost next to none. A session's idle background command is a shell
// and its program (~30 host tasks). So the net is the idle cost plus 48 per
// task of max_pids: up to the default max_pids (128) the code reaches its cap
// inside well before the net trips; far above it, hundreds of programs
// running at once can trip the net first, which stops the sandbox ("pids").
constexpr int64_t kPidsOverhead = 160;
constexpr int64_t kHostPidsPerTask = 48;
// The largest pids.max the kernel takes (PID_MAX_LIMIT).
constexpr int64_t kMaxCgroupPids = int64_t{1} << 22;
constexpr char kReadyMarker[] = "\x06";

constexpr char kUnenforcedHint[] =
    " (set allow_unenforced_limits to run without it, or REQUIRE_RESOURCE_LIMITING=false in "
    "Open WebUI)";

// On cgroup v2 the runsc command itself runs inside the sandbox's cgroup
// (cgroup.h says why); what it holds (measured: ~12 MiB anonymous memory, 6
// threads) is added so that the code gets the same room as on v1.
constexpr int64_t kLauncherMemoryBytes = int64_t{16} << 20;
constexpr int64_t kLauncherPids = 16;

CgroupLimits ToCgroupLimits(const Limits& l, bool launcher_inside) {
  CgroupLimits c;
  c.memory_bytes = l.memory_mb() * (int64_t{1} << 20);
  if (c.memory_bytes > 0 && launcher_inside) c.memory_bytes += kLauncherMemoryBytes;
  c.cpus = l.cpus();
  if (l.max_pids() > 0) {
    c.pids = kPidsOverhead + kHostPidsPerTask * l.max_pids();
    if (launcher_inside) c.pids += kLauncherPids;
    c.pids = std::min(c.pids, kMaxCgroupPids);
  }
  return c;
}

// Prepared once per process and setting; a failure is not kept, so a fixed
// host (or another Config) is seen by the next run.
absl::StatusOr<CgroupHost> HostCgroups(const Config& config) {
  ABSL_CONST_INIT static absl::Mutex mu(absl::kConstInit);
  static auto* ready = new std::map<bool, CgroupHost>();
  const bool keep = config.keep_cgroup_processes();
  absl::MutexLock lock(&mu);
  if (auto it = ready->find(keep); it != ready->end()) return it->second;
  absl::StatusOr<CgroupHost> host = PrepareCgroups(CgroupSetup{.keep_other_processes = keep});
  if (host.ok()) ready->emplace(keep, *host);
  return host;
}

std::string TmpfsOptions(int64_t size_mb) {
  return absl::StrFormat("size=%dm,mode=0700,uid=%d,gid=%d,nr_inodes=%d", size_mb, kSandboxUid,
                         kSandboxGid, 65536);
}

// The workspace: a size-capped tmpfs owned by the sandbox user.
absl::Status PrepareWorkspace(const std::string& dir, int64_t size_mb, bool* mounted) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus("mkdir " + dir, errno);
  }
  if (size_mb > 0) {
    if (::mount("libsandbox-workspace", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                TmpfsOptions(size_mb).c_str()) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot mount the size-capped workspace (", ErrnoStatus("mount tmpfs", errno).message(),
          "); the host process needs CAP_SYS_ADMIN, or set workspace_mb=0"));
    }
    *mounted = true;
    return absl::OkStatus();
  }
  if (::chown(dir.c_str(), kSandboxUid, kSandboxGid) != 0) return ErrnoStatus("chown", errno);
  return absl::OkStatus();
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

absl::string_view LastLine(absl::string_view text) {
  text = absl::StripTrailingAsciiWhitespace(text);
  size_t nl = text.rfind('\n');
  return nl == absl::string_view::npos ? text : text.substr(nl + 1);
}

// runsc reports its own failures (not the code's) with exit status 128 and a
// last stderr line like "running container: ...".
bool IsRunscFailure(const ProcessResult& p) {
  if (p.exit_code != 128) return false;
  absl::string_view last = LastLine(p.err.data);
  for (absl::string_view prefix :
       {"running container:", "creating container:", "starting container:", "loading container:"}) {
    if (absl::StartsWith(last, prefix)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Environment>> MakeEnvironment(const Config& config) {
  auto env = std::make_shared<Environment>();
  env->config = config;
  absl::StatusOr<std::string> path = LocateRunsc(config.runsc_path());
  if (!path.ok()) return path.status();
  env->runsc_path = *path;
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(*path);
  if (!info.ok()) return info.status();
  env->runsc = *info;
  absl::StatusOr<std::string> platform = ChoosePlatform(**info, config.platform());
  if (!platform.ok()) return platform.status();
  env->platform = *platform;
  // The build's default platform is what the doctor proves; one the config
  // names is booted once first, so it is refused at once if it cannot run.
  if (!config.platform().empty()) {
    if (absl::Status s = ProbePlatform(**info, config.platform(), config.state_dir()); !s.ok()) {
      return s;
    }
  }
  if (NeedsStatxShim(**info)) {
    absl::StatusOr<std::string> dir = InstallStatxShim(config.state_dir());
    if (!dir.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("this runsc build needs a statx shim, which could not be written: ",
                       dir.status().message(),
                       "; check that state_dir is writable, or use a runsc from 2023 or later"));
    }
    env->statx_shim_dir = *dir;
  }
  env->etc = std::make_shared<SharedEtc>(config.state_dir());
  for (const std::string& cidr : config.allowed_cidrs()) {
    if (absl::Status s = ValidateCidr(cidr); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("allowed_cidrs: ", s.message()));
    }
  }
  return env;
}

absl::StatusOr<std::unique_ptr<Instance>> Instance::Prepare(std::shared_ptr<const Environment> env,
                                                            const InstanceSpec& spec,
                                                            std::string* notes) {
  std::unique_ptr<Instance> in(new Instance());
  in->env_ = std::move(env);
  in->spec_ = spec;
  const Config& config = in->env_->config;
  const Limits& limits = spec.limits;

  absl::StatusOr<RunDir> run = RunDir::Create(config.state_dir());
  if (!run.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the run directory: ", run.status().message(),
                     "; check that state_dir is writable"));
  }
  in->run_.emplace(*std::move(run));
  in->container_ = ContainerId(in->run_->id());
  const std::string workspace =
      spec.workspace_dir.empty() ? in->run_->workspace() : spec.workspace_dir;
  // A caller's persistent directory is neither mounted nor removed here.
  if (spec.workspace_dir.empty()) {
    if (absl::Status s =
            PrepareWorkspace(workspace, limits.workspace_mb(), &in->workspace_mounted_);
        !s.ok()) {
      if (!config.allow_unenforced_limits()) {
        return absl::FailedPreconditionError(absl::StrCat(s.message(), kUnenforcedHint));
      }
      absl::StrAppend(notes, "workspace size not enforced: ", s.message(), "\n");
      if (absl::Status s2 = PrepareWorkspace(workspace, 0, &in->workspace_mounted_); !s2.ok()) {
        return s2;
      }
    }
  }

  // Caps through a cgroup below our own.
  absl::StatusOr<CgroupHost> host = HostCgroups(config);
  CgroupLimits cg_limits = ToCgroupLimits(limits, host.ok() && host->version == CgroupVersion::kV2);
  // A warm sandbox boots and waits behind the runs (ApplyLimits restores it).
  if (spec.executor) cg_limits.cpu_share = kBackgroundCpuShare;
  absl::Status cg_status = host.status();
  if (cg_status.ok()) {
    absl::StatusOr<std::unique_ptr<SandboxCgroup>> cg =
        SandboxCgroup::Create(*host, in->run_->id(), cg_limits);
    if (cg.ok()) {
      in->cgroup_ = std::move(*cg);
    } else {
      cg_status = cg.status();
    }
  }
  bool wanted = cg_limits.memory_bytes > 0 || cg_limits.cpus > 0 || cg_limits.pids > 0;
  if (!in->cgroup_ && wanted) {
    if (!config.allow_unenforced_limits()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "memory/CPU/pids limits cannot be enforced: ", cg_status.message(), kUnenforcedHint));
    }
    absl::StrAppend(notes, "memory/CPU/pids limits not enforced: ", cg_status.message(), "\n");
  }

  if (spec.network) {
    NetworkOptions net_options;
    net_options.allowed_cidrs.assign(config.allowed_cidrs().begin(), config.allowed_cidrs().end());
    if (spec.egress) {
      net_options.egress = spec.egress;
      absl::StatusOr<DnsServer> dns = ParseDnsServer(config.egress_dns_server());
      if (!dns.ok()) return absl::FailedPreconditionError(dns.status().message());
      net_options.egress_dns = *dns;
    }
    absl::StatusOr<std::unique_ptr<SandboxNetwork>> net = SandboxNetwork::Create(net_options);
    if (!net.ok()) {
      return absl::Status(net.status().code(), absl::StrCat("cannot set up the sandbox network: ",
                                                            net.status().message()));
    }
    in->network_ = std::move(*net);
    std::optional<std::string> nsenter = FindInPath("nsenter");
    if (!nsenter) {
      return absl::FailedPreconditionError(
          "network needs nsenter, which is not installed: install the Debian package "
          "'util-linux' (apt-get install util-linux)");
    }
    in->nsenter_path_ = *nsenter;
  }

  BundleOptions bundle;
  bundle.language = spec.language;
  bundle.code = spec.code;
  bundle.executor = spec.executor;
  bundle.init_argv = spec.init_argv;
  bundle.workspace_dir = workspace;
  bundle.tmp_mb = limits.tmp_mb() > 0 ? limits.tmp_mb() : limits.workspace_mb();
  bundle.env = spec.env;
  bundle.env.merge(in->BaseEnv());
  if (spec.init_argv.empty() && !spec.executor) AddPlotCapture(bundle.env);
  bundle.cgroups_path = in->cgroup_ ? in->cgroup_->relative_path() : "";
  bundle.own_network_namespace = in->network_ == nullptr;
  bundle.resolv_conf = in->network_ ? in->network_->ResolvConf() : "";
  bundle.max_pids = limits.max_pids();
  bundle.extra_ro_mounts.assign(config.extra_ro_mounts().begin(), config.extra_ro_mounts().end());
  bundle.rootfs = spec.rootfs;
  if (spec.rootfs.empty()) {
    bundle.compat_dir = in->env_->statx_shim_dir;
    // Without the shared tree (its copy failed), the host's entries are
    // bound one by one as before: slower to boot, the same /etc.
    absl::StatusOr<std::string> etc = in->env_->etc->Current();
    if (etc.ok()) bundle.etc_dir = *etc;
  }
  if (absl::StatusOr<std::string> dir = WriteBundle(in->run_->path(), bundle); !dir.ok()) {
    return dir.status();
  }
  return in;
}

absl::Status Instance::Launch(std::optional<std::string> stdin_data, absl::Time ready_deadline) {
  const Config& config = env_->config;
  SpawnOptions spawn;
  spawn.argv = {env_->runsc_path, "--root", RunscRoot(config.state_dir())};
  if (!env_->platform.empty()) spawn.argv.push_back("--platform=" + env_->platform);
  spawn.argv.push_back(network_ ? "--network=host" : "--network=none");
  // v2: runsc starts inside the sandbox's cgroup and leaves cgroups alone
  // (cgroup.h says why).
  const std::string cgroup_dir = cgroup_ ? cgroup_->join_dir() : "";
  if (!cgroup_ || !cgroup_dir.empty()) spawn.argv.push_back("--ignore-cgroups");
  spawn.cgroup_dir = cgroup_dir;
  // Newer builds otherwise leave a "null-netns" mount behind in --root.
  if (env_->runsc->Supports("gofer-network-namespace")) {
    spawn.argv.push_back("--gofer-network-namespace=new");
  }
  if (config.debug()) {
    spawn.argv.insert(spawn.argv.end(),
                      {"--debug", "--debug-log=" + run_->path() + "/logs/", "--strace"});
  }
  spawn.argv.insert(spawn.argv.end(), {"run", "--bundle", run_->path() + "/bundle", container_});
  spawn.netns_fd = network_ ? network_->netns_fd() : -1;
  spawn.stdin_data = std::move(stdin_data);
  spawn.stdin_later = spec_.executor;
  const bool wait_ready = spec_.executor || !spec_.init_argv.empty();
  absl::StatusOr<Subprocess> child = Subprocess::Start(spawn);
  if (!child.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start runsc: ", child.status().message()));
  }
  child_ = *std::move(child);
  if (wait_ready) {
    absl::StatusOr<std::string> ready = child_.ReadStdout(1, ready_deadline);
    if (!ready.ok() || *ready != kReadyMarker) {
      return absl::UnavailableError(
          absl::StrCat("the warm sandbox did not start: ",
                       ready.ok() ? "unexpected output" : std::string(ready.status().message())));
    }
  }
  return absl::OkStatus();
}

absl::Status Instance::ApplyLimits(const Limits& limits) {
  if (limits.tmp_mb() != spec_.limits.tmp_mb() ||
      (limits.tmp_mb() == 0 && limits.workspace_mb() != spec_.limits.workspace_mb())) {
    return absl::FailedPreconditionError("/tmp was sized differently at boot");
  }
  if (limits.workspace_mb() != spec_.limits.workspace_mb()) {
    if (!workspace_mounted_ || limits.workspace_mb() == 0) {
      return absl::FailedPreconditionError("workspace cannot be resized");
    }
    std::string opts = absl::StrFormat("size=%dm", limits.workspace_mb());
    if (::mount(nullptr, run_->workspace().c_str(), nullptr, MS_REMOUNT | MS_NOSUID | MS_NODEV,
                opts.c_str()) != 0) {
      return ErrnoStatus("resize workspace", errno);
    }
  }
  // max_pids is the sandbox's RLIMIT_NPROC: the executor can lower the one
  // it booted with for the run, never raise it.
  const int64_t boot_pids = spec_.limits.max_pids();
  if (boot_pids > 0 && (limits.max_pids() == 0 || limits.max_pids() > boot_pids)) {
    return absl::FailedPreconditionError("the sandbox booted with a lower process limit");
  }
  if (cgroup_ == nullptr) return absl::FailedPreconditionError("no cgroup");
  return cgroup_->Update(ToCgroupLimits(limits, !cgroup_->join_dir().empty()));
}

absl::Status Instance::WriteInputs(const RunRequest& request) {
  const std::string workspace = run_->workspace();
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
    if (::lchown(path.c_str(), kSandboxUid, kSandboxGid) != 0) return ErrnoStatus("chown", errno);
    inputs_[rel] = f.content();
  }
  return absl::OkStatus();
}

std::string Instance::ExecutorRequest(const RunRequest& request, const Limits& limits,
                                      const std::string& end_marker) const {
  executor::ExecRequest req;
  req.set_end_marker(end_marker);
  req.set_code(request.code());
  for (const char* a : spec_.language->argv) req.add_argv(a);
  req.add_argv(SandboxCodePath(*spec_.language));
  req.set_in_process_python(spec_.language->in_process_python);
  req.set_max_pids(static_cast<int32_t>(limits.max_pids()));
  std::map<std::string, std::string> env = BaseEnv();
  for (const auto& [k, v] : request.env()) env[k] = v;
  AddPlotCapture(env);
  for (const auto& [k, v] : SandboxEnvironment(env)) {
    (*req.mutable_env())[k] = v;
  }
  if (request.has_stdin()) req.set_stdin(request.stdin());
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(req, &json);
  return json;
}

std::map<std::string, std::string> Instance::BaseEnv() const {
  std::map<std::string, std::string> env;
  if (network_) env = network_->ProxyEnv();
  if (spec_.rootfs.empty() && !env_->statx_shim_dir.empty()) env["LD_PRELOAD"] = kSandboxStatxShim;
  return env;
}

std::vector<std::string> Instance::RunscCommand(const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  if (network_) {
    // The sandbox's control socket is an abstract unix socket, which only
    // its own network namespace can reach: a runsc exec/kill/delete from
    // anywhere else finds the sandbox "stopped".
    argv = {nsenter_path_, absl::StrCat("--net=/proc/", ::getpid(), "/fd/", network_->netns_fd()),
            "--"};
  }
  argv.insert(argv.end(), {env_->runsc_path, "--root", RunscRoot(env_->config.state_dir()),
                           network_ ? "--network=host" : "--network=none"});
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

void Instance::Kill() {
  // Killing the cgroup takes the sentry, gofer and every task down at once.
  if (cgroup_) cgroup_->KillAll();
  (void)RunCommand(RunscCommand({"kill", "--all", container_, "KILL"}), absl::Seconds(5));
}

Result Instance::Finish(const RunRequest& request, const Limits& limits, absl::Time start) {
  if (spec_.executor) {
    // In-process Python says when the code is over (end_marker.h): the
    // result need not wait for the sandbox to shut down.
    std::string end_marker;
    if (spec_.language->in_process_python) {
      end_marker = absl::StrCat(absl::string_view("\0", 1), "libsandbox-end-", RandomHex(16), " ");
    }
    child_.SetEndMarker(end_marker);
    child_.SetStdinData(ExecutorRequest(request, limits, end_marker));
  }
  const absl::Time deadline =
      limits.timeout_s() > 0 ? start + absl::Seconds(limits.timeout_s()) : absl::InfiniteFuture();
  size_t cap = static_cast<size_t>(limits.max_output_bytes());
  absl::StatusOr<ProcessResult> p = child_.Communicate(cap, deadline, [this] { Kill(); });
  Result result;
  if (!p.ok()) {
    Kill();
    result.set_status(Result::SANDBOX_ERROR);
    result.set_message(absl::StrCat("runsc: ", p.status().message()));
    result.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
    return result;
  }
  Ending ending;
  ending.oom = cgroup_ && cgroup_->OomKilled();
  ending.pids_hit = cgroup_ && cgroup_->PidsLimitHit();
  ending.timed_out = p->timed_out;
  ending.exit_code = p->exit_code;
  // The code is over: nothing of it runs on. What is left (the sandbox of a
  // run ended by its marker) dies while the result is put together; the
  // teardown waits for it.
  if (cgroup_) cgroup_->SendKill();

  SetOutput(*p, &result);
  if (IsRunscFailure(*p)) ending.start_failure = std::string(LastLine(result.stderr()));
  Classify(ending, limits, RunKind::kRun, &result);
  // runsc's own failure is in the message, and nothing of the code ran.
  if (result.reason_code() == REASON_SETUP) result.clear_stderr();

  // Keep what the code left behind, for every outcome where it ran; inputs
  // it left unchanged are not outputs.
  if (result.status() != Result::SANDBOX_ERROR) {
    const std::string workspace = run_->workspace();
    auto skip = [&](const std::string& rel, const struct stat& st) {
      if (IsFigurePath(rel)) return true;  // outputs, not files
      auto it = inputs_.find(rel);
      if (it == inputs_.end() || static_cast<size_t>(st.st_size) != it->second.size()) return false;
      absl::StatusOr<std::string> now = ReadFile(workspace + "/" + rel, it->second.size() + 1);
      return now.ok() && *now == it->second;
    };
    KeepWorkspaceFiles(env_->config.storage_dir(), env_->config.quota(), workspace, request.user(),
                       skip, &result);
    CollectOutputs(workspace, &result);
  }
  result.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
  return result;
}

int64_t Instance::MemoryUsageBytes() const { return cgroup_ ? cgroup_->MemoryUsageBytes() : 0; }

Instance::~Instance() {
  if (child_.running()) Kill();
  child_ = Subprocess();  // reaps runsc
  // Everything of the sandbox dies with its cgroup: then runsc's state (left
  // when a run ended by its end marker, or was killed) is only files, which
  // go without asking runsc (its delete takes ~1 s to find the sandbox
  // gone). Without a cgroup, or one that would not empty, runsc stops it.
  const bool all_dead = cgroup_ && cgroup_->KillAll();
  const std::string runsc_root = env_ ? RunscRoot(env_->config.state_dir()) : "";
  if (env_ && !container_.empty() && RunscStateLeft(runsc_root, container_)) {
    if (!all_dead) {
      (void)RunCommand(RunscCommand({"delete", "--force", container_}), absl::Seconds(10));
    }
    RemoveRunscState(runsc_root, {container_});
  }
  network_.reset();
  cgroup_.reset();
  run_.reset();  // unmounts the workspace and removes the directory
}

}  // namespace libsandbox
