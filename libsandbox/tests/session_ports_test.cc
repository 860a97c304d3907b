// A session's ports against real runsc: listening sockets are listed with
// their process, a small HTTP server inside is reached through the byte
// stream, and neither the host's network nor another user's session sees it.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/session_fixture.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;

constexpr int kPort = 8123;

class SessionPortsTest : public testing::SessionFixture {
 protected:
  SessionPortsTest() : SessionFixture("session-ports") {}

  // Starts an HTTP server on `port` serving /home/user and waits until it
  // listens; its entry in the listing.
  static ListeningPort Serve(ManagedSession& s, int port, const std::string& bind) {
    ExecRequest server;
    const bool v6 = absl::StrContains(bind, ':');
    server.set_code(
        absl::StrCat("import http.server as h, socket\n"
                     "class S(h.ThreadingHTTPServer):\n"
                     "    address_family = socket.",
                     v6 ? "AF_INET6" : "AF_INET", "\nS(('", bind, "', ", port,
                     "), h.SimpleHTTPRequestHandler).serve_forever()\n"));
    EXPECT_TRUE(s.Start(server).ok());
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (absl::Now() < give_up) {
      absl::StatusOr<PortListing> ports = s.ListPorts();
      EXPECT_TRUE(ports.ok()) << ports.status();
      if (!ports.ok()) break;
      for (const ListeningPort& p : ports->ports()) {
        if (p.port() == port) return p;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "port " << port << " never listened";
    return ListeningPort();
  }

  // Sends `request` on the stream and reads the answer to its end.
  static std::string Exchange(int fd, const std::string& request) {
    // MSG_NOSIGNAL: a stream whose sandbox side closed must fail here, not
    // kill the test with SIGPIPE (session.h asks hosts to do the same).
    const ssize_t sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    EXPECT_EQ(sent, static_cast<ssize_t>(request.size())) << "send: " << ::strerror(errno);
    std::string answer;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) answer.append(buf, static_cast<size_t>(n));
    return answer;
  }
};

TEST_F(SessionPortsTest, AnHttpServerInsideIsReachedThroughTheStream) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->WriteFile("hello.txt", "hello from the sandbox\n").ok());
  const ListeningPort listed = Serve(*s, kPort, "127.0.0.1");
  EXPECT_EQ(listed.address(), "127.0.0.1");
  EXPECT_GT(listed.pid(), 1);
  EXPECT_THAT(listed.command(), HasSubstr("python3"));

  // Two streams at once, each its own connection.
  absl::StatusOr<UniqueFd> a = s->ConnectPort(kPort);
  absl::StatusOr<UniqueFd> b = s->ConnectPort(kPort);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string first = Exchange(a->get(), "GET /hello.txt HTTP/1.0\r\n\r\n");
  EXPECT_THAT(first, HasSubstr("200 OK"));
  EXPECT_THAT(first, HasSubstr("hello from the sandbox"));
  EXPECT_THAT(Exchange(b->get(), "GET /missing HTTP/1.0\r\n\r\n"), HasSubstr("404"));

  absl::StatusOr<UniqueFd> none = s->ConnectPort(kPort + 1);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable) << none.status();
  EXPECT_THAT(none.status().message(), HasSubstr(absl::StrCat(kPort + 1)));
  EXPECT_EQ(s->ConnectPort(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ConnectPort(70000).status().code(), absl::StatusCode::kInvalidArgument);

  // Nothing of it listens on the host.
  UniqueFd host(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(kPort);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(host.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
}

TEST_F(SessionPortsTest, AllAddressesAreListedAndUsersNeverSeeEachOthers) {
  auto alice = Get("alice");
  auto bob = Get("bob");
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(Serve(*alice, kPort, "0.0.0.0").address(), "0.0.0.0");
  EXPECT_EQ(Serve(*alice, kPort + 1, "::").address(), "::");
  // Bob's sandbox has its own loopback: alice's ports are not there.
  absl::StatusOr<PortListing> bobs = bob->ListPorts();
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  EXPECT_EQ(bobs->ports_size(), 0);
  EXPECT_EQ(bob->ConnectPort(kPort).status().code(), absl::StatusCode::kUnavailable);
  // Over IPv6 too.
  absl::StatusOr<UniqueFd> v6 = alice->ConnectPort(kPort + 1);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_THAT(Exchange(v6->get(), "GET / HTTP/1.0\r\n\r\n"), HasSubstr("200 OK"));
  // The streams end with the sandbox.
  absl::StatusOr<UniqueFd> open = alice->ConnectPort(kPort);
  ASSERT_TRUE(open.ok());
  ASSERT_TRUE(alice->Stop().ok());
  char c;
  EXPECT_LE(::read(open->get(), &c, 1), 0);
}

}  // namespace
}  // namespace libsandbox
