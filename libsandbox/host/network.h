// Outbound-only networking for "network on" sandboxes.
//
// Each sandbox gets a private, unnamed network namespace wired to the outside
// by slirp4netns (user-mode NAT: the host sees ordinary sockets of the
// slirp4netns process). An nftables ruleset inside that namespace keeps the
// host's own addresses (its loopback via slirp's gateway and DNS forwarder,
// and every address configured on a host interface), link-local and cloud
// metadata addresses, multicast/reserved space and IPv6 unreachable, and by
// default private ranges too, unless a private CIDR is allow-listed.
//
// The runner starts runsc inside the namespace (SpawnOptions::netns_fd) with
// --network=host and no network namespace in the OCI spec, so the sandbox's
// sockets are sockets of this namespace and pass through its filter.
//
// Allowlist sandboxes get a namespace with loopback only, no slirp4netns and
// no route anywhere: the egress proxy (egress_proxy.h) listening on its
// loopback is their only way out.
#ifndef LIBSANDBOX_HOST_NETWORK_H_
#define LIBSANDBOX_HOST_NETWORK_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/dns_client.h"
#include "libsandbox/host/egress_proxy.h"
#include "libsandbox/host/netns_socket.h"
#include "libsandbox/host/process.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// Addresses the sandbox sees (slirp4netns defaults).
inline constexpr char kSandboxGatewayAddress[] = "10.0.2.2";  // blocked
inline constexpr char kSandboxDnsAddress[] = "10.0.2.3";      // port 53 only
inline constexpr size_t kMaxAllowedCidrs = 256;

struct NetworkOptions {
  // IPv4 CIDRs (or single addresses) in private ranges the sandbox may reach.
  // Loopback, link-local, multicast, reserved space and the host's own
  // addresses stay blocked even when covered by an entry.
  std::vector<std::string> allowed_cidrs;
  // Set: only these names, through the egress proxy (allowed_cidrs unused).
  std::optional<EgressAllowlist> egress;
  DnsServer egress_dns;  // where the proxy resolves names
  // Bound on the whole setup (ruleset load, slirp4netns start).
  absl::Duration setup_timeout = absl::Seconds(10);
};

// One sandbox's network. Owns the namespace fd and the slirp4netns process;
// destruction stops slirp4netns, and the namespace disappears with its last
// reference. slirp4netns also exits by itself when this process dies.
// Thread-safe: any number may exist and be created concurrently.
class SandboxNetwork {
 public:
  static absl::StatusOr<std::unique_ptr<SandboxNetwork>> Create(const NetworkOptions& options);
  SandboxNetwork(const SandboxNetwork&) = delete;
  SandboxNetwork& operator=(const SandboxNetwork&) = delete;
  ~SandboxNetwork();

  // The namespace to start runsc in. Valid for the object's lifetime.
  int netns_fd() const { return netns_.get(); }
  // The slirp4netns process (for diagnostics and tests).
  pid_t slirp_pid() const { return slirp_.pid(); }
  // /etc/resolv.conf content for the sandbox.
  std::string ResolvConf() const;
  // Variables that point the sandbox's tools at the proxy (allowlist only).
  std::map<std::string, std::string> ProxyEnv() const;
  // Allowlist sandboxes only; null otherwise.
  const EgressProxy* egress_proxy() const { return proxy_.get(); }

 private:
  SandboxNetwork() = default;

  UniqueFd netns_;
  // Only we hold the write end; slirp4netns exits when it closes.
  UniqueFd slirp_exit_fd_;
  Subprocess slirp_;
  std::unique_ptr<EgressProxy> proxy_;
};

// Checks that `cidr` is "a.b.c.d/len" (0 <= len <= 32, no host bits set) or a
// single IPv4 address. IPv6 is not routed into sandboxes, so it is refused.
absl::Status ValidateCidr(std::string_view cidr);

// Checks that the host tools network-on sandboxes need are installed, naming
// the package to install when one is missing.
absl::Status CheckNetworkTools();

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_NETWORK_H_
