#include "libsandbox/run/runner.h"

#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/run/engine.h"
#include "libsandbox/run/instance.h"
#include "libsandbox/run/outcome.h"

namespace libsandbox {

Result RunOnce(const RunRequest& request, const Config& config) {
  const absl::Time start = absl::Now();
  const Limits limits = request.has_limits() ? request.limits() : DefaultLimits();
  if (absl::Status s = ValidateRequest(request, limits); !s.ok()) {
    return FailedResult(Result::INVALID_INPUT, REASON_NONE, std::string(s.message()), start);
  }
  absl::StatusOr<std::shared_ptr<Engine>> engine = Engine::ForConfig(config);
  if (!engine.ok()) return SetupFailedResult(engine.status(), start);
  return (*engine)->Run(request, limits, start);
}

}  // namespace libsandbox
