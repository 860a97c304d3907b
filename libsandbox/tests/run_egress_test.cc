// Allowlist egress end to end: real runsc sandboxes whose only way out is
// the egress proxy, real test hosts in network namespaces (NetworkTestHosts)
// with IPv6 added, and a real DNS server (dnsmasq) the test runs on the
// "public" test host, answering for names that lead to public, loopback,
// private, metadata and mixed addresses. The sandbox's code tries the
// allowed way and every bypass; the result's egress report must count each.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/network.h"
#include "libsandbox/host/process.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPubV6Host[] = "2001:db8:7::1";
constexpr char kPubV6[] = "2001:db8:7::2";
constexpr char kPubV4[] = "203.0.113.2";
constexpr char kPubV4Host[] = "203.0.113.1";  // the host's end of the link

// Waits for the client's first bytes, answers "echo:<n>" and closes: a
// server that lets the client speak first, so the proxy inspects what the
// client sends. Listens dual-stack inside a namespace (empty: ours, the
// host's).
class EchoServer {
 public:
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(const std::string& netns) {
    auto s = std::unique_ptr<EchoServer>(new EchoServer());
    UniqueFd ns;
    if (!netns.empty()) {
      ns = UniqueFd(::open(absl::StrCat("/run/netns/", netns).c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns.valid()) return ErrnoStatus("open netns", errno);
    }
    absl::StatusOr<UniqueFd> fd =
        SocketInNetworkNamespace(ns.get(), AF_INET6, SOCK_STREAM | SOCK_CLOEXEC);
    if (!fd.ok()) return fd.status();
    s->fd_ = *std::move(fd);
    int off = 0;
    ::setsockopt(s->fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    if (::bind(s->fd_.get(), reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6)) != 0 ||
        ::listen(s->fd_.get(), 16) != 0) {
      return ErrnoStatus("echo server listen", errno);
    }
    socklen_t len = sizeof(sockaddr_in6);
    sockaddr_in6 bound{};
    ::getsockname(s->fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    s->port_ = ntohs(bound.sin6_port);
    s->stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
    s->thread_ = std::thread([p = s.get()] { p->Loop(); });
    return s;
  }
  ~EchoServer() {
    if (!thread_.joinable()) return;  // Start failed before it
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    thread_.join();
  }
  int port() const { return port_; }

 private:
  EchoServer() = default;
  void Loop() {
    while (true) {
      pollfd p[2] = {{fd_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
      if (p[1].revents != 0) return;
      UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c.valid()) continue;
      pollfd in = {c.get(), POLLIN, 0};
      if (::poll(&in, 1, 3000) != 1) continue;
      char buf[65536];
      ssize_t n = ::recv(c.get(), buf, sizeof(buf), 0);
      std::string reply = absl::StrCat("echo:", n);
      (void)!::send(c.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }
  UniqueFd fd_;
  UniqueFd stop_;
  int port_ = 0;
  std::thread thread_;
};

// Python for the sandbox: each check opens a connection to the proxy (or
// directly), prints "NAME <outcome>". Outcomes: "HTTP <code>" when the proxy
// refused the CONNECT, "DATA <text>" for what came back through a tunnel,
// "CLOSED" when a tunnel closed with nothing, "ERR <errno>" otherwise.
constexpr char kEgressProbe[] = R"PY(
import os, socket, ssl, sys, errno
from urllib.parse import urlsplit
proxy = urlsplit(os.environ["HTTPS_PROXY"])
PROXY = (proxy.hostname, proxy.port)

def hello(name):
    ctx = ssl.create_default_context()
    i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
    s = ctx.wrap_bio(i, o, server_hostname=name)
    try:
        s.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return o.read()

def read_all(s):
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d

def tunnel(name, target, payload=None, raw=None):
    try:
        s = socket.create_connection(PROXY, timeout=15)
        s.sendall(raw if raw is not None else b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode()))
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(1)
            if not d:
                break
            head += d
        code = head.split(b" ")[1].decode() if head.count(b" ") else "none"
        if code != "200":
            print(name, "HTTP", code, flush=True)
            return
        if payload is not None:
            s.sendall(payload)
        data = read_all(s)
        print(name, "DATA " + data.decode(errors="replace") if data else "CLOSED", flush=True)
    except OSError as e:
        print(name, "ERR", errno.errorcode.get(e.errno, str(e)), flush=True)

def direct(name, host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        print(name, "CONNECTED", flush=True)
    except OSError as e:
        print(name, "ERR", errno.errorcode.get(e.errno, type(e).__name__), flush=True)

def lookup(name, host):
    try:
        print(name, "RESOLVED", socket.getaddrinfo(host, 443)[0][4][0], flush=True)
    except OSError as e:
        print(name, "ERR", type(e).__name__, flush=True)
)PY";

class RunEgressTest : public testing::NetworkHostsTest {
 protected:
  static void SetUpTestSuite() {
    testing::NetworkHostsTest::SetUpTestSuite();
    if (!setup_status_->ok()) return;
    *setup_status_ = SetUpExtras();
  }
  static void TearDownTestSuite() {
    echo_.reset();
    dns_.reset();
    testing::NetworkHostsTest::TearDownTestSuite();
  }

  // IPv6 on the public host, its echo server, and dnsmasq answering there.
  static absl::Status SetUpExtras() {
    const std::string ns = hosts_->netns_name("pub");
    for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
             {"addr", "add", absl::StrCat(kPubV6Host, "/64"), "dev", hosts_->link_name("pub"),
              "nodad"},
             {"-n", ns, "addr", "add", absl::StrCat(kPubV6, "/64"), "dev", "eth0", "nodad"},
         }) {
      if (absl::Status s = testing::IpCommand(cmd); !s.ok()) return s;
    }
    absl::StatusOr<std::unique_ptr<EchoServer>> echo = EchoServer::Start(ns);
    if (!echo.ok()) return echo.status();
    echo_ = *std::move(echo);

    std::optional<std::string> dnsmasq = FindInPath("dnsmasq");
    if (!dnsmasq) {
      return absl::FailedPreconditionError(
          "the egress tests need dnsmasq: apt-get install dnsmasq-base");
    }
    UniqueFd netns(::open(absl::StrCat("/run/netns/", ns).c_str(), O_RDONLY | O_CLOEXEC));
    SpawnOptions opts;
    opts.argv = {*dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                 "--no-hosts", "--pid-file=", "--user=root", "--bind-interfaces", "--local=/test/",
                 absl::StrCat("--listen-address=", kPubV4),
                 absl::StrCat("--host-record=allowed.test,", kPubV4),
                 absl::StrCat("--host-record=v6.allowed.test,", kPubV6),
                 absl::StrCat("--host-record=other.test,", kPubV4),
                 "--host-record=loop.allowed.test,127.0.0.1",
                 "--host-record=meta.allowed.test,169.254.169.254",
                 "--host-record=private.allowed.test,10.231.7.2",
                 absl::StrCat("--host-record=mixed.allowed.test,", kPubV4, ",::1"),
                 "--host-record=v6loop.allowed.test,::1",
                 "--host-record=mapped.allowed.test,::ffff:127.0.0.1",
                 "--host-record=ula.allowed.test,fd00:ec2::254",
                 // The host's own end of the link to "pub": public, but ours.
                 absl::StrCat("--host-record=self.allowed.test,", kPubV4Host),
                 absl::StrCat("--host-record=self6.allowed.test,", kPubV6Host),
                 absl::StrCat("--host-record=selfmapped.allowed.test,::ffff:", kPubV4Host)};
    opts.netns_fd = netns.get();
    opts.capture_output = false;
    absl::StatusOr<Subprocess> p = Subprocess::Start(opts);
    if (!p.ok()) return p.status();
    dns_ = std::make_unique<Subprocess>(*std::move(p));
    // Ready once it answers.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    absl::StatusOr<DnsServer> server = ParseDnsServer(kPubV4);
    while (true) {
      absl::StatusOr<std::vector<IpAddress>> a = ResolveHost(*server, "allowed.test");
      if (a.ok()) return absl::OkStatus();
      if (absl::Now() > deadline) return a.status();
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  void SetUp() override {
    testing::NetworkHostsTest::SetUp();
    if (HasFatalFailure()) return;
    root_ = testing::MakeTestDir("run-egress");
    config_.set_state_dir(root_ + "/state");
    config_.set_storage_dir(root_ + "/storage");
    config_.set_runsc_path(testing::TestRunscPath());
    config_.set_egress_dns_server(kPubV4);
  }
  void TearDown() override {
    // Teardown of a run finishes after Run returns: wait for it, so the
    // next test counts only its own processes and the dirs can go.
    Shutdown();
    if (!root_.empty()) (void)RemoveTree(root_);
  }

  static EgressAllowlist TestAllowlist() {
    EgressAllowlist a;
    a.add_domains("allowed.test");
    a.add_domains("*.allowed.test");
    a.add_ports(hosts_->port("pub"));
    a.add_ports(echo_->port());
    return a;
  }

  // Lines "NAME OUTCOME" -> OUTCOME.
  static std::map<std::string, std::string> Outcomes(const std::string& out) {
    std::map<std::string, std::string> m;
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
      m[kv.first] = kv.second;
    }
    return m;
  }

  static inline std::unique_ptr<EchoServer> echo_;
  static inline std::unique_ptr<Subprocess> dns_;
  std::string root_;
  Config config_;
};

TEST_F(RunEgressTest, OnlyAllowedNamesOnAllowedPortsGetThrough) {
  const int pub = hosts_->port("pub");
  const int echo = echo_->port();
  auto t = [](const std::string& name, const std::string& host, int port,
              const std::string& extra = "") {
    return absl::StrCat("tunnel(\"", name, "\", \"", host, ":", port, "\"", extra, ")\n");
  };
  std::string code = kEgressProbe;
  // Allowed: by name over IPv4, by a "*." name over IPv6, TLS and HTTP that
  // name the same host.
  code += t("allowed", "allowed.test", pub);
  code += t("v6", "v6.allowed.test", echo,
            ", b'GET / HTTP/1.1\\r\\nHost: v6.allowed.test\\r\\n\\r\\n'");
  code += t("sni_ok", "allowed.test", echo, ", hello('allowed.test')");
  code += t("host_ok", "ALLOWED.test.", echo,
            ", b'GET / HTTP/1.1\\r\\nHost: allowed.test\\r\\n\\r\\n'");
  // Refused by the proxy.
  code += t("other", "other.test", pub);
  code += t("port", "allowed.test", 22);
  code += t("ipv4", kPubV4, pub);
  code += t("ipv6", absl::StrCat("[", kPubV6, "]"), echo);
  code += t("localhost", "localhost", hosts_->port("hostlo"));
  for (const char* name : {"loop", "meta", "private", "mixed", "v6loop", "mapped", "ula", "nx"}) {
    code += t(name, absl::StrCat(name, ".allowed.test"), pub);
  }
  code += t("sni_forged", "allowed.test", echo, ", hello('evil.test')");
  code += t("host_forged", "allowed.test", echo,
            ", b'GET / HTTP/1.1\\r\\nHost: evil.test\\r\\n\\r\\n'");
  // Servers skip empty lines before a request line: the Host behind them counts.
  code += t("crlf_forged", "allowed.test", echo,
            ", b'\\r\\nGET / HTTP/1.1\\r\\nHost: evil.test\\r\\n\\r\\n'");
  // Bytes the proxy cannot check (the client speaks first) do not pass.
  code += t("unchecked", "allowed.test", echo, ", b'SSH-2.0-OpenSSH_9.2\\r\\n'");
  code += t("colon", "a:b.allowed.test", echo);
  code += absl::StrCat("tunnel(\"plain_http\", \"\", raw=b'GET http://allowed.test:", pub,
                       "/ HTTP/1.1\\r\\nHost: allowed.test\\r\\n\\r\\n')\n");
  // Around the proxy: straight to the test host, to the host's loopback
  // services and the metadata address, and DNS of its own.
  code += absl::StrCat("direct(\"direct_v4\", \"", kPubV4, "\", ", pub, ")\n");
  code += absl::StrCat("direct(\"direct_v6\", \"", kPubV6, "\", ", echo, ")\n");
  code += absl::StrCat("direct(\"hostlo\", \"127.0.0.1\", ", hosts_->port("hostlo"), ")\n");
  code += absl::StrCat("direct(\"metadata\", \"169.254.169.254\", ", hosts_->port("meta"), ")\n");
  code += "lookup(\"dns\", \"allowed.test\")\n";

  RunRequest req;
  req.set_code(code);
  req.set_user("mallory");
  req.set_network(true);
  *req.mutable_egress() = TestAllowlist();
  config_.set_audit(true);
  Result r = libsandbox::Run(req, config_);
  ASSERT_EQ(r.status(), Result::OK) << r.message() << "\n" << r.stderr();
  std::map<std::string, std::string> o = Outcomes(r.stdout());

  EXPECT_EQ(o["allowed"], "DATA pub");
  EXPECT_THAT(o["v6"], StartsWith("DATA echo:"));
  EXPECT_THAT(o["sni_ok"], StartsWith("DATA echo:"));
  EXPECT_THAT(o["host_ok"], StartsWith("DATA echo:"));
  for (const char* refused : {"other", "port", "ipv4", "ipv6", "localhost", "loop", "meta",
                              "private", "mixed", "v6loop", "mapped", "ula", "colon"}) {
    EXPECT_EQ(o[refused], "HTTP 403") << refused;
  }
  EXPECT_EQ(o["nx"], "HTTP 502");
  EXPECT_EQ(o["sni_forged"], "CLOSED");
  EXPECT_EQ(o["host_forged"], "CLOSED");
  EXPECT_EQ(o["crlf_forged"], "CLOSED");
  EXPECT_EQ(o["unchecked"], "CLOSED");
  EXPECT_EQ(o["plain_http"], "HTTP 405");
  for (const char* around : {"direct_v4", "direct_v6", "hostlo", "metadata"}) {
    EXPECT_THAT(o[around], StartsWith("ERR")) << around;
  }
  EXPECT_THAT(o["dns"], StartsWith("ERR"));

  // Counted and kept: 4 through, 13 refused + nx + 3 forged + unchecked + plain HTTP.
  ASSERT_TRUE(r.has_egress());
  EXPECT_EQ(r.egress().allowed(), 4);
  EXPECT_EQ(r.egress().denied(), 19);
  const std::string denials = absl::StrJoin(r.egress().denials(), "\n");
  EXPECT_THAT(denials, HasSubstr("other.test"));
  EXPECT_THAT(denials, HasSubstr("not on the allowlist"));
  EXPECT_THAT(denials, HasSubstr("resolves to 127.0.0.1 (loopback)"));
  EXPECT_THAT(denials, HasSubstr("resolves to 169.254.169.254 (link-local or metadata)"));
  EXPECT_THAT(denials, HasSubstr("resolves to ::1 (loopback)"));
  EXPECT_THAT(denials, HasSubstr("an IP address, not a host name"));
  EXPECT_THAT(denials, HasSubstr("TLS server name \"evil.test\" does not match"));
  EXPECT_THAT(denials, HasSubstr("Host header \"evil.test\" does not match"));
  EXPECT_THAT(denials, HasSubstr("only CONNECT"));
  EXPECT_THAT(denials, HasSubstr("empty lines before the request line"));
  EXPECT_THAT(denials, HasSubstr("neither a TLS ClientHello nor an HTTP/1.x request"));
  EXPECT_THAT(denials, HasSubstr("a:b.allowed.test:" + std::to_string(echo) +
                                 ": not HOST:PORT (a host name has no ':')"));

  // The audit log has the same count, per user.
  absl::StatusOr<std::vector<AuditRecord>> audit = QueryAudit(config_, "mallory", 10);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].egress_allowed(), 4);
  EXPECT_EQ((*audit)[0].egress_denied(), 19);
  EXPECT_EQ((*audit)[0].egress_denials_size(), 19);
}

// A name on the allowlist that resolves to one of the host's own public
// addresses would reach services of the host listening on all addresses.
TEST_F(RunEgressTest, TheHostsOwnAddressesAreRefused) {
  absl::StatusOr<std::unique_ptr<EchoServer>> own = EchoServer::Start("");
  ASSERT_TRUE(own.ok()) << own.status();
  const int port = (*own)->port();
  std::string code = kEgressProbe;
  for (const char* name : {"self", "self6", "selfmapped"}) {
    code += absl::StrCat("tunnel(\"", name, "\", \"", name, ".allowed.test:", port,
                         "\", b'GET / HTTP/1.1\\r\\nHost: ", name, ".allowed.test\\r\\n\\r\\n')\n");
  }
  // The listener answers on that address, so a refusal is the proxy's doing.
  {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    ASSERT_EQ(::inet_pton(AF_INET, kPubV4Host, &sin.sin_addr), 1);
    ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    ASSERT_EQ(::send(c.get(), "x", 1, MSG_NOSIGNAL), 1);
    char buf[16] = {};
    ASSERT_GT(::recv(c.get(), buf, sizeof(buf) - 1, 0), 0);
    EXPECT_STREQ(buf, "echo:1");
  }
  RunRequest req;
  req.set_code(code);
  req.set_network(true);
  req.mutable_egress()->add_domains("*.allowed.test");
  req.mutable_egress()->add_ports(port);
  Result r = libsandbox::Run(req, config_);
  ASSERT_EQ(r.status(), Result::OK) << r.message() << "\n" << r.stderr();
  std::map<std::string, std::string> o = Outcomes(r.stdout());
  for (const char* name : {"self", "self6", "selfmapped"}) {
    EXPECT_EQ(o[name], "HTTP 403") << name;
  }
  const std::string denials = absl::StrJoin(r.egress().denials(), "\n");
  EXPECT_THAT(denials,
              HasSubstr(absl::StrCat("resolves to ", kPubV4Host, " (this host's own address)")));
  EXPECT_THAT(denials,
              HasSubstr(absl::StrCat("resolves to ", kPubV6Host, " (this host's own address)")));
  EXPECT_EQ(r.egress().allowed(), 0);
}

// The same hosts, controlled from the host namespace: each allowed path
// really leads somewhere, so the refusals above are the proxy's doing.
TEST_F(RunEgressTest, TestHostsAreReachableFromTheHost) {
  absl::StatusOr<testing::ProbeResults> r = testing::ProbeFromNamespace(
      -1, {testing::ProbeCheck("pub", "tcp", kPubV4, hosts_->port("pub")),
           testing::ProbeCheck("meta", "tcp", "169.254.169.254", hosts_->port("meta")),
           testing::ProbeCheck("hostlo", "tcp", "127.0.0.1", hosts_->port("hostlo"))});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["pub"], "OK pub");
  EXPECT_EQ((*r)["meta"], "OK meta");
  EXPECT_EQ((*r)["hostlo"], "OK hostlo");
}

TEST_F(RunEgressTest, PolicyAllowlistAppliesToRunsAndSessions) {
  const std::string policy_file = root_ + "/policies.textproto";
  ASSERT_TRUE(
      WriteFile(policy_file,
                absl::StrCat("caps { allow_allowlist: true }\n"
                             "policies { name: \"web\" network { mode: \"allowlist\" "
                             "domains: \"*.allowed.test\" domains: \"allowed.test\" ports: ",
                             hosts_->port("pub"), " } }\n"),
                0600)
          .ok());
  config_.set_policy_file(policy_file);
  const std::string code =
      absl::StrCat(kEgressProbe, "tunnel(\"ok\", \"allowed.test:", hosts_->port("pub"),
                   "\")\ntunnel(\"no\", \"other.test:", hosts_->port("pub"), "\")\n");
  RunRequest req;
  req.set_code(code);
  req.set_policy("web");
  Result r = libsandbox::Run(req, config_);
  ASSERT_EQ(r.status(), Result::OK) << r.message() << "\n" << r.stderr();
  EXPECT_EQ(Outcomes(r.stdout())["ok"], "DATA pub");
  EXPECT_EQ(Outcomes(r.stdout())["no"], "HTTP 403");
  EXPECT_EQ(r.egress().allowed(), 1);
  EXPECT_EQ(r.egress().denied(), 1);

  // A request under the policy may not widen its allowlist.
  RunRequest wider = req;
  wider.mutable_egress()->add_domains("other.test");
  EXPECT_EQ(libsandbox::Run(wider, config_).status(), Result::INVALID_INPUT);

  // A session under the policy: the same, counted per exec.
  absl::StatusOr<std::unique_ptr<SessionManager>> m = SessionManager::Create(config_);
  ASSERT_TRUE(m.ok()) << m.status();
  SessionKey key;
  key.set_user("alice");
  key.set_policy("web");
  absl::StatusOr<std::shared_ptr<ManagedSession>> s = (*m)->Get(key);
  ASSERT_TRUE(s.ok()) << s.status();
  for (int i = 0; i < 2; ++i) {
    ExecRequest exec;
    exec.set_code(code);
    Result e = (*s)->Exec(exec);
    ASSERT_EQ(e.status(), Result::OK) << e.message() << "\n" << e.stderr();
    EXPECT_EQ(Outcomes(e.stdout())["ok"], "DATA pub");
    EXPECT_EQ(Outcomes(e.stdout())["no"], "HTTP 403");
    EXPECT_EQ(e.egress().allowed(), 1) << i;
    EXPECT_EQ(e.egress().denied(), 1) << i;
  }
}

TEST_F(RunEgressTest, AllowlistWithoutNetworkOrWithBadDomainsIsRefused) {
  RunRequest req;
  req.set_code("print(1)");
  *req.mutable_egress() = TestAllowlist();
  Result r = libsandbox::Run(req, config_);
  EXPECT_EQ(r.status(), Result::INVALID_INPUT);
  EXPECT_THAT(r.message(), HasSubstr("needs network on"));
  req.set_network(true);
  req.mutable_egress()->add_domains("10.0.0.1");
  EXPECT_EQ(libsandbox::Run(req, config_).status(), Result::INVALID_INPUT);
}

}  // namespace
}  // namespace libsandbox
