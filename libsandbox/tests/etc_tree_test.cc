// The shared /etc tree: what a sandbox on the host's system directories sees
// at /etc, copied from a stand-in host root so the tests can change it.
#include "libsandbox/run/etc_tree.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Link(const std::string& path) { return ReadLink(path).value_or(""); }

// Moves `path`'s mtime `seconds` into the past.
void Age(const std::string& path, int seconds) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  struct timeval times[2] = {{st.st_atim.tv_sec - seconds, 0}, {st.st_mtim.tv_sec - seconds, 0}};
  ASSERT_EQ(::utimes(path.c_str(), times), 0);
}

class EtcTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir(testing::MakeTestDir("etc-tree"));
    host_ = dir_.path() + "/host";
    state_ = dir_.path() + "/state";
    ASSERT_TRUE(MakeDirs(host_ + "/etc/ssl/certs").ok());
    ASSERT_TRUE(MakeDirs(host_ + "/etc/fonts/conf.d").ok());
    ASSERT_TRUE(WriteFile(host_ + "/etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\n").ok());
    ASSERT_EQ(::symlink("ca.pem", (host_ + "/etc/ssl/certs/5ed36f99.0").c_str()), 0);
    ASSERT_EQ(::symlink("/usr/share/fontconfig/conf.avail/10-hinting.conf",
                        (host_ + "/etc/fonts/conf.d/10-hinting.conf").c_str()),
              0);
    // A top-level entry that is a symlink is followed, as a bind would be.
    ASSERT_TRUE(WriteFile(host_ + "/mime.types.real", "text/plain txt\n").ok());
    ASSERT_EQ(::symlink("../mime.types.real", (host_ + "/etc/mime.types").c_str()), 0);
    // Not a shared entry: never copied.
    ASSERT_TRUE(WriteFile(host_ + "/etc/shadow", "root:s3cr3t:1::::::\n", 0600).ok());
    ASSERT_TRUE(MakeDirs(host_ + "/etc/ssh").ok());
    options_.host_root = host_;
  }

  TempDir dir_;
  std::string host_;
  std::string state_;
  SharedEtc::Options options_;
};

TEST_F(EtcTreeTest, ATreeHoldsTheGeneratedFilesAndCopiesOfTheSharedHostEntriesOnly) {
  SharedEtc etc(state_, options_);
  absl::StatusOr<std::string> tree = etc.Current();
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_THAT(*tree, StartsWith(state_ + "/etc/"));
  struct stat st;
  ASSERT_EQ(::stat(tree->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "the sandbox's user reads it";

  EXPECT_THAT(ReadFile(*tree + "/passwd").value_or(""), HasSubstr("user:x:1000:1000:"));
  EXPECT_THAT(ReadFile(*tree + "/group").value_or(""), HasSubstr("user:x:1000:"));
  EXPECT_EQ(ReadFile(*tree + "/hostname").value_or(""), "sandbox\n");
  EXPECT_EQ(ReadFile(*tree + "/resolv.conf").value_or("missing"), "");
  EXPECT_EQ(Link(*tree + "/localtime"), "/usr/share/zoneinfo/Etc/UTC");

  EXPECT_EQ(ReadFile(*tree + "/ssl/certs/ca.pem").value_or(""), "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(Link(*tree + "/ssl/certs/5ed36f99.0"), "ca.pem") << "symlinks stay symlinks";
  EXPECT_EQ(Link(*tree + "/fonts/conf.d/10-hinting.conf"),
            "/usr/share/fontconfig/conf.avail/10-hinting.conf");
  EXPECT_EQ(ReadFile(*tree + "/mime.types").value_or(""), "text/plain txt\n");
  EXPECT_EQ(Link(*tree + "/mime.types"), "") << "the entry's content, not a symlink out of /etc";
  for (const char* absent : {"/shadow", "/ssh", "/ld.so.cache", "/matplotlibrc"}) {
    EXPECT_FALSE(Exists(*tree + absent)) << absent;
  }
}

TEST_F(EtcTreeTest, ProcessesSharingAStateDirShareOneTree) {
  SharedEtc first(state_, options_);
  absl::StatusOr<std::string> a = first.Current();
  ASSERT_TRUE(a.ok()) << a.status();
  struct stat before;
  ASSERT_EQ(::stat(a->c_str(), &before), 0);

  SharedEtc second(state_, options_);  // as another process would
  absl::StatusOr<std::string> b = second.Current();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*a, *b);
  struct stat after;
  ASSERT_EQ(::stat(b->c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino) << "the tree was made again";
}

TEST_F(EtcTreeTest, AHostChangeIsSeenAtTheNextLookAndOldTreesGoInTime) {
  options_.look_every = absl::ZeroDuration();
  options_.keep_old = absl::Hours(1);
  SharedEtc etc(state_, options_);
  absl::StatusOr<std::string> old_tree = etc.Current();
  ASSERT_TRUE(old_tree.ok()) << old_tree.status();

  // New certificates: a new tree; the one before stays for sandboxes that
  // show it.
  ASSERT_TRUE(WriteFile(host_ + "/etc/ssl/certs/new.pem", "new\n").ok());
  absl::StatusOr<std::string> new_tree = etc.Current();
  ASSERT_TRUE(new_tree.ok()) << new_tree.status();
  EXPECT_NE(*new_tree, *old_tree);
  EXPECT_EQ(ReadFile(*new_tree + "/ssl/certs/new.pem").value_or(""), "new\n");
  EXPECT_TRUE(Exists(*old_tree));

  // A file changed in place (same size) counts too; and a tree older than
  // keep_old goes when a new one is made.
  Age(*old_tree, 2 * 3600);
  Age(host_ + "/mime.types.real", 60);
  absl::StatusOr<std::string> third = etc.Current();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_NE(*third, *new_tree);
  EXPECT_FALSE(Exists(*old_tree)) << "older than keep_old";
  EXPECT_TRUE(Exists(*new_tree)) << "younger than keep_old";
}

TEST_F(EtcTreeTest, MoreThanAnEtcHoldsIsRefusedUntilTheNextLook) {
  options_.max_bytes = 16;
  options_.look_every = absl::Hours(1);
  SharedEtc etc(state_, options_);
  absl::StatusOr<std::string> tree = etc.Current();
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kResourceExhausted) << tree.status();
  std::error_code ec;
  EXPECT_TRUE(!Exists(state_ + "/etc") || std::filesystem::is_empty(state_ + "/etc", ec))
      << "no tree, not even half of one";

  // Not walked again at every run: the answer stands until the next look.
  ASSERT_TRUE(WriteFile(host_ + "/etc/ssl/certs/ca.pem", "", 0644, /*overwrite=*/true).ok());
  EXPECT_EQ(etc.Current().status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace libsandbox
