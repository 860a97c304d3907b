// The per-run audit log: JSON lines, queries, rotation, crash tolerance and
// code logging only when enabled. Real files in a test directory.
#include "libsandbox/run/audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTestDir("audit");
    options_.path = root_ + "/logs/audit.log";  // the directory does not exist yet
  }
  void TearDown() override { (void)RemoveTree(root_); }

  static AuditRecord Record(const std::string& user, const std::string& tag) {
    AuditRecord r;
    r.set_user(user);
    r.set_policy(tag);
    r.set_language("python");
    r.set_status(Result::OK);
    return r;
  }

  std::vector<std::string> Lines(const std::string& path) {
    absl::StatusOr<std::string> text = ReadFile(path, 64 << 20);
    if (!text.ok()) return {};
    return absl::StrSplit(*text, '\n', absl::SkipEmpty());
  }

  static std::vector<std::string> Tags(const std::vector<AuditRecord>& records) {
    std::vector<std::string> out;
    for (const AuditRecord& r : records) out.push_back(r.policy());
    return out;
  }

  std::string root_;
  AuditOptions options_;
};

TEST_F(AuditTest, AppendsOneJsonLinePerRunAndQueriesNewestFirst) {
  AuditLog log(options_);
  ASSERT_TRUE(log.Append(Record("alice", "a1")).ok());
  ASSERT_TRUE(log.Append(Record("bob", "b1")).ok());
  ASSERT_TRUE(log.Append(Record("alice", "a2")).ok());

  std::vector<std::string> lines = Lines(options_.path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("\"user\":\"alice\""));
  EXPECT_THAT(lines[0], HasSubstr("\"status\":\"OK\""));
  EXPECT_THAT(lines[0], HasSubstr("\"time\":\""));
  struct stat st;
  ASSERT_EQ(::stat(options_.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // user ids (and maybe code) are private

  absl::StatusOr<std::vector<AuditRecord>> alice = log.Query("alice", absl::InfinitePast(), 10);
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_THAT(Tags(*alice), ElementsAre("a2", "a1"));
  EXPECT_THAT(Tags(*log.Query("", absl::InfinitePast(), 10)), ElementsAre("a2", "b1", "a1"));
  EXPECT_THAT(Tags(*log.Query("", absl::InfinitePast(), 2)), ElementsAre("a2", "b1"));
  EXPECT_TRUE(log.Query("carol", absl::InfinitePast(), 10)->empty());
}

TEST_F(AuditTest, QuerySince) {
  AuditLog log(options_);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  for (int i = 0; i < 5; ++i) {
    AuditRecord r = Record("u", absl::StrCat("r", i));
    r.set_time(absl::FormatTime(absl::RFC3339_full, t0 + absl::Minutes(i), absl::UTCTimeZone()));
    ASSERT_TRUE(log.Append(r).ok());
  }
  EXPECT_THAT(Tags(*log.Query("u", t0 + absl::Minutes(3), 100)), ElementsAre("r4", "r3"));
  EXPECT_TRUE(log.Query("u", t0 + absl::Minutes(10), 100)->empty());
}

TEST_F(AuditTest, QueryOfAMissingLogIsEmpty) {
  AuditLog log(options_);
  absl::StatusOr<std::vector<AuditRecord>> r = log.Query("", absl::InfinitePast(), 10);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
}

TEST_F(AuditTest, RotatesBySizeAndQueriesAcrossTheRotation) {
  options_.rotate_bytes = 1000;
  AuditLog log(options_);
  constexpr int kRecords = 40;  // ~110 bytes each: several rotations
  for (int i = 0; i < kRecords; ++i) ASSERT_TRUE(log.Append(Record("u", absl::StrCat(i))).ok());

  struct stat st;
  ASSERT_EQ(::stat(options_.path.c_str(), &st), 0);
  EXPECT_LE(st.st_size, 1000);
  ASSERT_EQ(::stat((options_.path + ".1").c_str(), &st), 0);
  EXPECT_LE(st.st_size, 1000);
  EXPECT_NE(::access((options_.path + ".2").c_str(), F_OK), 0);  // one rotation kept

  std::vector<AuditRecord> all = *log.Query("u", absl::InfinitePast(), 1000);
  const size_t kept = Lines(options_.path).size() + Lines(options_.path + ".1").size();
  ASSERT_EQ(all.size(), kept);
  ASSERT_GT(all.size(), 8u);
  ASSERT_LT(all.size(), static_cast<size_t>(kRecords));
  // Newest first and contiguous across the two files.
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].policy(), absl::StrCat(kRecords - 1 - static_cast<int>(i)));
  }
}

TEST_F(AuditTest, ToleratesACutLastLineAndGarbage) {
  AuditLog log(options_);
  ASSERT_TRUE(log.Append(Record("u", "first")).ok());
  // A line nobody should have written, then a line cut by a crash.
  {
    std::string text = *ReadFile(options_.path);
    text += "not json at all\n";
    text += std::string(2 << 20, 'x') + "\n";  // over the line cap
    text += "{\"time\":\"2030-01-01T00:00:00Z\",\"user\":\"u\",\"pol";
    ASSERT_TRUE(WriteFile(options_.path, text, 0600, /*overwrite=*/true).ok());
  }
  absl::StatusOr<std::vector<AuditRecord>> r = log.Query("u", absl::InfinitePast(), 10);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Tags(*r), ElementsAre("first"));

  // The next record starts on a line of its own, so it is not lost.
  ASSERT_TRUE(log.Append(Record("u", "after")).ok());
  EXPECT_THAT(Tags(*log.Query("u", absl::InfinitePast(), 10)), ElementsAre("after", "first"));
}

TEST_F(AuditTest, NeverLogsCodeUnlessEnabled) {
  RunRequest req;
  req.set_user("alice");
  req.set_code("print('the secret sauce')");
  Result result;
  result.set_status(Result::ERROR);
  result.set_exit_code(1);
  result.set_stdout("12345");
  result.add_files()->set_size(7);

  // A record that carries code still loses it when the admin did not enable it.
  AuditLog off(options_);
  ASSERT_TRUE(off.Append(MakeAuditRecord(req, result, "small", /*with_code=*/true)).ok());
  std::string text = *ReadFile(options_.path);
  EXPECT_THAT(text, Not(HasSubstr("secret sauce")));
  EXPECT_THAT(text, Not(HasSubstr("\"code\"")));
  AuditRecord logged = off.Query("alice", absl::InfinitePast(), 1)->at(0);
  EXPECT_FALSE(logged.has_code());
  EXPECT_EQ(logged.policy(), "small");
  EXPECT_EQ(logged.status(), Result::ERROR);
  EXPECT_EQ(logged.exit_code(), 1);
  EXPECT_EQ(logged.stdout_bytes(), 5);
  EXPECT_EQ(logged.files(), 1);
  EXPECT_EQ(logged.file_bytes(), 7);

  EXPECT_FALSE(MakeAuditRecord(req, result, "", /*with_code=*/false).has_code());

  options_.log_code = true;
  AuditLog on(options_);
  ASSERT_TRUE(on.Append(MakeAuditRecord(req, result, "small", true)).ok());
  EXPECT_EQ(on.Query("alice", absl::InfinitePast(), 1)->at(0).code(), req.code());

  // Huge code is cut, and says so.
  req.set_code(std::string(kMaxAuditCodeBytes + 100, 'a'));
  ASSERT_TRUE(on.Append(MakeAuditRecord(req, result, "small", true)).ok());
  AuditRecord big = on.Query("alice", absl::InfinitePast(), 1)->at(0);
  EXPECT_EQ(big.code().size(), kMaxAuditCodeBytes);
  EXPECT_TRUE(big.code_truncated());
}

TEST_F(AuditTest, HostileStringsStayOnOneLine) {
  RunRequest req;
  req.set_user("mallory\n{\"user\":\"alice\"}");
  req.set_code("x");
  AuditLog log(options_);
  ASSERT_TRUE(log.Append(MakeAuditRecord(req, Result(), "", false)).ok());
  EXPECT_EQ(Lines(options_.path).size(), 1u);
  EXPECT_TRUE(log.Query("alice", absl::InfinitePast(), 10)->empty());
}

TEST_F(AuditTest, RefusesToWriteThroughASymlink) {
  const std::string target = root_ + "/elsewhere";
  ASSERT_TRUE(MakeDirs(root_ + "/logs").ok());
  ASSERT_EQ(::symlink(target.c_str(), options_.path.c_str()), 0);
  AuditLog log(options_);
  EXPECT_FALSE(log.Append(Record("u", "x")).ok());
  EXPECT_NE(::access(target.c_str(), F_OK), 0);
}

TEST_F(AuditTest, ConcurrentAppendsKeepWholeLines) {
  options_.rotate_bytes = int64_t{1} << 30;
  constexpr int kThreads = 4;
  constexpr int kEach = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      AuditLog log(options_);  // separate objects, same file
      for (int i = 0; i < kEach; ++i) {
        ASSERT_TRUE(log.Append(Record(absl::StrCat("user", t), absl::StrCat(i))).ok());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(Lines(options_.path).size(), static_cast<size_t>(kThreads * kEach));
  AuditLog log(options_);
  std::vector<AuditRecord> mine = *log.Query("user2", absl::InfinitePast(), 10000);
  ASSERT_EQ(mine.size(), static_cast<size_t>(kEach));
  EXPECT_EQ(mine.front().policy(), absl::StrCat(kEach - 1));
}

}  // namespace
}  // namespace libsandbox
