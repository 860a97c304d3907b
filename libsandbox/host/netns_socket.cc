#include "libsandbox/host/netns_socket.h"

#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <thread>
#include <utility>

namespace libsandbox {

absl::StatusOr<UniqueFd> SocketInNetworkNamespace(int netns_fd, int domain, int type) {
  absl::StatusOr<UniqueFd> result = absl::InternalError("socket thread did not run");
  std::thread([&] {
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
      result = ErrnoStatus("setns", errno);
      return;
    }
    UniqueFd fd(::socket(domain, type, 0));
    if (!fd.valid()) {
      result = ErrnoStatus("socket", errno);
      return;
    }
    result = std::move(fd);
  }).join();
  return result;
}

}  // namespace libsandbox
