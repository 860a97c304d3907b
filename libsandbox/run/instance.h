// One sandbox, from its private directory to teardown: run dir, workspace,
// cgroup, network, bundle, the runsc process, the status of the run and the
// files it leaves. Cold runs boot it with the code; the warm pool boots it
// with the executor ahead of time and hands it one request later.
#ifndef LIBSANDBOX_RUN_INSTANCE_H_
#define LIBSANDBOX_RUN_INSTANCE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libsandbox/host/cgroup.h"
#include "libsandbox/host/network.h"
#include "libsandbox/host/process.h"
#include "libsandbox/host/run_dir.h"
#include "libsandbox/host/runsc.h"
#include "libsandbox/proto/config.pb.h"
#include "libsandbox/rules/languages.h"
#include "libsandbox/run/etc_tree.h"

namespace libsandbox {

// What every sandbox of one Config shares: the resolved config and runsc.
struct Environment {
  Config config;  // resolved
  std::string runsc_path;
  std::shared_ptr<const RunscInfo> runsc;
  std::string platform;
  // Host directory with the statx shim (statx_shim.h); empty: not needed.
  std::string statx_shim_dir;
  // The /etc every sandbox on the host's system directories shows.
  std::shared_ptr<SharedEtc> etc;
};

// Resolves runsc and the platform for `config` (already resolved).
absl::StatusOr<std::shared_ptr<const Environment>> MakeEnvironment(const Config& config);

struct InstanceSpec {
  const Language* language = nullptr;
  // false: the bundle runs `code` at once (cold). true: the executor waits
  // for one request on its stdin (warm).
  bool executor = false;
  std::string code;                        // cold only
  std::map<std::string, std::string> env;  // cold only; the executor gets it per request
  Limits limits;                           // caps at boot
  bool network = false;
  // With network: only these names, through the egress proxy.
  std::optional<EgressAllowlist> egress;
  // Non-empty: the sandbox runs this long-lived init instead (a session),
  // which prints one ready byte; work comes later through `runsc exec`.
  std::vector<std::string> init_argv;
  // Non-empty: this host directory (owned by the sandbox user, kept by the
  // caller) is the workspace instead of a fresh tmpfs in the run dir.
  std::string workspace_dir;
  // Non-empty: an image directory (a policy's rootfs) as the root file
  // system instead of the host's system directories.
  std::string rootfs;
};

class Instance {
 public:
  // Everything up to launching runsc. Errors: InvalidArgument (bad input),
  // FailedPrecondition and others (the host cannot do it; the message says
  // how to fix it). `notes` collects caps that run unenforced because the
  // config allows that.
  static absl::StatusOr<std::unique_ptr<Instance>> Prepare(std::shared_ptr<const Environment> env,
                                                           const InstanceSpec& spec,
                                                           std::string* notes);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Starts runsc. A cold instance gets `stdin_data` as the code's stdin; an
  // executor's stdin stays open for the request, and Launch waits until it
  // says it is ready (or `ready_deadline`).
  absl::Status Launch(std::optional<std::string> stdin_data, absl::Time ready_deadline);

  // Re-applies caps for the run an executor will serve. Fails if the
  // sandbox cannot honour them (e.g. it already uses more memory).
  absl::Status ApplyLimits(const Limits& limits);

  // Writes the request's input files into the workspace, owned by the
  // sandbox user.
  absl::Status WriteInputs(const RunRequest& request);

  // Sends the request to the executor (warm) and waits for the run to end,
  // the deadline counting from `start`; decides the status; keeps files.
  Result Finish(const RunRequest& request, const Limits& limits, absl::Time start);

  // Hands a pooled sandbox to the engine that takes it: its files are kept
  // under `env`'s Config. `env` must boot the same sandboxes (PoolKey).
  void Adopt(std::shared_ptr<const Environment> env) { env_ = std::move(env); }

  const InstanceSpec& spec() const { return spec_; }
  bool alive() const { return child_.running() && !child_.HasExited(); }
  // `runsc --root <root> args...` for this instance's container (a session
  // execs into it this way).
  std::vector<std::string> RunscCommand(const std::vector<std::string>& args) const;
  const std::string& container() const { return container_; }
  // Host dir shown read-only at kSandboxCodeDir; the host adds files to it.
  std::string code_dir() const { return run_->path() + "/code"; }
  // Host-only dir of the run (never visible inside the sandbox).
  const std::string& run_path() const { return run_->path(); }
  bool OomKilled() const { return cgroup_ && cgroup_->OomKilled(); }
  // Allowlist sandboxes only; null otherwise.
  const EgressProxy* egress_proxy() const { return network_ ? network_->egress_proxy() : nullptr; }
  // Variables every process in this sandbox gets under the caller's: the
  // egress proxy's (allowlist only) and the statx shim's LD_PRELOAD.
  std::map<std::string, std::string> BaseEnv() const;
  bool PidsLimitHit() const { return cgroup_ && cgroup_->PidsLimitHit(); }
  // Stops the sandbox now (every process in it); the destructor cleans up.
  void Kill();
  // Its CPU weight, as a fraction of a sandbox's (SandboxCgroup::SetCpuShare);
  // OK without a cgroup.
  absl::Status SetCpuShare(double share) {
    return cgroup_ ? cgroup_->SetCpuShare(share) : absl::OkStatus();
  }
  // Host memory the idle sandbox holds (its cgroup's usage).
  int64_t MemoryUsageBytes() const;

 private:
  Instance() = default;
  std::string ExecutorRequest(const RunRequest& request, const Limits& limits,
                              const std::string& end_marker) const;

  std::shared_ptr<const Environment> env_;
  InstanceSpec spec_;
  std::optional<RunDir> run_;
  bool workspace_mounted_ = false;
  std::unique_ptr<SandboxCgroup> cgroup_;
  std::unique_ptr<SandboxNetwork> network_;
  std::string nsenter_path_;  // with network_: runsc commands run through it
  Subprocess child_;
  std::string container_;
  std::map<std::string, std::string> inputs_;  // rel path -> content
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_INSTANCE_H_
