// IP addresses as the egress proxy sees them, and which of them an
// allowlist run may reach.
//
// A name on the allowlist may still resolve to the host's loopback, a
// private network or a cloud metadata address (by mistake, or by DNS
// rebinding). Only globally routable unicast addresses pass; IPv4 embedded
// in IPv6 (mapped, NAT64) is judged as the IPv4 address it carries.
#ifndef LIBSANDBOX_BASE_IP_ADDRESS_H_
#define LIBSANDBOX_BASE_IP_ADDRESS_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace libsandbox {

struct IpAddress {
  int family = AF_INET;             // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4

  static IpAddress V4(const uint8_t (&b)[4]);
  static IpAddress V6(const uint8_t (&b)[16]);
  // Strict literal ("1.2.3.4", "2001:db8::1"); nullopt for anything else.
  static std::optional<IpAddress> Parse(absl::string_view text);

  std::string ToString() const;
  // For connect(2); returns the length used in `out`.
  socklen_t ToSockaddr(uint16_t port, sockaddr_storage& out) const;
  bool operator==(const IpAddress&) const = default;
};

// Empty when `addr` is globally routable unicast; otherwise what it is
// ("loopback", "private", "link-local or metadata", ...), for messages.
std::string NonPublicReason(const IpAddress& addr);

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_IP_ADDRESS_H_
