// End-to-end network policy through the public API: real runsc sandboxes run
// Python code that connects to real test hosts (see NetworkTestHosts) and
// prints what it reached. The same probe run from the host namespace shows
// that every host is up, so "unreachable" cannot pass vacuously, and the
// public-range host being reachable shows that "on" really means on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/network.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::NetworkTestHosts;
using testing::ProbeCheck;
using testing::ProbeResults;
using ::testing::StartsWith;

constexpr char kSlirp[] = "slirp4netns";

class RunNetworkTest : public testing::NetworkHostsTest {
 protected:
  void SetUp() override {
    testing::NetworkHostsTest::SetUp();
    if (HasFatalFailure()) return;
    root_ = testing::MakeTestDir("run-network");
    config_.set_state_dir(root_ + "/state");
    config_.set_storage_dir(root_ + "/storage");
    config_.set_runsc_path(testing::TestRunscPath());
  }
  void TearDown() override {
    // Teardown of a run finishes after Run returns: wait for it, so the
    // next test counts only its own processes and the dirs can go.
    Shutdown();
    if (!root_.empty()) (void)RemoveTree(root_);
  }

  Result RunCode(const std::string& code, bool network) {
    RunRequest req;
    req.set_code(code);
    req.set_network(network);
    return libsandbox::Run(req, config_);
  }

  // Runs the probe as the sandbox's code and returns what it reported.
  ProbeResults ProbeInSandbox(bool network, const std::vector<std::string>& checks) {
    Result r = RunCode(testing::ProbeCode(checks), network);
    EXPECT_EQ(r.status(), Result::OK) << r.message() << "\n" << r.stderr();
    return testing::ParseProbeOutput(r.stdout());
  }

  // Every test host by its own address, the host's loopback server through
  // slirp's gateway address, and the sandbox's own loopback.
  static std::vector<std::string> AllChecks() {
    std::vector<std::string> checks = hosts_->TargetChecks();
    checks.push_back(ProbeCheck("gateway", "tcp", kSandboxGatewayAddress, hosts_->port("hostlo")));
    checks.push_back(ProbeCheck("self", "self", "-", 0));
    return checks;
  }

  // The checks named in `names` all failed (and were run at all).
  static void ExpectUnreachable(const ProbeResults& r, const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      if (name == "hostany" && hosts_->host_address().empty()) continue;
      auto it = r.find(name);
      ASSERT_NE(it, r.end()) << name << " was not probed";
      EXPECT_THAT(it->second, StartsWith("ERR")) << name;
    }
  }

  std::string root_;
  Config config_;
};

TEST_F(RunNetworkTest, TestHostsAreReachableFromTheHost) {
  absl::StatusOr<ProbeResults> r = testing::ProbeFromNamespace(-1, hosts_->TargetChecks());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["priv"], "OK priv");
  EXPECT_EQ((*r)["metalink"], "OK meta");
  EXPECT_EQ((*r)["meta"], "OK meta");
  EXPECT_EQ((*r)["pub"], "OK pub");
  EXPECT_EQ((*r)["hostlo"], "OK hostlo");
  if (!hosts_->host_address().empty()) {
    EXPECT_EQ((*r)["hostany"], "OK hostany");
  }
}

TEST_F(RunNetworkTest, NetworkOffReachesNothing) {
  ProbeResults r = ProbeInSandbox(/*network=*/false, AllChecks());
  ExpectUnreachable(r, {"priv", "metalink", "meta", "pub", "hostlo", "hostany", "gateway"});
  // The probe itself works: the sandbox's own loopback answers.
  EXPECT_EQ(r["self"], "OK self");
}

TEST_F(RunNetworkTest, NetworkOnIsOutboundToPublicAddressesOnly) {
  std::vector<std::string> checks = AllChecks();
  checks.push_back(ProbeCheck("dns", "udp", kSandboxDnsAddress, 53));
  checks.push_back(ProbeCheck("dnsport", "tcp", kSandboxDnsAddress, hosts_->port("hostlo")));
  ProbeResults r = ProbeInSandbox(/*network=*/true, checks);
  EXPECT_EQ(r["pub"], "OK pub");    // "on" means on
  EXPECT_EQ(r["self"], "OK self");  // a server inside the sandbox is reachable from inside
  EXPECT_EQ(r["dns"], "OK -");      // the DNS forwarder, for name resolution
  // The host's loopback (directly and through slirp), metadata, private
  // ranges and the host's own addresses stay closed.
  ExpectUnreachable(r, {"priv", "metalink", "meta", "hostlo", "hostany", "gateway", "dnsport"});
}

// A session with network on gets the same filter, across several execs
// (each a runsc exec that must find the sandbox through its namespace).
TEST_F(RunNetworkTest, SessionWithNetworkOnIsFilteredLikeARun) {
  absl::StatusOr<std::unique_ptr<SessionManager>> m = SessionManager::Create(config_);
  ASSERT_TRUE(m.ok()) << m.status();
  SessionKey key;
  key.set_user("alice");
  SessionOptions options;
  options.set_network(true);
  absl::StatusOr<std::shared_ptr<ManagedSession>> s = (*m)->Get(key, options);
  ASSERT_TRUE(s.ok()) << s.status();
  for (int i = 0; i < 2; ++i) {
    ExecRequest exec;
    exec.set_code(testing::ProbeCode(AllChecks()));
    Result r = (*s)->Exec(exec);
    ASSERT_EQ(r.status(), Result::OK) << r.message() << "\n" << r.stderr();
    ProbeResults p = testing::ParseProbeOutput(r.stdout());
    EXPECT_EQ(p["pub"], "OK pub") << i;
    ExpectUnreachable(p, {"priv", "metalink", "meta", "hostlo", "hostany", "gateway"});
  }
}

TEST_F(RunNetworkTest, AllowListedPrivateCidrBecomesReachable) {
  config_.add_allowed_cidrs(testing::kPrivateHostCidr);
  ProbeResults r = ProbeInSandbox(/*network=*/true, AllChecks());
  EXPECT_EQ(r["priv"], "OK priv");
  EXPECT_EQ(r["pub"], "OK pub");
  // Only that range opens: another private host, metadata and the host don't.
  ExpectUnreachable(r, {"metalink", "meta", "hostlo", "hostany", "gateway"});
}

TEST_F(RunNetworkTest, AllowListNeverOpensMetadataOrTheHost) {
  // 10/8 covers slirp's gateway (the host's loopback); 0/0 covers the host's
  // own addresses and metadata.
  config_.add_allowed_cidrs("10.0.0.0/8");
  config_.add_allowed_cidrs("0.0.0.0/0");
  ProbeResults r = ProbeInSandbox(/*network=*/true, AllChecks());
  EXPECT_EQ(r["priv"], "OK priv");
  EXPECT_EQ(r["metalink"], "OK meta");
  ExpectUnreachable(r, {"meta", "hostlo", "hostany", "gateway"});
}

TEST_F(RunNetworkTest, BadAllowListIsInvalidInput) {
  // A broken configuration is reported whether or not this run wants the
  // network, naming the field and the entry.
  for (bool network : {true, false}) {
    for (const char* bad : {"10.0.0.0/33", "not-a-cidr", "10.1.2.3/8", "fc00::/7"}) {
      config_.clear_allowed_cidrs();
      config_.add_allowed_cidrs(testing::kPrivateHostCidr);
      config_.add_allowed_cidrs(bad);
      Result r = RunCode("print('ran')", network);
      EXPECT_EQ(r.status(), Result::INVALID_INPUT) << bad << " network=" << network;
      EXPECT_THAT(r.message(), HasSubstr("allowed_cidrs")) << bad;
      EXPECT_THAT(r.message(), HasSubstr(bad));
      EXPECT_EQ(r.stdout(), "") << bad;
      EXPECT_FALSE(r.has_exit_code()) << bad;
    }
  }
  EXPECT_THAT(testing::DescendantsNamed(kSlirp), IsEmpty());
}

TEST_F(RunNetworkTest, AllowListEntryInAlwaysBlockedSpaceIsInvalidInput) {
  config_.add_allowed_cidrs("169.254.169.254/32");
  Result r = RunCode("print('ran')", /*network=*/true);
  EXPECT_EQ(r.status(), Result::INVALID_INPUT) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("169.254.169.254/32"));
  EXPECT_EQ(r.stdout(), "");
  EXPECT_THAT(testing::DescendantsNamed(kSlirp), IsEmpty());
}

// Runs `request` on another thread while watching for slirp4netns below this
// process. Returns whether one was seen during the run.
bool RunWatchingSlirp(const RunRequest& request, const Config& config, Result& result) {
  std::atomic<bool> done{false};
  std::thread runner([&] {
    result = libsandbox::Run(request, config);
    done = true;
  });
  bool seen = false;
  while (!done && !seen) {
    seen = !testing::DescendantsNamed(kSlirp).empty();
    absl::SleepFor(absl::Milliseconds(20));
  }
  runner.join();
  return seen;
}

// Teardown finishes on a background queue right after Run returns.
bool SlirpGoneWithin(absl::Duration limit) {
  absl::Time give_up = absl::Now() + limit;
  while (!testing::DescendantsNamed(kSlirp).empty()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST_F(RunNetworkTest, NoSlirp4netnsOutlivesTheRun) {
  ASSERT_THAT(testing::DescendantsNamed(kSlirp), IsEmpty());
  // slirp4netns must exist while the sandbox runs (so the check can fail)
  // and be gone, reaped, promptly after Run returns.
  RunRequest req;
  req.set_network(true);
  req.set_code("import time; time.sleep(2); print('done')");
  Result r;
  EXPECT_TRUE(RunWatchingSlirp(req, config_, r)) << "no slirp4netns during a network-on run";
  EXPECT_EQ(r.status(), Result::OK) << r.message() << "\n" << r.stderr();
  EXPECT_EQ(r.stdout(), "done\n");
  EXPECT_TRUE(SlirpGoneWithin(absl::Seconds(5)));

  // A run stopped at its deadline tears the network down too.
  req.set_code("import time; print('up', flush=True); time.sleep(60)");
  *req.mutable_limits() = DefaultLimits();
  req.mutable_limits()->set_timeout_s(3);
  EXPECT_TRUE(RunWatchingSlirp(req, config_, r));
  EXPECT_EQ(r.status(), Result::TIMEOUT) << r.message();
  EXPECT_EQ(r.stdout(), "up\n");
  EXPECT_TRUE(SlirpGoneWithin(absl::Seconds(5)));
}

}  // namespace
}  // namespace libsandbox
