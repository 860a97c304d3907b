#include "libsandbox/host/dns_client.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libsandbox/base/units.h"

namespace libsandbox {
namespace {

// Answers are capped: a name with more records than fit is refused rather
// than judged on a partial list.
constexpr int kAnswerBytes = 8192;

// The lookup's own resolver state, released on every path.
class ResolverState {
 public:
  ResolverState() { std::memset(&state_, 0, sizeof(state_)); }
  ~ResolverState() {
    if (initialised_) ::res_nclose(&state_);
  }
  ResolverState(const ResolverState&) = delete;
  ResolverState& operator=(const ResolverState&) = delete;

  absl::Status Init(const DnsServer& server) {
    if (::res_ninit(&state_) != 0) {
      return absl::UnavailableError("cannot initialise the resolver (check /etc/resolv.conf)");
    }
    initialised_ = true;
    // Bounded: a silent server costs at most about retry * retrans seconds.
    state_.retrans = 2;
    state_.retry = 2;
    state_.options &= ~(RES_DNSRCH | RES_DEFNAMES);
    if (server.address) {
      state_.nscount = 1;
      state_.nsaddr_list[0] = *server.address;
    }
    return absl::OkStatus();
  }

  res_state get() { return &state_; }

 private:
  struct __res_state state_;
  bool initialised_ = false;
};

// Appends the records of `type` in the answer section. False if the answer
// cannot be parsed.
bool AppendRecords(const unsigned char* answer, int len, ns_type type,
                   std::vector<IpAddress>& out) {
  ns_msg msg;
  if (::ns_initparse(answer, len, &msg) != 0) return false;
  const int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (::ns_parserr(&msg, ns_s_an, i, &rr) != 0) return false;
    if (ns_rr_class(rr) != ns_c_in || ns_rr_type(rr) != type) continue;
    if (type == ns_t_a && ns_rr_rdlen(rr) == 4) {
      uint8_t b[4];
      std::memcpy(b, ns_rr_rdata(rr), 4);
      out.push_back(IpAddress::V4(b));
    } else if (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16) {
      uint8_t b[16];
      std::memcpy(b, ns_rr_rdata(rr), 16);
      out.push_back(IpAddress::V6(b));
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<DnsServer> ParseDnsServer(absl::string_view text) {
  DnsServer server;
  if (text.empty()) return server;
  absl::string_view host = text;
  int port = 53;
  if (size_t colon = text.rfind(':'); colon != absl::string_view::npos) {
    host = text.substr(0, colon);
    if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("egress_dns_server: bad port in ",
                                                     QuoteForMessage(text), " (IP or IP:PORT)"));
    }
  }
  std::optional<IpAddress> ip = IpAddress::Parse(host);
  if (!ip || ip->family != AF_INET) {
    return absl::InvalidArgumentError(absl::StrCat("egress_dns_server: ", QuoteForMessage(text),
                                                   " is not an IPv4 address (IP or IP:PORT)"));
  }
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  std::memcpy(&sin.sin_addr, ip->bytes.data(), 4);
  server.address = sin;
  return server;
}

absl::StatusOr<std::vector<IpAddress>> ResolveHost(const DnsServer& server,
                                                   const std::string& host) {
  std::vector<IpAddress> out;
  bool answered = false;
  ResolverState state;  // resolv.conf read once for both queries
  if (absl::Status s = state.Init(server); !s.ok()) return s;
  for (ns_type type : {ns_t_a, ns_t_aaaa}) {
    unsigned char answer[kAnswerBytes];
    int len = ::res_nquery(state.get(), host.c_str(), ns_c_in, type, answer, sizeof(answer));
    if (len < 0) {
      // NXDOMAIN / no data are answers; anything else is a server problem.
      int err = state.get()->res_h_errno;
      if (err == HOST_NOT_FOUND || err == NO_DATA) answered = true;
      continue;
    }
    answered = true;
    if (len > static_cast<int>(sizeof(answer)) || !AppendRecords(answer, len, type, out)) {
      return absl::UnavailableError(absl::StrCat("unusable DNS answer for ", host));
    }
  }
  if (!answered) return absl::UnavailableError(absl::StrCat("DNS did not answer for ", host));
  if (out.empty()) return absl::NotFoundError(absl::StrCat(host, " has no address"));
  return out;
}

}  // namespace libsandbox
