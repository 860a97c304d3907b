// Network-on sandboxes: what a sandbox can and cannot reach.
//
// The suite uses real test hosts (see NetworkTestHosts): network namespaces
// joined to the host by veth pairs (a private-range host, a "cloud metadata"
// host owning 169.254.169.254 and a host at a public-range address), plus
// servers on the host's loopback and on all host addresses. A client started
// inside a SandboxNetwork namespace then probes them; the same probe from the
// host namespace shows every target is really up, so the negative checks
// cannot pass vacuously.
#include "libsandbox/host/network.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/process.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using testing::kMetadataHost;
using testing::NetworkTestHosts;
using testing::ProbeCheck;
using testing::ProbeResults;
using testing::ProcessGone;
using ::testing::StartsWith;
using testing::WaitProcessGone;

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

// Runs the probe in `netns_fd` (-1: the host namespace); a probe that cannot
// run fails the test.
ProbeResults Probe(int netns_fd, const std::vector<std::string>& checks) {
  absl::StatusOr<ProbeResults> r = testing::ProbeFromNamespace(netns_fd, checks);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : ProbeResults();
}

class SandboxNetworkTest : public testing::NetworkHostsTest {
 protected:
  static std::unique_ptr<SandboxNetwork> MakeNetwork(std::vector<std::string> allowed = {}) {
    NetworkOptions options;
    options.allowed_cidrs = std::move(allowed);
    absl::StatusOr<std::unique_ptr<SandboxNetwork>> net = SandboxNetwork::Create(options);
    EXPECT_TRUE(net.ok()) << net.status();
    return net.ok() ? *std::move(net) : nullptr;
  }

  // Every test host, reached by its own address.
  static std::vector<std::string> TargetChecks() { return hosts_->TargetChecks(); }
};

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
  checks.push_back(ProbeCheck("gateway", "tcp", kSandboxGatewayAddress, lo_port));
  checks.push_back(ProbeCheck("dnsport", "tcp", kSandboxDnsAddress, lo_port));
  checks.push_back(ProbeCheck("self", "self", "-", 0));
  checks.push_back(ProbeCheck("dns", "udp", kSandboxDnsAddress, 53));
  checks.push_back(ProbeCheck("dnsother", "udp", kSandboxDnsAddress, 5353));
  checks.push_back(ProbeCheck("metaudp", "udp", kMetadataHost, 53));
  checks.push_back(ProbeCheck("multicast", "udp", "224.0.0.251", 5353));
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
  std::unique_ptr<SandboxNetwork> net = MakeNetwork({testing::kPrivateHostCidr});
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
  checks.push_back(ProbeCheck("gateway", "tcp", kSandboxGatewayAddress, lo_port));
  checks.push_back(ProbeCheck("dnsport", "tcp", kSandboxDnsAddress, lo_port));
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
    ProbeResults r = Probe(net->netns_fd(), {ProbeCheck("self", "self", "-", 0),
                                             ProbeCheck("dns", "udp", kSandboxDnsAddress, 53)});
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
