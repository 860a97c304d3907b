// Everything runs of one Config share: the resolved runsc, admission
// control, policies and audit. One engine per distinct Config,
// process-wide; the warm pool is the process's one, shared by every engine
// (the newest rules it, pool.h).
#ifndef LIBSANDBOX_RUN_ENGINE_H_
#define LIBSANDBOX_RUN_ENGINE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "libsandbox/rules/policy.h"
#include "libsandbox/run/admission.h"
#include "libsandbox/run/audit.h"
#include "libsandbox/run/cpu_shares.h"
#include "libsandbox/run/instance.h"
#include "libsandbox/run/pool.h"

namespace libsandbox {

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  // The engine for `config` (resolved), created on first use. The few most
  // recently used are kept; a forked child starts with none (base/registry.h).
  static absl::StatusOr<std::shared_ptr<Engine>> ForConfig(const Config& config);
  // Drains every pool, finishes pending teardowns and forgets all engines
  // (runs in flight finish).
  static void ShutdownAll();

  explicit Engine(std::shared_ptr<const Environment> env);
  // The config's policy (if any) applied, then RunAdmitted; the run is
  // audited when the config asks for it.
  Result Run(const RunRequest& request, const Limits& limits, absl::Time start);

 private:
  // Admission, then a pooled sandbox or a cold one, the run, teardown.
  Result RunAdmitted(const RunRequest& request, const Limits& limits, absl::Time start);

  const std::shared_ptr<const Environment> env_;
  Admission admission_;
  const std::string pool_key_;             // PoolKey of the config
  std::shared_ptr<WarmPool> pool_;         // null: no pool in this process yet
  std::shared_ptr<CpuShares> cpu_shares_;  // the process's one
  PolicyStore policies_;                   // follows config.policy_file
  std::unique_ptr<AuditLog> audit_;        // when config.audit
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_ENGINE_H_
