// Network-on sandboxes: what a sandbox can and cannot reach.
//
// The suite builds real test hosts: network namespaces joined to the host
// by veth pairs (a private-range host, a "cloud metadata" host owning
// 169.254.169.254 and a host at a public-range address), plus servers on the
// host's loopback and on all host addresses. A client started inside a
// SandboxNetwork namespace then probes them; the same probe from the host
// namespace shows every target is really up, so the negative checks cannot
// pass vacuously.
#include "libsandbox/network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libsandbox/fs_util.h"
#include "libsandbox/process.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Test hosts live in these ranges; a crashed earlier run is cleaned up by
// name prefix.
constexpr char kPrefix[] = "lsbt";
constexpr char kPrivHost[] = "10.231.7.2";  // private range, on 10.231.7.0/30
constexpr char kMetaLinkHost[] = "10.231.8.2";
constexpr char kMetadata[] = "169.254.169.254";
constexpr char kPublicHost[] = "203.0.113.2";  // non-private range, on 203.0.113.0/30

// One check per argument, NAME:KIND:HOST:PORT; prints "NAME OK <token>" or
// "NAME ERR <errno name>". A TCP server answers with its token, so "OK"
// proves the connection reached that very host.
constexpr char kProbe[] = R"py(
import errno, socket, sys
for arg in sys.argv[1:]:
    name, kind, host, port = arg.split(':')
    port = int(port)
    try:
        if kind == 'tcp':
            with socket.create_connection((host, port), timeout=3) as s:
                s.settimeout(3)
                data = s.recv(64).decode(errors='replace').strip()
            print(name, 'OK', data or '-')
        elif kind == 'udp':
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b'\0' * 12, (host, port))
            print(name, 'OK', '-')
        elif kind == 'self':
            with socket.socket() as l:
                l.bind(('127.0.0.1', 0))
                l.listen(1)
                with socket.create_connection(l.getsockname(), timeout=3) as c:
                    a, _ = l.accept()
                    a.sendall(b'self')
                    a.close()
                    print(name, 'OK', c.recv(64).decode())
    except OSError as e:
        print(name, 'ERR', errno.errorcode.get(e.errno, type(e).__name__))
    sys.stdout.flush()
)py";

absl::Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<ProcessResult> r = RunCommand(argv, absl::Seconds(10));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": ", r->err.data));
  }
  return absl::OkStatus();
}

// A listening TCP socket on `addr` (port 0 picks one) inside the namespace
// `netns_fd` (-1: this one). Sockets stay in the namespace they were made in.
absl::StatusOr<UniqueFd> Listen(int netns_fd, const std::string& addr) {
  absl::StatusOr<UniqueFd> result = absl::InternalError("not run");
  std::thread([&] {
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
      result = ErrnoStatus("setns", errno);
      return;
    }
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    ::inet_pton(AF_INET, addr.c_str(), &sin.sin_addr);
    if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 ||
        ::listen(fd.get(), 16) != 0) {
      result = ErrnoStatus(absl::StrCat("listen on ", addr), errno);
      return;
    }
    result = std::move(fd);
  }).join();
  return result;
}

int PortOf(int fd) {
  sockaddr_in sin{};
  socklen_t len = sizeof(sin);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  return ntohs(sin.sin_port);
}

// The first IPv4 address of a host interface outside loopback and the test
// ranges, for checking that host services on all addresses stay hidden.
std::string HostAddress() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof(buf));
    std::string a = buf;
    if (!absl::StartsWith(a, "127.") && !absl::StartsWith(a, "10.231.") &&
        !absl::StartsWith(a, "203.0.113.")) {
      found = a;
    }
  }
  ::freeifaddrs(list);
  return found;
}

bool ProcessGone(pid_t pid) {
  std::string stat;
  absl::StatusOr<std::string> s = ReadFile(absl::StrCat("/proc/", pid, "/stat"), 4096);
  if (!s.ok()) return true;
  // A zombie nobody reaped yet no longer runs.
  size_t paren = s->rfind(')');
  return paren != std::string::npos && paren + 2 < s->size() && (*s)[paren + 2] == 'Z';
}

bool WaitProcessGone(pid_t pid, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (!ProcessGone(pid)) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// Processes that keep the network namespace with inode `ino` alive, as
// their namespace or through an open fd.
std::vector<std::string> NetnsHolders(ino_t ino) {
  struct stat ns_dir {};
  if (::stat("/proc/self/ns/net", &ns_dir) != 0) return {"stat failed"};
  auto same = [&](const std::filesystem::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && st.st_ino == ino && st.st_dev == ns_dir.st_dev;
  };
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (!std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    bool holds = same(e.path() / "ns/net");
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(e.path() / "fd", fd_ec)) {
      if (holds) break;
      holds = same(fd.path());
    }
    if (holds) found.push_back(name);
  }
  return found;
}

ino_t InodeOf(int fd) {
  struct stat st {};
  ::fstat(fd, &st);
  return st.st_ino;
}

// The test hosts, shared by one test process. Test processes of this suite
// may run in parallel (one per test case), so the whole environment is
// serialized by a lock file; the kernel drops the lock if a run crashes.
class TestHosts {
 public:
  absl::Status SetUp() {
    lock_ = UniqueFd(
        ::open("/run/lock/libsandbox-network-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_.valid() || ::flock(lock_.get(), LOCK_EX) != 0) return ErrnoStatus("lock", errno);
    RemoveLeftovers();
    host_address_ = HostAddress();
    tag_ = RandomHex(2);
    if (auto s = AddHost("priv", "10.231.7.1/30", "10.231.7.2/30"); !s.ok()) return s;
    if (auto s = AddHost("meta", "10.231.8.1/30", "10.231.8.2/30"); !s.ok()) return s;
    if (auto s = AddHost("pub", "203.0.113.1/30", "203.0.113.2/30"); !s.ok()) return s;
    // The metadata host also owns 169.254.169.254, routed from the host.
    if (auto s = Ip({"-n", NsName("meta"), "addr", "add", "169.254.169.254/32", "dev", "eth0"});
        !s.ok()) {
      return s;
    }
    if (auto s = Ip({"route", "add", "169.254.169.254/32", "via", kMetaLinkHost}); !s.ok()) {
      return s;
    }
    for (const char* name : {"priv", "meta", "pub"}) {
      UniqueFd ns(::open(absl::StrCat("/run/netns/", NsName(name)).c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns.valid()) return ErrnoStatus("open netns", errno);
      if (auto s = Serve(name, ns.get(), "0.0.0.0"); !s.ok()) return s;
    }
    if (auto s = Serve("hostlo", -1, "127.0.0.1"); !s.ok()) return s;
    if (auto s = Serve("hostany", -1, "0.0.0.0"); !s.ok()) return s;

    stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
    server_ = std::thread([this] { AcceptLoop(); });
    return absl::OkStatus();
  }

  void TearDown() {
    if (server_.joinable()) {
      uint64_t one = 1;
      (void)!::write(stop_.get(), &one, sizeof(one));
      server_.join();
    }
    servers_.clear();
    // Namespaces die asynchronously; deleting the veth pairs now takes their
    // routes with them before the next run starts.
    for (const char* name : {"priv", "meta", "pub"}) {
      (void)Ip({"link", "del", LinkName(name)});
      (void)Ip({"netns", "del", NsName(name)});
    }
    lock_.Reset();
  }

  // The test hosts' namespaces are still mounted under /run/netns.
  absl::Status CheckStillMounted() const {
    struct stat nsfs {};
    if (::stat("/proc/self/ns/net", &nsfs) != 0) return ErrnoStatus("stat", errno);
    for (const char* name : {"priv", "meta", "pub"}) {
      struct stat st {};
      std::string path = absl::StrCat("/run/netns/", NsName(name));
      if (::stat(path.c_str(), &st) != 0 || st.st_dev != nsfs.st_dev) {
        return absl::InternalError(absl::StrCat(path, " is no longer a namespace mount"));
      }
    }
    return absl::OkStatus();
  }

  int port(const std::string& name) const { return servers_.at(name).port; }
  const std::string& host_address() const { return host_address_; }

 private:
  struct Server {
    UniqueFd fd;
    int port = 0;
  };

  std::string NsName(const std::string& role) const {
    return absl::StrCat(kPrefix, "-", role, "-", tag_);
  }

  std::string LinkName(const std::string& role) const {
    return absl::StrCat(kPrefix, tag_, role.substr(0, 4));
  }

  absl::Status AddHost(const std::string& role, const std::string& host_cidr,
                       const std::string& peer_cidr) {
    std::string ns = NsName(role);
    std::string link = LinkName(role);
    for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
             {"netns", "add", ns},
             {"link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns},
             {"addr", "add", host_cidr, "dev", link},
             {"link", "set", link, "up"},
             {"-n", ns, "addr", "add", peer_cidr, "dev", "eth0"},
             {"-n", ns, "link", "set", "eth0", "up"},
             {"-n", ns, "link", "set", "lo", "up"},
         }) {
      if (auto s = Ip(cmd); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Serve(const std::string& name, int netns_fd, const std::string& addr) {
    absl::StatusOr<UniqueFd> fd = Listen(netns_fd, addr);
    if (!fd.ok()) return fd.status();
    int port = PortOf(fd->get());
    servers_[name] = Server{*std::move(fd), port};
    return absl::OkStatus();
  }

  // Answers every connection with the server's name, then closes it.
  void AcceptLoop() {
    std::vector<pollfd> fds;
    std::vector<std::string> names;
    for (const auto& [name, s] : servers_) {
      fds.push_back({s.fd.get(), POLLIN, 0});
      names.push_back(name);
    }
    fds.push_back({stop_.get(), POLLIN, 0});
    while (true) {
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
      if (fds.back().revents != 0) return;
      for (size_t i = 0; i + 1 < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        UniqueFd c(::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (c.valid()) (void)!::send(c.get(), names[i].data(), names[i].size(), MSG_NOSIGNAL);
      }
    }
  }

  // Only leftovers of crashed runs of this suite: we hold the lock.
  void RemoveLeftovers() {
    absl::StatusOr<ProcessResult> r = RunCommand({"ip", "netns", "list"});
    if (!r.ok()) return;
    for (absl::string_view line : absl::StrSplit(r->out.data, '\n', absl::SkipEmpty())) {
      std::string name(line.substr(0, line.find(' ')));
      if (absl::StartsWith(name, absl::StrCat(kPrefix, "-"))) (void)Ip({"netns", "del", name});
    }
    r = RunCommand({"ip", "-o", "link", "show"});
    if (!r.ok()) return;
    for (absl::string_view line : absl::StrSplit(r->out.data, '\n', absl::SkipEmpty())) {
      // "7: NAME@peer: <...>"
      std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(": ", 2));
      if (parts.size() < 2) continue;
      std::string name(parts[1].substr(0, parts[1].find('@')));
      if (absl::StartsWith(name, kPrefix)) (void)Ip({"link", "del", name});
    }
  }

  UniqueFd lock_;
  std::string tag_;
  std::string host_address_;
  std::map<std::string, Server> servers_;
  UniqueFd stop_;
  std::thread server_;
};

using ProbeResults = std::map<std::string, std::string>;

// Runs the probe in `netns_fd` (-1: the host namespace).
ProbeResults Probe(int netns_fd, const std::vector<std::string>& checks) {
  SpawnOptions opts;
  opts.argv = {"python3", "-c", kProbe};
  opts.argv.insert(opts.argv.end(), checks.begin(), checks.end());
  opts.netns_fd = netns_fd;
  ProbeResults out;
  absl::StatusOr<Subprocess> p = Subprocess::Start(opts);
  if (!p.ok()) {
    ADD_FAILURE() << p.status();
    return out;
  }
  absl::StatusOr<ProcessResult> r = p->Communicate(1 << 16, absl::Now() + absl::Seconds(30));
  if (!r.ok() || r->exit_code != 0) {
    ADD_FAILURE() << "probe failed: " << (r.ok() ? r->err.data : r.status().ToString());
    return out;
  }
  for (absl::string_view line : absl::StrSplit(r->out.data, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    out[kv.first] = kv.second;
  }
  return out;
}

std::string Check(const std::string& name, const std::string& kind, const std::string& host,
                  int port) {
  return absl::StrCat(name, ":", kind, ":", host, ":", port);
}

class SandboxNetworkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    hosts_ = new TestHosts();
    *setup_status_ = hosts_->SetUp();
  }
  static void TearDownTestSuite() {
    hosts_->TearDown();
    delete hosts_;
    hosts_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(setup_status_->ok()) << *setup_status_; }

  static std::unique_ptr<SandboxNetwork> MakeNetwork(std::vector<std::string> allowed = {}) {
    NetworkOptions options;
    options.allowed_cidrs = std::move(allowed);
    absl::StatusOr<std::unique_ptr<SandboxNetwork>> net = SandboxNetwork::Create(options);
    EXPECT_TRUE(net.ok()) << net.status();
    return net.ok() ? *std::move(net) : nullptr;
  }

  // Every test host, reached by its own address.
  static std::vector<std::string> TargetChecks() {
    std::vector<std::string> checks = {
        Check("priv", "tcp", kPrivHost, hosts_->port("priv")),
        Check("metalink", "tcp", kMetaLinkHost, hosts_->port("meta")),
        Check("meta", "tcp", kMetadata, hosts_->port("meta")),
        Check("pub", "tcp", kPublicHost, hosts_->port("pub")),
        Check("hostlo", "tcp", "127.0.0.1", hosts_->port("hostlo")),
    };
    if (!hosts_->host_address().empty()) {
      checks.push_back(Check("hostany", "tcp", hosts_->host_address(), hosts_->port("hostany")));
    }
    return checks;
  }

  static TestHosts* hosts_;
  static absl::Status* setup_status_;
};

TestHosts* SandboxNetworkTest::hosts_ = nullptr;
absl::Status* SandboxNetworkTest::setup_status_ = new absl::Status();

TEST_F(SandboxNetworkTest, TestHostsAreReachableFromTheHost) {
  ProbeResults r = Probe(-1, TargetChecks());
  EXPECT_EQ(r["priv"], "OK priv");
  EXPECT_EQ(r["metalink"], "OK meta");
  EXPECT_EQ(r["meta"], "OK meta");
  EXPECT_EQ(r["pub"], "OK pub");
  EXPECT_EQ(r["hostlo"], "OK hostlo");
  if (!hosts_->host_address().empty()) {
    EXPECT_EQ(r["hostany"], "OK hostany");
  }
}

TEST_F(SandboxNetworkTest, DefaultPolicyIsOutboundToPublicAddressesOnly) {
  std::unique_ptr<SandboxNetwork> net = MakeNetwork();
  ASSERT_NE(net, nullptr);
  const int lo_port = hosts_->port("hostlo");
  std::vector<std::string> checks = TargetChecks();
  checks.push_back(Check("gateway", "tcp", kSandboxGatewayAddress, lo_port));
  checks.push_back(Check("dnsport", "tcp", kSandboxDnsAddress, lo_port));
  checks.push_back(Check("self", "self", "-", 0));
  checks.push_back(Check("dns", "udp", kSandboxDnsAddress, 53));
  checks.push_back(Check("dnsother", "udp", kSandboxDnsAddress, 5353));
  checks.push_back(Check("metaudp", "udp", kMetadata, 53));
  checks.push_back(Check("multicast", "udp", "224.0.0.251", 5353));
  ProbeResults r = Probe(net->netns_fd(), checks);

  EXPECT_EQ(r["pub"], "OK pub");    // outbound works
  EXPECT_EQ(r["self"], "OK self");  // its own loopback works
  EXPECT_EQ(r["dns"], "OK -");      // the DNS forwarder is reachable

  for (const char* blocked : {"priv", "metalink", "meta", "hostlo", "hostany", "gateway", "dnsport",
                              "dnsother", "metaudp", "multicast"}) {
    if (std::string(blocked) == "hostany" && hosts_->host_address().empty()) continue;
    EXPECT_THAT(r[blocked], StartsWith("ERR")) << blocked;
  }
}

TEST_F(SandboxNetworkTest, AllowListedCidrBecomesReachable) {
  std::unique_ptr<SandboxNetwork> net = MakeNetwork({"10.231.7.0/30"});
  ASSERT_NE(net, nullptr);
  ProbeResults r = Probe(net->netns_fd(), TargetChecks());
  EXPECT_EQ(r["priv"], "OK priv");
  EXPECT_EQ(r["pub"], "OK pub");
  // Other private addresses stay blocked, and so do metadata and the host.
  EXPECT_THAT(r["metalink"], StartsWith("ERR"));
  EXPECT_THAT(r["meta"], StartsWith("ERR"));
  EXPECT_THAT(r["hostlo"], StartsWith("ERR"));
}

TEST_F(SandboxNetworkTest, AllowListNeverOpensTheHost) {
  // 10/8 covers slirp's gateway and DNS forwarder, both of which lead to the
  // host; 0/0 covers the host's own addresses.
  std::unique_ptr<SandboxNetwork> net = MakeNetwork({"10.0.0.0/8", "0.0.0.0/0"});
  ASSERT_NE(net, nullptr);
  const int lo_port = hosts_->port("hostlo");
  std::vector<std::string> checks = TargetChecks();
  checks.push_back(Check("gateway", "tcp", kSandboxGatewayAddress, lo_port));
  checks.push_back(Check("dnsport", "tcp", kSandboxDnsAddress, lo_port));
  ProbeResults r = Probe(net->netns_fd(), checks);
  EXPECT_EQ(r["priv"], "OK priv");
  EXPECT_EQ(r["metalink"], "OK meta");
  EXPECT_THAT(r["meta"], StartsWith("ERR"));
  EXPECT_THAT(r["hostlo"], StartsWith("ERR"));
  EXPECT_THAT(r["gateway"], StartsWith("ERR"));
  EXPECT_THAT(r["dnsport"], StartsWith("ERR"));
  if (!hosts_->host_address().empty()) {
    EXPECT_THAT(r["hostany"], StartsWith("ERR"));
  }
}

TEST_F(SandboxNetworkTest, CreateLeavesHostMountsAlone) {
  // slirp4netns's self-confinement must not unmount anything of the host,
  // such as named namespaces below the shared /run/netns.
  ASSERT_TRUE(hosts_->CheckStillMounted().ok());
  std::unique_ptr<SandboxNetwork> net = MakeNetwork();
  ASSERT_NE(net, nullptr);
  EXPECT_TRUE(hosts_->CheckStillMounted().ok()) << hosts_->CheckStillMounted();
}

TEST(SandboxNetworkLifecycleTest, DestructionLeavesNoProcessOrNamespace) {
  absl::StatusOr<std::unique_ptr<SandboxNetwork>> net = SandboxNetwork::Create({});
  ASSERT_TRUE(net.ok()) << net.status();
  const pid_t slirp = (*net)->slirp_pid();
  const ino_t ino = InodeOf((*net)->netns_fd());
  ASSERT_GT(slirp, 0);
  EXPECT_FALSE(ProcessGone(slirp));
  EXPECT_THAT(NetnsHolders(ino), ::testing::Contains(absl::StrCat(::getpid())));
  EXPECT_EQ((*net)->ResolvConf(), "nameserver 10.0.2.3\n");

  // IPv6 is off inside, and the namespace is not the host's.
  SpawnOptions cat;
  cat.argv = {"cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"};
  cat.netns_fd = (*net)->netns_fd();
  absl::StatusOr<Subprocess> p = Subprocess::Start(cat);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ProcessResult> r = p->Communicate(4096, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out.data, "1\n");
  struct stat own {};
  ASSERT_EQ(::stat("/proc/self/ns/net", &own), 0);
  EXPECT_NE(own.st_ino, ino);

  net->reset();
  EXPECT_TRUE(WaitProcessGone(slirp, absl::Seconds(2)));
  EXPECT_THAT(NetnsHolders(ino), ::testing::IsEmpty());
}

TEST(SandboxNetworkLifecycleTest, SlirpDiesWithTheHostProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The death test child is a fresh process started by this one.
  auto pid_file = [](pid_t test_pid) {
    return absl::StrCat("/tmp/libsandbox-test-network-slirp-", test_pid, ".pid");
  };
  EXPECT_EXIT(
      {
        auto net = SandboxNetwork::Create({});
        if (!net.ok()) std::_Exit(3);
        if (!WriteFile(pid_file(::getppid()), absl::StrCat((*net)->slirp_pid())).ok()) {
          std::_Exit(4);
        }
        ::kill(::getpid(), SIGKILL);  // no destructors run
      },
      ::testing::KilledBySignal(SIGKILL), "");
  absl::StatusOr<std::string> pid_text = ReadFile(pid_file(::getpid()));
  ::unlink(pid_file(::getpid()).c_str());
  ASSERT_TRUE(pid_text.ok()) << pid_text.status();
  pid_t pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*pid_text, &pid));
  EXPECT_TRUE(WaitProcessGone(pid, absl::Seconds(3)));
}

TEST(SandboxNetworkLifecycleTest, ManyNetworksAtOnce) {
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<SandboxNetwork>> nets(kThreads);
  std::vector<absl::Duration> took(kThreads);
  std::vector<absl::Status> status(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      absl::Time start = absl::Now();
      auto net = SandboxNetwork::Create({});
      took[i] = absl::Now() - start;
      status[i] = net.status();
      if (net.ok()) nets[i] = *std::move(net);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<ino_t> inodes;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(status[i].ok()) << status[i];
    inodes.push_back(InodeOf(nets[i]->netns_fd()));
    std::printf("concurrent Create #%d: %s\n", i, absl::FormatDuration(took[i]).c_str());
  }
  // slirp4netns outlives the threads that asked for the networks.
  for (auto& net : nets) EXPECT_FALSE(ProcessGone(net->slirp_pid()));
  std::sort(inodes.begin(), inodes.end());
  EXPECT_EQ(std::unique(inodes.begin(), inodes.end()), inodes.end()) << "namespaces are shared";
  // Each namespace is usable on its own.
  for (auto& net : nets) {
    ProbeResults r = Probe(net->netns_fd(), {Check("self", "self", "-", 0),
                                             Check("dns", "udp", kSandboxDnsAddress, 53)});
    EXPECT_EQ(r["self"], "OK self");
    EXPECT_EQ(r["dns"], "OK -");
  }
}

TEST(SandboxNetworkLifecycleTest, CreateIsCheap) {
  std::vector<absl::Duration> took;
  for (int i = 0; i < 5; ++i) {
    absl::Time start = absl::Now();
    auto net = SandboxNetwork::Create({});
    took.push_back(absl::Now() - start);
    ASSERT_TRUE(net.ok()) << net.status();
  }
  std::sort(took.begin(), took.end());
  std::printf("sequential Create: min %s, median %s, max %s\n",
              absl::FormatDuration(took.front()).c_str(), absl::FormatDuration(took[2]).c_str(),
              absl::FormatDuration(took.back()).c_str());
  // Generous for a loaded 2-core machine; it is far lower when idle.
  EXPECT_LT(took[2], absl::Milliseconds(500));
}

TEST(ValidateCidrTest, AcceptsIpv4NetworksAndAddresses) {
  for (const char* ok : {"10.0.0.0/8", "192.168.1.0/24", "192.168.1.7", "192.168.1.7/32",
                         "0.0.0.0/0", "172.16.0.0/12"}) {
    EXPECT_TRUE(ValidateCidr(ok).ok()) << ok;
  }
}

TEST(ValidateCidrTest, RejectsMalformedInput) {
  for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/8/8", "10.0.0.0/+8",
                          "10.0.0.0/ 8", " 10.0.0.0/8", "256.0.0.0/8", "10.0.0.0/08x", "fc00::/7",
                          "example.com", "10.0.0.0/8; flush ruleset", "1.2.3.4/24"}) {
    absl::Status s = ValidateCidr(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(std::string(ValidateCidr("192.168.1.5/24").message()), HasSubstr("192.168.1.0/24"));
  EXPECT_THAT(std::string(ValidateCidr("fc00::/7").message()), HasSubstr("IPv6"));
}

TEST(SandboxNetworkLifecycleTest, CreateRefusesBadOrUselessAllowLists) {
  NetworkOptions bad;
  bad.allowed_cidrs = {"10.0.0.0/8", "nonsense"};
  EXPECT_EQ(SandboxNetwork::Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
  NetworkOptions metadata;
  metadata.allowed_cidrs = {"169.254.169.254/32"};
  absl::Status s = SandboxNetwork::Create(metadata).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("169.254.0.0/16"));
  NetworkOptions too_many;
  too_many.allowed_cidrs.assign(kMaxAllowedCidrs + 1, "10.0.0.0/8");
  EXPECT_EQ(SandboxNetwork::Create(too_many).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace libsandbox
