// Persistent sessions against real runsc, cgroups and processes.
#include "libsandbox/session/session.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/tests/session_fixture.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SessionTest : public testing::SessionFixture {
 protected:
  SessionTest() : SessionFixture("session") {}
  void SetUp() override {
    SessionFixture::SetUp();
    NewManager();
  }
};

TEST(SessionDirNameTest, DistinctKeysGetDistinctDirectories) {
  auto dir = [](std::string u, std::string p, std::string c) {
    SessionKey k;
    k.set_user(u);
    k.set_policy(p);
    k.set_chat(c);
    absl::StatusOr<std::string> d = SessionDirName(k);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.value_or("");
  };
  std::vector<std::string> dirs = {dir("a", "", ""),    dir("", "a", ""),  dir("", "", "a"),
                                   dir("a/b", "", ""),  dir("a", "b", ""), dir("a.b", "", ""),
                                   dir("../x", "", ""), dir("", "", "")};
  std::vector<std::string> sorted = dirs;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (const std::string& d : dirs) EXPECT_THAT(d, Not(HasSubstr(".."))) << d;
  SessionKey bad;
  bad.set_user(std::string(200, 'x'));
  EXPECT_FALSE(SessionDirName(bad).ok());
}

TEST_F(SessionTest, CwdAndFilesCarryOverBetweenExecs) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  Result r = Exec(*s, "cd /tmp && echo hi > f");
  EXPECT_RESULT(r, OK);
  r = Exec(*s, "pwd; cat f");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "/tmp\nhi\n");
  // Python sees and sets the same cwd.
  r = Exec(*s, "import os\nprint(os.getcwd())\nos.chdir('/home/user')", "python");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "/tmp\n");
  r = Exec(*s, "pwd; id -u");
  EXPECT_EQ(r.stdout(), "/home/user\n1000\n");
  // Exit codes and errors are the exec's own, and the session goes on.
  r = Exec(*s, "echo 'foo");
  EXPECT_RESULT(r, ERROR);
  r = Exec(*s, "print('foo", "python");
  EXPECT_RESULT(r, ERROR);
  r = Exec(*s, "exit 3");
  EXPECT_EQ(r.exit_code(), 3);
  r = Exec(*s, "grep CapEff /proc/self/status");
  EXPECT_THAT(r.stdout(), HasSubstr("0000000000000000"));
}

// The names of session directories are user, policy and chat ids: no other
// account may list them, even where an older version left them open.
TEST_F(SessionTest, SessionDirectoriesArePrivate) {
  const std::string sessions = root_ + "/storage/sessions";
  ASSERT_TRUE(MakeDirs(sessions, 0755).ok());
  SessionOptions options;
  std::shared_ptr<ManagedSession> s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  absl::StatusOr<std::string> rel = SessionDirName(s->key());
  ASSERT_TRUE(rel.ok());
  std::string path = sessions;
  std::vector<std::string> dirs = {path};
  for (absl::string_view part : absl::StrSplit(*rel, '/')) {
    absl::StrAppend(&path, "/", part);
    dirs.push_back(path);
  }
  ASSERT_GE(dirs.size(), 4u);  // sessions, user, policy, chat
  for (const std::string& dir : dirs) {
    struct stat st;
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << dir;
  }
}

// An empty user id would give every caller one shared workspace.
TEST_F(SessionTest, AnEmptyUserIsRefused) {
  NewManager();
  SessionKey nobody;
  nobody.set_chat("c");
  absl::StatusOr<std::shared_ptr<ManagedSession>> s = manager_->Get(nobody, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("user id"));
  EXPECT_NE(::access((root_ + "/storage/sessions/anonymous").c_str(), F_OK), 0);
}

// An uncapped workspace (workspace_mb 0) is a plain host directory; a capped
// one persists in its image (SessionVolumeTest).
TEST_F(SessionTest, WorkspacePersistsAcrossStopAndHostRestart) {
  SessionOptions uncapped;
  *uncapped.mutable_limits() = DefaultSessionLimits();
  uncapped.mutable_limits()->set_workspace_mb(0);
  auto s = Get("alice", uncapped);
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "echo data > keep.txt"), OK);
  const std::string host_file = s->workspace() + "/keep.txt";
  ASSERT_TRUE(s->Stop().ok());
  EXPECT_FALSE(s->live());
  EXPECT_EQ(ReadFile(host_file).value_or(""), "data\n");
  Result r = Exec(*s, "cat keep.txt");  // a new sandbox on the same workspace
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "data\n");

  s.reset();
  NewManager();  // as after a host restart
  s = Get("alice", uncapped);
  ASSERT_NE(s, nullptr);
  r = Exec(*s, "cat keep.txt");
  EXPECT_EQ(r.stdout(), "data\n");
}

// No policy and no chat read as such on disk; a workspace an earlier
// version made (UserKey's "anonymous" for both) keeps its files.
TEST_F(SessionTest, DirectoriesNameNoPolicyAndAllChatsAndOldOnesStay) {
  const std::string sessions = root_ + "/storage/sessions/";
  SessionOptions uncapped;
  *uncapped.mutable_limits() = DefaultSessionLimits();
  uncapped.mutable_limits()->set_workspace_mb(0);
  auto s = Get("bob", uncapped);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->workspace().starts_with(sessions + "u_bob/no-policy/all-chats/"))
      << s->workspace();
  EXPECT_RESULT(Exec(*s, "echo old > kept.txt"), OK);
  ASSERT_TRUE(s->Stop().ok());
  s.reset();
  NewManager();  // an upgrade: the workspace sits where the old version put it
  ASSERT_EQ(
      ::rename((sessions + "u_bob/no-policy").c_str(), (sessions + "u_bob/anonymous").c_str()), 0);
  ASSERT_EQ(::rename((sessions + "u_bob/anonymous/all-chats").c_str(),
                     (sessions + "u_bob/anonymous/anonymous").c_str()),
            0);
  s = Get("bob", uncapped);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->workspace().starts_with(sessions + "u_bob/anonymous/anonymous/"))
      << s->workspace();
  Result r = Exec(*s, "cat kept.txt");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "old\n");
}

TEST_F(SessionTest, BackgroundProcessLivesUntilTheSessionStops) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  // Not redirected: it keeps the exec's output open, which must not stall.
  Result r = Exec(*s, "sleep 300 & echo $! > /tmp/bg.pid; echo started");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "started\n");
  EXPECT_LT(r.duration_s(), 1.5);
  r = Exec(*s, "kill -0 $(cat /tmp/bg.pid) && echo alive");
  EXPECT_EQ(r.stdout(), "alive\n");
  ASSERT_TRUE(s->Stop().ok());
  r = Exec(*s, "cat /tmp/bg.pid 2>/dev/null || echo gone; pgrep -x sleep || echo none");
  EXPECT_EQ(r.stdout(), "gone\nnone\n");
}

// Idle background processes cost the sandbox's runtime many host tasks each;
// under the default caps a full set of them must not take the session down.
TEST_F(SessionTest, FullSetOfIdleBackgroundProcessesUnderDefaultCaps) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  ExecRequest sleep;
  sleep.set_code("sleep 300");
  sleep.set_language("bash");
  std::vector<std::string> ids;
  for (int i = 0; i < kDefaultMaxProcesses; ++i) {
    absl::StatusOr<std::string> id = s->Start(sleep);
    ASSERT_TRUE(id.ok()) << i << ": " << id.status();
    ids.push_back(*id);
  }
  // Each starts on its own: wait until all of them run `sleep`.
  Result r =
      Exec(*s, absl::StrCat("for i in $(seq 100); do [ \"$(pgrep -xc sleep)\" -ge ",
                            kDefaultMaxProcesses, " ] && break; sleep 0.1; done; pgrep -xc sleep"));
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), absl::StrCat(kDefaultMaxProcesses, "\n"));
  std::vector<ProcessInfo> running = s->Processes();
  ASSERT_EQ(running.size(), ids.size());
  for (const ProcessInfo& p : running) EXPECT_TRUE(p.running()) << p.id() << " " << p.reason();
}

// max_pids counts the code's own tasks inside the sandbox: a fork bomb sees
// fork fail at the cap, and the session goes on.
TEST_F(SessionTest, ForkBombIsHeldAtMaxPids) {
  SessionOptions options;
  *options.mutable_limits() = DefaultSessionLimits();
  options.mutable_limits()->set_max_pids(32);
  // Forked interpreters copy pages as they run: room for 32 of them.
  options.mutable_limits()->set_memory_mb(512);
  auto s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  Result r = Exec(*s,
                  "import os, signal, time\n"
                  "kids = []\n"
                  "try:\n"
                  "    while True:\n"
                  "        pid = os.fork()\n"
                  "        if pid == 0:\n"
                  "            time.sleep(30); os._exit(0)\n"
                  "        kids.append(pid)\n"
                  "except OSError as e:\n"
                  "    print('fork failed after', len(kids), flush=True)\n"
                  "for pid in kids:\n"
                  "    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)\n",
                  "python");
  EXPECT_RESULT(r, OK);
  ASSERT_THAT(r.stdout(), HasSubstr("fork failed after "));
  int n = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(absl::StripAsciiWhitespace(r.stdout().substr(r.stdout().rfind(' '))), &n))
      << r.stdout();
  EXPECT_LT(n, 32);
  EXPECT_RESULT(Exec(*s, "echo alive"), OK);
}

TEST_F(SessionTest, TimeoutKillsOnlyThatExec) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "sleep 300 >/dev/null 2>&1 &"), OK);
  Result r = Exec(*s, "echo before; sleep 60 & sleep 61", "bash", /*timeout_s=*/1.5);
  EXPECT_RESULT(r, TIMEOUT);
  EXPECT_EQ(r.stdout(), "before\n");
  EXPECT_LT(r.duration_s(), 10);
  r = Exec(*s, "print('after', flush=True)", "python");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "after\n");
  // The timed-out exec's processes are gone; the earlier background one is not.
  r = Exec(*s, "ps -eo args | grep -c '^sleep 6[01]$'; ps -eo args | grep -c '^sleep 300$'");
  EXPECT_EQ(r.stdout(), "0\n1\n");
}

TEST_F(SessionTest, MemoryHogInterruptsAndNextExecUsesTheSameWorkspace) {
  SessionOptions options;
  *options.mutable_limits() = DefaultSessionLimits();
  options.mutable_limits()->set_memory_mb(256);
  auto s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "echo x > before.txt"), OK);
  Result r = Exec(*s, "x = b'a' * (1 << 30)\nprint('survived')", "python");
  EXPECT_RESULT(r, INTERRUPTED);
  EXPECT_EQ(r.reason(), "memory");
  EXPECT_THAT(r.message(), HasSubstr("memory_mb"));
  r = Exec(*s, "cat before.txt");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "x\n");
}

TEST_F(SessionTest, TwoUsersShareNothing) {
  auto alice = Get("alice");
  auto bob = Get("bob");
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  EXPECT_NE(alice->workspace(), bob->workspace());
  EXPECT_RESULT(Exec(*alice, "echo secret > secret.txt; echo s > /tmp/t; sleep 300 >/dev/null &"),
                OK);
  Result r = Exec(*bob, "ls -A /home/user /tmp; ps -eo args");
  EXPECT_RESULT(r, OK);
  EXPECT_THAT(r.stdout(), Not(HasSubstr("secret")));
  EXPECT_THAT(r.stdout(), Not(HasSubstr("sleep 300")));
  EXPECT_THAT(r.stdout(), Not(HasSubstr("/tmp/t")));
  r = Exec(*alice, "ps -eo args");
  EXPECT_THAT(r.stdout(), HasSubstr("sleep 300"));
  EXPECT_EQ(manager_->List().size(), 2u);
}

TEST_F(SessionTest, IdleSessionIsStoppedAndItsWorkspaceKept) {
  SessionOptions options;
  options.set_idle_timeout_s(0.5);
  auto s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "echo kept > f"), OK);
  EXPECT_TRUE(s->live());
  EXPECT_EQ(manager_->List().size(), 1u);
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (s->live() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(s->live());
  EXPECT_TRUE(manager_->List().empty());
  EXPECT_EQ(testing::CountLeftovers(config_).runsc_entries, 0);
  Result r = Exec(*s, "cat f");
  EXPECT_EQ(r.stdout(), "kept\n");
}

TEST_F(SessionTest, ResetWipesTheWorkspace) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "mkdir -p d && echo x > d/f && ln -s /etc/passwd link"), OK);
  SessionKey key;
  key.set_user("alice");
  ASSERT_TRUE(manager_->Reset(key).ok());
  EXPECT_FALSE(s->live());
  Result r = Exec(*s, "ls -A; pwd");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "/home/user\n");
  EXPECT_TRUE(ReadFile("/etc/passwd").ok());  // the link was removed, not followed
}

TEST_F(SessionTest, CodeAndEnvNeverOnHostArgv) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  std::atomic<bool> done = false;
  std::atomic<bool> seen = false;
  std::thread scanner([&] {
    while (!done) {
      DIR* d = ::opendir("/proc");
      while (struct dirent* e = d ? ::readdir(d) : nullptr) {
        absl::StatusOr<std::string> cmd = ReadFile(absl::StrCat("/proc/", e->d_name, "/cmdline"));
        if (cmd.ok() && absl::StrContains(*cmd, "MARKER_7f3a")) seen = true;
      }
      if (d) ::closedir(d);
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  ExecRequest req;
  req.set_language("bash");
  req.set_code("# MARKER_7f3a_code\nsleep 1; echo $SECRET");
  (*req.mutable_env())["SECRET"] = "MARKER_7f3a_env";
  Result r = s->Exec(req);
  done = true;
  scanner.join();
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "MARKER_7f3a_env\n");
  EXPECT_FALSE(seen);
}

TEST_F(SessionTest, ConcurrentExecsOnOneSessionSerialize) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  std::vector<Result> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Exec(*s, absl::StrCat("n=$(cat n 2>/dev/null || echo 0); sleep 0.2; echo "
                                         "$((n+1)) > n"));
    });
  }
  for (auto& t : threads) t.join();
  for (const Result& r : results) EXPECT_RESULT(r, OK);
  EXPECT_EQ(Exec(*s, "cat n").stdout(), "4\n");
}

TEST_F(SessionTest, ManagerDestructionLeavesNothing) {
  auto a = Get("alice");
  auto b = Get("bob");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_RESULT(Exec(*a, "sleep 300 &"), OK);
  EXPECT_RESULT(Exec(*b, "echo hi"), OK);
  EXPECT_GT(testing::CountLeftovers(config_).runsc_entries, 0);
  const std::vector<std::string> runs = testing::RunIds(config_);
  EXPECT_EQ(runs.size(), 2u);
  EXPECT_GT(testing::CountCgroupsOf(runs), 0);
  a.reset();
  b.reset();
  manager_.reset();
  testing::SandboxLeftovers l = testing::CountLeftovers(config_);
  EXPECT_EQ(l.runsc_entries, 0);
  EXPECT_EQ(l.run_entries, 0);
  EXPECT_EQ(testing::CountCgroupsOf(runs), 0);
  EXPECT_EQ(l.processes, 0);
}

// Not a check of behaviour: prints the numbers the design notes track.
TEST_F(SessionTest, Latency) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  absl::Time t0 = absl::Now();
  EXPECT_RESULT(Exec(*s, "echo hi"), OK);
  double first = absl::ToDoubleSeconds(absl::Now() - t0);
  std::vector<double> warm;
  for (int i = 0; i < 20; ++i) {
    absl::Time t = absl::Now();
    Result r = Exec(*s, "echo hi");
    warm.push_back(absl::ToDoubleSeconds(absl::Now() - t));
    EXPECT_EQ(r.stdout(), "hi\n");
  }
  std::sort(warm.begin(), warm.end());
  absl::SleepFor(absl::Seconds(1));
  SessionInfo info = s->Info();
  std::cout << "first exec " << first << " s, warm exec median " << warm[warm.size() / 2]
            << " s, idle session memory " << info.memory_bytes() / (1 << 20) << " MiB\n";
  EXPECT_LT(warm[warm.size() / 2], 1.0);
  EXPECT_GT(info.memory_bytes(), 0);
}

}  // namespace
}  // namespace libsandbox
