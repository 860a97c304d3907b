// Input validation: everything a caller passes is checked before any work.
#ifndef LIBSANDBOX_RULES_VALIDATE_H_
#define LIBSANDBOX_RULES_VALIDATE_H_

#include "absl/status/status.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

inline constexpr size_t kMaxCodeBytes = 16 << 20;
inline constexpr size_t kMaxStdinBytes = 64 << 20;
inline constexpr size_t kMaxEnvEntries = 1024;
inline constexpr size_t kMaxUserBytes = 128;

// InvalidArgument with a message naming the field when anything is off.
absl::Status ValidateLimits(const Limits& limits);
absl::Status ValidateRequest(const RunRequest& request, const Limits& limits);
// A relative path inside the workspace: no "..", not absolute, no NUL.
absl::Status ValidateRelativePath(const std::string& path);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RULES_VALIDATE_H_
