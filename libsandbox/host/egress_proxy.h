// The filtering proxy of allowlist runs.
//
// An allowlist sandbox's network namespace has nothing in it but loopback,
// where this proxy listens (created by a thread that entered the namespace,
// so the socket belongs there while the proxy itself runs in the host
// process). The sandbox's only way out is an HTTP CONNECT to it:
//   1. the target must be a host name (never an IP literal) matching an
//      allowlist pattern, on an allowed port;
//   2. the proxy resolves the name itself (A and AAAA) and refuses it if any
//      answer is not a public unicast address (loopback, private, link-local,
//      metadata, ...), then connects to exactly those checked addresses, so
//      a DNS answer that changes later (rebinding) changes nothing;
//   3. the first bytes through the tunnel, if a TLS ClientHello or an HTTP
//      request, must name the same host (SNI / Host).
// Every refusal is counted and kept (the most recent ones) for the run's
// result and the audit log.
//
// Not covered: plain-HTTP proxying (only CONNECT; use https), UDP and QUIC,
// the Host header inside TLS (encrypted), later requests on a kept-alive
// tunnel, and sites that share an allowed name's servers and certificates.
#ifndef LIBSANDBOX_HOST_EGRESS_PROXY_H_
#define LIBSANDBOX_HOST_EGRESS_PROXY_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/dns_client.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

inline constexpr int kEgressProxyPort = 3128;
inline constexpr char kEgressProxyUrl[] = "http://127.0.0.1:3128";
inline constexpr int kMaxEgressConnections = 64;  // open at once, per sandbox
inline constexpr int kMaxEgressDenialsKept = 32;

class EgressProxy {
 public:
  // Listens on 127.0.0.1:kEgressProxyPort inside the namespace `netns_fd`.
  static absl::StatusOr<std::unique_ptr<EgressProxy>> Start(int netns_fd,
                                                            const EgressAllowlist& allowlist,
                                                            const DnsServer& dns);
  // Closes every tunnel and waits for the proxy's threads.
  ~EgressProxy();
  EgressProxy(const EgressProxy&) = delete;
  EgressProxy& operator=(const EgressProxy&) = delete;

  // Everything so far.
  EgressReport Report() const { return ReportSince(EgressReport()); }
  // What happened after `before` (an earlier Report()).
  EgressReport ReportSince(const EgressReport& before) const;

 private:
  EgressProxy(EgressAllowlist allowlist, DnsServer dns);
  void AcceptLoop();
  void Serve(UniqueFd client);
  // Counts and keeps a refusal; `target` is the CONNECT target as sent.
  void Deny(const std::string& target, const std::string& reason);
  void CountAllowed();

  const EgressAllowlist allowlist_;
  const DnsServer dns_;
  UniqueFd listener_;
  UniqueFd stop_;  // eventfd: readable once the proxy shuts down
  std::thread acceptor_;

  mutable absl::Mutex mu_;
  int64_t allowed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t denied_ ABSL_GUARDED_BY(mu_) = 0;
  // The most recent refusals, numbered from 0 in order.
  std::deque<std::pair<int64_t, std::string>> denials_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> finished_ ABSL_GUARDED_BY(mu_);
  int64_t next_worker_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_EGRESS_PROXY_H_
