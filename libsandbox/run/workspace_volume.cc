#include "libsandbox/run/workspace_volume.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/units.h"
#include "libsandbox/host/process.h"
#include "libsandbox/run/bundle.h"

namespace libsandbox {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr absl::Duration kToolTimeout = absl::Seconds(120);
constexpr int kLoopMajor = 7;
constexpr char kToolsRemedy[] = "; install the Debian package e2fsprogs, or set workspace_mb=0";

// The e2fsprogs tools live in sbin, which a service's PATH may lack.
std::optional<std::string> FindTool(const std::string& name) {
  if (std::optional<std::string> p = FindInPath(name)) return p;
  for (const char* dir : {"/usr/sbin/", "/sbin/"}) {
    std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> Tool(const std::string& name) {
  std::optional<std::string> path = FindTool(name);
  if (!path) {
    return absl::FailedPreconditionError(absl::StrCat("size-capped session workspaces need ", name,
                                                      ", which was not found", kToolsRemedy));
  }
  return *path;
}

// Runs an e2fsprogs tool; exit codes up to `max_ok` count as success (e2fsck
// says 1 when it fixed something).
absl::Status RunTool(const std::vector<std::string>& argv, int max_ok = 0) {
  absl::StatusOr<ProcessResult> p = RunCommand(argv, kToolTimeout);
  if (!p.ok()) return p.status();
  if (p->exit_code < 0 || p->exit_code > max_ok) {
    return absl::InternalError(absl::StrCat(argv[0], " failed (exit ", p->exit_code,
                                            "): ", absl::StripAsciiWhitespace(p->err.data)));
  }
  return absl::OkStatus();
}

absl::Status Truncate(const std::string& path, int64_t bytes) {
  if (::truncate(path.c_str(), bytes) != 0) return ErrnoStatus("truncate " + path, errno);
  return absl::OkStatus();
}

// A fresh sparse image, formatted under a temporary name and renamed into
// place, so a crash never leaves a half-made image behind.
absl::Status CreateImage(const std::string& image, int64_t size_mb) {
  absl::StatusOr<std::string> mkfs = Tool("mkfs.ext4");
  if (!mkfs.ok()) return mkfs.status();
  const std::string fresh = image + ".new";
  ::unlink(fresh.c_str());
  {
    UniqueFd fd(::open(fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return ErrnoStatus("create " + fresh, errno);
    if (::ftruncate(fd.get(), size_mb * kMiB) != 0) return ErrnoStatus("truncate " + fresh, errno);
  }
  // -m 0: no blocks reserved for root, so the sandbox user gets the whole
  // cap. The root directory belongs to the sandbox user from the start.
  absl::Status s =
      RunTool({*mkfs, "-q", "-F", "-m", "0", "-L", "workspace", "-E",
               absl::StrCat("nodiscard,root_owner=", kSandboxUid, ":", kSandboxGid), fresh});
  if (s.ok() && ::rename(fresh.c_str(), image.c_str()) != 0) s = ErrnoStatus("rename", errno);
  if (!s.ok()) {
    ::unlink(fresh.c_str());
    return absl::Status(s.code(), absl::StrCat("cannot create the workspace image: ", s.message()));
  }
  return absl::OkStatus();
}

// Grows or shrinks an unmounted image's file system to `size_mb`.
absl::Status ResizeImage(const std::string& image, int64_t current_bytes, int64_t size_mb) {
  absl::StatusOr<std::string> fsck = Tool("e2fsck");
  if (!fsck.ok()) return fsck.status();
  absl::StatusOr<std::string> resize = Tool("resize2fs");
  if (!resize.ok()) return resize.status();
  // resize2fs works only on a file system just checked.
  if (absl::Status s = RunTool({*fsck, "-f", "-p", image}, /*max_ok=*/1); !s.ok()) return s;
  const int64_t want = size_mb * kMiB;
  if (want > current_bytes) {
    if (absl::Status s = Truncate(image, want); !s.ok()) return s;
    return RunTool({*resize, image});
  }
  if (absl::Status s = RunTool({*resize, image, absl::StrCat(size_mb * 1024, "K")}); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the workspace cannot shrink to ", size_mb,
                     " MiB: its files need more. Delete files in it first, or keep workspace_mb "
                     "at ",
                     current_bytes / kMiB, " (", s.message(), ")"));
  }
  return Truncate(image, want);
}

// A free loop device backed by `image_fd`, cleared by the kernel once
// nothing uses it (the mount, then our fd).
absl::StatusOr<UniqueFd> AttachLoop(int image_fd, const std::string& image) {
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control.valid()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open /dev/loop-control (", ErrnoStatus("open", errno).message(),
        "); size-capped session workspaces need loop devices (modprobe loop; in a container, "
        "give it /dev/loop-control and CAP_SYS_ADMIN), or set workspace_mb=0"));
  }
  // Another process may take the device we were offered: ask again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return ErrnoStatus("LOOP_CTL_GET_FREE", errno);
    const std::string dev = absl::StrCat("/dev/loop", n);
    UniqueFd loop(::open(dev.c_str(), O_RDWR | O_CLOEXEC));
    if (!loop.valid() && errno == ENOENT) {
      // A container's /dev may list only the first few devices.
      if (::mknod(dev.c_str(), S_IFBLK | 0600, makedev(kLoopMajor, n)) != 0 && errno != EEXIST) {
        return ErrnoStatus("mknod " + dev, errno);
      }
      loop = UniqueFd(::open(dev.c_str(), O_RDWR | O_CLOEXEC));
    }
    if (!loop.valid()) return ErrnoStatus("open " + dev, errno);
    struct loop_config config;
    std::memset(&config, 0, sizeof(config));
    config.fd = static_cast<uint32_t>(image_fd);
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), image.c_str(),
                 LO_NAME_SIZE - 1);
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0) return loop;
    if (errno == EBUSY) continue;
    if (errno != EINVAL && errno != ENOTTY) return ErrnoStatus("LOOP_CONFIGURE " + dev, errno);
    // Kernels before 5.8: attach, then set the flags.
    if (::ioctl(loop.get(), LOOP_SET_FD, image_fd) != 0) {
      if (errno == EBUSY) continue;
      return ErrnoStatus("LOOP_SET_FD " + dev, errno);
    }
    if (::ioctl(loop.get(), LOOP_SET_STATUS64, &config.info) != 0) {
      const int err = errno;
      (void)::ioctl(loop.get(), LOOP_CLR_FD, 0);
      return ErrnoStatus("LOOP_SET_STATUS64 " + dev, err);
    }
    return loop;
  }
  return absl::UnavailableError("no free loop device (every one offered was taken)");
}

// Whether a loop device is still backed by `image` (a detached mount whose
// last user has not let go yet).
bool ImageAttached(const std::string& image) {
  char real[PATH_MAX];
  if (::realpath(image.c_str(), real) == nullptr) return false;
  DIR* d = ::opendir("/sys/block");
  if (d == nullptr) return false;
  bool attached = false;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, "loop", 4) != 0) continue;
    absl::StatusOr<std::string> backing =
        ReadFile(absl::StrCat("/sys/block/", e->d_name, "/loop/backing_file"), PATH_MAX + 1);
    if (backing.ok() && absl::StripTrailingAsciiWhitespace(*backing) == real) attached = true;
  }
  ::closedir(d);
  return attached;
}

// Two mounts of one ext4 image, or a resize under a live one, would
// corrupt it: wait briefly for a detached one to go, then refuse.
absl::Status WaitImageFree(const std::string& image) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (ImageAttached(image)) {
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat(
          "the workspace image ", image,
          " is still in use (a sandbox of a host process that died may still hold it); try "
          "again in a moment"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

// The images of the volumes this process has mounted, by mount point.
absl::Mutex mounted_mu(absl::kConstInit);
std::map<std::string, std::string>& Mounted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mounted_mu) {
  static auto* mounted = new std::map<std::string, std::string>();
  return *mounted;
}

// What a sparse image may still take from its disk: its size less what is
// allocated (files, and metadata the kernel initialises lazily).
int64_t ImageRoom(const std::string& image) {
  struct stat st;
  if (::stat(image.c_str(), &st) != 0) return 0;
  return std::max<int64_t>(st.st_size - static_cast<int64_t>(st.st_blocks) * 512, 0);
}

// Free bytes for unprivileged writers of the file system under `path`.
absl::StatusOr<int64_t> FreeBytes(const std::string& path) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) return ErrnoStatus("statvfs " + path, errno);
  return static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
}

int64_t RoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mounted_mu) {
  int64_t room = 0;
  for (const auto& [mount_point, image] : Mounted()) room += ImageRoom(image);
  return room;
}

bool DirIsEmpty(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return false;
  DIR* d = ::fdopendir(fd.release());
  if (d == nullptr) return false;
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) empty = false;
  }
  ::closedir(d);
  return empty;
}

}  // namespace

int64_t MountedVolumesRoomBytes() {
  absl::MutexLock lock(&mounted_mu);
  return RoomLocked();
}

absl::Status WorkspaceVolumeSupported() {
  for (const char* tool : {"mkfs.ext4", "e2fsck", "resize2fs"}) {
    if (absl::StatusOr<std::string> t = Tool(tool); !t.ok()) return t.status();
  }
  if (::access("/dev/loop-control", R_OK | W_OK) != 0) {
    return absl::FailedPreconditionError(
        "size-capped session workspaces need loop devices and /dev/loop-control is not usable "
        "(modprobe loop; in a container, give it /dev/loop-control and CAP_SYS_ADMIN), or set "
        "workspace_mb=0");
  }
  return absl::OkStatus();
}

absl::Status DetachStaleMounts(const std::string& path) {
  for (int i = 0; i < 8 && IsMountPoint(path); ++i) {
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
      return ErrnoStatus("unmount the stale workspace mount " + path, errno);
    }
  }
  if (IsMountPoint(path)) {
    return absl::InternalError(absl::StrCat(path, " stays mounted"));
  }
  return absl::OkStatus();
}

bool IsMountPoint(const std::string& path) {
  struct statx stx;
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
      (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0) {
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }
  // Older kernels: a mount point sits on another device than its parent.
  struct stat self, parent;
  if (::lstat(path.c_str(), &self) != 0 || ::lstat((path + "/..").c_str(), &parent) != 0) {
    return false;
  }
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

absl::StatusOr<std::unique_ptr<WorkspaceVolume>> WorkspaceVolume::Mount(
    const std::string& image, const std::string& mount_point, int64_t size_mb,
    int64_t min_free_bytes) {
  if (size_mb <= 0) return absl::InvalidArgumentError("workspace volume: size must be positive");
  if (absl::Status s = DetachStaleMounts(mount_point); !s.ok()) return s;
  if (absl::Status s = WaitImageFree(image); !s.ok()) return s;

  struct stat st;
  bool created = false;
  if (::lstat(image.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus("stat " + image, errno);
    // Files of a workspace that had no cap would vanish under the mount.
    if (!DirIsEmpty(mount_point)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the session's workspace holds files from before it had a size cap; reset the session "
          "(its files are deleted) or keep workspace_mb=0"));
    }
    if (absl::Status s = CreateImage(image, size_mb); !s.ok()) return s;
    created = true;
    if (::lstat(image.c_str(), &st) != 0) return ErrnoStatus("stat " + image, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(image, " is not a regular file"));
  }
  if (st.st_size != size_mb * kMiB) {
    if (absl::Status s = ResizeImage(image, st.st_size, size_mb); !s.ok()) return s;
  }

  UniqueFd image_fd(::open(image.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!image_fd.valid()) return ErrnoStatus("open " + image, errno);
  absl::StatusOr<UniqueFd> loop = AttachLoop(image_fd.get(), image);
  if (!loop.ok()) return loop.status();
  const std::string dev = absl::StrCat("/proc/self/fd/", loop->get());
  // The device's name; our open fd keeps the device ours until the mount
  // holds it (autoclear frees it only when both are gone).
  absl::StatusOr<std::string> target = ReadLink(dev);
  if (!target.ok()) return target.status();
  if (::mount(target->c_str(), mount_point.c_str(), "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
              "errors=remount-ro") != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot mount the workspace image ", image, " (", ErrnoStatus("mount", errno).message(),
        "); the host process needs CAP_SYS_ADMIN, or set workspace_mb=0"));
  }
  // From here on the volume unmounts itself, whatever fails next.
  std::unique_ptr<WorkspaceVolume> volume(new WorkspaceVolume(image, mount_point));
  {
    absl::MutexLock lock(&mounted_mu);
    const std::string disk = image.substr(0, image.rfind('/') + 1);
    absl::StatusOr<int64_t> disk_free = FreeBytes(disk.empty() ? "." : disk);
    if (!disk_free.ok()) return disk_free.status();
    const int64_t promised = RoomLocked() + ImageRoom(image);
    if (*disk_free - promised < min_free_bytes) {
      // An image made for this call goes too, so a later smaller cap needs
      // no shrinking.
      if (created) ::unlink(image.c_str());
      return absl::ResourceExhaustedError(absl::StrCat(
          "the disk under the session workspaces has ", FormatBytes(*disk_free),
          " free; the workspaces in use may still write ", FormatBytes(promised),
          " (this one included) and ", FormatBytes(min_free_bytes),
          " must stay free (min_free_bytes): free disk space, lower workspace_mb, or stop idle "
          "sessions"));
    }
    Mounted()[mount_point] = image;
  }
  // mkfs makes lost+found, which only confuses the code in the sandbox.
  const std::string lost = mount_point + "/lost+found";
  if (::rmdir(lost.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY) {
    return ErrnoStatus("rmdir " + lost, errno);
  }
  if (::chown(mount_point.c_str(), kSandboxUid, kSandboxGid) != 0 ||
      ::chmod(mount_point.c_str(), 0700) != 0) {
    return ErrnoStatus("chown " + mount_point, errno);
  }
  return volume;
}

WorkspaceVolume::~WorkspaceVolume() {
  {
    absl::MutexLock lock(&mounted_mu);
    Mounted().erase(mount_point_);
  }
  // Lazy: a process that still holds a file in it cannot keep it mounted.
  (void)::umount2(mount_point_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
}

}  // namespace libsandbox
