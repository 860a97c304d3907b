// Name lookups for the egress proxy, through glibc's resolver library
// (libresolv) with a resolver state of our own per lookup, so that a
// configured server can replace the host's without touching process-wide
// state, and A and AAAA are asked for separately.
#ifndef LIBSANDBOX_HOST_DNS_CLIENT_H_
#define LIBSANDBOX_HOST_DNS_CLIENT_H_

#include <netinet/in.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libsandbox/base/ip_address.h"

namespace libsandbox {

// Where lookups go: a given IPv4 server, or the host's /etc/resolv.conf.
struct DnsServer {
  std::optional<sockaddr_in> address;  // nullopt: the host's resolver config
};

// "" (the host's), "IP" (port 53) or "IP:PORT"; IPv4 only.
absl::StatusOr<DnsServer> ParseDnsServer(absl::string_view text);

// Every A and AAAA record of `host` (a validated lowercase name), in the
// server's order, IPv4 first. NotFound when it has none; Unavailable when
// the server does not answer.
absl::StatusOr<std::vector<IpAddress>> ResolveHost(const DnsServer& server,
                                                   const std::string& host);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_DNS_CLIENT_H_
