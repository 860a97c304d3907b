#include "libsandbox/tests/test_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libsandbox/host/cgroup.h"
#include "libsandbox/host/network.h"
#include "libsandbox/host/process.h"
#include "libsandbox/host/run_dir.h"

namespace libsandbox::testing {

std::string MakeTestDir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  auto dir = TempDir::Create(tmp != nullptr ? tmp : "/tmp", "libsandbox-test-" + name + "-");
  if (!dir.ok()) std::abort();
  return dir->release();
}

void WaitForWarmPool(const Config& config, int idle) {
  // A run creates the engine, which starts filling its pool. A host that
  // cannot run sandboxes at all fails here at once, not after the wait.
  RunRequest warmup;
  warmup.set_code("pass");
  Result first = Run(warmup, config);
  if (first.status() == Result::SANDBOX_ERROR) {
    ADD_FAILURE() << "no warm pool: a run fails with " << first.message();
    return;
  }
  absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    Metrics m = GetMetrics();
    auto it = m.gauges().find("pool_idle");
    if (it != m.gauges().end() && it->second >= idle) return;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::string TestRunscPath() {
  const char* path = std::getenv("LIBSANDBOX_TEST_RUNSC");
  return path != nullptr ? path : "";
}

// ---- Processes ----

namespace {

struct ProcStat {
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
};

// /proc/PID/stat is "PID (COMM) STATE PPID ..."; COMM may hold anything,
// so split at the last ')'.
bool ReadProcStat(pid_t pid, ProcStat& out) {
  absl::StatusOr<std::string> s = ReadFile(absl::StrCat("/proc/", pid, "/stat"), 4096);
  if (!s.ok()) return false;
  size_t open = s->find('(');
  size_t close = s->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= s->size()) {
    return false;
  }
  out.comm = s->substr(open + 1, close - open - 1);
  out.state = (*s)[close + 2];
  std::vector<std::string> rest = absl::StrSplit(s->substr(close + 2), ' ');
  return rest.size() > 1 && absl::SimpleAtoi(rest[1], &out.ppid);
}

}  // namespace

bool ProcessGone(pid_t pid) {
  ProcStat st;
  return !ReadProcStat(pid, st) || st.state == 'Z';
}

bool WaitProcessGone(pid_t pid, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (!ProcessGone(pid)) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

std::vector<pid_t> DescendantsNamed(const std::string& comm) {
  std::map<pid_t, ProcStat> all;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return {};
  while (struct dirent* e = ::readdir(d)) {
    pid_t pid = 0;
    ProcStat st;
    if (absl::SimpleAtoi(e->d_name, &pid) && ReadProcStat(pid, st)) all[pid] = st;
  }
  ::closedir(d);
  const pid_t self = ::getpid();
  std::vector<pid_t> found;
  for (const auto& [pid, st] : all) {
    if (st.comm != comm) continue;
    // Walk up; the bound guards against a pid reused mid-scan forming a loop.
    pid_t p = st.ppid;
    for (int depth = 0; depth < 64 && p > 1 && p != self; ++depth) {
      auto it = all.find(p);
      p = it == all.end() ? 0 : it->second.ppid;
    }
    if (p == self) found.push_back(pid);
  }
  return found;
}

// ---- Leftovers ----

int CountEntries(const std::string& dir, bool dirs_only) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  int n = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (dirs_only && e->d_type != DT_DIR) continue;
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
  }
  ::closedir(d);
  return n;
}

SandboxLeftovers CountLeftovers(const Config& config) {
  SandboxLeftovers l;
  l.runsc_entries = CountEntries(RunscRoot(config.state_dir()));
  l.run_entries = CountEntries(config.state_dir() + "/runs");
  if (auto host = DetectCgroups(); host.ok()) {
    for (const auto& [c, dir] : host->own_dirs) {
      l.cgroups += CountEntries(absl::StrCat(dir, "/", kCgroupParent), /*dirs_only=*/true);
    }
  }
  auto ps = RunCommand({"/usr/bin/pgrep", "-f", config.state_dir()});
  if (ps.ok()) {
    for (char c : ps->out.data) l.processes += c == '\n';
  }
  return l;
}

std::vector<std::string> RunIds(const Config& config) {
  std::vector<std::string> ids;
  DIR* d = ::opendir((config.state_dir() + "/runs").c_str());
  if (d == nullptr) return ids;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..") ids.push_back(name);
  }
  ::closedir(d);
  return ids;
}

int CountCgroupsOf(const std::vector<std::string>& run_ids) {
  int n = 0;
  if (auto host = DetectCgroups(); host.ok()) {
    for (const auto& [c, dir] : host->own_dirs) {
      for (const std::string& id : run_ids) {
        struct stat st;
        n += ::stat(absl::StrCat(dir, "/", kCgroupParent, "/", id).c_str(), &st) == 0;
      }
    }
  }
  return n;
}

// ---- Network test hosts ----

namespace {

// Test hosts' namespaces and links carry this prefix, so leftovers of a
// crashed run can be found by name.
constexpr char kPrefix[] = "lsbt";
constexpr char kLockPath[] = "/run/lock/libsandbox-network-test.lock";

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
// `netns_fd` (-1: this one).
absl::StatusOr<UniqueFd> Listen(int netns_fd, const std::string& addr) {
  absl::StatusOr<UniqueFd> fd =
      SocketInNetworkNamespace(netns_fd, AF_INET, SOCK_STREAM | SOCK_CLOEXEC);
  if (!fd.ok()) return fd.status();
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  ::inet_pton(AF_INET, addr.c_str(), &sin.sin_addr);
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 ||
      ::listen(fd->get(), 16) != 0) {
    return ErrnoStatus(absl::StrCat("listen on ", addr), errno);
  }
  return fd;
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

// Only leftovers of crashed runs of the network suites: the caller holds
// the lock, so no live run owns anything with the prefix.
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

constexpr const char* kRoles[] = {"priv", "meta", "pub"};

}  // namespace

absl::StatusOr<std::unique_ptr<NetworkTestHosts>> NetworkTestHosts::Create() {
  auto hosts = std::unique_ptr<NetworkTestHosts>(new NetworkTestHosts());
  // On failure the destructor removes whatever part was built.
  if (absl::Status s = hosts->SetUp(); !s.ok()) return s;
  return hosts;
}

absl::Status NetworkTestHosts::SetUp() {
  lock_ = UniqueFd(::open(kLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_.valid() || ::flock(lock_.get(), LOCK_EX) != 0) return ErrnoStatus("lock", errno);
  RemoveLeftovers();
  host_address_ = HostAddress();
  tag_ = RandomHex(2);
  if (auto s = AddHost("priv", "10.231.7.1/30", "10.231.7.2/30"); !s.ok()) return s;
  if (auto s = AddHost("meta", "10.231.8.1/30", "10.231.8.2/30"); !s.ok()) return s;
  if (auto s = AddHost("pub", "203.0.113.1/30", "203.0.113.2/30"); !s.ok()) return s;
  // The metadata host also owns 169.254.169.254, routed from the host; the
  // route goes away with the link.
  if (auto s = Ip({"-n", NsName("meta"), "addr", "add", "169.254.169.254/32", "dev", "eth0"});
      !s.ok()) {
    return s;
  }
  if (auto s = Ip({"route", "add", "169.254.169.254/32", "via", kMetadataLinkHost}); !s.ok()) {
    return s;
  }
  for (const char* role : kRoles) {
    UniqueFd ns(::open(absl::StrCat("/run/netns/", NsName(role)).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) return ErrnoStatus("open netns", errno);
    if (auto s = Serve(role, ns.get(), "0.0.0.0"); !s.ok()) return s;
  }
  if (auto s = Serve("hostlo", -1, "127.0.0.1"); !s.ok()) return s;
  if (auto s = Serve("hostany", -1, "0.0.0.0"); !s.ok()) return s;

  stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (!stop_.valid()) return ErrnoStatus("eventfd", errno);
  server_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

NetworkTestHosts::~NetworkTestHosts() {
  if (server_.joinable()) {
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    server_.join();
  }
  servers_.clear();
  if (!tag_.empty()) {
    // Namespaces die asynchronously; deleting the veth pairs now takes their
    // routes with them before the next run starts.
    for (const char* role : kRoles) {
      (void)Ip({"link", "del", LinkName(role)});
      (void)Ip({"netns", "del", NsName(role)});
    }
  }
  lock_.Reset();
}

int NetworkTestHosts::port(const std::string& server) const {
  auto it = servers_.find(server);
  return it == servers_.end() ? 0 : it->second.port;
}

std::vector<std::string> NetworkTestHosts::TargetChecks() const {
  std::vector<std::string> checks = {
      ProbeCheck("priv", "tcp", kPrivateHost, port("priv")),
      ProbeCheck("metalink", "tcp", kMetadataLinkHost, port("meta")),
      ProbeCheck("meta", "tcp", kMetadataHost, port("meta")),
      ProbeCheck("pub", "tcp", kPublicHost, port("pub")),
      ProbeCheck("hostlo", "tcp", "127.0.0.1", port("hostlo")),
  };
  if (!host_address_.empty()) {
    checks.push_back(ProbeCheck("hostany", "tcp", host_address_, port("hostany")));
  }
  return checks;
}

absl::Status NetworkTestHosts::CheckStillMounted() const {
  struct stat nsfs {};
  if (::stat("/proc/self/ns/net", &nsfs) != 0) return ErrnoStatus("stat", errno);
  for (const char* role : kRoles) {
    struct stat st {};
    std::string path = absl::StrCat("/run/netns/", NsName(role));
    if (::stat(path.c_str(), &st) != 0 || st.st_dev != nsfs.st_dev) {
      return absl::InternalError(absl::StrCat(path, " is no longer a namespace mount"));
    }
  }
  return absl::OkStatus();
}

std::string NetworkTestHosts::NsName(const std::string& role) const {
  return absl::StrCat(kPrefix, "-", role, "-", tag_);
}

std::string NetworkTestHosts::LinkName(const std::string& role) const {
  return absl::StrCat(kPrefix, tag_, role.substr(0, 4));
}

absl::Status NetworkTestHosts::AddHost(const std::string& role, const std::string& host_cidr,
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

absl::Status NetworkTestHosts::Serve(const std::string& name, int netns_fd,
                                     const std::string& addr) {
  absl::StatusOr<UniqueFd> fd = Listen(netns_fd, addr);
  if (!fd.ok()) return fd.status();
  int port = PortOf(fd->get());
  servers_[name] = Server{*std::move(fd), port};
  return absl::OkStatus();
}

// Answers every connection with the server's name, then closes it.
void NetworkTestHosts::AcceptLoop() {
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

// ---- Connectivity probes ----

namespace {

// Checks run in threads so that dropped packets (3 s timeouts) do not add up.
constexpr char kProbeBody[] = R"py(
import errno, socket, threading

def probe(kind, host, port):
    try:
        if kind == 'tcp':
            with socket.create_connection((host, port), timeout=3) as s:
                s.settimeout(3)
                data = s.recv(64).decode(errors='replace').strip()
            return 'OK ' + (data or '-')
        if kind == 'udp':
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b'\0' * 12, (host, port))
            return 'OK -'
        if kind == 'self':
            with socket.socket() as l:
                l.bind(('127.0.0.1', 0))
                l.listen(1)
                with socket.create_connection(l.getsockname(), timeout=3) as c:
                    a, _ = l.accept()
                    a.sendall(b'self')
                    a.close()
                    return 'OK ' + c.recv(64).decode()
        return 'ERR badkind'
    except OSError as e:
        return 'ERR ' + errno.errorcode.get(e.errno, type(e).__name__)

results = {}
def run(check):
    name, kind, host, port = check.split(':')
    results[name] = probe(kind, host, int(port))

threads = [threading.Thread(target=run, args=(c,)) for c in CHECKS]
for t in threads:
    t.start()
for t in threads:
    t.join()
for c in CHECKS:
    name = c.split(':')[0]
    print(name, results.get(name, 'ERR missing'), flush=True)
)py";

}  // namespace

std::string ProbeCheck(const std::string& name, const std::string& kind, const std::string& host,
                       int port) {
  return absl::StrCat(name, ":", kind, ":", host, ":", port);
}

std::string ProbeCode(const std::vector<std::string>& checks) {
  std::string code = "CHECKS = [";
  for (const std::string& c : checks) absl::StrAppend(&code, "\"", absl::CHexEscape(c), "\", ");
  absl::StrAppend(&code, "]\n", kProbeBody);
  return code;
}

ProbeResults ParseProbeOutput(absl::string_view output) {
  ProbeResults out;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    out[kv.first] = kv.second;
  }
  return out;
}

absl::StatusOr<ProbeResults> ProbeFromNamespace(int netns_fd,
                                                const std::vector<std::string>& checks) {
  SpawnOptions opts;
  opts.argv = {"python3", "-c", ProbeCode(checks)};
  opts.netns_fd = netns_fd;
  absl::StatusOr<Subprocess> p = Subprocess::Start(opts);
  if (!p.ok()) return p.status();
  absl::StatusOr<ProcessResult> r = p->Communicate(1 << 16, absl::Now() + absl::Seconds(30));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("probe exited with ", r->exit_code, ": ", r->err.data));
  }
  return ParseProbeOutput(r->out.data);
}

absl::Status IpCommand(const std::vector<std::string>& args) { return Ip(args); }

NetworkTestHosts* NetworkHostsTest::hosts_ = nullptr;
absl::Status* NetworkHostsTest::setup_status_ = new absl::Status();

void NetworkHostsTest::SetUpTestSuite() {
  absl::StatusOr<std::unique_ptr<NetworkTestHosts>> hosts = NetworkTestHosts::Create();
  *setup_status_ = hosts.status();
  if (hosts.ok()) hosts_ = std::move(hosts)->release();
}

void NetworkHostsTest::TearDownTestSuite() {
  delete hosts_;
  hosts_ = nullptr;
}

}  // namespace libsandbox::testing
