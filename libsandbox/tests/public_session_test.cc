// The public session API (client.h, session.h) against real runsc, as a
// host sees it: this suite includes only the installed headers and links
// only the public library.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libsandbox/client.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session.h"

namespace libsandbox {
namespace {

ExecRequest Bash(const std::string& code) {
  ExecRequest r;
  r.set_code(code);
  r.set_language("bash");
  return r;
}

#define EXPECT_RESULT(r, st)          \
  EXPECT_EQ((r).status(), Result::st) \
      << (r).message() << "\nstdout: " << (r).stdout() << "\nstderr: " << (r).stderr()

class PublicSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::temp_directory_path() / "public-session-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    root_ = dir;
    Config config;
    config.set_state_dir(root_ + "/state");
    config.set_storage_dir(root_ + "/storage");
    if (const char* runsc = std::getenv("LIBSANDBOX_TEST_RUNSC")) config.set_runsc_path(runsc);
    client_ = Client(config);
    key_.set_user("alice");
  }
  void TearDown() override {
    Shutdown();  // stops the sessions of every Client
    std::filesystem::remove_all(root_);
  }

  // Polls `id` from the given offsets until `done` holds for the output
  // collected so far or the process ends; the last answer in `last`.
  static std::string PollUntil(const Session& s, const std::string& id, ProcessOutput* last,
                               bool (*done)(const std::string&)) {
    std::string out;
    int64_t out_off = 0, err_off = 0;
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (absl::Now() < give_up) {
      absl::StatusOr<ProcessOutput> o = s.Poll(id, out_off, err_off);
      EXPECT_TRUE(o.ok()) << o.status();
      if (!o.ok()) break;
      out += o->stdout();
      out_off = o->stdout_offset();
      err_off = o->stderr_offset();
      *last = *o;
      if (done(out) || !o->info().running()) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return out;
  }

  std::string root_;
  Client client_;
  SessionKey key_;
};

TEST_F(PublicSessionTest, BackgroundProcessStartedPolledWrittenToAndKilled) {
  const Session s = client_.OpenSession(key_);
  absl::StatusOr<std::string> id = s.Start(Bash("read line; echo got:$line; exec sleep 300"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(s.WriteInput(*id, "hello\n").ok());

  ProcessOutput last;
  const std::string out = PollUntil(
      s, *id, &last, [](const std::string& o) { return absl::StrContains(o, "got:hello\n"); });
  EXPECT_EQ(out, "got:hello\n");
  EXPECT_TRUE(last.info().running());

  absl::StatusOr<std::vector<ProcessInfo>> procs = s.Processes();
  ASSERT_TRUE(procs.ok()) << procs.status();
  ASSERT_EQ(procs->size(), 1u);
  EXPECT_EQ((*procs)[0].id(), *id);
  EXPECT_TRUE((*procs)[0].running());

  ASSERT_TRUE(s.Kill(*id, 9).ok());
  PollUntil(s, *id, &last, [](const std::string&) { return false; });
  EXPECT_FALSE(last.info().running());
  EXPECT_EQ(last.info().reason_code(), REASON_KILLED);
  // Its record stays until released.
  EXPECT_EQ(s.Poll(*id)->stdout(), "got:hello\n");
  ASSERT_TRUE(s.Release(*id).ok());
  EXPECT_EQ(s.Poll(*id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.Kill(*id, 9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.Kill("no-such-id", 9).code(), absl::StatusCode::kNotFound);

  // Input closed: cat sees its end.
  absl::StatusOr<std::string> cat = s.Start(Bash("cat"));
  ASSERT_TRUE(cat.ok()) << cat.status();
  ASSERT_TRUE(s.WriteInput(*cat, "abc").ok());
  ASSERT_TRUE(s.CloseInput(*cat).ok());
  EXPECT_EQ(PollUntil(s, *cat, &last, [](const std::string&) { return false; }), "abc");
  EXPECT_FALSE(last.info().running());
  EXPECT_EQ(last.info().exit_code(), 0);
}

TEST_F(PublicSessionTest, FileWrittenListedReadAndSeenByExec) {
  const Session s = client_.OpenSession(key_);
  ASSERT_TRUE(s.WriteFile("notes/today.txt", "hi there\n").ok());

  absl::StatusOr<DirListing> listing = s.ListDir("notes");
  ASSERT_TRUE(listing.ok()) << listing.status();
  ASSERT_EQ(listing->entries_size(), 1);
  EXPECT_EQ(listing->entries(0).name(), "today.txt");
  EXPECT_EQ(listing->entries(0).type(), "file");
  EXPECT_EQ(listing->entries(0).size(), 9);

  absl::StatusOr<std::string> data = s.ReadFile("/home/user/notes/today.txt");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, "hi there\n");
  EXPECT_EQ(s.ReadFile("notes/today.txt", 3).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.ReadFile("notes/missing.txt").status().code(), absl::StatusCode::kNotFound);

  Result r = s.Exec(Bash("cat notes/today.txt"));
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "hi there\n");

  // Another handle of the key, and the free function, reach the same session.
  const Session again = client_.OpenSession(key_);
  ASSERT_TRUE(again.WriteFile("notes/more.txt", "more").ok());
  r = SessionExec(key_, Bash("cat notes/more.txt"), SessionOptions(), client_.config());
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "more");
  absl::StatusOr<SessionInfo> info = s.Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->key().user(), "alice");
  EXPECT_EQ(info->execs(), 2);
}

TEST_F(PublicSessionTest, StopKeepsTheWorkspaceAndResetEmptiesIt) {
  const Session s = client_.OpenSession(key_);
  absl::StatusOr<bool> running = s.Running();
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_FALSE(*running);

  EXPECT_RESULT(s.Exec(Bash("echo kept > keep.txt")), OK);
  EXPECT_TRUE(*s.Running());
  absl::StatusOr<std::vector<SessionInfo>> listed = client_.ListSessions();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key().user(), "alice");

  ASSERT_TRUE(s.Stop().ok());
  EXPECT_FALSE(*s.Running());
  EXPECT_TRUE(client_.ListSessions()->empty());
  Result r = s.Exec(Bash("cat keep.txt"));  // boots a new sandbox on the workspace
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "kept\n");

  ASSERT_TRUE(s.Reset().ok());
  EXPECT_FALSE(*s.Running());
  r = s.Exec(Bash("ls -A"));
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "");
  EXPECT_TRUE(s.Stop().ok());
  EXPECT_TRUE(s.Stop().ok());  // nothing runs: still OK
}

TEST_F(PublicSessionTest, BadKeyIsReportedByTheCalls) {
  SessionKey bad;
  bad.set_user(std::string("a\0b", 3));  // no user id holds a NUL
  const Session s = client_.OpenSession(bad);
  EXPECT_RESULT(s.Exec(Bash("true")), INVALID_INPUT);
  EXPECT_EQ(s.Start(Bash("true")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.ReadFile("x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(client_.ListSessions()->empty());
}

// With audit on, every call of the API on a session leaves one record: its
// call, key, outcome and details; refused calls too.
TEST_F(PublicSessionTest, EveryCallIsAudited) {
  Config config = client_.config();
  config.set_audit(true);
  config.set_audit_code(true);
  const Client audited(config);
  key_.set_chat("c1");
  const Session s = audited.OpenSession(key_);
  EXPECT_RESULT(s.Exec(Bash("echo hi")), OK);
  absl::StatusOr<std::string> id = s.Start(Bash("cat"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(s.WriteInput(*id, "abc").ok());
  EXPECT_TRUE(s.Kill(*id, 9).ok());
  EXPECT_TRUE(s.WriteFile("notes/a.txt", "12345").ok());
  EXPECT_TRUE(s.ReadFile("notes/a.txt").ok());
  EXPECT_TRUE(s.ListDir("notes").ok());
  EXPECT_EQ(s.ReadFile("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(s.Reset().ok());

  absl::StatusOr<std::vector<AuditRecord>> records = audited.QueryAudit("alice");
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::string> calls;
  for (auto it = records->rbegin(); it != records->rend(); ++it) calls.push_back(it->call());
  EXPECT_EQ(calls, (std::vector<std::string>{"exec", "start", "input", "kill", "write_file",
                                             "read_file", "list_dir", "read_file", "reset"}));
  for (const AuditRecord& r : *records) {
    EXPECT_EQ(r.user(), "alice");
    EXPECT_EQ(r.chat(), "c1");
    EXPECT_FALSE(r.time().empty());
  }
  const std::vector<AuditRecord> in_order(records->rbegin(), records->rend());
  EXPECT_EQ(in_order[0].code(), "echo hi");
  EXPECT_EQ(in_order[0].stdout_bytes(), 3);
  EXPECT_EQ(in_order[1].code(), "cat");
  EXPECT_EQ(in_order[1].process(), *id);
  EXPECT_EQ(in_order[2].bytes(), 3);
  EXPECT_EQ(in_order[3].signal(), 9);
  EXPECT_EQ(in_order[4].path(), "notes/a.txt");
  EXPECT_EQ(in_order[4].bytes(), 5);
  EXPECT_EQ(in_order[5].bytes(), 5);
  EXPECT_EQ(in_order[7].status(), Result::SANDBOX_ERROR);
  EXPECT_TRUE(absl::StrContains(in_order[7].error(), "NOT_FOUND")) << in_order[7].error();

  // The admin may leave file reads out; writes stay.
  config.set_audit_skip_file_reads(true);
  const Client quieter(config);
  const Session q = quieter.OpenSession(key_);
  EXPECT_TRUE(q.WriteFile("b.txt", "x").ok());
  EXPECT_TRUE(q.ReadFile("b.txt").ok());
  EXPECT_TRUE(q.ListDir(".").ok());
  records = quieter.QueryAudit("alice", 1);
  ASSERT_TRUE(records.ok() && records->size() == 1u);
  EXPECT_EQ((*records)[0].call(), "write_file");
}

}  // namespace
}  // namespace libsandbox
