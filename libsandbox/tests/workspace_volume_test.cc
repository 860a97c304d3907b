// Size-capped session workspaces (real ext4 images, loop devices, mounts
// and runsc) and policy rootfs images (a real busybox image run by runsc).
#include "libsandbox/run/workspace_volume.h"

#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/rules/languages.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/session_fixture.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kMiB = int64_t{1} << 20;

// Mounts whose mount point is `path` or, with `below`, under it too (other
// suites' mounts elsewhere come and go meanwhile).
int MountsAt(const std::string& path, bool below = false) {
  absl::StatusOr<std::string> info = ReadFile("/proc/self/mountinfo", 16 << 20);
  if (!info.ok()) return -1;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() > 4 && (f[4] == path || (below && absl::StartsWith(f[4], path + "/")))) ++n;
  }
  return n;
}

// Loop devices whose backing file is `image`.
int LoopsBoundTo(const std::string& image) {
  int n = 0;
  DIR* d = ::opendir("/sys/block");
  if (d == nullptr) return -1;
  while (struct dirent* e = ::readdir(d)) {
    if (!absl::StartsWith(e->d_name, "loop")) continue;
    absl::StatusOr<std::string> backing =
        ReadFile(absl::StrCat("/sys/block/", e->d_name, "/loop/backing_file"), 4096);
    if (backing.ok() && absl::StripTrailingAsciiWhitespace(*backing) == image) ++n;
  }
  ::closedir(d);
  return n;
}

absl::Status WriteBytes(const std::string& path, int64_t bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("open", errno);
  std::string chunk(kMiB, 'x');
  for (int64_t done = 0; done < bytes; done += kMiB) {
    if (::write(fd.get(), chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
      return ErrnoStatus("write", errno);
    }
  }
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync", errno);
  return absl::OkStatus();
}

class WorkspaceVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WorkspaceVolumeSupported().ok()) << WorkspaceVolumeSupported();
    root_ = testing::MakeTestDir("volume");
    image_ = root_ + "/workspace.img";
    mount_point_ = root_ + "/workspace";
    ASSERT_TRUE(MakeDirs(mount_point_, 0700).ok());
  }
  void TearDown() override {
    EXPECT_EQ(MountsAt(mount_point_), 0);
    EXPECT_EQ(LoopsBoundTo(image_), 0);
    EXPECT_EQ(MountsAt(root_, /*below=*/true), 0);
    (void)RemoveTree(root_);
  }

  std::string root_, image_, mount_point_;
};

TEST_F(WorkspaceVolumeTest, CapsTheSizeOwnsItForTheSandboxUserAndLeavesNothingMounted) {
  {
    absl::StatusOr<std::unique_ptr<WorkspaceVolume>> v =
        WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(IsMountPoint(mount_point_));
    EXPECT_EQ(MountsAt(mount_point_), 1);
    EXPECT_EQ(LoopsBoundTo(image_), 1);
    struct stat st;
    ASSERT_EQ(::stat(mount_point_.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_gid, 1000u);
    EXPECT_EQ(testing::CountEntries(mount_point_), 0) << "lost+found is removed";
    struct statvfs vfs;
    ASSERT_EQ(::statvfs(mount_point_.c_str(), &vfs), 0);
    const int64_t total = static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize);
    EXPECT_LE(total, 16 * kMiB);
    EXPECT_GT(total, 10 * kMiB);
    // Past the cap: ENOSPC, like a full disk.
    absl::Status big = WriteBytes(mount_point_ + "/big", 32 * kMiB);
    EXPECT_THAT(big.message(), HasSubstr(std::strerror(ENOSPC))) << big;
    // The image is sparse: it costs what is written, not the cap up front.
    ASSERT_EQ(::stat(image_.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 16 * kMiB);
  }
  // Destruction unmounted it and the loop device freed itself (TearDown).
  EXPECT_FALSE(IsMountPoint(mount_point_));
}

TEST_F(WorkspaceVolumeTest, FilesPersistAndTheCapGrowsOrShrinksOnlyAboveWhatIsUsed) {
  {
    auto v = WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(WriteBytes(mount_point_ + "/data", 10 * kMiB).ok());
  }
  EXPECT_FALSE(::access((mount_point_ + "/data").c_str(), F_OK) == 0) << "only in the image";
  {
    auto v = WorkspaceVolume::Mount(image_, mount_point_, 48, 0);
    ASSERT_TRUE(v.ok()) << v.status();
    struct stat st;
    ASSERT_EQ(::stat((mount_point_ + "/data").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 10 * kMiB);
    struct statvfs vfs;
    ASSERT_EQ(::statvfs(mount_point_.c_str(), &vfs), 0);
    EXPECT_GT(static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize), 40 * kMiB);
  }
  {
    auto v = WorkspaceVolume::Mount(image_, mount_point_, 8, 0);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(v.status().message(), HasSubstr("cannot shrink to 8 MiB"));
  }
  {
    auto v = WorkspaceVolume::Mount(image_, mount_point_, 24, 0);
    ASSERT_TRUE(v.ok()) << v.status();
    struct stat st;
    ASSERT_EQ(::stat((mount_point_ + "/data").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 10 * kMiB);
    ASSERT_EQ(::stat(image_.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 24 * kMiB);
  }
}

TEST_F(WorkspaceVolumeTest, AMountLeftByADeadProcessIsDetachedFirst) {
  // A child mounts and dies without unmounting (as a crashed host would).
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto v = WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
    if (!v.ok()) ::_exit(1);
    (void)WriteBytes(mount_point_ + "/kept", kMiB);
    ::_exit(0);  // no destructors: the mount stays
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(MountsAt(mount_point_), 1);
  {
    auto v = WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(MountsAt(mount_point_), 1);  // the stale one is gone, not stacked under
    EXPECT_EQ(::access((mount_point_ + "/kept").c_str(), F_OK), 0);
  }
  // The stale mount's loop device freed itself once detached (TearDown).
}

TEST_F(WorkspaceVolumeTest, AnImageStillInUseIsNotMountedTwice) {
  auto first = WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
  ASSERT_TRUE(first.ok()) << first.status();
  // A file held open keeps the detached file system (and its loop device)
  // alive, like a straggling process of a dead host would.
  UniqueFd busy(::open((mount_point_ + "/held").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(busy.valid());
  auto second = WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("still in use"));
  EXPECT_EQ(LoopsBoundTo(image_), 1);
  busy.Reset();
  first->reset();
  auto third = WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(::access((mount_point_ + "/held").c_str(), F_OK), 0);
}

TEST_F(WorkspaceVolumeTest, FilesOfAnUncappedWorkspaceAreNotHidden) {
  ASSERT_TRUE(WriteFile(mount_point_ + "/old.txt", "old").ok());
  auto v = WorkspaceVolume::Mount(image_, mount_point_, 16, 0);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), HasSubstr("reset the session"));
  EXPECT_NE(::access(image_.c_str(), F_OK), 0);
}

// ---- Sessions with a capped workspace ----

// A small disk: volumes whose room it cannot hold are refused at mount, so
// the one that asks for room fails, never one already running.
TEST_F(WorkspaceVolumeTest, AMountTheDiskCannotHoldIsRefusedAndRunningOnesKeepTheirRoom) {
  const std::string disk = root_ + "/disk";
  ASSERT_TRUE(MakeDirs(disk, 0700).ok());
  ASSERT_EQ(::mount("small-disk", disk.c_str(), "tmpfs", 0, "size=64m"), 0) << strerror(errno);
  const std::string other_mount = root_ + "/other";
  ASSERT_TRUE(MakeDirs(other_mount, 0700).ok());
  {
    auto first = WorkspaceVolume::Mount(disk + "/a.img", mount_point_, 32, 16 * kMiB);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_GT(MountedVolumesRoomBytes(), 24 * kMiB);
    auto second = WorkspaceVolume::Mount(disk + "/b.img", other_mount, 32, 16 * kMiB);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(second.status().message(), HasSubstr("min_free_bytes"));
    EXPECT_FALSE(IsMountPoint(other_mount)) << "a refused volume is not left mounted";
    // The running one can still fill its whole cap.
    absl::Status big = WriteBytes(mount_point_ + "/big", 64 * kMiB);
    EXPECT_THAT(big.message(), HasSubstr(std::strerror(ENOSPC))) << big;
    struct stat st;
    ASSERT_EQ(::stat((mount_point_ + "/big").c_str(), &st), 0);
    EXPECT_GE(st.st_size, 20 * kMiB);
  }
  EXPECT_EQ(MountedVolumesRoomBytes(), 0);
  {  // Once it is gone (its image keeps its files), the disk holds the other.
    ASSERT_EQ(::unlink((disk + "/a.img").c_str()), 0);
    auto second = WorkspaceVolume::Mount(disk + "/b.img", other_mount, 32, 16 * kMiB);
    EXPECT_TRUE(second.ok()) << second.status();
  }
  ASSERT_EQ(::umount2(disk.c_str(), MNT_DETACH), 0);
}

class SessionVolumeTest : public testing::SessionFixture {
 protected:
  SessionVolumeTest() : SessionFixture("session-volume") {}
  void SetUp() override {
    SessionFixture::SetUp();
    NewManager();
  }
  void TearDown() override {
    manager_.reset();  // stops the sessions, which unmounts their volumes
    EXPECT_EQ(MountsAt(root_, /*below=*/true), 0);
    SessionFixture::TearDown();
  }
  // Alice's session with its workspace capped at `workspace_mb`.
  std::shared_ptr<ManagedSession> Get(int64_t workspace_mb) {
    SessionOptions options;
    *options.mutable_limits() = DefaultSessionLimits();
    options.mutable_limits()->set_workspace_mb(workspace_mb);
    return SessionFixture::Get("alice", options);
  }
};

TEST_F(SessionVolumeTest, WritingPastTheCapIsEnospcAndTheSessionAndItsFilesSurvive) {
  std::shared_ptr<ManagedSession> s = Get(16);
  ASSERT_NE(s, nullptr);
  const std::string workspace = s->workspace();
  const std::string image =
      root_ + "/storage/sessions/" + *SessionDirName(s->key()) + "/workspace.img";
  Result r = Exec(*s,
                  "import errno\n"
                  "open('keep.txt', 'w').write('kept')\n"
                  "try:\n"
                  "    with open('big', 'wb') as f:\n"
                  "        for _ in range(32):\n"
                  "            f.write(b'x' * (1 << 20))\n"
                  "            f.flush()\n"
                  "    print('no error')\n"
                  "except OSError as e:\n"
                  "    print(errno.errorcode[e.errno])\n",
                  "python");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "ENOSPC\n");
  EXPECT_TRUE(IsMountPoint(s->workspace()));
  EXPECT_EQ(LoopsBoundTo(image), 1);

  // An uncaught one is the code's error, truthfully, and the session goes on.
  Result again = Exec(*s, "head -c 32M /dev/zero > big2", "bash");
  EXPECT_RESULT(again, ERROR);
  EXPECT_THAT(again.stderr(), HasSubstr("No space left on device"));
  Result next = Exec(*s, "rm big big2 && cat keep.txt", "bash");
  EXPECT_RESULT(next, OK);
  EXPECT_EQ(next.stdout(), "kept");

  ASSERT_TRUE(s->Stop().ok());
  EXPECT_FALSE(IsMountPoint(s->workspace()));
  EXPECT_EQ(MountsAt(s->workspace()), 0);
  EXPECT_EQ(LoopsBoundTo(image), 0);
  EXPECT_NE(::access((s->workspace() + "/keep.txt").c_str(), F_OK), 0) << "lives in the image";

  s.reset();
  NewManager();  // as after a host restart
  s = Get(16);
  ASSERT_NE(s, nullptr);
  Result after = Exec(*s, "cat keep.txt", "bash");
  EXPECT_RESULT(after, OK);
  EXPECT_EQ(after.stdout(), "kept");

  s.reset();
  manager_.reset();  // destruction stops the session and unmounts
  EXPECT_EQ(LoopsBoundTo(image), 0);
  EXPECT_EQ(MountsAt(workspace), 0);
}

// A host killed with SIGKILL leaves its sessions' volumes mounted; the next
// host process detaches them (and so frees their loop devices) when it
// starts, not only when the same session boots again.
// The host that dies: a fresh process (this binary run again: a fork of a
// threaded process may not use the allocator under ASan), with the config
// in its environment. Skipped when run on its own.
constexpr char kChildHostEnv[] = "LIBSANDBOX_TEST_CHILD_HOST_CONFIG";

TEST(ChildHost, MountsAVolumeAndIsKilled) {
  const char* text = std::getenv(kChildHostEnv);
  if (text == nullptr) GTEST_SKIP() << "the host process of another test";
  Config config;
  ASSERT_TRUE(config.ParseFromString(absl::HexStringToBytes(text)));
  absl::StatusOr<std::unique_ptr<SessionManager>> m = SessionManager::Create(config);
  ASSERT_TRUE(m.ok()) << m.status();
  SessionKey alice;
  alice.set_user("alice");
  SessionOptions options;
  *options.mutable_limits() = DefaultSessionLimits();
  options.mutable_limits()->set_workspace_mb(16);
  absl::StatusOr<std::shared_ptr<ManagedSession>> s = (*m)->Get(alice, options);
  ASSERT_TRUE(s.ok()) << s.status();
  ExecRequest req;
  req.set_code("echo kept > f");
  req.set_language("bash");
  ASSERT_EQ((*s)->Exec(req).status(), Result::OK);
  ::kill(::getpid(), SIGKILL);  // as a crashed host: nothing cleaned up
}

TEST_F(SessionVolumeTest, VolumesOfAKilledHostAreDetachedWhenTheNextOneStarts) {
  SessionKey alice;
  alice.set_user("alice");
  const std::string dir = root_ + "/storage/sessions/" + *SessionDirName(alice);
  const std::string workspace = dir + "/workspace";
  const std::string image = dir + "/workspace.img";
  // Everything the child needs, made before fork(): only exec follows it.
  const std::string env_entry =
      absl::StrCat(kChildHostEnv, "=", absl::BytesToHexString(config_.SerializeAsString()));
  const std::string filter = "--gtest_filter=ChildHost.MountsAVolumeAndIsKilled";
  char self[] = "/proc/self/exe";
  char* argv[] = {self, const_cast<char*>(filter.c_str()), nullptr};
  char* envp[] = {const_cast<char*>(env_entry.c_str()),
                  const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execve(self, argv, envp);
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child host exited with " << WEXITSTATUS(status);
  ASSERT_EQ(MountsAt(workspace), 1);
  ASSERT_EQ(LoopsBoundTo(image), 1);

  NewManager();  // the next host process
  EXPECT_EQ(MountsAt(workspace), 0);
  // The loop device clears itself once its last user is gone.
  for (int i = 0; i < 50 && LoopsBoundTo(image) != 0; ++i) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(LoopsBoundTo(image), 0);
  // The files are in the image, for the session's next boot.
  std::shared_ptr<ManagedSession> s = Get(16);
  ASSERT_NE(s, nullptr);
  Result r = Exec(*s, "cat f", "bash");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "kept\n");
}

// Without options a session's workspace is a volume of the default size.
TEST_F(SessionVolumeTest, ADefaultSessionsWorkspaceIsCapped) {
  std::shared_ptr<ManagedSession> s = SessionFixture::Get("alice");
  ASSERT_NE(s, nullptr);
  Result r = Exec(*s,
                  "import os\n"
                  "st = os.statvfs('.')\n"
                  "print(st.f_blocks * st.f_frsize >> 20)\n",
                  "python");
  EXPECT_RESULT(r, OK);
  int64_t mib = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(r.stdout()), &mib)) << r.stdout();
  EXPECT_LE(mib, DefaultSessionLimits().workspace_mb());
  EXPECT_GT(mib, DefaultSessionLimits().workspace_mb() * 9 / 10);
  EXPECT_TRUE(IsMountPoint(s->workspace()));
}

// One user filling the disk under the storage dir: with default caps the
// session that cannot get its room is refused at boot, a capped one fills
// only its own volume, and another user's run still keeps its files.
TEST_F(SessionVolumeTest, AUserFillingTheDiskHurtsOnlyThemselves) {
  const std::string disk = root_ + "/small";
  ASSERT_TRUE(MakeDirs(disk, 0700).ok());
  ASSERT_EQ(::mount("small-disk", disk.c_str(), "tmpfs", 0, "size=40m"), 0) << strerror(errno);
  config_.set_storage_dir(disk);
  NewManager();  // the default quota: 256 MiB must stay free, so nothing fits
  SessionKey mallory;
  mallory.set_user("mallory");
  absl::StatusOr<std::shared_ptr<ManagedSession>> refused = manager_->Get(mallory, {});
  ASSERT_TRUE(refused.ok()) << refused.status();
  Result r = Exec(**refused, "print('hi')", "python");
  EXPECT_RESULT(r, SANDBOX_ERROR);
  EXPECT_THAT(r.message(), HasSubstr("min_free_bytes"));
  EXPECT_THAT(r.message(), HasSubstr("workspace_mb"));
  refused->reset();

  config_.mutable_quota()->set_min_free_bytes(4 * kMiB);
  NewManager();
  SessionOptions capped;
  *capped.mutable_limits() = DefaultSessionLimits();
  capped.mutable_limits()->set_workspace_mb(24);
  absl::StatusOr<std::shared_ptr<ManagedSession>> filler = manager_->Get(mallory, capped);
  ASSERT_TRUE(filler.ok()) << filler.status();
  Result fill = Exec(**filler, "head -c 64M /dev/zero > big", "bash");
  EXPECT_RESULT(fill, ERROR);
  EXPECT_THAT(fill.stderr(), HasSubstr("No space left on device"));

  RunRequest bob;
  bob.set_user("bob");
  bob.set_language("bash");
  bob.set_code("echo result > out.txt");
  Config run_config = config_;
  Result kept = libsandbox::Run(bob, run_config);
  EXPECT_RESULT(kept, OK);
  ASSERT_EQ(kept.files_size(), 1);
  EXPECT_EQ(kept.files(0).path(), "out.txt");
  filler->reset();
  manager_.reset();
  ASSERT_EQ(::umount2(disk.c_str(), MNT_DETACH), 0);
}

TEST_F(SessionVolumeTest, ResetEmptiesTheVolume) {
  std::shared_ptr<ManagedSession> s = Get(16);
  ASSERT_NE(s, nullptr);
  EXPECT_RESULT(Exec(*s, "echo hi > a.txt", "bash"), OK);
  ASSERT_TRUE(s->Reset().ok());
  EXPECT_FALSE(IsMountPoint(s->workspace()));
  Result r = Exec(*s, "ls -A; echo done", "bash");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "done\n");
}

TEST_F(SessionVolumeTest, APolicysWorkspaceCapsTheSession) {
  config_.set_policy_file(root_ + "/policies.textproto");
  ASSERT_TRUE(
      WriteFile(config_.policy_file(), "policies { name: \"tiny\" workspace: \"8Mi\" }\n").ok());
  NewManager();
  SessionKey key;
  key.set_user("bob");
  key.set_policy("tiny");
  SessionOptions options;
  *options.mutable_limits() = DefaultSessionLimits();
  options.mutable_limits()->set_workspace_mb(0);  // 0: the policy's
  options.mutable_limits()->set_tmp_mb(8);        // the policy's workspace caps /tmp as well
  absl::StatusOr<std::shared_ptr<ManagedSession>> s = manager_->Get(key, options);
  ASSERT_TRUE(s.ok()) << s.status();
  Result r = Exec(**s,
                  "import os\n"
                  "st = os.statvfs('.')\n"
                  "print(st.f_blocks * st.f_frsize <= 8 << 20)\n"
                  "try:\n"
                  "    open('big', 'wb').write(b'x' * (12 << 20))\n"
                  "except OSError as e:\n"
                  "    print(e.strerror)\n",
                  "python");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "True\nNo space left on device\n");
}

// ---- Policy rootfs images ----

class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTestDir("rootfs");
    image_ = root_ + "/image";
    // The smallest real image: a static busybox and its applet links.
    std::string busybox;
    for (const char* p : {"/bin/busybox", "/usr/bin/busybox"}) {
      if (busybox.empty() && ::access(p, X_OK) == 0) busybox = p;
    }
    ASSERT_FALSE(busybox.empty()) << "needs a static busybox: apt-get install busybox-static";
    ASSERT_TRUE(MakeDirs(image_ + "/bin").ok());
    ASSERT_TRUE(MakeDirs(image_ + "/etc").ok());
    absl::StatusOr<std::string> bytes = ReadFile(busybox, 16 << 20);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    ASSERT_TRUE(WriteFile(image_ + "/bin/busybox", *bytes, 0755).ok());
    for (const char* applet : {"sh", "cat", "ls", "id", "echo"}) {
      ASSERT_EQ(::symlink("busybox", (image_ + "/bin/" + applet).c_str()), 0);
    }
    ASSERT_EQ(::symlink("bin", (image_ + "/sbin").c_str()), 0);  // a top-level symlink
    ASSERT_TRUE(WriteFile(image_ + "/etc/image-marker", "from the image\n").ok());
    ASSERT_TRUE(WriteFile(image_ + "/etc/passwd", "root:x:0:0::/:/bin/sh\n").ok());

    config_.set_state_dir(root_ + "/state");
    config_.set_storage_dir(root_ + "/storage");
    config_.set_runsc_path(testing::TestRunscPath());
    config_.set_policy_file(root_ + "/policies.textproto");
    ASSERT_TRUE(
        WriteFile(config_.policy_file(), absl::StrCat("caps { allowed_rootfs: \"", image_,
                                                      "\" }\n"
                                                      "policies { name: \"image\" rootfs: \"",
                                                      image_,
                                                      "\" }\n"
                                                      "policies { name: \"host\" }\n"))
            .ok());
  }
  void TearDown() override {
    Shutdown();
    (void)RemoveTree(root_);
  }
  Result RunAs(const std::string& code, const std::string& language, const std::string& policy) {
    RunRequest req;
    req.set_code(code);
    req.set_language(language);
    req.set_user("alice");
    req.set_policy(policy);
    return libsandbox::Run(req, config_);
  }

  std::string root_, image_;
  Config config_;
};

TEST_F(RootfsTest, ARunUnderTheImageSeesTheImageNotTheHost) {
  constexpr char kProbe[] =
      "cat /etc/image-marker\n"
      "if [ -e /usr/bin/python3 ]; then echo host-usr; else echo no-host-usr; fi\n"
      "id -un\n"
      "ls /sbin/busybox\n"
      "echo data > /home/user/out.txt && cat /home/user/out.txt\n"
      "echo x > /bin/new 2>/dev/null || echo read-only\n";
  Result r = RunAs(kProbe, "sh", "image");
  EXPECT_RESULT(r, OK);
  EXPECT_EQ(r.stdout(), "from the image\nno-host-usr\nuser\n/sbin/busybox\ndata\nread-only\n");
  // The image itself is untouched by runs.
  EXPECT_NE(::access((image_ + "/home").c_str(), F_OK), 0);
  EXPECT_NE(::access((image_ + "/bin/new").c_str(), F_OK), 0);

  Result host = RunAs(kProbe, "sh", "host");
  EXPECT_RESULT(host, OK);
  EXPECT_THAT(host.stdout(), ::testing::StartsWith("host-usr\n"));  // no marker on the host
}

TEST_F(RootfsTest, TheSpecMountsTheImageNotTheHostsSystemDirectories) {
  BundleOptions o;
  o.language = FindLanguage("sh");
  o.code = "true";
  o.workspace_dir = root_ + "/ws";
  o.rootfs = image_;
  absl::StatusOr<oci::Spec> spec = BuildSpec(root_ + "/run", o);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->root().path(), root_ + "/run/rootfs");
  EXPECT_TRUE(spec->root().readonly());
  std::map<std::string, std::string> mounts;  // destination -> source
  for (const oci::Mount& m : spec->mounts()) mounts[m.destination()] = m.source();
  EXPECT_EQ(mounts["/bin"], image_ + "/bin");
  EXPECT_EQ(mounts["/etc"], image_ + "/etc");
  EXPECT_EQ(mounts["/etc/passwd"], root_ + "/run/etc/passwd");  // the image has one
  EXPECT_EQ(mounts.count("/etc/group"), 0u);                    // it has none
  EXPECT_EQ(mounts.count("/usr"), 0u);
  EXPECT_EQ(mounts.count("/lib"), 0u);
  EXPECT_EQ(mounts.count("/sbin"), 0u);  // a symlink in the image: linked, not mounted
  EXPECT_EQ(mounts["/home/user"], root_ + "/ws");
}

TEST_F(RootfsTest, ProgramsResolveInsideTheImage) {
  EXPECT_TRUE(CheckRootfsProgram(image_, "/bin/sh").ok());
  EXPECT_TRUE(CheckRootfsProgram(image_, "/sbin/sh").ok());  // through the image's own symlink
  // An absolute link must not reach the host's file of that name.
  ASSERT_EQ(::symlink("/usr/bin/python3", (image_ + "/bin/python3").c_str()), 0);
  ASSERT_EQ(::access("/usr/bin/python3", X_OK), 0);
  EXPECT_FALSE(CheckRootfsProgram(image_, "/bin/python3").ok());
  EXPECT_FALSE(CheckRootfsProgram(image_, "/../../usr/bin/python3").ok());
  EXPECT_FALSE(CheckRootfsProgram(image_, "/etc/image-marker").ok());  // not executable
}

TEST_F(RootfsTest, ALanguageTheImageLacksFailsWithAClearMessage) {
  Result r = RunAs("print('hi')", "python", "image");
  EXPECT_RESULT(r, SANDBOX_ERROR);
  EXPECT_THAT(r.message(), HasSubstr("has no program /usr/bin/python3"));
  EXPECT_THAT(r.message(), HasSubstr("language python"));
}

TEST_F(RootfsTest, ASessionOnAnImageWithoutPythonIsRefused) {
  absl::StatusOr<std::unique_ptr<SessionManager>> m = SessionManager::Create(config_);
  ASSERT_TRUE(m.ok()) << m.status();
  SessionKey key;
  key.set_user("alice");
  key.set_policy("image");
  absl::StatusOr<std::shared_ptr<ManagedSession>> s = (*m)->Get(key);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("has no program /usr/bin/python3"));
}

TEST_F(RootfsTest, OnlyAnAllowedImageAndOnlyThroughAPolicy) {
  RunRequest req;
  req.set_code("echo hi");
  req.set_language("sh");
  req.set_rootfs(image_);
  Result own = libsandbox::Run(req, config_);
  EXPECT_RESULT(own, INVALID_INPUT);
  EXPECT_THAT(own.message(), HasSubstr("the request may not set it"));
  Config no_policies = config_;
  no_policies.clear_policy_file();
  Result without = libsandbox::Run(req, no_policies);
  EXPECT_RESULT(without, INVALID_INPUT);

  // An image outside caps.allowed_rootfs: the policy file is refused whole.
  ASSERT_TRUE(MakeDirs(root_ + "/other").ok());
  ASSERT_TRUE(
      WriteFile(config_.policy_file(),
                absl::StrCat("caps { allowed_rootfs: \"", image_,
                             "\" }\npolicies { name: \"image\" rootfs: \"", root_, "/other\" }\n"),
                0644, /*overwrite=*/true)
          .ok());
  Result refused = RunAs("echo hi", "sh", "image");
  EXPECT_NE(refused.status(), Result::OK);
  EXPECT_THAT(refused.message(), HasSubstr("caps.allowed_rootfs"));
}

}  // namespace
}  // namespace libsandbox
