// What a terminal server builds on, against real runsc: background
// processes of a session, file operations inside its sandbox, the policy's
// idle timeout and the max_sessions cap.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <string>
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

class SessionTerminalTest : public testing::SessionFixture {
 protected:
  SessionTerminalTest() : SessionFixture("session-terminal") {}

  static ExecRequest Bash(const std::string& code) {
    ExecRequest r;
    r.set_code(code);
    r.set_language("bash");
    return r;
  }

  // Polls from where the last poll ended until the process ends, collecting
  // its output.
  struct Collected {
    std::string out, err;
    ProcessOutput last;
    int polls = 0;
  };
  static Collected PollToEnd(ManagedSession& s, const std::string& id, int64_t out_off = 0,
                             int64_t err_off = 0) {
    Collected c;
    const absl::Duration limit = absl::Seconds(20);
    const absl::Time give_up = absl::Now() + limit;
    while (absl::Now() < give_up) {
      absl::StatusOr<ProcessOutput> o = s.Poll(id, out_off, err_off);
      EXPECT_TRUE(o.ok()) << o.status();
      if (!o.ok()) break;
      ++c.polls;
      c.out += o->stdout();
      c.err += o->stderr();
      out_off = o->stdout_offset();
      err_off = o->stderr_offset();
      c.last = *o;
      if (!o->info().running()) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return c;
  }

  static std::string Start(ManagedSession& s, const ExecRequest& r) {
    absl::StatusOr<std::string> id = s.Start(r);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or("");
  }
};

TEST_F(SessionTerminalTest, BackgroundOutputArrivesAcrossPolls) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  // The cwd of the last exec carries over to background processes.
  EXPECT_EQ(s->Exec(Bash("mkdir -p w && cd w")).status(), Result::OK);
  const std::string id =
      Start(*s, Bash("pwd; for i in 1 2 3; do echo $i; sleep 0.4; done; echo oops >&2; exit 4"));
  ASSERT_FALSE(id.empty());
  // Start returns at once; the first lines come while it still runs.
  std::string seen;
  int64_t off = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  bool partial_while_running = false;
  while (absl::Now() < give_up) {
    absl::StatusOr<ProcessOutput> o = s->Poll(id, off, 0);
    ASSERT_TRUE(o.ok()) << o.status();
    seen += o->stdout();
    off = o->stdout_offset();
    if (o->info().running() && absl::StrContains(seen, "1\n") && !absl::StrContains(seen, "3\n")) {
      partial_while_running = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(partial_while_running) << seen;
  std::vector<ProcessInfo> listed = s->Processes();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id(), id);
  EXPECT_TRUE(listed[0].running());

  Collected rest = PollToEnd(*s, id, off);
  // Offsets continue where the first loop stopped: nothing twice.
  rest.out = seen + rest.out;
  EXPECT_EQ(rest.out, "/home/user/w\n1\n2\n3\n");
  EXPECT_EQ(rest.err, "oops\n");
  EXPECT_FALSE(rest.last.info().running());
  EXPECT_EQ(rest.last.info().exit_code(), 4);
  EXPECT_FALSE(rest.last.stdout_truncated());
  // Reading consumed nothing: another reader still gets all of it, and the
  // record stays until it is released.
  absl::StatusOr<ProcessOutput> again = s->Poll(id, 0, 0);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->stdout(), "/home/user/w\n1\n2\n3\n");
  EXPECT_EQ(again->info().exit_code(), 4);
  ASSERT_EQ(s->Processes().size(), 1u);
  ASSERT_TRUE(s->Release(id).ok());
  EXPECT_EQ(s->Poll(id, 0, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(s->Processes().empty());
  // A background process does not move the session's cwd.
  EXPECT_EQ(s->Exec(Bash("pwd")).stdout(), "/home/user/w\n");
}

TEST_F(SessionTerminalTest, InputGoesToABackgroundCat) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  ExecRequest r = Bash("cat");
  r.set_stdin("first\n");
  const std::string id = Start(*s, r);
  ASSERT_TRUE(s->WriteInput(id, "hello\n").ok());
  std::string out;
  int64_t off = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (out != "first\nhello\n" && absl::Now() < give_up) {
    absl::StatusOr<ProcessOutput> o = s->Poll(id, off, 0);
    ASSERT_TRUE(o.ok()) << o.status();
    ASSERT_TRUE(o->info().running());  // cat waits for more
    out += o->stdout();
    off = o->stdout_offset();
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(out, "first\nhello\n");
  // Binary input passes unchanged; EOF ends cat.
  const std::string binary("\0\xff\n\x01", 4);
  ASSERT_TRUE(s->WriteInput(id, binary).ok());
  ASSERT_TRUE(s->CloseInput(id).ok());
  EXPECT_EQ(s->WriteInput(id, "late").code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<ProcessOutput> o;
  Collected rest;
  {
    int64_t out_off = off;
    const absl::Time end_by = absl::Now() + absl::Seconds(10);
    while (absl::Now() < end_by) {
      o = s->Poll(id, out_off, 0);
      ASSERT_TRUE(o.ok()) << o.status();
      rest.out += o->stdout();
      out_off = o->stdout_offset();
      if (!o->info().running()) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  EXPECT_EQ(rest.out, binary);
  EXPECT_FALSE(o->info().running());
  EXPECT_EQ(o->info().exit_code(), 0);
  EXPECT_EQ(s->WriteInput("p999", "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionTerminalTest, KillStopsTheProcessAndItsChildren) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  const std::string id = Start(*s, Bash("sleep 1001 & sleep 1002; wait"));
  ASSERT_TRUE(s->Kill(id, 0).code() == absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(s->Kill(id, SIGKILL).ok());
  Collected c = PollToEnd(*s, id);
  EXPECT_FALSE(c.last.info().running());
  EXPECT_EQ(c.last.info().reason(), "killed");
  EXPECT_EQ(c.last.info().exit_code(), 128 + SIGKILL);
  Result r = s->Exec(Bash("ps -eo args"));
  EXPECT_EQ(r.status(), Result::OK) << r.message();
  EXPECT_THAT(r.stdout(), ::testing::Not(HasSubstr("sleep 100")));
}

TEST_F(SessionTerminalTest, TimeoutAndOutputCapOfABackgroundProcess) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  ExecRequest slow = Bash("sleep 100");
  slow.set_timeout_s(0.5);
  const std::string slow_id = Start(*s, slow);
  // Hostile output: far more than the buffer, never polled while it runs.
  ExecRequest loud = Bash("head -c 200000 /dev/zero | tr '\\0' a; echo END");
  loud.set_max_output_bytes(1000);
  const std::string loud_id = Start(*s, loud);
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  auto running = [&] {
    for (const ProcessInfo& p : s->Processes()) {
      if (p.running()) return true;
    }
    return false;
  };
  while (running() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(running());
  absl::StatusOr<ProcessOutput> o = s->Poll(loud_id, 0, 0);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_LE(o->stdout().size(), 1000u);
  EXPECT_TRUE(o->stdout_truncated());
  EXPECT_TRUE(absl::EndsWith(o->stdout(), "aaaEND\n")) << o->stdout().substr(0, 50);
  EXPECT_EQ(o->stdout_offset(), 200004);
  EXPECT_EQ(o->info().stdout_bytes(), 200004);
  Collected c = PollToEnd(*s, slow_id);
  EXPECT_EQ(c.last.info().reason(), "timeout");
  EXPECT_FALSE(c.last.info().running());
}

TEST_F(SessionTerminalTest, ProcessLimitAndEverythingStopsWithTheSession) {
  constexpr int kCap = 16;
  SessionOptions options;
  *options.mutable_limits() = DefaultSessionLimits();
  options.mutable_limits()->set_max_pids(1024);
  options.set_max_processes(kCap);
  auto s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < kCap; ++i) Start(*s, Bash("sleep 1000"));
  absl::SleepFor(absl::Milliseconds(300));
  for (const ProcessInfo& p : s->Processes()) EXPECT_TRUE(p.running()) << p.id();
  absl::StatusOr<std::string> extra = s->Start(Bash("sleep 1000"));
  EXPECT_EQ(extra.status().code(), absl::StatusCode::kResourceExhausted) << extra.status();
  EXPECT_THAT(extra.status().message(), HasSubstr("max_processes"));
  // The library's own helpers are outside the cap: file calls still work.
  EXPECT_TRUE(s->WriteFile("still.txt", "yes").ok());
  EXPECT_EQ(s->ReadFile("still.txt").value_or(""), "yes");
  EXPECT_EQ(s->Processes().size(), static_cast<size_t>(kCap));
  ASSERT_TRUE(s->Stop().ok());
  EXPECT_TRUE(s->Processes().empty());
  EXPECT_EQ(testing::CountLeftovers(config_).processes, 0);
  // The session goes on with a fresh sandbox.
  Collected c = PollToEnd(*s, Start(*s, Bash("echo again")));
  EXPECT_EQ(c.out, "again\n");
}

TEST_F(SessionTerminalTest, AProcessEndedByTheSandboxStoppingSaysSo) {
  SessionOptions options;
  *options.mutable_limits() = DefaultSessionLimits();
  options.mutable_limits()->set_memory_mb(256);
  auto s = Get("alice", options);
  ASSERT_NE(s, nullptr);
  const std::string sleeper = Start(*s, Bash("sleep 1000"));
  ExecRequest hog;
  hog.set_code("x = b'a' * (1 << 30)\nprint('survived')");
  const std::string hog_id = Start(*s, hog);
  Collected c = PollToEnd(*s, hog_id);
  EXPECT_FALSE(c.last.info().running());
  EXPECT_EQ(c.last.info().reason(), "sandbox");
  EXPECT_THAT(c.out, ::testing::Not(HasSubstr("survived")));
  c = PollToEnd(*s, sleeper);
  EXPECT_EQ(c.last.info().reason(), "sandbox");
  // The next call starts a new sandbox on the same workspace.
  EXPECT_EQ(PollToEnd(*s, Start(*s, Bash("echo back"))).out, "back\n");
}

TEST_F(SessionTerminalTest, FilesAreWrittenAndReadInsideTheSandbox) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  std::string binary;
  for (int i = 0; i < 70000; ++i) binary.push_back(static_cast<char>(i * 7 % 256));
  ASSERT_TRUE(s->WriteFile("dir/sub/data.bin", binary).ok());
  absl::StatusOr<std::string> back = s->ReadFile("dir/sub/data.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == binary);
  // Written by the sandbox user, in the persistent workspace.
  struct stat st;
  ASSERT_EQ(::stat((s->workspace() + "/dir/sub/data.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(s->Exec(Bash("wc -c < /home/user/dir/sub/data.bin")).stdout(), "70000\n");
  // Absolute paths are the sandbox's; replacing shortens.
  ASSERT_TRUE(s->WriteFile("/home/user/dir/sub/data.bin", "short").ok());
  EXPECT_EQ(s->ReadFile("dir/sub/data.bin").value_or(""), "short");
  ASSERT_TRUE(s->WriteFile("/tmp/t.txt", "").ok());
  EXPECT_EQ(s->ReadFile("/tmp/t.txt").value_or("x"), "");

  absl::StatusOr<DirListing> top = s->ListDir(".");
  ASSERT_TRUE(top.ok()) << top.status();
  bool found = false;
  for (const DirEntry& e : top->entries()) {
    if (e.name() == "dir") found = e.type() == "directory";
  }
  EXPECT_TRUE(found);
  ASSERT_TRUE(s->Exec(Bash("ln -s /etc/hostname dir/sub/link && mkfifo dir/sub/fifo")).status() ==
              Result::OK);
  absl::StatusOr<DirListing> sub = s->ListDir("dir/sub");
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_EQ(sub->entries_size(), 3);
  EXPECT_EQ(sub->entries(0).name(), "data.bin");
  EXPECT_EQ(sub->entries(0).type(), "file");
  EXPECT_EQ(sub->entries(0).size(), 5);
  EXPECT_EQ(sub->entries(1).name(), "fifo");
  EXPECT_EQ(sub->entries(1).type(), "other");
  EXPECT_EQ(sub->entries(2).name(), "link");
  EXPECT_EQ(sub->entries(2).type(), "symlink");
  EXPECT_FALSE(sub->truncated());

  // Errors name the cause.
  EXPECT_EQ(s->ReadFile("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->ListDir("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->ReadFile("dir").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ReadFile("dir/sub/fifo").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ReadFile("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ReadFile(std::string("a\0b", 3)).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status denied = s->WriteFile("/usr/evil", "x");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
  EXPECT_EQ(s->ReadFile("dir/sub/data.bin", 4).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s->ReadFile("dir/sub/data.bin", 0).status().code(), absl::StatusCode::kInvalidArgument);

  // Escapes only reach the sandbox's own files, never the host's.
  absl::StatusOr<std::string> passwd = s->ReadFile("../../etc/passwd");
  ASSERT_TRUE(passwd.ok()) << passwd.status();
  absl::StatusOr<std::string> host_passwd = libsandbox::ReadFile("/etc/passwd");
  ASSERT_TRUE(host_passwd.ok());
  EXPECT_NE(*passwd, *host_passwd);
  EXPECT_EQ(s->ReadFile(root_ + "/storage/sessions").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<DirListing> root = s->ListDir("/");
  ASSERT_TRUE(root.ok()) << root.status();
  for (const DirEntry& e : root->entries()) {
    EXPECT_NE(e.name(), "root");
    EXPECT_NE(e.name(), "srv");
  }
}

TEST_F(SessionTerminalTest, PolicyIdleTimeoutApplies) {
  const std::string file = root_ + "/policies.textproto";
  ASSERT_TRUE(libsandbox::WriteFile(file,
                                    "caps { idle_timeout: \"1h\" }\n"
                                    "policies { name: \"brief\" idle_timeout: \"1s\" }\n",
                                    0644)
                  .ok());
  config_.set_policy_file(file);
  NewManager();
  // Asking for more than the policy gives is refused, naming both.
  SessionOptions longer;
  longer.set_idle_timeout_s(60);
  SessionKey key;
  key.set_user("alice");
  key.set_policy("brief");
  absl::StatusOr<std::shared_ptr<ManagedSession>> refused = manager_->Get(key, longer);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("idle_timeout_s"));
  EXPECT_THAT(refused.status().message(), HasSubstr("brief"));

  auto s = Get("alice", {}, "brief");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Exec(Bash("true")).status(), Result::OK);
  EXPECT_TRUE(s->live());
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (s->live() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(s->live());
}

TEST_F(SessionTerminalTest, MaxSessionsStopsTheLeastRecentlyUsedIdleSession) {
  config_.set_max_sessions(2);
  NewManager();
  auto a = Get("a");
  auto b = Get("b");
  auto c = Get("c");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->Exec(Bash("true")).status(), Result::OK);
  EXPECT_EQ(b->Exec(Bash("true")).status(), Result::OK);
  EXPECT_EQ(a->Exec(Bash("true")).status(), Result::OK);  // b is now the least recent
  EXPECT_EQ(c->Exec(Bash("true")).status(), Result::OK);
  EXPECT_TRUE(a->live());
  EXPECT_FALSE(b->live());
  EXPECT_TRUE(c->live());
  // Busy sessions (a background process runs) are never stopped for it.
  const std::string pa = Start(*a, Bash("sleep 1000"));
  const std::string pc = Start(*c, Bash("sleep 1000"));
  Result r = b->Exec(Bash("true"));
  EXPECT_NE(r.status(), Result::OK);
  EXPECT_THAT(r.message(), HasSubstr("max_sessions"));
  EXPECT_EQ(b->Start(Bash("true")).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(a->live());
  EXPECT_TRUE(c->live());
  ASSERT_TRUE(a->Kill(pa, SIGKILL).ok());
  PollToEnd(*a, pa);
  EXPECT_EQ(b->Exec(Bash("true")).status(), Result::OK);
  EXPECT_FALSE(a->live());

  Config bad = config_;
  bad.set_max_sessions(-1);
  EXPECT_EQ(SessionManager::Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

// One user's busy sessions never refuse another user: at their own cap a
// user makes room by stopping their own idle session, or is refused.
TEST_F(SessionTerminalTest, APerUserCapKeepsOneUserFromTakingEverySlot) {
  config_.set_max_sessions(3);
  config_.set_max_sessions_per_user(2);
  NewManager();
  auto chat = [&](const std::string& user, const std::string& id) {
    SessionKey key;
    key.set_user(user);
    key.set_chat(id);
    absl::StatusOr<std::shared_ptr<ManagedSession>> s = manager_->Get(key, {});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : nullptr;
  };
  auto m1 = chat("mallory", "1");
  auto m2 = chat("mallory", "2");
  auto m3 = chat("mallory", "3");
  ASSERT_TRUE(m1 && m2 && m3);
  const std::string p1 = Start(*m1, Bash("sleep 1000"));
  const std::string p2 = Start(*m2, Bash("sleep 1000"));
  Result over = m3->Exec(Bash("true"));
  EXPECT_NE(over.status(), Result::OK);
  EXPECT_THAT(over.message(), HasSubstr("max_sessions_per_user"));
  EXPECT_FALSE(m3->live());
  // A slot is free and it is bob's, while both of hers are busy.
  auto bob = chat("bob", "");
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(bob->Exec(Bash("true")).status(), Result::OK);
  // Once one of hers is idle, her next session stops it: her own, not bob's.
  ASSERT_TRUE(m2->Kill(p2, SIGKILL).ok());
  PollToEnd(*m2, p2);
  EXPECT_EQ(m3->Exec(Bash("true")).status(), Result::OK);
  EXPECT_FALSE(m2->live());
  EXPECT_TRUE(m1->live());
  EXPECT_TRUE(bob->live());
  ASSERT_TRUE(m1->Kill(p1, SIGKILL).ok());
  PollToEnd(*m1, p1);

  Config bad = config_;
  bad.set_max_sessions_per_user(-1);
  EXPECT_EQ(SessionManager::Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

// The admin's policy file sets the per-user cap over the Config's.
TEST_F(SessionTerminalTest, ThePolicyFilesCapsSetSessionsPerUser) {
  const std::string file = root_ + "/policies.textproto";
  ASSERT_TRUE(libsandbox::WriteFile(file, "caps { sessions_per_user: 1 }\n", 0644).ok());
  config_.set_policy_file(file);
  config_.set_max_sessions_per_user(3);
  NewManager();
  SessionKey first, second;
  first.set_user("alice");
  first.set_chat("1");
  second = first;
  second.set_chat("2");
  absl::StatusOr<std::shared_ptr<ManagedSession>> a = manager_->Get(first, {});
  absl::StatusOr<std::shared_ptr<ManagedSession>> b = manager_->Get(second, {});
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string p = Start(**a, Bash("sleep 1000"));
  Result r = (*b)->Exec(Bash("true"));
  EXPECT_NE(r.status(), Result::OK);
  EXPECT_THAT(r.message(), HasSubstr("sessions_per_user"));
  ASSERT_TRUE((*a)->Kill(p, SIGKILL).ok());
  PollToEnd(**a, p);
  EXPECT_EQ((*b)->Exec(Bash("true")).status(), Result::OK);
  EXPECT_FALSE((*a)->live());
}

}  // namespace
}  // namespace libsandbox
