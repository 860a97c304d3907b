// Several users on one host, for real: three users' sessions side by side
// (two with network on) see none of each other's files, /tmp, processes or
// listening sockets; and a host process that dies with sessions alive
// leaves workspaces intact and nothing running for the next one to trip on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/session_fixture.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Python: try to connect to each address on `port`, print "ADDR OK|ERR".
std::string ConnectProbe(int port) {
  return absl::StrCat(
      "import socket\n"
      "for a in ['127.0.0.1', '10.0.2.15', '10.0.2.2']:\n"
      "    try:\n"
      "        socket.create_connection((a, ",
      port,
      "), timeout=2).close(); print(a, 'OK')\n"
      "    except OSError: print(a, 'ERR')\n");
}

class MultiUserTest : public testing::SessionFixture {
 protected:
  MultiUserTest() : SessionFixture("multi-user") {}

  std::shared_ptr<ManagedSession> Get(const std::string& user, bool network) {
    SessionOptions options;
    options.set_network(network);
    return SessionFixture::Get(user, options);
  }
};

TEST_F(MultiUserTest, ThreeUsersShareNothing) {
  NewManager();
  auto alice = Get("alice", /*network=*/true);
  auto bob = Get("bob", /*network=*/true);
  auto carol = Get("carol", /*network=*/false);
  ASSERT_TRUE(alice && bob && carol);
  constexpr int kPort = 8765;
  // Alice leaves a file, a /tmp file, a background process and a server.
  EXPECT_RESULT(
      Exec(*alice, absl::StrCat("echo alice-secret > secret.txt; echo t > /tmp/alice-tmp; "
                                "nohup python3 -m http.server ",
                                kPort, " >/dev/null 2>&1 & sleep 1; echo up")),
      OK);
  // Her own server answers her (so "unreachable" below is not vacuous).
  Result own = Exec(*alice, ConnectProbe(kPort), "python");
  EXPECT_RESULT(own, OK);
  EXPECT_THAT(own.stdout(), HasSubstr("127.0.0.1 OK"));

  for (ManagedSession* other : {bob.get(), carol.get()}) {
    SCOPED_TRACE(other->key().user());
    Result r = Exec(
        *other,
        "import os, subprocess\n"
        "for d in ['/home/user', '/tmp']:\n"
        "    for top, dirs, files in os.walk(d):\n"
        "        print(top, *dirs, *files)\n"
        "print(subprocess.run(['ps', '-eo', 'args'], capture_output=True, text=True).stdout)\n",
        "python");
    EXPECT_RESULT(r, OK);
    EXPECT_THAT(r.stdout(), HasSubstr("/home/user"));  // the listing ran
    EXPECT_THAT(r.stdout(), Not(HasSubstr("secret.txt")));
    EXPECT_THAT(r.stdout(), Not(HasSubstr("alice-tmp")));
    EXPECT_THAT(r.stdout(), Not(HasSubstr("http.server")));
    Result net = Exec(*other, ConnectProbe(kPort), "python");
    EXPECT_RESULT(net, OK);
    EXPECT_THAT(net.stdout(), Not(HasSubstr(" OK")));
  }
  // Three workspaces, none inside another.
  EXPECT_NE(alice->workspace(), bob->workspace());
  EXPECT_NE(bob->workspace(), carol->workspace());
  EXPECT_EQ(manager_->List().size(), 3u);
  EXPECT_EQ(ReadFile(alice->workspace() + "/secret.txt").value_or(""), "alice-secret\n");
}

TEST_F(MultiUserTest, HostDeathWithLiveSessionsKeepsWorkspacesAndLeavesNothingRunning) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The "host": two users' sessions alive, each with a background process.
    ::close(ready[0]);
    absl::StatusOr<std::unique_ptr<SessionManager>> m = SessionManager::Create(config_);
    if (!m.ok()) ::_exit(1);
    for (const char* user : {"alice", "bob"}) {
      SessionKey key;
      key.set_user(user);
      absl::StatusOr<std::shared_ptr<ManagedSession>> s = (*m)->Get(key);
      if (!s.ok()) ::_exit(2);
      ExecRequest req;
      req.set_language("bash");
      req.set_code(absl::StrCat("echo ", user, "-data > keep.txt; sleep 300 >/dev/null 2>&1 &"));
      if ((*s)->Exec(req).status() != Result::OK) ::_exit(3);
    }
    (void)!::write(ready[1], "1", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the host child could not start its sessions";
  ::close(ready[0]);
  EXPECT_GT(testing::CountLeftovers(config_).processes, 0);
  ::kill(pid, SIGKILL);  // no chance to clean up
  ::waitpid(pid, nullptr, 0);

  NewManager();  // as the restarted host process
  for (const char* user : {"alice", "bob"}) {
    auto s = Get(user, false);
    ASSERT_NE(s, nullptr);
    Result r = Exec(*s, "cat keep.txt; pgrep -x sleep || echo none");
    EXPECT_RESULT(r, OK);
    EXPECT_EQ(r.stdout(), absl::StrCat(user, "-data\nnone\n"));
  }
  manager_.reset();
  // The dead host's sandboxes are gone too, not only the new ones.
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (testing::CountLeftovers(config_).processes > 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace
}  // namespace libsandbox
