#include "libsandbox/host/egress_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libsandbox/base/ip_address.h"
#include "libsandbox/host/egress_inspect.h"
#include "libsandbox/host/host_addresses.h"
#include "libsandbox/host/netns_socket.h"
#include "libsandbox/rules/egress_allowlist.h"

namespace libsandbox {
namespace {

constexpr size_t kMaxRequestHead = 8192;
constexpr absl::Duration kRequestTimeout = absl::Seconds(10);
constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
constexpr absl::Duration kInspectTimeout = absl::Seconds(10);
constexpr size_t kTunnelBuffer = 64 << 10;

// Targets come from hostile code: only a short, escaped prefix is kept.
std::string Printable(absl::string_view s) {
  std::string out = absl::CHexEscape(s.substr(0, 80));
  if (s.size() > 80) out += "...";
  return out;
}

enum class Wait { kReady, kTimeout, kStopped };

// Waits for `events` on `fd` until `deadline` (InfiniteFuture: no limit) or
// until the proxy stops.
Wait WaitFor(int fd, short events, int stop_fd, absl::Time deadline) {
  while (true) {
    int ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      ms = static_cast<int>(
          std::clamp<int64_t>(absl::ToInt64Milliseconds(deadline - absl::Now()), 0, 60000));
    }
    pollfd p[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    int r = ::poll(p, 2, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || p[1].revents != 0) return Wait::kStopped;
    if (p[0].revents != 0) return Wait::kReady;
    if (ms >= 0 && absl::Now() >= deadline) return Wait::kTimeout;
  }
}

bool SendAll(int fd, absl::string_view data, int stop_fd, absl::Time deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        WaitFor(fd, POLLOUT, stop_fd, deadline) == Wait::kReady) {
      continue;
    }
    return false;
  }
  return true;
}

void Reply(int fd, int stop_fd, int code, absl::string_view status, absl::string_view why) {
  std::string body = absl::StrCat("libsandbox egress: ", why, "\n");
  (void)SendAll(
      fd,
      absl::StrCat("HTTP/1.1 ", code, " ", status, "\r\nContent-Type: text/plain\r\n",
                   "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body),
      stop_fd, absl::Now() + absl::Seconds(2));
}

// Reads a request head ("...\r\n\r\n"). nullopt on EOF, timeout, stop or
// overflow. Bytes after the head (a client that does not wait for the 200)
// go to `rest`.
std::optional<std::string> ReadHead(int fd, int stop_fd, std::string& rest) {
  const absl::Time deadline = absl::Now() + kRequestTimeout;
  std::string buf;
  char chunk[2048];
  while (true) {
    if (size_t end = buf.find("\r\n\r\n"); end != std::string::npos) {
      rest = buf.substr(end + 4);
      buf.resize(end);
      return buf;
    }
    if (buf.size() > kMaxRequestHead) return std::nullopt;
    if (WaitFor(fd, POLLIN, stop_fd, deadline) != Wait::kReady) return std::nullopt;
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return std::nullopt;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

// "name:port" with a DNS host name; anything else is refused with a reason.
struct Target {
  std::string host;
  int port = 0;
};

std::optional<Target> ParseTarget(absl::string_view target, std::string& why) {
  size_t colon = target.rfind(':');
  if (absl::StartsWith(target, "[") ||
      (colon != absl::string_view::npos &&
       target.substr(0, colon).find(':') != absl::string_view::npos)) {
    // Only an IPv6 literal has colons in its host part; say which it was.
    absl::string_view host = colon == absl::string_view::npos ? target : target.substr(0, colon);
    if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
      host = host.substr(1, host.size() - 2);
    }
    why = IpAddress::Parse(std::string(host)) ? "an IP address, not a host name"
                                              : "not HOST:PORT (a host name has no ':')";
    return std::nullopt;
  }
  if (colon == absl::string_view::npos) {
    why = "no port (expected HOST:PORT)";
    return std::nullopt;
  }
  Target t;
  absl::string_view port = target.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &t.port) || t.port < 1 || t.port > 65535) {
    why = "bad port";
    return std::nullopt;
  }
  t.host = NormalizeHostName(target.substr(0, colon));
  if (IpAddress::Parse(t.host)) {
    why = "an IP address, not a host name";
    return std::nullopt;
  }
  bool valid = !t.host.empty() && t.host.size() <= 253;
  for (absl::string_view label : absl::StrSplit(t.host, '.')) {
    valid = valid && !label.empty() && label.size() <= 63 &&
            std::all_of(label.begin(), label.end(),
                        [](char c) { return absl::ascii_isalnum(c) || c == '-'; });
  }
  if (!valid) {
    why = "not a valid host name";
    return std::nullopt;
  }
  return t;
}

// A non-blocking connection to `addr`, or an invalid fd.
UniqueFd ConnectTo(const IpAddress& addr, int port, int stop_fd) {
  UniqueFd fd(::socket(addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fd;
  sockaddr_storage ss;
  socklen_t len = addr.ToSockaddr(static_cast<uint16_t>(port), ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) return fd;
  if (errno != EINPROGRESS) return UniqueFd();
  if (WaitFor(fd.get(), POLLOUT, stop_fd, absl::Now() + kConnectTimeout) != Wait::kReady) {
    return UniqueFd();
  }
  int err = 0;
  socklen_t err_len = sizeof(err);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
    return UniqueFd();
  }
  return fd;
}

// Copies both ways until both sides are done, either fails, or the proxy
// stops. Half-closes are passed on.
void Tunnel(int client, int server, int stop_fd) {
  struct Direction {
    int from, to;
    std::string buf;
    bool eof = false;   // `from` has no more to send
    bool shut = false;  // `to` was told so
  };
  Direction d[2] = {{client, server, {}, false, false}, {server, client, {}, false, false}};
  char chunk[16384];
  while (!(d[0].shut && d[1].shut)) {
    pollfd p[3];
    p[0] = {client, 0, 0};
    p[1] = {server, 0, 0};
    p[2] = {stop_fd, POLLIN, 0};
    for (int i = 0; i < 2; ++i) {
      pollfd& from = d[i].from == client ? p[0] : p[1];
      pollfd& to = d[i].to == client ? p[0] : p[1];
      if (!d[i].eof && d[i].buf.size() < kTunnelBuffer) from.events |= POLLIN;
      if (!d[i].buf.empty()) to.events |= POLLOUT;
    }
    if (::poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[2].revents != 0) return;
    for (int i = 0; i < 2; ++i) {
      Direction& x = d[i];
      if (!x.eof && x.buf.size() < kTunnelBuffer) {
        ssize_t n = ::recv(x.from, chunk, std::min(sizeof(chunk), kTunnelBuffer - x.buf.size()),
                           MSG_DONTWAIT);
        if (n > 0) {
          x.buf.append(chunk, static_cast<size_t>(n));
        } else if (n == 0) {
          x.eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return;
        }
      }
      if (!x.buf.empty()) {
        ssize_t n = ::send(x.to, x.buf.data(), x.buf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          x.buf.erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return;
        }
      }
      if (x.eof && x.buf.empty() && !x.shut) {
        ::shutdown(x.to, SHUT_WR);
        x.shut = true;
      }
    }
  }
}

absl::StatusOr<UniqueFd> ListenInNamespace(int netns_fd) {
  absl::StatusOr<UniqueFd> fd =
      SocketInNetworkNamespace(netns_fd, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (!fd.ok()) return fd.status();
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(kEgressProxyPort);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
    return ErrnoStatus("bind the egress proxy", errno);
  }
  if (::listen(fd->get(), 64) != 0) return ErrnoStatus("listen", errno);
  return fd;
}

}  // namespace

EgressProxy::EgressProxy(EgressAllowlist allowlist, DnsServer dns)
    : allowlist_(std::move(allowlist)), dns_(std::move(dns)) {}

absl::StatusOr<std::unique_ptr<EgressProxy>> EgressProxy::Start(int netns_fd,
                                                                const EgressAllowlist& allowlist,
                                                                const DnsServer& dns) {
  if (absl::Status s = ValidateEgressAllowlist(allowlist); !s.ok()) return s;
  std::unique_ptr<EgressProxy> proxy(new EgressProxy(allowlist, dns));
  proxy->stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!proxy->stop_.valid()) return ErrnoStatus("eventfd", errno);
  absl::StatusOr<UniqueFd> listener = ListenInNamespace(netns_fd);
  if (!listener.ok()) return listener.status();
  proxy->listener_ = *std::move(listener);
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

EgressProxy::~EgressProxy() {
  if (acceptor_.joinable()) {
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    acceptor_.join();
  }
  std::map<int64_t, std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (auto& [id, t] : workers) t.join();
}

void EgressProxy::AcceptLoop() {
  while (true) {
    pollfd p[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents != 0) return;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client.valid()) continue;
    std::vector<std::thread> done;
    bool full = false;
    {
      absl::MutexLock lock(&mu_);
      for (int64_t id : finished_) {
        auto it = workers_.find(id);
        if (it == workers_.end()) continue;
        done.push_back(std::move(it->second));
        workers_.erase(it);
      }
      finished_.clear();
      full = workers_.size() >= static_cast<size_t>(kMaxEgressConnections);
      if (!full) {
        int64_t id = next_worker_++;
        workers_[id] = std::thread([this, id, fd = client.release()]() mutable {
          Serve(UniqueFd(fd));
          absl::MutexLock l(&mu_);
          finished_.push_back(id);
        });
      }
    }
    for (std::thread& t : done) t.join();
    if (full) {
      Reply(client.get(), stop_.get(), 503, "Service Unavailable", "too many open connections");
      Deny("", absl::StrCat("more than ", kMaxEgressConnections, " connections open at once"));
    }
  }
}

void EgressProxy::Serve(UniqueFd client) {
  const int c = client.get();
  const int stop = stop_.get();
  std::string early;  // bytes sent right after the request head
  std::optional<std::string> head = ReadHead(c, stop, early);
  if (!head) return;
  std::vector<absl::string_view> line = absl::StrSplit(
      absl::string_view(*head).substr(0, head->find("\r\n")), absl::MaxSplits(' ', 2));
  if (line.size() != 3 || !absl::StartsWith(line[2], "HTTP/1.")) {
    Reply(c, stop, 400, "Bad Request", "not an HTTP request");
    Deny("", "not an HTTP proxy request");
    return;
  }
  const std::string target(line[1]);
  if (line[0] != "CONNECT") {
    Reply(c, stop, 405, "Method Not Allowed", "only CONNECT is supported: use https://");
    Deny(target, "plain HTTP proxying is not supported (only CONNECT)");
    return;
  }
  std::string why;
  std::optional<Target> t = ParseTarget(target, why);
  if (!t) {
    Reply(c, stop, 403, "Forbidden", why);
    Deny(target, why);
    return;
  }
  if (!EgressAllows(allowlist_, t->host, t->port)) {
    why = "not on the allowlist";
    Reply(c, stop, 403, "Forbidden", absl::StrCat(Printable(target), " is ", why));
    Deny(target, why);
    return;
  }
  absl::StatusOr<std::vector<IpAddress>> addrs = ResolveHost(dns_, t->host);
  if (!addrs.ok()) {
    Reply(c, stop, 502, "Bad Gateway", addrs.status().message());
    Deny(target, std::string(addrs.status().message()));
    return;
  }
  // One bad answer taints the name: a rebinding server mixes them.
  for (const IpAddress& a : *addrs) {
    if (std::string reason = NonPublicReason(a); !reason.empty()) {
      why = absl::StrCat("resolves to ", a.ToString(), " (", reason, ")");
      Reply(c, stop, 403, "Forbidden", why);
      Deny(target, why);
      return;
    }
  }
  // Public addresses of the host itself would reach its own services.
  absl::StatusOr<std::vector<IpAddress>> own = HostInterfaceAddresses();
  if (!own.ok()) {
    why = absl::StrCat("cannot list this host's own addresses: ", own.status().message());
    Reply(c, stop, 403, "Forbidden", why);
    Deny(target, why);
    return;
  }
  for (const IpAddress& a : *addrs) {
    if (IsHostAddress(a, *own)) {
      why = absl::StrCat("resolves to ", a.ToString(), " (this host's own address)");
      Reply(c, stop, 403, "Forbidden", why);
      Deny(target, why);
      return;
    }
  }
  UniqueFd server;
  for (const IpAddress& a : *addrs) {
    server = ConnectTo(a, t->port, stop);
    if (server.valid()) break;
  }
  if (!server.valid()) {
    Reply(c, stop, 502, "Bad Gateway", absl::StrCat("cannot connect to ", t->host));
    return;
  }
  if (!SendAll(c, "HTTP/1.1 200 Connection established\r\n\r\n", stop,
               absl::Now() + absl::Seconds(5))) {
    return;
  }

  // Whoever speaks first: a client's first message must name this host;
  // a server that speaks first (SSH, SMTP) leaves nothing to inspect.
  std::string first = std::move(early);
  bool inspect = !first.empty();
  if (!inspect) {
    pollfd p[3] = {{c, POLLIN, 0}, {server.get(), POLLIN, 0}, {stop, POLLIN, 0}};
    while (::poll(p, 3, -1) < 0 && errno == EINTR) {
    }
    if (p[2].revents != 0) return;
    inspect = p[0].revents != 0;  // both at once: inspect
  }
  if (inspect) {
    const absl::Time deadline = absl::Now() + kInspectTimeout;
    char chunk[4096];
    FirstBytes fb = InspectFirstBytes(first);
    while (fb.kind == FirstBytes::kNeedMore && first.size() < kMaxInspectBytes) {
      if (WaitFor(c, POLLIN, stop, deadline) != Wait::kReady) break;
      ssize_t n = ::recv(c, chunk, std::min(sizeof(chunk), kMaxInspectBytes - first.size()), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      first.append(chunk, static_cast<size_t>(n));
      fb = InspectFirstBytes(first);
    }
    if (fb.kind == FirstBytes::kNeedMore && !first.empty()) {
      Deny(target, "incomplete first message in the tunnel");
      return;
    }
    if (fb.kind == FirstBytes::kMalformed) {
      Deny(target, fb.error);
      return;
    }
    if (!fb.name.empty() && fb.name != t->host) {
      Deny(target, absl::StrCat(fb.kind == FirstBytes::kTls ? "TLS server name " : "Host header ",
                                "\"", Printable(fb.name), "\" does not match"));
      return;
    }
  }
  CountAllowed();
  if (!first.empty() && !SendAll(server.get(), first, stop, absl::Now() + kConnectTimeout)) return;
  Tunnel(c, server.get(), stop);
}

void EgressProxy::Deny(const std::string& target, const std::string& reason) {
  std::string entry = absl::StrCat(target.empty() ? "-" : Printable(target), ": ", reason);
  absl::MutexLock lock(&mu_);
  denials_.emplace_back(denied_++, std::move(entry));
  while (denials_.size() > static_cast<size_t>(kMaxEgressDenialsKept)) denials_.pop_front();
}

void EgressProxy::CountAllowed() {
  absl::MutexLock lock(&mu_);
  ++allowed_;
}

EgressReport EgressProxy::ReportSince(const EgressReport& before) const {
  EgressReport out;
  absl::MutexLock lock(&mu_);
  out.set_allowed(allowed_ - before.allowed());
  out.set_denied(denied_ - before.denied());
  for (const auto& [index, text] : denials_) {
    if (index >= before.denied()) out.add_denials(text);
  }
  return out;
}

}  // namespace libsandbox
