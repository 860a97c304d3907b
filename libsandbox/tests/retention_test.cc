#include "libsandbox/run/retention.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

// Writes `content` to `path`, creating parent directories.
void PutFile(const std::string& path, const std::string& content = "") {
  ASSERT_TRUE(MakeDirs(fs::path(path).parent_path().string()).ok());
  ASSERT_TRUE(WriteFile(path, content, 0644, /*overwrite=*/true).ok()) << path;
}

std::set<std::string> Paths(const std::vector<RetainedFile>& files) {
  std::set<std::string> out;
  for (const RetainedFile& f : files) out.insert(f.path);
  return out;
}

std::vector<std::string> Ids(const std::vector<RetainedExecution>& executions) {
  std::vector<std::string> out;
  for (const RetainedExecution& e : executions) out.push_back(e.id);
  return out;
}

std::set<std::string> DirEntries(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

unsigned Mode(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

class RetentionTest : public ::testing::Test {
 protected:
  // A fresh workspace holding `files` (path -> content).
  std::string Workspace(const std::vector<std::pair<std::string, std::string>>& files = {}) {
    std::string dir = absl::StrCat(root_.path(), "/ws", ++workspaces_);
    EXPECT_TRUE(MakeDirs(dir).ok());
    for (const auto& [path, content] : files) PutFile(absl::StrCat(dir, "/", path), content);
    return dir;
  }
  // Workspaces are tmpfs in production, which allows huge sparse files and
  // makes 100k entries fast; falls back to the test dir without /dev/shm.
  absl::StatusOr<TempDir> TmpfsWorkspace() {
    return TempDir::Create(fs::is_directory("/dev/shm") ? "/dev/shm" : root_.path(),
                           "libsandbox-retention-test-");
  }
  std::string NumberedFiles(int n) {
    std::vector<std::pair<std::string, std::string>> files;
    for (int i = 1; i <= n; ++i) files.push_back({absl::StrCat("file", i, ".txt"), ""});
    return Workspace(files);
  }
  int64_t StoredFiles(std::string_view user) {
    absl::StatusOr<UserUsage> u = store_.Usage(user);
    EXPECT_TRUE(u.ok()) << u.status();
    return u.ok() ? u->files : -1;
  }
  std::vector<std::string> StoredIds(std::string_view user) {
    auto l = store_.List(user);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? Ids(*l) : std::vector<std::string>{};
  }

  TempDir root_{::libsandbox::testing::MakeTestDir("retention")};
  std::string storage_ = root_.path() + "/storage";
  RetentionStore store_{storage_};
  int workspaces_ = 0;
};

// The function self-test cases 5-11 of the plugin we replace, in order.
TEST_F(RetentionTest, SeedScenario) {
  const StorageQuota none;
  auto r = store_.Collect(Workspace({{"today.txt", "Hello world!"}}), "alice", none);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(Paths(*r), std::set<std::string>{"today.txt"});
  EXPECT_EQ((*r)[0].size, 12);
  EXPECT_EQ(*ReadFile((*r)[0].host_path), "Hello world!");
  EXPECT_EQ(StoredFiles("alice"), 1);

  const std::vector<std::string> nine = {"foo/bar/dmesg.txt", "empty.txt",   "markdown.md",
                                         "no_inline.txt",     "picture.png", "song.flac",
                                         "movie.mkv",         "random_data", "random_data.bin"};
  std::vector<std::pair<std::string, std::string>> files;
  for (const std::string& f : nine) files.push_back({f, f == "empty.txt" ? "" : "x\n"});
  r = store_.Collect(Workspace(files), "alice", none);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Paths(*r), UnorderedElementsAreArray(nine));
  EXPECT_EQ(StoredFiles("alice"), 10);

  r = store_.Collect(Workspace({{"ok_lines.md", std::string(127, '\n')},
                                {"ok_lines.txt", std::string(127, '\n')},
                                {"too_many_lines.md", std::string(129, '\n')},
                                {"too_many_lines.txt", std::string(129, '\n')},
                                {"ok_bytes.txt", std::string(65534, 'a')},
                                {"too_many_bytes.txt", std::string(65536, 'a')}}),
                     "alice", none);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 6u);
  EXPECT_EQ(StoredFiles("alice"), 16);
  const std::vector<std::string> before = StoredIds("alice");
  ASSERT_EQ(before.size(), 3u);
  const std::string user_dir = storage_ + "/u_alice";
  const std::set<std::string> entries_before = DirEntries(user_dir);

  // 8: a 64 MiB file against a 32 MiB per-user quota.
  std::string big = Workspace();
  {
    UniqueFd fd(::open((big + "/random_data.bin").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::ftruncate(fd.get(), 64 << 20), 0);
  }
  StorageQuota q;
  q.set_max_bytes_per_user(32 << 20);
  r = store_.Collect(big, "alice", q);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("max_bytes_per_user"));
  EXPECT_EQ(StoredFiles("alice"), 16);

  // 9: 128 files against a per-execution limit of 64.
  const std::string many = NumberedFiles(128);
  q.Clear();
  q.set_max_files_per_execution(64);
  r = store_.Collect(many, "alice", q);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("128 files exceed the per-execution limit of 64"));
  EXPECT_THAT(r.status().message(), HasSubstr("max_files_per_execution"));
  EXPECT_EQ(StoredFiles("alice"), 16);

  // 10: 128 files against a per-user limit of 64: cannot fit at all.
  q.set_max_files_per_execution(256);
  q.set_max_files_per_user(64);
  r = store_.Collect(many, "alice", q);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("max_files_per_user"));
  EXPECT_EQ(StoredFiles("alice"), 16);
  // Nothing kept, nothing evicted, no staging left behind.
  EXPECT_EQ(StoredIds("alice"), before);
  EXPECT_EQ(DirEntries(user_dir), entries_before);

  // 11: per-user 136: the two oldest executions (1 + 9 files) go, whole.
  q.set_max_files_per_user(136);
  r = store_.Collect(many, "alice", q);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 128u);
  EXPECT_EQ(StoredFiles("alice"), 134);
  const std::vector<std::string> after = StoredIds("alice");
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0], before[2]);
  EXPECT_GT(after[1], before[2]);  // ids sort by age
  EXPECT_FALSE(fs::exists(user_dir + "/" + before[0]));
  EXPECT_FALSE(fs::exists(user_dir + "/" + before[1]));
  EXPECT_EQ(DirEntries(user_dir), (std::set<std::string>{".lock", after[0], after[1]}));
  for (const RetainedFile& f : *r) {
    EXPECT_EQ(f.host_path, absl::StrCat(user_dir, "/", after[1], "/", f.path));
    EXPECT_TRUE(fs::is_regular_file(f.host_path));
  }
}

TEST_F(RetentionTest, SymlinkToHostFileIsNotExported) {
  const std::string secret = root_.path() + "/host-secret.txt";
  PutFile(secret, "TOP SECRET");
  ASSERT_EQ(::chmod(secret.c_str(), 0640), 0);
  std::string ws = Workspace({{"real.txt", "mine"}});
  ASSERT_EQ(::symlink(secret.c_str(), (ws + "/abs_link.txt").c_str()), 0);
  ASSERT_EQ(::symlink("../host-secret.txt", (ws + "/rel_link.txt").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (ws + "/passwd").c_str()), 0);
  ASSERT_EQ(::symlink("/nonexistent", (ws + "/dangling").c_str()), 0);

  auto r = store_.Collect(ws, "u", StorageQuota());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Paths(*r), std::set<std::string>{"real.txt"});
  EXPECT_EQ(*ReadFile(secret), "TOP SECRET");
  EXPECT_EQ(Mode(secret), 0640u);
  // Storage holds no link and no copy of the secret.
  for (const auto& e : fs::recursive_directory_iterator(storage_)) {
    EXPECT_FALSE(e.is_symlink()) << e.path();
    if (e.is_regular_file()) {
      EXPECT_NE(*ReadFile(e.path().string()), "TOP SECRET") << e.path();
    }
  }
}

TEST_F(RetentionTest, SymlinkedDirectoryIsNotFollowed) {
  const std::string host_dir = root_.path() + "/host-dir";
  PutFile(host_dir + "/inner.txt", "host data");
  std::string ws = Workspace({{"sub/keep.txt", "kept"}});
  ASSERT_EQ(::symlink(host_dir.c_str(), (ws + "/dirlink").c_str()), 0);
  ASSERT_EQ(::symlink("..", (ws + "/sub/loop").c_str()), 0);
  ASSERT_EQ(::symlink("/", (ws + "/rootlink").c_str()), 0);

  auto r = store_.Collect(ws, "u", StorageQuota());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Paths(*r), std::set<std::string>{"sub/keep.txt"});
  EXPECT_EQ(DirEntries(host_dir), std::set<std::string>{"inner.txt"});
}

TEST_F(RetentionTest, SpecialFilesAreSkippedWithoutBlocking) {
  std::string ws = Workspace({{"regular.txt", "r"}});
  ASSERT_EQ(::mkfifo((ws + "/pipe").c_str(), 0666), 0);
  ASSERT_EQ(::mknod((ws + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = ws + "/sock";
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  auto r = store_.Collect(ws, "u", StorageQuota());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Paths(*r), std::set<std::string>{"regular.txt"});
}

TEST_F(RetentionTest, NestedFilesKeepRelativePathsContentAndModes) {
  std::string ws = Workspace({{"a/b/c/deep.txt", "deep"}, {"top.txt", "top"}});
  ASSERT_TRUE(MakeDirs(ws + "/empty_dir").ok());
  auto r = store_.Collect(ws, "nested", StorageQuota());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].path, "a/b/c/deep.txt");  // sorted by path
  EXPECT_EQ((*r)[1].path, "top.txt");
  const std::string user_dir = storage_ + "/u_nested";
  const std::vector<std::string> ids = StoredIds("nested");
  ASSERT_EQ(ids.size(), 1u);
  const std::string exec = user_dir + "/" + ids[0];
  EXPECT_EQ((*r)[0].host_path, exec + "/a/b/c/deep.txt");
  EXPECT_EQ(*ReadFile((*r)[0].host_path), "deep");
  EXPECT_EQ((*r)[0].size, 4);
  EXPECT_EQ(Mode((*r)[0].host_path), 0600u);
  for (const std::string& d : {user_dir, exec, exec + "/a", exec + "/a/b", exec + "/a/b/c"}) {
    EXPECT_EQ(Mode(d), 0700u) << d;
  }
  EXPECT_FALSE(fs::exists(exec + "/empty_dir"));
}

TEST_F(RetentionTest, SparseFileIsCopiedExactlyAndStaysSparse) {
  std::string ws = Workspace();
  const int64_t size = (64 << 20) + 1;
  {
    UniqueFd fd(::open((ws + "/sparse.bin").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "X", 1, 1 << 20), 1);
    ASSERT_EQ(::ftruncate(fd.get(), size), 0);
  }
  auto r = store_.Collect(ws, "u", StorageQuota());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  struct stat st;
  ASSERT_EQ(::stat((*r)[0].host_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, size);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);
  auto data = ReadFile((*r)[0].host_path, 2 << 20);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->find_first_not_of('\0'), size_t{1} << 20);
  EXPECT_EQ((*data)[1 << 20], 'X');
}

TEST_F(RetentionTest, HugeSparseFilesCannotWrapTheByteQuota) {
  absl::StatusOr<TempDir> ws = TmpfsWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  // Four files of 2^62 bytes: their sum wraps a 64-bit counter to 0.
  for (int i = 0; i < 4; ++i) {
    UniqueFd fd(::open(absl::StrCat(ws->path(), "/huge", i).c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(fd.valid());
    if (::ftruncate(fd.get(), int64_t{1} << 62) != 0) GTEST_SKIP() << "no huge sparse files here";
  }
  StorageQuota q;
  q.set_max_bytes_per_user(int64_t{1} << 30);
  auto r = store_.Collect(ws->path(), "u", q);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("max_bytes_per_user"));
  EXPECT_EQ(StoredFiles("u"), 0);
}

TEST_F(RetentionTest, SkipPredicateSeesRelativePathsAndRegularFiles) {
  std::string ws = Workspace({{"input.txt", "in"}, {"dir/input2.txt", "in"}, {"out.txt", "o"}});
  std::vector<std::string> seen;
  auto r =
      store_.Collect(ws, "u", StorageQuota(), [&](const std::string& rel, const struct stat& st) {
        EXPECT_TRUE(S_ISREG(st.st_mode));
        seen.push_back(rel);
        return rel == "input.txt" || rel == "dir/input2.txt";
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Paths(*r), std::set<std::string>{"out.txt"});
  EXPECT_THAT(seen, UnorderedElementsAreArray({"input.txt", "dir/input2.txt", "out.txt"}));
}

TEST_F(RetentionTest, NoNewFilesStoresAndEvictsNothing) {
  ASSERT_TRUE(store_.Collect(Workspace({{"a.txt", "a"}}), "u", StorageQuota()).ok());
  const std::vector<std::string> ids = StoredIds("u");
  StorageQuota q;
  q.set_max_files_per_user(1);
  auto r = store_.Collect(Workspace(), "u", q);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(StoredIds("u"), ids);
  // A user who never kept anything has no directory and zero usage.
  r = store_.Collect(Workspace(), "nobody", q);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(fs::exists(storage_ + "/u_nobody"));
  EXPECT_EQ(StoredFiles("nobody"), 0);
}

TEST_F(RetentionTest, DepthIsBounded) {
  auto nested = [&](int depth) {
    std::string ws = Workspace();
    std::string dir = ws;
    for (int i = 0; i < depth; ++i) dir += "/d";
    PutFile(dir + "/f.txt", "f");
    return ws;
  };
  auto r = store_.Collect(nested(kRetentionMaxDepth), "u", StorageQuota());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 1u);
  r = store_.Collect(nested(kRetentionMaxDepth + 1), "u", StorageQuota());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("levels deep"));
  EXPECT_EQ(StoredFiles("u"), 1);
}

TEST_F(RetentionTest, EntryCountIsBounded) {
  absl::StatusOr<TempDir> ws = TmpfsWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  for (int64_t i = 0; i <= kRetentionMaxEntries; ++i) {
    // Fifos are cheap to make and, though never kept, still count.
    ASSERT_EQ(::mkfifo(absl::StrCat(ws->path(), "/", i).c_str(), 0644), 0);
  }
  PutFile(ws->path() + "/keep.txt", "k");
  auto r = store_.Collect(ws->path(), "u", StorageQuota());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("entries"));
  EXPECT_EQ(StoredFiles("u"), 0);
}

TEST_F(RetentionTest, UserKeysAreSafeAndInjective) {
  EXPECT_EQ(*UserKey("alice"), "u_alice");
  EXPECT_EQ(*UserKey(""), "anonymous");
  EXPECT_EQ(UserKey(std::string(129, 'a')).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UserKey(std::string("a\0b", 3)).status().code(), absl::StatusCode::kInvalidArgument);

  const std::vector<std::string> ids = {"",
                                        "a",
                                        "A",
                                        "u_a",
                                        "x_a",
                                        "anonymous",
                                        "-",
                                        "_",
                                        ".",
                                        "..",
                                        "../x",
                                        "a/b",
                                        "a b",
                                        "a\xff",
                                        "\xff",
                                        std::string(64, 'a'),
                                        std::string(65, 'a'),
                                        std::string(128, '\xff'),
                                        std::string(128, '/'),
                                        "x_61"};
  std::set<std::string> keys;
  for (const std::string& id : ids) {
    absl::StatusOr<std::string> key = UserKey(id);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_LE(key->size(), 255u);
    EXPECT_NE(*key, ".");
    EXPECT_NE(*key, "..");
    for (char c : *key)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') << *key;
    keys.insert(*key);
  }
  EXPECT_EQ(keys.size(), ids.size());
}

TEST_F(RetentionTest, HostileUserIdsStayInsideTheStorageDir) {
  const std::set<std::string> root_before = DirEntries(root_.path());
  for (const std::string& id : {std::string("../x"), std::string("a/b"), std::string("/etc"),
                                std::string(""), std::string(128, '.')}) {
    auto r = store_.Collect(Workspace({{"f.txt", id}}), id, StorageQuota());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(fs::path((*r)[0].host_path).parent_path().parent_path().parent_path().string(),
              storage_);
    EXPECT_EQ(*ReadFile((*r)[0].host_path), id);
    EXPECT_EQ(StoredFiles(id), 1);
  }
  EXPECT_TRUE(fs::exists(storage_ + "/anonymous"));
  for (const std::string& id : {std::string(129, 'a'), std::string("a\0b", 3)}) {
    auto r = store_.Collect(Workspace({{"f.txt", "f"}}), id, StorageQuota());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_.Usage(id).status().code(), absl::StatusCode::kInvalidArgument);
  }
  // Only workspaces and the storage dir appeared next to the storage dir.
  for (const std::string& name : DirEntries(root_.path())) {
    if (root_before.count(name) == 0) {
      EXPECT_TRUE(name == "storage" || name.rfind("ws", 0) == 0) << name;
    }
  }
  EXPECT_EQ(DirEntries(storage_).size(), 5u);
}

TEST_F(RetentionTest, UsersAreIsolated) {
  ASSERT_TRUE(
      store_.Collect(Workspace({{"a1", "1"}, {"a2", "2"}, {"a3", "3"}}), "alice", StorageQuota())
          .ok());
  ASSERT_TRUE(store_.Collect(Workspace({{"b1", "1"}, {"b2", "2"}}), "bob", StorageQuota()).ok());
  const std::vector<std::string> alice_ids = StoredIds("alice");
  StorageQuota q;
  q.set_max_files_per_user(3);
  auto r = store_.Collect(Workspace({{"b3", "3"}, {"b4", "4"}}), "bob", q);
  ASSERT_TRUE(r.ok()) << r.status();
  // Bob's older execution made room; Alice's files were not touched.
  EXPECT_EQ(StoredFiles("bob"), 2);
  EXPECT_EQ(StoredIds("alice"), alice_ids);
  EXPECT_EQ(StoredFiles("alice"), 3);
  auto bob = store_.List("bob");
  ASSERT_TRUE(bob.ok());
  for (const RetainedExecution& e : *bob) {
    for (const RetainedFile& f : e.files) {
      EXPECT_EQ(f.host_path.rfind(storage_ + "/u_bob/", 0), 0u) << f.host_path;
    }
  }
  EXPECT_EQ(Mode(storage_ + "/u_alice"), 0700u);
}

TEST_F(RetentionTest, ConcurrentCollectsNeverExceedTheUserQuota) {
  constexpr int kThreads = 8;
  constexpr int64_t kLimit = 25;
  std::vector<std::string> workspaces;
  for (int t = 0; t < kThreads; ++t) {
    std::vector<std::pair<std::string, std::string>> files;
    for (int i = 0; i < 10; ++i) files.push_back({absl::StrCat("t", t, "/f", i), "data"});
    workspaces.push_back(Workspace(files));
  }
  StorageQuota q;
  q.set_max_files_per_user(kLimit);
  std::atomic<bool> done{false};
  std::atomic<int64_t> max_seen{0};
  std::atomic<int> failures{0};
  std::thread watcher([&] {
    while (!done.load()) {
      absl::StatusOr<UserUsage> u = store_.Usage("shared");
      if (!u.ok()) {
        ++failures;
        continue;
      }
      int64_t prev = max_seen.load();
      while (u->files > prev && !max_seen.compare_exchange_weak(prev, u->files)) {
      }
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = store_.Collect(workspaces[t], "shared", q);
      if (!r.ok() || r->size() != 10) ++failures;
    });
  }
  for (std::thread& t : threads) t.join();
  done = true;
  watcher.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(max_seen.load(), kLimit);
  absl::StatusOr<UserUsage> u = store_.Usage("shared");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->files, 20);
  EXPECT_EQ(u->executions, 2);
  EXPECT_EQ(DirEntries(storage_ + "/u_shared").size(), 3u);  // .lock + 2 executions
}

TEST_F(RetentionTest, DiskFreeReserveIsEnforced) {
  ASSERT_TRUE(MakeDirs(storage_).ok());
  struct statvfs vfs;
  ASSERT_EQ(::statvfs(storage_.c_str(), &vfs), 0);
  const int64_t free_bytes = static_cast<int64_t>(vfs.f_bavail) * vfs.f_frsize;
  StorageQuota q;
  q.set_min_free_bytes(free_bytes + (int64_t{1} << 30));
  auto r = store_.Collect(Workspace({{"f.txt", "f"}}), "u", q);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("min_free_bytes"));
  EXPECT_EQ(StoredFiles("u"), 0);
  EXPECT_EQ(DirEntries(storage_ + "/u_u"), std::set<std::string>{".lock"});
  q.set_min_free_bytes(1);
  r = store_.Collect(Workspace({{"f.txt", "f"}}), "u", q);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(StoredFiles("u"), 1);
}

TEST_F(RetentionTest, StaleStagingIsRemovedUnlessTheUserIsBusy) {
  ASSERT_TRUE(store_.Collect(Workspace({{"f.txt", "f"}}), "carol", StorageQuota()).ok());
  const std::string user_dir = storage_ + "/u_carol";
  const std::vector<std::string> ids = StoredIds("carol");
  PutFile(user_dir + "/.staging-00000000000000000001-deadbeef/x/partial.txt", "p");
  PutFile(user_dir + "/.evict-00000000000000000002-deadbeef/old.txt", "o");
  EXPECT_EQ(StoredFiles("carol"), 1);  // leftovers never count as kept files

  {
    // A collection in progress holds the user's lock: its staging stays.
    UniqueFd lock(::open((user_dir + "/.lock").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(lock.valid());
    ASSERT_EQ(::flock(lock.get(), LOCK_EX), 0);
    ASSERT_TRUE(store_.RemoveStaleStaging().ok());
    EXPECT_EQ(DirEntries(user_dir).size(), 4u);
  }
  ASSERT_TRUE(store_.RemoveStaleStaging().ok());
  EXPECT_EQ(DirEntries(user_dir), (std::set<std::string>{".lock", ids[0]}));
  EXPECT_EQ(StoredIds("carol"), ids);
}

TEST_F(RetentionTest, NegativeQuotaIsRejected) {
  StorageQuota q;
  q.set_max_files_per_user(-1);
  auto r = store_.Collect(Workspace({{"f.txt", "f"}}), "u", q);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace libsandbox
