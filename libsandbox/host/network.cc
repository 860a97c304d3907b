#include "libsandbox/host/network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "libsandbox/base/task_thread.h"
#include "libsandbox/host/host_addresses.h"

namespace libsandbox {
namespace {

struct Cidr {
  uint32_t addr = 0;  // host byte order, host bits zero
  int len = 32;
};

uint32_t PrefixMask(int len) { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }

// True if every address of `inner` is inside `outer`.
bool Contains(const Cidr& outer, const Cidr& inner) {
  return outer.len <= inner.len && (inner.addr & PrefixMask(outer.len)) == outer.addr;
}

std::string FormatCidr(const Cidr& c) {
  return absl::StrCat(c.addr >> 24, ".", (c.addr >> 16) & 255, ".", (c.addr >> 8) & 255, ".",
                      c.addr & 255, "/", c.len);
}

// Input comes from configuration; never echo more than a short, escaped prefix.
std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, 64)), s.size() > 64 ? "...\"" : "\"");
}

absl::StatusOr<Cidr> ParseCidr(absl::string_view text) {
  if (text.empty() || text.size() > 18) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR ", Quote(text), ": expected a.b.c.d/len"));
  }
  absl::string_view addr_part = text;
  int len = 32;
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    addr_part = text.substr(0, slash);
    absl::string_view len_part = text.substr(slash + 1);
    if (len_part.empty() || len_part.size() > 2 ||
        !std::all_of(len_part.begin(), len_part.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(len_part, &len) || len > 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid CIDR ", Quote(text), ": prefix length must be 0..32"));
    }
  }
  in_addr a{};
  // inet_pton accepts only the strict dotted-quad form.
  if (::inet_pton(AF_INET, std::string(addr_part).c_str(), &a) != 1) {
    if (addr_part.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid CIDR ", Quote(text), ": IPv6 is not available in sandboxes"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR ", Quote(text), ": expected a.b.c.d/len"));
  }
  Cidr c{ntohl(a.s_addr), len};
  if ((c.addr & ~PrefixMask(len)) != 0) {
    Cidr net{c.addr & PrefixMask(len), len};
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid CIDR ", Quote(text), ": host bits are set (did you mean ", FormatCidr(net), "?)"));
  }
  return c;
}

Cidr MustParse(absl::string_view text) { return *ParseCidr(text); }

// Never reachable, even when an allow-list entry covers them.
const std::vector<Cidr>& AlwaysBlocked() {
  static const auto* ranges = new std::vector<Cidr>{
      MustParse("0.0.0.0/8"),       // "this network"
      MustParse("10.0.2.0/24"),     // slirp's network: 10.0.2.2 and 10.0.2.3 lead to the host
      MustParse("127.0.0.0/8"),     // loopback (our own lo is allowed before this check)
      MustParse("169.254.0.0/16"),  // link-local, cloud metadata
      MustParse("224.0.0.0/4"),     // multicast
      MustParse("240.0.0.0/4"),     // reserved, limited broadcast
  };
  return *ranges;
}

// Blocked unless allow-listed.
const std::vector<Cidr>& PrivateRanges() {
  static const auto* ranges = new std::vector<Cidr>{
      MustParse("10.0.0.0/8"),     MustParse("100.64.0.0/10"),  // carrier-grade NAT
      MustParse("172.16.0.0/12"),  MustParse("192.0.0.0/24"),   // IETF protocol assignments
      MustParse("192.168.0.0/16"), MustParse("198.18.0.0/15"),  // benchmarking
  };
  return *ranges;
}

// nft refuses overlapping intervals in one set: keep only outermost ranges.
std::vector<Cidr> Outermost(std::vector<Cidr> cidrs) {
  std::sort(cidrs.begin(), cidrs.end(), [](const Cidr& a, const Cidr& b) {
    return a.len != b.len ? a.len < b.len : a.addr < b.addr;
  });
  std::vector<Cidr> out;
  for (const Cidr& c : cidrs) {
    bool covered =
        std::any_of(out.begin(), out.end(), [&](const Cidr& o) { return Contains(o, c); });
    if (!covered) out.push_back(c);
  }
  return out;
}

// Every IPv4 address of the calling thread's namespace: through slirp they
// would reach services on the host that listen on all addresses.
absl::StatusOr<std::vector<Cidr>> HostAddresses() {
  absl::StatusOr<std::vector<IpAddress>> all = HostInterfaceAddresses();
  if (!all.ok()) return all.status();
  std::vector<Cidr> out;
  for (const IpAddress& a : *all) {
    if (a.family != AF_INET) continue;
    uint32_t addr;
    std::memcpy(&addr, a.bytes.data(), 4);
    out.push_back(Cidr{ntohl(addr), 32});
  }
  return out;
}

std::string NftSet(absl::string_view name, const std::vector<Cidr>& cidrs) {
  std::string out = absl::StrCat("  set ", name, " {\n    type ipv4_addr; flags interval;\n");
  if (!cidrs.empty()) {
    absl::StrAppend(
        &out, "    elements = { ",
        absl::StrJoin(cidrs, ", ",
                      [](std::string* s, const Cidr& c) { absl::StrAppend(s, FormatCidr(c)); }),
        " }\n");
  }
  absl::StrAppend(&out, "  }\n");
  return out;
}

// Built only from parsed, re-formatted addresses: no configuration text
// reaches nft verbatim.
std::string BuildRuleset(const std::vector<Cidr>& allowed, const std::vector<Cidr>& host) {
  std::vector<Cidr> always = AlwaysBlocked();
  always.insert(always.end(), host.begin(), host.end());
  std::string out = "table inet libsandbox {\n";
  absl::StrAppend(&out, NftSet("always_blocked", Outermost(always)));
  absl::StrAppend(&out, NftSet("allowed", Outermost(allowed)));
  absl::StrAppend(&out, NftSet("private", Outermost(PrivateRanges())));
  const absl::string_view dns = kSandboxDnsAddress;
  absl::StrAppend(&out, "  chain output {\n",
                  "    type filter hook output priority filter; policy accept;\n",
                  "    oif \"lo\" accept\n");
  // IPv6 is off in the namespace; this covers a stack turned back on.
  absl::StrAppend(&out, "    meta nfproto ipv6 reject with icmpx type admin-prohibited\n");
  // slirp forwards 10.0.2.3 on any port to the host's resolver, which may
  // listen on the host's loopback: DNS only.
  absl::StrAppend(&out, "    ip daddr ", dns, " udp dport 53 accept\n", "    ip daddr ", dns,
                  " tcp dport 53 accept\n");
  absl::StrAppend(&out, "    ip daddr @always_blocked reject with icmpx type admin-prohibited\n",
                  "    ip daddr @allowed accept\n",
                  "    ip daddr @private reject with icmpx type admin-prohibited\n", "  }\n}\n");
  return out;
}

absl::Status WriteSysctl(const char* path, const char* value) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat("open ", path), errno);
  size_t n = std::strlen(value);
  if (::write(fd.get(), value, n) != static_cast<ssize_t>(n)) {
    return ErrnoStatus(absl::StrCat("write ", path), errno);
  }
  return absl::OkStatus();
}

// Runs on a throwaway thread: unshare(CLONE_NEWNET) moves only the calling
// thread, which then exits, so no caller thread ever changes namespace.
absl::StatusOr<UniqueFd> SetUpNamespaceOnThisThread() {
  if (::unshare(CLONE_NEWNET) != 0) return ErrnoStatus("unshare(CLONE_NEWNET)", errno);
  UniqueFd ns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return ErrnoStatus("open /proc/thread-self/ns/net", errno);

  // A socket belongs to the namespace of the thread that creates it.
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return ErrnoStatus("socket", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return ErrnoStatus("SIOCGIFFLAGS lo", errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return ErrnoStatus("SIOCSIFFLAGS lo", errno);

  // /proc/sys/net shows the opening thread's namespace. No IPv6 at all: slirp
  // is not asked for it, and link-local fe80:: must not lead anywhere.
  if (::access("/proc/sys/net/ipv6", F_OK) == 0) {
    for (const char* path : {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
                             "/proc/sys/net/ipv6/conf/default/disable_ipv6"}) {
      if (absl::Status s = WriteSysctl(path, "1"); !s.ok()) return s;
    }
  }
  return ns;
}

absl::StatusOr<UniqueFd> NewNamespace() {
  absl::StatusOr<UniqueFd> result = absl::InternalError("namespace thread did not run");
  std::thread([&result] { result = SetUpNamespaceOnThisThread(); }).join();
  return result;
}

// PR_SET_PDEATHSIG, which Subprocess sets, fires when the *thread* that
// forked the child exits, not the process. A network often outlives the
// thread that asked for it (a worker thread, a pool warmer), so slirp4netns
// is forked from one thread that lives as long as the process (a forked
// child gets its own: task_thread.h). It still dies with the process, by
// that signal and by --exit-fd.
absl::StatusOr<Subprocess> StartLongLived(const SpawnOptions& options) {
  static TaskThread* const spawner = new TaskThread();
  return spawner->Call([&options] { return Subprocess::Start(options); });
}

struct Tools {
  std::string slirp4netns;
  std::string nft;
  std::string unshare;
};

absl::StatusOr<Tools> FindTools() {
  Tools t;
  std::optional<std::string> slirp = FindInPath("slirp4netns");
  if (!slirp) {
    return absl::FailedPreconditionError(
        "network on needs slirp4netns, which is not installed: install the Debian package "
        "'slirp4netns' (apt-get install slirp4netns)");
  }
  std::optional<std::string> nft = FindInPath("nft");
  if (!nft) {
    return absl::FailedPreconditionError(
        "network on needs nft to filter sandbox traffic, which is not installed: install the "
        "Debian package 'nftables' (apt-get install nftables)");
  }
  std::optional<std::string> unshare = FindInPath("unshare");
  if (!unshare) {
    return absl::FailedPreconditionError(
        "network on needs unshare, which is not installed: install the Debian package "
        "'util-linux' (apt-get install util-linux)");
  }
  t.unshare = *unshare;
  t.slirp4netns = *slirp;
  t.nft = *nft;
  return t;
}

// Waits for slirp4netns to write "1" on its ready fd.
absl::Status WaitReady(int ready_fd, Subprocess& slirp, absl::Time deadline) {
  while (true) {
    int ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(deadline - absl::Now()), 0, 60000));
    pollfd p{ready_fd, POLLIN, 0};
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("poll", errno);
    if (r == 0) return absl::DeadlineExceededError("slirp4netns did not become ready in time");
    char buf[8];
    ssize_t n = ::read(ready_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n > 0 && buf[0] == '1') return absl::OkStatus();
    // The ready fd closed without "1": slirp4netns failed during setup.
    slirp.KillGroup(SIGKILL);
    absl::StatusOr<int> code = slirp.Wait();
    return absl::UnavailableError(
        absl::StrCat("slirp4netns failed to set up the sandbox network (exit code ",
                     code.ok() ? absl::StrCat(*code) : code.status().ToString(),
                     "); check that /dev/net/tun exists and that the host allows namespaces"));
  }
}

absl::Status LoadRuleset(const std::string& nft, int netns_fd, const std::string& ruleset,
                         absl::Time deadline) {
  SpawnOptions opts;
  opts.argv = {nft, "-f", "-"};
  opts.netns_fd = netns_fd;
  opts.stdin_data = ruleset;
  absl::StatusOr<Subprocess> p = Subprocess::Start(opts);
  if (!p.ok()) return p.status();
  absl::StatusOr<ProcessResult> r = p->Communicate(16 << 10, deadline);
  if (!r.ok()) return r.status();
  if (r->timed_out) return absl::DeadlineExceededError("nft did not finish in time");
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("nft could not load the sandbox firewall (exit code ",
                                            r->exit_code,
                                            "): ", absl::StripAsciiWhitespace(r->err.data)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCidr(std::string_view cidr) {
  return ParseCidr(absl::string_view(cidr.data(), cidr.size())).status();
}

absl::Status CheckNetworkTools() { return FindTools().status(); }

absl::StatusOr<std::unique_ptr<SandboxNetwork>> SandboxNetwork::Create(
    const NetworkOptions& options) {
  const absl::Time deadline = absl::Now() + options.setup_timeout;
  if (options.egress) {
    absl::StatusOr<UniqueFd> ns = NewNamespace();
    if (!ns.ok()) return ns.status();
    auto net = std::unique_ptr<SandboxNetwork>(new SandboxNetwork());
    net->netns_ = *std::move(ns);
    absl::StatusOr<std::unique_ptr<EgressProxy>> proxy =
        EgressProxy::Start(net->netns_.get(), *options.egress, options.egress_dns);
    if (!proxy.ok()) return proxy.status();
    net->proxy_ = *std::move(proxy);
    return net;
  }
  if (options.allowed_cidrs.size() > kMaxAllowedCidrs) {
    return absl::InvalidArgumentError(absl::StrCat("too many allowed CIDRs (",
                                                   options.allowed_cidrs.size(), ", at most ",
                                                   kMaxAllowedCidrs, ")"));
  }
  std::vector<Cidr> allowed;
  for (const std::string& text : options.allowed_cidrs) {
    absl::StatusOr<Cidr> c = ParseCidr(text);
    if (!c.ok()) return c.status();
    for (const Cidr& blocked : AlwaysBlocked()) {
      if (Contains(blocked, *c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("allowed CIDR ", FormatCidr(*c), " lies in ", FormatCidr(blocked),
                         ", which sandboxes can never reach (loopback, link-local/metadata, "
                         "multicast, reserved or the host gateway)"));
      }
    }
    allowed.push_back(*c);
  }
  absl::StatusOr<Tools> tools = FindTools();
  if (!tools.ok()) return tools.status();
  absl::StatusOr<std::vector<Cidr>> host = HostAddresses();
  if (!host.ok()) return host.status();
  const std::string ruleset = BuildRuleset(allowed, *host);

  absl::StatusOr<UniqueFd> ns = NewNamespace();
  if (!ns.ok()) return ns.status();
  auto net = std::unique_ptr<SandboxNetwork>(new SandboxNetwork());
  net->netns_ = *std::move(ns);

  UniqueFd exit_r, ready_r, ready_w;
  if (absl::Status s = MakePipe(exit_r, net->slirp_exit_fd_); !s.ok()) return s;
  if (absl::Status s = MakePipe(ready_r, ready_w); !s.ok()) return s;
  SpawnOptions opts;
  // slirp parses the sandbox's packets: it confines itself (own mount
  // namespace, no capabilities, seccomp) in case that is ever exploited. Its
  // confinement lazily unmounts the old root, which would propagate to the
  // host's shared mounts (e.g. /run/netns/*), so it starts in a private mount
  // namespace of its own.
  opts.argv = {tools->unshare,
               "--mount",
               "--propagation=private",
               "--",
               tools->slirp4netns,
               "--configure",
               "--mtu=65520",
               "--disable-host-loopback",
               "--enable-sandbox",
               "--enable-seccomp",
               absl::StrCat("--exit-fd=", exit_r.get()),
               absl::StrCat("--ready-fd=", ready_w.get()),
               "--netns-type=path",
               absl::StrCat("/proc/self/fd/", net->netns_.get()),
               "tap0"};
  opts.keep_fds = {exit_r.get(), ready_w.get(), net->netns_.get()};
  // Its diagnostics would fill an unread pipe and stall it.
  opts.capture_output = false;
  absl::StatusOr<Subprocess> slirp = StartLongLived(opts);
  if (!slirp.ok()) return slirp.status();
  net->slirp_ = *std::move(slirp);
  // Our copies would hide slirp4netns's exit from the ready wait.
  exit_r.Reset();
  ready_w.Reset();

  // The firewall loads while slirp4netns starts; nothing runs in the
  // namespace until Create returns.
  if (absl::Status s = LoadRuleset(tools->nft, net->netns_.get(), ruleset, deadline); !s.ok()) {
    return s;
  }
  if (absl::Status s = WaitReady(ready_r.get(), net->slirp_, deadline); !s.ok()) return s;
  return net;
}

SandboxNetwork::~SandboxNetwork() = default;

std::string SandboxNetwork::ResolvConf() const {
  // Allowlist sandboxes resolve nothing themselves (the proxy does): nothing
  // answers on their loopback, so lookups fail at once.
  if (proxy_) return "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";
  return absl::StrCat("nameserver ", kSandboxDnsAddress, "\n");
}

std::map<std::string, std::string> SandboxNetwork::ProxyEnv() const {
  if (!proxy_) return {};
  std::map<std::string, std::string> env;
  for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}) {
    env[name] = kEgressProxyUrl;
  }
  return env;
}

}  // namespace libsandbox
