// The egress allowlist: which host names and ports an allowlist sandbox may
// reach. Pure rules, used by policies and requests (validation) and by the
// egress proxy (host/egress_proxy.h), which enforces them.
#ifndef LIBSANDBOX_RULES_EGRESS_ALLOWLIST_H_
#define LIBSANDBOX_RULES_EGRESS_ALLOWLIST_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

inline constexpr size_t kMaxPolicyDomains = 256;
inline constexpr size_t kMaxPolicyPorts = 64;

// "pypi.org" or "*.pythonhosted.org": lowercase host name labels, "*." only
// as the whole leading label and over at least two labels, no IP literals.
absl::Status ValidateDomainPattern(absl::string_view pattern);

// Whether `host` (lowercase, no trailing dot) matches a valid pattern; "*."
// matches one or more leading labels, not the bare domain.
bool DomainMatches(absl::string_view pattern, absl::string_view host);

// Domains are checked with ValidateDomainPattern; ports must be 1..65535.
// An empty port list means 443.
absl::Status ValidateEgressAllowlist(const EgressAllowlist& allowlist);

// Whether `allowlist` lets a tunnel reach `host`:`port`.
bool EgressAllows(const EgressAllowlist& allowlist, absl::string_view host, int port);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RULES_EGRESS_ALLOWLIST_H_
