// A size-capped persistent workspace: an ext4 image file loop-mounted on the
// workspace directory while a sandbox uses it.
//
// A session's workspace outlives its sandbox and the host process, so a
// tmpfs (gone on unmount) cannot cap it. The image (sparse, so it costs only
// what is written) keeps the files; the cap is the file system's size, and
// code that writes past it gets ENOSPC like on any full disk.
#ifndef LIBSANDBOX_RUN_WORKSPACE_VOLUME_H_
#define LIBSANDBOX_RUN_WORKSPACE_VOLUME_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace libsandbox {

// Bytes the images of the volumes mounted by this process may still grow
// by (size less allocated): disk that retention must leave to them.
int64_t MountedVolumesRoomBytes();

// OK if this host can make and mount volumes (mkfs.ext4, resize2fs and
// e2fsck found, /dev/loop-control present); otherwise FailedPrecondition
// naming the fix.
absl::Status WorkspaceVolumeSupported();

// True if `path` is a mount point in this process's mount namespace.
bool IsMountPoint(const std::string& path);
// Detaches whatever is mounted on `path` (a volume left by a host process
// that died). Only for a caller that holds the workspace's lock.
absl::Status DetachStaleMounts(const std::string& path);

class WorkspaceVolume {
 public:
  // Mounts `image` (created and formatted when missing, resized when its
  // size is not `size_mb`) on the existing directory `mount_point`, nosuid
  // and nodev, its root owned by the sandbox user. A mount left on
  // `mount_point` by a host process that died is detached first: the
  // caller holds the lock that says nobody else uses it. Shrinking below
  // what the files use is refused (FailedPrecondition).
  //
  // A sparse image grows as its files do, so the disk under it must hold
  // what every mounted volume may still write: the mount is refused when
  // the free space, less that room of the volumes already mounted by this
  // process and of this one, would drop below `min_free_bytes`. A full
  // disk then stops the session that asks for room, never one that runs.
  static absl::StatusOr<std::unique_ptr<WorkspaceVolume>> Mount(const std::string& image,
                                                                const std::string& mount_point,
                                                                int64_t size_mb,
                                                                int64_t min_free_bytes);
  // Unmounts; the loop device frees itself (autoclear).
  ~WorkspaceVolume();
  WorkspaceVolume(const WorkspaceVolume&) = delete;
  WorkspaceVolume& operator=(const WorkspaceVolume&) = delete;

  const std::string& image() const { return image_; }
  const std::string& mount_point() const { return mount_point_; }

 private:
  WorkspaceVolume(std::string image, std::string mount_point)
      : image_(std::move(image)), mount_point_(std::move(mount_point)) {}
  std::string image_;
  std::string mount_point_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_WORKSPACE_VOLUME_H_
