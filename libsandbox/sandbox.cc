#include "libsandbox/sandbox.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "libsandbox/audit.h"
#include "libsandbox/doctor.h"
#include "libsandbox/engine.h"
#include "libsandbox/languages.h"
#include "libsandbox/metrics.h"
#include "libsandbox/policy.h"
#include "libsandbox/policy_file.h"
#include "libsandbox/runner.h"
#include "libsandbox/runsc.h"

namespace libsandbox {

Limits DefaultLimits() {
  Limits l;
  l.set_timeout_s(30);
  l.set_memory_mb(128);
  l.set_cpus(1.0);
  l.set_max_pids(128);
  l.set_max_output_bytes(1 << 20);
  l.set_workspace_mb(64);
  return l;
}

Config ResolvedConfig(const Config& config) {
  Config c = config;
  if (c.state_dir().empty()) c.set_state_dir("/run/libsandbox");
  if (c.storage_dir().empty()) c.set_storage_dir("/var/lib/libsandbox/files");
  return c;
}

Result Run(const RunRequest& request, const Config& config) {
  return RunOnce(request, ResolvedConfig(config));
}

absl::StatusOr<std::string> RunscVersion(const Config& config) {
  absl::StatusOr<std::string> path = LocateRunsc(config.runsc_path());
  if (!path.ok()) return path.status();
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(*path);
  if (!info.ok()) return info.status();
  return (*info)->version;
}

std::vector<Check> Doctor(const Config& config) { return RunDoctor(ResolvedConfig(config)); }

std::string_view StatusName(Result::Status status) {
  switch (status) {
    case Result::OK:
      return "OK";
    case Result::ERROR:
      return "ERROR";
    case Result::TIMEOUT:
      return "TIMEOUT";
    case Result::INTERRUPTED:
      return "INTERRUPTED";
    case Result::STORAGE_ERROR:
      return "STORAGE_ERROR";
    case Result::SANDBOX_ERROR:
      return "SANDBOX_ERROR";
    case Result::INVALID_INPUT:
      return "INVALID_INPUT";
    default:
      return "STATUS_UNSPECIFIED";
  }
}

std::vector<std::string> Languages() { return LanguageNames(); }

Metrics GetMetrics() { return GlobalMetrics().Snapshot(); }

absl::StatusOr<std::vector<AuditRecord>> QueryAudit(const Config& config, const std::string& user,
                                                    int limit) {
  return AuditLog(AuditOptionsFor(ResolvedConfig(config))).Query(user, absl::InfinitePast(), limit);
}

absl::StatusOr<PolicySet> GetPolicies(const Config& config) {
  if (config.policy_file().empty()) {
    return absl::FailedPreconditionError("the config has no policy_file");
  }
  if (::access(config.policy_file().c_str(), F_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("policy file ", config.policy_file(), " does not exist"));
  }
  return ReadPolicyFile(config.policy_file());
}

absl::Status SetPolicies(const Config& config, const PolicySet& set) {
  return EditPolicyFile(config.policy_file(), [&](PolicySet& current) {
    current = set;
    return absl::OkStatus();
  });
}

absl::Status SetPolicy(const Config& config, const Policy& policy) {
  return UpsertPolicyInFile(config.policy_file(), policy);
}

absl::Status RemovePolicy(const Config& config, const std::string& name) {
  return RemovePolicyFromFile(config.policy_file(), name);
}

void Shutdown() {
  ShutdownSessions();
  Engine::ShutdownAll();
}

}  // namespace libsandbox
