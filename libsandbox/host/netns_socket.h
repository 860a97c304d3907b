// Sockets that belong to another network namespace.
#ifndef LIBSANDBOX_HOST_NETNS_SOCKET_H_
#define LIBSANDBOX_HOST_NETNS_SOCKET_H_

#include "absl/status/statusor.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox {

// A socket(domain, type) of the network namespace `netns_fd` (-1: ours).
// A socket belongs to the namespace it was created in, whichever thread
// binds or uses it later; it is created on a throwaway thread that joins the
// namespace, so no caller thread ever changes namespace.
absl::StatusOr<UniqueFd> SocketInNetworkNamespace(int netns_fd, int domain, int type);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_NETNS_SOCKET_H_
