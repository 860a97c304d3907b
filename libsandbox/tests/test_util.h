// Helpers shared by the test suites.
#ifndef LIBSANDBOX_TESTS_TEST_UTIL_H_
#define LIBSANDBOX_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/sandbox.h"

namespace libsandbox::testing {

// A fresh directory under the system temp dir, for one test.
std::string MakeTestDir(const std::string& name);

// The runsc the suites test against: $LIBSANDBOX_TEST_RUNSC, or empty for the
// one on PATH.
std::string TestRunscPath();

// Waits (up to 60 s) until the process's warm pools hold `idle` sandboxes.
void WaitForWarmPool(const Config& config, int idle);

// ---- Processes ----

// True once `pid` has exited (a zombie nobody reaped yet no longer runs).
bool ProcessGone(pid_t pid);
bool WaitProcessGone(pid_t pid, absl::Duration timeout);

// Processes below this one (children, grandchildren, ...) whose command name
// is `comm`, zombies included: a zombie is a child nobody reaped.
std::vector<pid_t> DescendantsNamed(const std::string& comm);

// ---- Leftovers ----

// What sandboxes of `config` left behind: runsc state entries, run dirs,
// sandbox cgroups (of any config) and processes naming the state dir.
// Entries of a directory, "." and ".." aside (0 if it does not exist).
int CountEntries(const std::string& dir, bool dirs_only = false);

struct SandboxLeftovers {
  int runsc_entries = 0;
  int run_entries = 0;
  int cgroups = 0;
  int processes = 0;
};
SandboxLeftovers CountLeftovers(const Config& config);
// The ids of the runs of `config` that exist now (their cgroups are named
// after them).
std::vector<std::string> RunIds(const Config& config);
// How many sandbox cgroups named one of `run_ids` exist, in all hierarchies.
// Unlike CountLeftovers().cgroups, blind to other suites' sandboxes.
int CountCgroupsOf(const std::vector<std::string>& run_ids);

// ---- Network test hosts ----

// Addresses of the test hosts. All live in network namespaces the suite
// creates; no test ever talks to a machine outside this one.
inline constexpr char kPrivateHost[] = "10.231.7.2";  // private range
inline constexpr char kPrivateHostCidr[] = "10.231.7.0/30";
inline constexpr char kMetadataLinkHost[] = "10.231.8.2";  // the metadata host's own link
inline constexpr char kMetadataHost[] = "169.254.169.254";
inline constexpr char kPublicHost[] = "203.0.113.2";  // TEST-NET-3, stands in for "the internet"

// Real test hosts: network namespaces joined to the host by veth pairs (a
// private-range host, a "cloud metadata" host that also owns 169.254.169.254,
// a public-range host), plus TCP servers on the host's loopback and on all
// host addresses. Every server answers a connection with its own name
// ("priv", "meta", "pub", "hostlo", "hostany") and closes it, so a probe that
// reads the name proves which host it reached.
//
// Test processes of the network suites may run in parallel, so one instance
// at a time holds a host-wide lock (the kernel drops it if a run crashes);
// Create also removes what a crashed earlier run left behind. Destruction
// stops the servers and removes namespaces, links and routes.
class NetworkTestHosts {
 public:
  static absl::StatusOr<std::unique_ptr<NetworkTestHosts>> Create();
  NetworkTestHosts(const NetworkTestHosts&) = delete;
  NetworkTestHosts& operator=(const NetworkTestHosts&) = delete;
  ~NetworkTestHosts();

  // The port of the server with that name.
  int port(const std::string& server) const;
  // An IPv4 address of a host interface (not loopback, not a test range), or
  // empty when the host has none; "hostany" listens on it.
  const std::string& host_address() const { return host_address_; }

  // Probe checks (see ProbeCheck) for every server, each reached by its
  // host's own address; named like the servers, plus "metalink" for the
  // metadata host reached by its link address. "hostany" only when
  // host_address() is known.
  std::vector<std::string> TargetChecks() const;

  // The test hosts' namespaces are still mounted under /run/netns.
  absl::Status CheckStillMounted() const;

  // Roles: "priv" (10.231.7.2), "meta" (10.231.8.2 and 169.254.169.254),
  // "pub" (203.0.113.2). The host's end of a role's link is in our namespace.
  std::string netns_name(const std::string& role) const { return NsName(role); }
  std::string link_name(const std::string& role) const { return LinkName(role); }

 private:
  struct Server {
    UniqueFd fd;
    int port = 0;
  };

  NetworkTestHosts() = default;
  absl::Status SetUp();
  std::string NsName(const std::string& role) const;
  std::string LinkName(const std::string& role) const;
  absl::Status AddHost(const std::string& role, const std::string& host_cidr,
                       const std::string& peer_cidr);
  absl::Status Serve(const std::string& name, int netns_fd, const std::string& addr);
  void AcceptLoop();

  UniqueFd lock_;
  std::string tag_;
  std::string host_address_;
  std::map<std::string, Server> servers_;
  UniqueFd stop_;
  std::thread server_;
};

// Runs `ip ARGS...`; an error carries its stderr.
absl::Status IpCommand(const std::vector<std::string>& args);

// ---- Connectivity probes ----

// One probe check, "NAME:KIND:HOST:PORT". KIND is "tcp" (connect, read the
// server's name), "udp" (send one datagram) or "self" (listen on 127.0.0.1
// and connect to it; HOST and PORT unused).
std::string ProbeCheck(const std::string& name, const std::string& kind, const std::string& host,
                       int port);

// Python source that runs `checks` concurrently (3 s timeout each) and prints
// one line per check: "NAME OK <server name or ->" or "NAME ERR <errno name>".
std::string ProbeCode(const std::vector<std::string>& checks);

// NAME -> "OK ..." / "ERR ...", from ProbeCode's output.
using ProbeResults = std::map<std::string, std::string>;
ProbeResults ParseProbeOutput(absl::string_view output);

// Runs ProbeCode(checks) with the host's python3 in the network namespace
// `netns_fd` (-1: the test's own).
absl::StatusOr<ProbeResults> ProbeFromNamespace(int netns_fd,
                                                const std::vector<std::string>& checks);

// A suite that shares one set of network test hosts, set up once for the
// whole suite; each test fails early if they could not be set up.
class NetworkHostsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override { ASSERT_TRUE(setup_status_->ok()) << *setup_status_; }

  static NetworkTestHosts* hosts_;
  static absl::Status* setup_status_;
};

}  // namespace libsandbox::testing

#endif  // LIBSANDBOX_TESTS_TEST_UTIL_H_
