#include "libsandbox/session/session_launcher.h"

#include <optional>
#include <utility>

#include "absl/time/clock.h"

namespace libsandbox {
namespace {

constexpr absl::Duration kBootTimeout = absl::Seconds(30);

}  // namespace

absl::StatusOr<std::unique_ptr<Instance>> SessionLauncher::Boot(
    std::shared_ptr<const Environment> env, const InstanceSpec& spec, std::string* notes) {
  return thread_.Call([&]() -> absl::StatusOr<std::unique_ptr<Instance>> {
    absl::StatusOr<std::unique_ptr<Instance>> in = Instance::Prepare(std::move(env), spec, notes);
    if (!in.ok()) return in;
    if (absl::Status s = (*in)->Launch(std::nullopt, absl::Now() + kBootTimeout); !s.ok()) return s;
    return in;
  });
}

absl::StatusOr<std::unique_ptr<BackgroundProcess>> SessionLauncher::StartProcess(
    BackgroundSpec spec) {
  return thread_.Call([&] { return BackgroundProcess::Start(std::move(spec)); });
}

absl::StatusOr<Subprocess> SessionLauncher::Spawn(const SpawnOptions& options) {
  return thread_.Call([&] { return Subprocess::Start(options); });
}

}  // namespace libsandbox
