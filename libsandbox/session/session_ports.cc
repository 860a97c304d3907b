// A session's ports: the listening TCP sockets inside its sandbox, and byte
// streams to them for a host-side proxy (app previews). Both go through the
// fixed ports helper (scripts/ports.py) run inside the sandbox as its user;
// a stream is a socket pair whose far end is the stdin and stdout of a relay
// there, so nothing of the sandbox is ever reachable on the host's network.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/text.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/session/scripts/ports_py.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_launcher.h"
#include "libsandbox/session/session_request.h"

namespace libsandbox {
namespace {

constexpr size_t kMaxListingBytes = 1 << 20;
constexpr size_t kMaxCommandBytes = 1024;
// The relay's first line: "+" connected, "-why" not.
constexpr size_t kMaxGreeting = 512;
constexpr absl::Duration kConnectTimeout = absl::Seconds(15);

std::vector<std::string> PortsArgv(std::vector<std::string> args) {
  std::vector<std::string> argv = {kExecutorPython, "-c", kPortsPy};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// What the helper printed, checked: it runs beside the session's own code
// and is trusted no further than its shape.
absl::StatusOr<PortListing> ParsePortListing(const ProcessResult& r) {
  if (r.exit_code != 0 || r.out.truncated) {
    return absl::InternalError(absl::StrCat("listing the ports failed (exit ", r.exit_code,
                                            "): ", SanitizeUtf8(r.err.data.substr(0, 300))));
  }
  PortListing listing;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(r.out.data, &listing, options).ok()) {
    return absl::InternalError("listing the ports failed: the helper's answer did not parse");
  }
  PortListing checked;
  for (const ListeningPort& p : listing.ports()) {
    if (p.port() < 1 || p.port() > 65535) continue;
    ListeningPort& out = *checked.add_ports();
    out = p;
    out.set_address(SanitizeUtf8(p.address().substr(0, 64)));
    out.set_command(SanitizeUtf8(p.command().substr(0, kMaxCommandBytes)));
    if (out.pid() < 0) out.set_pid(0);
  }
  std::sort(checked.mutable_ports()->begin(), checked.mutable_ports()->end(),
            [](const ListeningPort& a, const ListeningPort& b) {
              return std::make_tuple(a.port(), a.address()) <
                     std::make_tuple(b.port(), b.address());
            });
  return checked;
}

// Reads the relay's first line from `fd` until `deadline`.
absl::StatusOr<std::string> ReadGreeting(int fd, absl::Time deadline) {
  std::string line;
  char c = 0;
  while (line.size() < kMaxGreeting) {
    struct pollfd p = {fd, POLLIN, 0};
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError("the port relay did not answer");
    const int ready = ::poll(&p, 1, static_cast<int>(ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ErrnoStatus("poll", errno);
    if (ready == 0) continue;
    // One byte at a time: what follows the line belongs to the stream.
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("the port relay ended before it connected");
    if (c == '\n') return line;
    line.push_back(c);
  }
  return absl::InternalError("the port relay's answer is too long");
}

}  // namespace

absl::StatusOr<PortListing> ManagedSession::ListPorts() {
  return WithSandbox([&]() -> absl::StatusOr<PortListing> {
    mu_.AssertReaderHeld();
    absl::StatusOr<ProcessResult> r = RunHelperLocked(PortsArgv({"list"}), "", kMaxListingBytes);
    if (!r.ok()) return r.status();
    return ParsePortListing(*r);
  });
}

absl::StatusOr<UniqueFd> ManagedSession::ConnectPort(int port) {
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port: ", port, " is not between 1 and 65535"));
  }
  {
    absl::MutexLock lock(&procs_mu_);
    // Relays that ended are reaped here (and all of them at Stop).
    std::erase_if(relays_, [](const Subprocess& r) { return r.HasExited(); });
    if (static_cast<int>(relays_.size()) >= kMaxPortStreams) {
      return absl::ResourceExhaustedError(absl::StrCat("the session already has ", kMaxPortStreams,
                                                       " port streams open; close one"));
    }
  }
  return WithSandbox([&]() -> absl::StatusOr<UniqueFd> {
    mu_.AssertReaderHeld();
    const std::string process_file =
        absl::StrCat(instance_->run_path(), "/relay-", ++next_exec_, ".json");
    if (auto s = WriteProcessSpec(process_file, PortsArgv({"relay", absl::StrCat(port)}), {},
                                  limits_.max_pids());
        !s.ok()) {
      return s;
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      ::unlink(process_file.c_str());
      return ErrnoStatus("socketpair", errno);
    }
    UniqueFd ours(sv[0]), theirs(sv[1]);
    SpawnOptions spawn;
    spawn.argv =
        instance_->RunscCommand({"exec", "--process", process_file, instance_->container()});
    spawn.stdio_fd = theirs.get();
    spawn.capture_output = false;
    // On the launcher thread: the relay must outlive this caller's thread.
    absl::StatusOr<Subprocess> relay = launcher_->Spawn(spawn);
    theirs.Reset();  // the relay's end lives in the relay alone
    absl::StatusOr<std::string> greeting =
        relay.ok() ? ReadGreeting(ours.get(), absl::Now() + kConnectTimeout) : relay.status();
    ::unlink(process_file.c_str());
    if (!greeting.ok()) return greeting.status();
    if (*greeting != "+") {
      return absl::UnavailableError(absl::StrCat(
          "no connection to port ", port,
          " in the session: ", SanitizeUtf8(greeting->substr(greeting->empty() ? 0 : 1))));
    }
    absl::MutexLock lock(&procs_mu_);
    last_touched_ = absl::Now();
    relays_.push_back(*std::move(relay));
    return ours;
  });
}

}  // namespace libsandbox
