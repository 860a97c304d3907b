// The addresses of this host's own interfaces. A sandbox must never reach
// the host through them, whatever a name resolves to: services listening on
// all addresses would answer it. Read afresh on every call, so addresses
// added later count at once.
#ifndef LIBSANDBOX_HOST_HOST_ADDRESSES_H_
#define LIBSANDBOX_HOST_HOST_ADDRESSES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/base/ip_address.h"

namespace libsandbox {

// Every IPv4 and IPv6 address of the calling thread's network namespace.
absl::StatusOr<std::vector<IpAddress>> HostInterfaceAddresses();

// Whether `addr`, or the IPv4 address it carries (IPv4-mapped, NAT64), is
// one of `host`.
bool IsHostAddress(const IpAddress& addr, const std::vector<IpAddress>& host);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_HOST_ADDRESSES_H_
