// Background processes as a terminal server uses them, against real runsc:
// a pseudo-terminal with resize driving full-screen programs, blocking
// waits, records that several readers share and that outlive the process,
// the per-session process cap, and cwd per call.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/session_fixture.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;

class SessionProcessTest : public testing::SessionFixture {
 protected:
  SessionProcessTest() : SessionFixture("session-process") {}

  static ExecRequest Bash(const std::string& code) {
    ExecRequest r;
    r.set_code(code);
    r.set_language("bash");
    return r;
  }

  static ExecRequest Terminal(const std::string& code, int rows = 24, int cols = 80) {
    ExecRequest r = Bash(code);
    r.set_pty(true);
    r.set_rows(rows);
    r.set_cols(cols);
    return r;
  }

  static std::string Start(ManagedSession& s, const ExecRequest& r) {
    absl::StatusOr<std::string> id = s.Start(r);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or("");
  }

  // Waits for stdout from `*offset` on until it holds `needle` (true) or the
  // process ends or 20 s pass (false); `*seen` collects the output.
  static bool WaitFor(ManagedSession& s, const std::string& id, const std::string& needle,
                      int64_t* offset, std::string* seen) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (absl::Now() < give_up) {
      absl::StatusOr<ProcessOutput> o = s.Wait(id, *offset, 0, absl::Seconds(5));
      if (!o.ok()) return false;
      *seen += o->stdout();
      *offset = o->stdout_offset();
      if (absl::StrContains(*seen, needle)) return true;
      if (!o->info().running()) return false;
    }
    return false;
  }

  // Waits until the process has ended; then all it wrote, from offset 0.
  static ProcessOutput WaitEnd(ManagedSession& s, const std::string& id) {
    for (int i = 0; i < 10; ++i) {
      // Past any output: only the end wakes it.
      absl::StatusOr<ProcessOutput> o = s.Wait(id, 1LL << 40, 1LL << 40, absl::Seconds(5));
      EXPECT_TRUE(o.ok()) << o.status();
      if (!o.ok() || !o->info().running()) break;
    }
    absl::StatusOr<ProcessOutput> all = s.Poll(id, 0, 0);
    EXPECT_TRUE(all.ok()) << all.status();
    return all.value_or(ProcessOutput());
  }
};

TEST_F(SessionProcessTest, AnInteractiveShellOnATerminal) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  const std::string id = Start(*s, Terminal("exec bash --norc -i", 30, 100));
  int64_t off = 0;
  std::string seen;
  ASSERT_TRUE(WaitFor(*s, id, "$ ", &off, &seen)) << seen;
  // The terminal echoes what is typed and has the size asked for.
  ASSERT_TRUE(s->WriteInput(id, "stty size; echo \"tty-$TERM\"\r").ok());
  ASSERT_TRUE(WaitFor(*s, id, "tty-xterm-256color", &off, &seen)) << seen;
  EXPECT_THAT(seen, HasSubstr("stty size;"));
  EXPECT_THAT(seen, HasSubstr("30 100"));
  // Ctrl-C interrupts the foreground job only; the shell goes on.
  ASSERT_TRUE(s->WriteInput(id, "sleep 100\r").ok());
  ASSERT_TRUE(WaitFor(*s, id, "sleep 100", &off, &seen));
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(s->WriteInput(id, "\x03").ok());
  ASSERT_TRUE(s->WriteInput(id, "echo after-$?\r").ok());
  ASSERT_TRUE(WaitFor(*s, id, "after-130", &off, &seen)) << seen;
  // A resize reaches the shell (SIGWINCH) and what it runs next.
  ASSERT_TRUE(s->Resize(id, 50, 132).ok());
  ASSERT_TRUE(s->WriteInput(id, "stty size\r").ok());
  ASSERT_TRUE(WaitFor(*s, id, "50 132", &off, &seen)) << seen;
  ASSERT_TRUE(s->WriteInput(id, "exit 7\r").ok());
  ProcessOutput end = WaitEnd(*s, id);
  EXPECT_FALSE(end.info().running());
  EXPECT_EQ(end.info().exit_code(), 7);
  EXPECT_TRUE(end.info().pty());
  EXPECT_TRUE(end.stderr().empty());  // one stream on a terminal
  EXPECT_THAT(end.stdout(), HasSubstr("after-130"));
}

TEST_F(SessionProcessTest, FullScreenProgramsFollowTheTerminalsSize) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  // A curses program (like top) redraws its size on every SIGWINCH.
  ASSERT_TRUE(s->WriteFile("size.py",
                           "import curses\n"
                           "def main(w):\n"
                           "    while True:\n"
                           "        h, wd = w.getmaxyx()\n"
                           "        w.erase(); w.addstr(0, 0, 'size %dx%d' % (h, wd)); "
                           "w.refresh()\n"
                           "        if w.getch() == ord('q'):\n"
                           "            return\n"
                           "curses.wrapper(main)\n")
                  .ok());
  const std::string top = Start(*s, Terminal("exec python3 size.py"));
  int64_t off = 0;
  std::string seen;
  ASSERT_TRUE(WaitFor(*s, top, "size 24x80", &off, &seen)) << seen;
  ASSERT_TRUE(s->Resize(top, 40, 120).ok());
  ASSERT_TRUE(WaitFor(*s, top, "size 40x120", &off, &seen)) << seen;
  ASSERT_TRUE(s->WriteInput(top, "q").ok());
  EXPECT_EQ(WaitEnd(*s, top).info().exit_code(), 0);

  // vim edits a file through the terminal alone.
  const std::string vim = Start(*s, Terminal("exec vim -u NONE -N note.txt"));
  off = 0;
  seen.clear();
  ASSERT_TRUE(WaitFor(*s, vim, "note.txt", &off, &seen)) << seen;
  ASSERT_TRUE(s->WriteInput(vim, "ihello from vim\x1b:wq\r").ok());
  EXPECT_EQ(WaitEnd(*s, vim).info().exit_code(), 0);
  EXPECT_EQ(s->ReadFile("note.txt").value_or(""), "hello from vim\n");

  // Without a terminal there is nothing to resize.
  const std::string plain = Start(*s, Bash("sleep 100"));
  EXPECT_EQ(s->Resize(plain, 10, 10).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Resize(top, 0, 10).code(), absl::StatusCode::kInvalidArgument);
  ExecRequest bad = Bash("true");
  bad.set_rows(10);
  EXPECT_EQ(s->Start(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionProcessTest, WaitBlocksUntilOutputOrTheEnd) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  const std::string id = Start(*s, Bash("read line; echo \"got $line\"; read line; exit 3"));
  // Nothing to say yet: the wait runs out and says it still runs.
  absl::StatusOr<ProcessOutput> idle = s->Wait(id, 0, 0, absl::Milliseconds(300));
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_TRUE(idle->info().running());
  EXPECT_EQ(idle->stdout(), "");
  // Two readers wait on one process at once; both get the line.
  std::string first, second;
  auto reader = [&](std::string* into) {
    absl::StatusOr<ProcessOutput> o = s->Wait(id, 0, 0, absl::Seconds(60));
    if (o.ok()) *into = o->stdout();
  };
  std::thread a(reader, &first), b(reader, &second);
  absl::SleepFor(absl::Milliseconds(200));
  ASSERT_TRUE(s->WriteInput(id, "x\n").ok());
  a.join();
  b.join();
  EXPECT_EQ(first, "got x\n");
  EXPECT_EQ(second, "got x\n");
  // A wait past the output returns at the end.
  std::thread ender([&] {
    absl::SleepFor(absl::Milliseconds(200));
    (void)s->CloseInput(id);
  });
  absl::StatusOr<ProcessOutput> end = s->Wait(id, 6, 0, absl::Seconds(60));
  ender.join();
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_FALSE(end->info().running());
  EXPECT_EQ(end->info().exit_code(), 3);
  EXPECT_EQ(s->Wait(id, 0, 0, absl::Hours(1)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionProcessTest, RecordsOutliveTheProcessUntilReleasedOrOld) {
  SessionOptions options;
  options.set_process_ttl_s(1);
  auto s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  const std::string done = Start(*s, Bash("echo finished"));
  EXPECT_EQ(WaitEnd(*s, done).info().exit_code(), 0);
  // Read by one reader to its end, still there for the next.
  EXPECT_EQ(s->Poll(done, 0, 0).value_or(ProcessOutput()).stdout(), "finished\n");
  EXPECT_EQ(s->Poll(done, 0, 0).value_or(ProcessOutput()).stdout(), "finished\n");
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(s->Poll(done, 0, 0).status().code(), absl::StatusCode::kNotFound);

  // Release kills a running process inside the sandbox, not only its relay.
  const std::string sleeper = Start(*s, Bash("exec sleep 1000"));
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(s->Release(sleeper).ok());
  EXPECT_TRUE(s->Processes().empty());
  Result ps = Exec(*s, "ps -eo args | grep -c '^sleep 1000' || true");
  EXPECT_EQ(ps.stdout(), "0\n") << ps.stderr();
}

TEST_F(SessionProcessTest, SignalsAreReportedAndTheWholeCommandIsKept) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  const std::string code = "sleep 1000 # " + std::string(1000, 'x');
  const std::string id = Start(*s, Bash(code));
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(s->Kill(id, SIGTERM).ok());
  ProcessOutput end = WaitEnd(*s, id);
  EXPECT_EQ(end.info().exit_code(), 128 + SIGTERM);
  EXPECT_EQ(end.info().signal(), SIGTERM);
  EXPECT_EQ(end.info().command(), code);
  // An exit code that only looks like a signal is not one.
  const std::string plain = Start(*s, Bash("exit 143"));
  end = WaitEnd(*s, plain);
  EXPECT_EQ(end.info().exit_code(), 143);
  EXPECT_EQ(end.info().signal(), 0);
}

TEST_F(SessionProcessTest, TwoHundredProcessesUnderTheCap) {
  constexpr int kCap = 8;
  constexpr int kTotal = 200;
  SessionOptions options;
  options.set_max_processes(kCap);
  auto s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  std::vector<std::string> ids;
  int refused = 0;
  while (static_cast<int>(ids.size()) < kTotal) {
    absl::StatusOr<std::string> id =
        s->Start(Bash(absl::StrCat("echo n", ids.size(), "; sleep 0.2")));
    if (id.ok()) {
      ids.push_back(*id);
      continue;
    }
    ASSERT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted) << id.status();
    ++refused;
    int running = 0;
    for (const ProcessInfo& p : s->Processes()) running += p.running() ? 1 : 0;
    EXPECT_LE(running, kCap);
    (void)s->Wait(ids[ids.size() - kCap], 1LL << 40, 1LL << 40, absl::Seconds(10));
  }
  EXPECT_GT(refused, 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    ProcessOutput end = WaitEnd(*s, ids[i]);
    EXPECT_EQ(end.stdout(), absl::StrCat("n", i, "\n")) << ids[i];
    EXPECT_EQ(end.info().exit_code(), 0) << ids[i];
  }
  for (const std::string& id : ids) EXPECT_TRUE(s->Release(id).ok());
  EXPECT_TRUE(s->Processes().empty());
  // The sandbox reaped them all: only its init and this exec's shell remain.
  Result ps = Exec(*s, "ps -e --no-headers | wc -l");
  EXPECT_LE(std::stoi(ps.stdout().empty() ? "99" : ps.stdout()), 4) << ps.stdout();
}

TEST_F(SessionProcessTest, ThePolicyCapsProcessesPerSession) {
  const std::string policy_file = root_ + "/policies.textproto";
  ASSERT_TRUE(WriteFile(policy_file, "caps { processes_per_session: 2 }\n", 0644).ok());
  config_.set_policy_file(policy_file);
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  Start(*s, Bash("sleep 1000"));
  Start(*s, Bash("sleep 1000"));
  absl::StatusOr<std::string> third = s->Start(Bash("sleep 1000"));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  SessionOptions more;
  more.set_max_processes(3);
  SessionKey key;
  key.set_user("bob");
  EXPECT_EQ(manager_->Get(key, more).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionProcessTest, CwdPerCall) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "mkdir -p a/b /tmp/t && cd a"), OK);
  ExecRequest in_b = Bash("pwd; cd /tmp");
  in_b.set_cwd("a/b");
  Result r = s->Exec(in_b);
  EXPECT_EQ(r.stdout(), "/home/user/a/b\n");
  // A call with its own cwd leaves the session's where it was.
  EXPECT_EQ(Exec(*s, "pwd").stdout(), "/home/user/a\n");
  ExecRequest py;
  py.set_code("import os; print(os.getcwd(), 'LIBSANDBOX_CWD' in os.environ)");
  py.set_cwd("/tmp/t");
  EXPECT_EQ(s->Exec(py).stdout(), "/tmp/t False\n");
  ExecRequest bg = Bash("pwd");
  bg.set_cwd("/tmp");
  const std::string id = Start(*s, bg);
  EXPECT_EQ(WaitEnd(*s, id).stdout(), "/tmp\n");
  ExecRequest missing = Bash("echo ran");
  missing.set_cwd("nowhere");
  r = s->Exec(missing);
  EXPECT_EQ(r.status(), Result::ERROR);
  EXPECT_EQ(r.stdout(), "");
  EXPECT_THAT(r.stderr(), HasSubstr("nowhere"));
  missing.set_cwd(std::string("a\0b", 3));
  EXPECT_EQ(s->Exec(missing).status(), Result::INVALID_INPUT);
}

TEST_F(SessionProcessTest, AnotherUsersSessionCannotNameAProcess) {
  auto alice = Get("alice");
  auto bob = Get("bob");
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  const std::string id = Start(*alice, Bash("echo secret; sleep 1000"));
  std::string seen;
  int64_t off = 0;
  ASSERT_TRUE(WaitFor(*alice, id, "secret", &off, &seen));
  // Ids belong to their session: bob's has no such process.
  EXPECT_EQ(bob->Poll(id, 0, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(bob->Wait(id, 0, 0, absl::Seconds(1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(bob->WriteInput(id, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(bob->Kill(id, SIGKILL).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(bob->Release(id).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(bob->Processes().empty());
  EXPECT_TRUE(alice->Poll(id, 0, 0)->info().running());
}

TEST_F(SessionProcessTest, FileCallsAndStartsNeverWaitBehindAnExec) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  // The exec runs until a file appears that only a file call can write.
  std::atomic<bool> exec_done = false;
  Result exec_result;
  std::thread exec([&] {
    exec_result = Exec(*s, "touch started; until [ -e stop ]; do sleep 0.05; done; echo done",
                       "bash", /*timeout_s=*/30);
    exec_done = true;
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!s->ReadFile("started").ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(s->ReadFile("started").ok());
  EXPECT_TRUE(s->ListDir(".").ok());
  const std::string id = Start(*s, Bash("echo beside"));
  EXPECT_EQ(WaitEnd(*s, id).stdout(), "beside\n");
  EXPECT_FALSE(exec_done);
  EXPECT_TRUE(s->live());
  ASSERT_TRUE(s->WriteFile("stop", "").ok());
  exec.join();
  EXPECT_RESULT(exec_result, OK);
  EXPECT_EQ(exec_result.stdout(), "done\n");
}

}  // namespace
}  // namespace libsandbox
