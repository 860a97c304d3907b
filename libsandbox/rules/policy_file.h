// Changes to the admin's policy file through the API.
//
// The file stays the single source of truth, shared by every process that
// names it: a change is applied to what the file holds now, the whole
// result is checked (ValidatePolicySet: caps, units, rootfs allowlist,
// domains), and only then written, to a temporary file renamed over the old
// one under a lock file, so writers serialise and readers (which re-read the
// file when it changes) see the old set or the new one, never a mix. The
// file is rewritten in its own format; comments in a textproto are not kept.
#ifndef LIBSANDBOX_RULES_POLICY_FILE_H_
#define LIBSANDBOX_RULES_POLICY_FILE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libsandbox/proto/policy.pb.h"

namespace libsandbox {

// Applies `change` to the set in `path` (an empty set when the file does not
// exist yet), validates the result and writes it. `change` may refuse with
// a status, which is returned; nothing is written then.
absl::Status EditPolicyFile(const std::string& path,
                            const std::function<absl::Status(PolicySet&)>& change);

// Adds `policy`, or replaces the one of the same name.
absl::Status UpsertPolicyInFile(const std::string& path, const Policy& policy);
// NotFound if there is none of that name; FailedPrecondition if it is the
// default policy.
absl::Status RemovePolicyFromFile(const std::string& path, const std::string& name);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RULES_POLICY_FILE_H_
