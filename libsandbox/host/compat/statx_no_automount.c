// Preloaded into sandboxed programs when the runsc in use predates gVisor's
// acceptance of AT_NO_AUTOMOUNT: such builds fail statx(2) with EINVAL when
// the flag is set, and coreutils' ls and stat always set it ("ls: cannot
// access '/tmp': Invalid argument"). gVisor has no automounts, so dropping
// the flag changes nothing else. Built without sanitizers: it is loaded
// into programs that are not.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int statx(int dirfd, const char* path, int flags, unsigned int mask, struct statx* buf) {
  return (int)syscall(SYS_statx, dirfd, path, flags & ~AT_NO_AUTOMOUNT, mask, buf);
}
