#include "libsandbox/run/runner.h"

#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/run/engine.h"
#include "libsandbox/run/instance.h"

namespace libsandbox {

Result RunOnce(const RunRequest& request, const Config& config) {
  const absl::Time start = absl::Now();
  const Limits limits = request.has_limits() ? request.limits() : DefaultLimits();
  Result fail;
  if (absl::Status s = ValidateRequest(request, limits); !s.ok()) {
    fail.set_status(Result::INVALID_INPUT);
    fail.set_message(std::string(s.message()));
    return fail;
  }
  absl::StatusOr<std::shared_ptr<Engine>> engine = Engine::ForConfig(config);
  if (!engine.ok()) {
    fail.set_status(StatusForSetupError(engine.status()));
    fail.set_message(std::string(engine.status().message()));
    fail.set_duration_s(absl::ToDoubleSeconds(absl::Now() - start));
    return fail;
  }
  return (*engine)->Run(request, limits, start);
}

}  // namespace libsandbox
