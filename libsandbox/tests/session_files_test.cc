// A session exec's input files (ExecRequest.files) and the files it keeps
// (ExecRequest.keep_files), against real runsc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/run/retention.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_request.h"
#include "libsandbox/tests/session_fixture.h"

namespace libsandbox {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SessionFilesTest : public testing::SessionFixture {
 protected:
  SessionFilesTest() : SessionFixture("session-files") {}

  static ExecRequest Request(const std::string& code, bool keep = false) {
    ExecRequest req;
    req.set_code(code);
    req.set_language("bash");
    req.set_keep_files(keep);
    return req;
  }
  static void AddFile(ExecRequest& req, const std::string& path, const std::string& content) {
    InputFile* f = req.add_files();
    f->set_path(path);
    f->set_content(content);
  }
  static std::vector<std::string> Paths(const Result& r) {
    std::vector<std::string> paths;
    for (const File& f : r.files()) paths.push_back(f.path());
    return paths;
  }
};

TEST_F(SessionFilesTest, InputFilesAreWrittenBeforeTheCodeRuns) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  ExecRequest req = Request("cat a.txt ./dir/sub/b.txt; stat -c %U a.txt");
  AddFile(req, "a.txt", "first\n");
  AddFile(req, "./dir/sub/b.txt", "second\n");
  Result r = s->Exec(req);
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "first\nsecond\nuser\n");
  EXPECT_EQ(r.files_size(), 0);  // nothing kept unless asked
  // An input replaces what the session left there.
  ExecRequest again = Request("cat a.txt");
  AddFile(again, "a.txt", "replaced\n");
  Result r2 = s->Exec(again);
  EXPECT_RESULT(r2, OK);
  EXPECT_EQ(r2.stdout(), "replaced\n");
}

TEST_F(SessionFilesTest, InputFilesNeverFollowPlantedSymlinks) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s,
                     "mkdir -p /tmp/out && ln -s /tmp/out/victim target && "
                     "ln -s /tmp/out linkdir"),
                OK);
  // The symlink in the file's place is replaced, not written through.
  ExecRequest req = Request("test -L target || cat target; ls /tmp/out");
  AddFile(req, "target", "mine\n");
  Result r = s->Exec(req);
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "mine\n");
  // A directory that is a symlink is never entered.
  ExecRequest through = Request("true");
  AddFile(through, "linkdir/f", "x");
  Result r2 = s->Exec(through);
  EXPECT_RESULT(r2, INVALID_INPUT);
  EXPECT_THAT(r2.message(), HasSubstr("linkdir/f"));
  EXPECT_EQ(Exec(*s, "ls /tmp/out").stdout(), "");
  // Nor is a file that is not a directory.
  ExecRequest under_file = Request("true");
  AddFile(under_file, "target/f", "x");
  EXPECT_RESULT(s->Exec(under_file), INVALID_INPUT);
  // Nothing on the host side of the workspace was followed either.
  struct stat st;
  ASSERT_EQ(::lstat((s->workspace() + "/target").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(SessionFilesTest, BadInputFilesAreRefusedLikeARunsAndBackgroundTakesNone) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  for (const char* path : {"../x", "/etc/x", "a/../../x", "dir/", ""}) {
    ExecRequest req = Request("true");
    AddFile(req, path, "x");
    Result r = s->Exec(req);
    EXPECT_RESULT(r, INVALID_INPUT) << path;
    EXPECT_THAT(r.message(), HasSubstr("file path")) << path;
  }
  ExecRequest many = Request("true");
  for (int i = 0; i <= kMaxExecInputFiles; ++i) AddFile(many, absl::StrCat("f", i), "");
  EXPECT_RESULT(s->Exec(many), INVALID_INPUT);
  ExecRequest exclude = Request("true", /*keep=*/true);
  exclude.add_keep_exclude("../state");
  EXPECT_RESULT(s->Exec(exclude), INVALID_INPUT);
  ExecRequest background = Request("sleep 1");
  AddFile(background, "a", "x");
  EXPECT_EQ(s->Start(background).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionFilesTest, KeepFilesKeepsWhatTheExecCreatedOrChanged) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "echo old > old.txt; echo same > same.txt; echo st > state"), OK);
  ExecRequest req = Request(
      "echo more >> old.txt; echo new > new.txt; mkdir -p d; echo y > d/y; echo st2 > state; "
      "ln -s /etc/passwd link; cat input.txt",
      /*keep=*/true);
  AddFile(req, "input.txt", "in\n");
  AddFile(req, "changed-input.txt", "in\n");
  req.set_code(req.code() + "; echo out > changed-input.txt");
  req.add_keep_exclude("state");
  Result r = s->Exec(req);
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "in\n");
  EXPECT_THAT(Paths(r), ElementsAre("changed-input.txt", "d/y", "new.txt", "old.txt"));
  for (const File& f : r.files()) {
    EXPECT_TRUE(absl::StartsWith(f.host_path(), config_.storage_dir() + "/")) << f.host_path();
    absl::StatusOr<std::string> kept = ReadFile(f.host_path());
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_EQ(static_cast<int64_t>(kept->size()), f.size());
    if (f.path() == "old.txt") {
      EXPECT_EQ(*kept, "old\nmore\n");
    }
  }
  // Nothing changed: nothing kept.
  Result none = s->Exec(Request("cat old.txt > /dev/null", /*keep=*/true));
  EXPECT_RESULT(none, OK);
  EXPECT_EQ(none.files_size(), 0);
  // The store lists them as one execution of the session's user.
  absl::StatusOr<std::vector<RetainedExecution>> kept =
      RetentionStore(config_.storage_dir()).List("alice");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->size(), 1u);
}

TEST_F(SessionFilesTest, KeptFilesOverQuotaAreAStorageErrorLikeARuns) {
  config_.mutable_quota()->set_max_files_per_execution(1);
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  Result r = s->Exec(Request("echo a > a; echo b > b", /*keep=*/true));
  EXPECT_RESULT(r, STORAGE_ERROR);
  EXPECT_THAT(r.message(), HasSubstr("max_files_per_execution"));
  EXPECT_EQ(r.files_size(), 0);
  // A failing exec keeps its status; the reason joins its message.
  Result failed = s->Exec(Request("echo c > c; echo d > d; exit 3", /*keep=*/true));
  EXPECT_RESULT(failed, ERROR);
  EXPECT_THAT(failed.message(), HasSubstr("Files were not kept"));
  // Within the quota it is kept.
  Result one = s->Exec(Request("echo e > e", /*keep=*/true));
  EXPECT_RESULT(one, OK);
  EXPECT_THAT(Paths(one), ElementsAre("e"));
}

TEST_F(SessionFilesTest, AnExecMayKeepItsFilesElsewhereUnderItsOwnQuota) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  ExecRequest req = Request("echo k > k; echo l > l", /*keep=*/true);
  req.set_keep_storage_dir(root_ + "/served");
  req.mutable_keep_quota()->set_max_files_per_execution(1);
  EXPECT_RESULT(s->Exec(req), STORAGE_ERROR);
  req.mutable_keep_quota()->set_max_files_per_execution(2);
  Result r = s->Exec(req);
  EXPECT_RESULT(r, OK);
  ASSERT_EQ(r.files_size(), 2);
  EXPECT_TRUE(absl::StartsWith(r.files(0).host_path(), root_ + "/served/"));
  req.set_keep_storage_dir("relative");
  EXPECT_RESULT(s->Exec(req), INVALID_INPUT);
}

}  // namespace
}  // namespace libsandbox
