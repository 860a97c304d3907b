#include "libsandbox/sandbox.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "libsandbox/api/doctor.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/metrics.h"
#include "libsandbox/host/runsc.h"
#include "libsandbox/rules/languages.h"
#include "libsandbox/rules/policy.h"
#include "libsandbox/rules/policy_file.h"
#include "libsandbox/run/audit.h"
#include "libsandbox/run/engine.h"
#include "libsandbox/run/runner.h"

namespace libsandbox {

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

std::vector<std::string> Languages() { return LanguageNames(); }

std::string_view DefaultLanguage() { return kDefaultLanguage; }

int MaxAuditQueryLimit() { return kMaxAuditQueryLimit; }

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
