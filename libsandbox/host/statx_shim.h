// The statx compatibility shim (compat/statx_no_automount.c) for runsc
// builds that reject statx(AT_NO_AUTOMOUNT): without it, `ls` and `stat` fail
// on every path in the sandbox. The shim is built with the library, embedded
// in it, written once to <state_dir>/compat/ and mounted read-only at
// kSandboxCompatDir; processes load it through LD_PRELOAD.
#ifndef LIBSANDBOX_HOST_STATX_SHIM_H_
#define LIBSANDBOX_HOST_STATX_SHIM_H_

#include <string>

#include "absl/status/statusor.h"
#include "libsandbox/host/runsc.h"

namespace libsandbox {

inline constexpr char kSandboxCompatDir[] = "/.libsandbox-compat";
inline constexpr char kSandboxStatxShim[] = "/.libsandbox-compat/statx.so";

// Whether `runsc` needs the shim: builds dated before gVisor accepted the
// flag. Builds without a date are taken to be current.
bool NeedsStatxShim(const RunscInfo& runsc);

// Writes the shim into <state_dir>/compat (if it is not there already, with
// the same bytes) and returns that directory.
absl::StatusOr<std::string> InstallStatxShim(const std::string& state_dir);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_STATX_SHIM_H_
