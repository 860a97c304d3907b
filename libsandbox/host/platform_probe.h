// Whether a runsc platform can really run here. A platform can be listed by
// runsc and its device present and still not run: kvm with a /dev/kvm that
// cannot run gVisor's guest (nested virtualisation) hangs every sandbox
// until its deadline. So a platform the config names is booted once
// before any run uses it.
#ifndef LIBSANDBOX_HOST_PLATFORM_PROBE_H_
#define LIBSANDBOX_HOST_PLATFORM_PROBE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libsandbox/host/runsc.h"

namespace libsandbox {

inline constexpr absl::Duration kPlatformProbeTimeout = absl::Seconds(10);

// Runs `/bin/true` in a throwaway sandbox on `platform` (runsc state below
// `state_dir`, removed afterwards). OK if it ran; FailedPrecondition naming
// the platform, what happened and the remedy otherwise. The outcome is kept
// per runsc binary and platform for the life of the process, so only the
// first run waits for it.
absl::Status ProbePlatform(const RunscInfo& runsc, const std::string& platform,
                           const std::string& state_dir,
                           absl::Duration timeout = kPlatformProbeTimeout);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_PLATFORM_PROBE_H_
