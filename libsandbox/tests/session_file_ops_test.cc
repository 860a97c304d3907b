// The file calls a terminal server's file browser and model tools use,
// against real runsc: stat, mkdir, remove, rename, ranged and streamed reads
// and writes of a large file, find, archive; and hostile paths the code
// plants (symlinks out, fifos, devices, "..") contained.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/session_fixture.h"

namespace libsandbox {
namespace {

using ::testing::ElementsAre;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
using ::testing::HasSubstr;

class SessionFileOpsTest : public testing::SessionFixture {
 protected:
  SessionFileOpsTest() : SessionFixture("session-file-ops") {}

  static std::vector<std::string> Names(const DirListing& listing) {
    std::vector<std::string> names;
    for (const DirEntry& e : listing.entries()) names.push_back(e.name());
    return names;
  }

  static int64_t MaxRssKiB() {
    struct rusage u = {};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
  }
};

TEST_F(SessionFileOpsTest, StatMkdirRenameRemove) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->WriteFile("a/b.txt", "hi").ok());
  absl::StatusOr<FileStat> st = s->Stat("a/b.txt");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->path(), "/home/user/a/b.txt");
  EXPECT_EQ(st->type(), "file");
  EXPECT_EQ(st->size(), 2);
  EXPECT_EQ(st->mode(), 0644u);
  EXPECT_TRUE(st->writable());
  EXPECT_GT(st->mtime(), 1.5e9);
  absl::StatusOr<DirListing> listing = s->ListDir("a");
  ASSERT_TRUE(listing.ok()) << listing.status();
  ASSERT_EQ(listing->entries_size(), 1);
  EXPECT_EQ(listing->entries(0).mtime(), st->mtime());
  EXPECT_TRUE(listing->entries(0).writable());
  EXPECT_FALSE(s->Stat("/etc/passwd")->writable());

  ASSERT_TRUE(s->MakeDir("x/y/z", /*parents=*/true).ok());
  EXPECT_TRUE(s->MakeDir("x/y", /*parents=*/true).ok());
  EXPECT_EQ(s->MakeDir("x", /*parents=*/false).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s->MakeDir("a/b.txt", /*parents=*/true).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s->Stat("x/y/z")->type(), "directory");

  ASSERT_TRUE(s->Rename("a/b.txt", "x/c.txt").ok());
  EXPECT_EQ(s->Stat("a/b.txt").status().code(), absl::StatusCode::kNotFound);
  // Never onto something that exists.
  ASSERT_TRUE(s->WriteFile("keep.txt", "mine").ok());
  EXPECT_EQ(s->Rename("x/c.txt", "keep.txt").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s->Rename("x/c.txt", "x/y").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s->ReadFile("keep.txt").value_or(""), "mine");
  EXPECT_EQ(s->ReadFile("x/c.txt").value_or(""), "hi");

  EXPECT_EQ(s->Remove("x", /*recursive=*/false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s->Remove("x", /*recursive=*/true).ok());
  EXPECT_EQ(s->Stat("x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->Remove("missing", false).code(), absl::StatusCode::kNotFound);
  // Never the workspace itself, however it is named.
  EXPECT_EQ(s->Remove(".", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Remove("/home/user/a/..", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ReadFile("keep.txt").value_or(""), "mine");
}

TEST_F(SessionFileOpsTest, HostilePathsTheCodePlantsAreContained) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s,
                     "mkdir -p /tmp/outside && echo precious > /tmp/outside/f && "
                     "mkdir d && ln -s /tmp/outside d/out && ln -s /etc/passwd pw && "
                     "mkfifo fifo && ln -s /dev/zero zero"),
                OK);
  // A symlink is described, not followed; removing it leaves its target.
  absl::StatusOr<FileStat> pw = s->Stat("pw");
  ASSERT_TRUE(pw.ok()) << pw.status();
  EXPECT_EQ(pw->type(), "symlink");
  EXPECT_EQ(pw->target(), "/etc/passwd");
  ASSERT_TRUE(s->Remove("pw", false).ok());
  EXPECT_TRUE(s->Stat("/etc/passwd").ok());
  // A recursive remove does not walk into a symlinked directory.
  ASSERT_TRUE(s->Remove("d", true).ok());
  EXPECT_EQ(s->ReadFile("/tmp/outside/f").value_or(""), "precious\n");
  // FIFOs and devices are no regular files: refused at once, never hung on.
  EXPECT_EQ(s->ReadFile("fifo").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ReadRange("fifo", 0, 10).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->WriteAt("fifo", "x", 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ReadFile("zero").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->ReadFile("/dev/zero").status().code(), absl::StatusCode::kInvalidArgument);
  // The sandbox's own view decides: its /etc is read-only, ".." stays in it.
  EXPECT_EQ(s->WriteFile("../../etc/evil", "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s->MakeDir("/etc/evil", true).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s->Remove("/etc/passwd", false).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(s->Rename("fifo", "/etc/fifo").ok());
  EXPECT_EQ(s->Stat("fifo")->type(), "other");
  // The host's storage is not in the sandbox at all.
  EXPECT_EQ(s->Stat(root_ + "/storage").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->Stat(std::string("a\0b", 3)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionFileOpsTest, ALargeFileStreamsInAndOutInChunks) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  constexpr int64_t kChunk = 8 << 20;
  constexpr int kChunks = 26;  // 208 MiB
  const int64_t rss_before = MaxRssKiB();
  for (int i = 0; i < kChunks; ++i) {
    // Each chunk differs, so a misplaced one shows.
    const std::string chunk(kChunk, static_cast<char>('a' + i));
    ASSERT_TRUE(s->WriteAt("big.bin", chunk, i * kChunk).ok()) << i;
  }
  absl::StatusOr<FileStat> st = s->Stat("big.bin");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size(), kChunks * kChunk);
  int64_t offset = 0;
  int chunks = 0;
  while (true) {
    absl::StatusOr<FileChunk> c = s->ReadRange("big.bin", offset, kChunk);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(c->offset(), offset);
    EXPECT_EQ(c->size(), kChunks * kChunk);
    if (!c->data().empty()) {
      EXPECT_EQ(c->data().front(), static_cast<char>('a' + chunks));
      EXPECT_EQ(c->data().back(), static_cast<char>('a' + chunks));
      ++chunks;
    }
    offset += static_cast<int64_t>(c->data().size());
    if (c->eof()) break;
  }
  EXPECT_EQ(chunks, kChunks);
  EXPECT_EQ(offset, kChunks * kChunk);
  // The host held a few chunks at a time, never the file (AddressSanitizer
  // keeps freed memory in quarantine, so only a build without it can tell).
  if (!kAddressSanitizer) {
    EXPECT_LT(MaxRssKiB() - rss_before, 6 * (kChunk >> 10)) << "KiB";
  }
  // Appends go to the end; a range past it is empty and at eof.
  ASSERT_TRUE(s->WriteFile("log.txt", "one\n").ok());
  ASSERT_TRUE(s->WriteAt("log.txt", "two\n", -1).ok());
  EXPECT_EQ(s->ReadFile("log.txt").value_or(""), "one\ntwo\n");
  absl::StatusOr<FileChunk> past = s->ReadRange("log.txt", 100, 10);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->data().empty());
  EXPECT_TRUE(past->eof());
  EXPECT_EQ(s->ReadRange("log.txt", 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionFileOpsTest, FindByNameAndContent) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s,
                     "mkdir -p src/pkg /tmp/elsewhere && "
                     "printf 'import os\\nneedle = 1\\n' > src/a.py && "
                     "printf 'x\\n# needle too\\n' > src/pkg/b.py && "
                     "echo needle > notes.txt && printf 'needle\\0bin' > blob.py && "
                     "echo needle > /tmp/elsewhere/c.py && ln -s /tmp/elsewhere src/link"),
                OK);
  FindRequest by_name;
  by_name.set_path("src");
  by_name.set_glob("*.py");
  absl::StatusOr<FindResult> names = s->Find(by_name);
  ASSERT_TRUE(names.ok()) << names.status();
  std::vector<std::string> paths;
  for (const FindMatch& m : names->matches()) paths.push_back(m.path());
  // The symlinked directory is not walked into.
  EXPECT_THAT(paths, ElementsAre("/home/user/src/a.py", "/home/user/src/pkg/b.py"));

  FindRequest grep;
  grep.set_glob("*.py");
  grep.set_grep("needle");
  absl::StatusOr<FindResult> lines = s->Find(grep);
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->matches_size(), 2);  // blob.py is binary
  EXPECT_EQ(lines->matches(0).path(), "/home/user/src/a.py");
  EXPECT_EQ(lines->matches(0).line(), 2);
  EXPECT_EQ(lines->matches(0).text(), "needle = 1");
  EXPECT_EQ(lines->matches(1).text(), "# needle too");

  grep.set_grep("^needle\\s*=");
  grep.set_regex(true);
  EXPECT_EQ(s->Find(grep)->matches_size(), 1);
  FindRequest capped;
  capped.set_max_results(1);
  absl::StatusOr<FindResult> one = s->Find(capped);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->matches_size(), 1);
  EXPECT_TRUE(one->truncated());
  capped.set_path("notes.txt");
  EXPECT_EQ(s->Find(capped).status().code(), absl::StatusCode::kInvalidArgument);
  capped.set_max_results(100000);
  EXPECT_EQ(s->Find(capped).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionFileOpsTest, ArchiveZipsPathsWithinItsCap) {
  auto s = Get("alice");
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s,
                     "mkdir -p proj/sub && echo a > proj/a.txt && echo b > proj/sub/b.txt && "
                     "ln -s /etc/passwd proj/pw && echo top > top.txt && "
                     "head -c 300000 /dev/urandom > noise.bin"),
                OK);
  absl::StatusOr<std::string> zip = s->Archive({"proj", "top.txt"}, 1 << 20);
  ASSERT_TRUE(zip.ok()) << zip.status();
  EXPECT_TRUE(absl::StartsWith(*zip, "PK\x03\x04"));
  ASSERT_TRUE(s->WriteFile("/tmp/out.zip", *zip).ok());
  Result r = Exec(*s, "import zipfile; print(sorted(zipfile.ZipFile('/tmp/out.zip').namelist()))",
                  "python");
  EXPECT_EQ(r.stdout(), "['proj/a.txt', 'proj/sub/b.txt', 'top.txt']\n") << r.stderr();
  absl::StatusOr<std::string> big = s->Archive({"noise.bin"}, 100000);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kOutOfRange) << big.status();
  EXPECT_EQ(s->Archive({}, 1000).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Archive({"missing"}, 1000).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace libsandbox
