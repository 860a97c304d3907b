// Session volumes left mounted by a host process that died. A capped
// session workspace is an ext4 image loop-mounted on
// <storage_dir>/sessions/<key>/workspace while its sandbox runs; a host
// killed with SIGKILL leaves the mount (and its loop device) behind. Without
// this, they stayed until the same session booted again, however long.
#ifndef LIBSANDBOX_SESSION_STALE_VOLUMES_H_
#define LIBSANDBOX_SESSION_STALE_VOLUMES_H_

#include <string>

namespace libsandbox {

// Detaches every workspace mount below `sessions_dir` whose session lock
// nobody holds (a live host process keeps its sessions locked), which also
// frees its loop device. Returns how many it detached.
int DetachStaleSessionVolumes(const std::string& sessions_dir);

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_STALE_VOLUMES_H_
