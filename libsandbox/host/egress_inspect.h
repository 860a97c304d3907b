// What the first bytes a sandbox sends through an egress tunnel say about
// the host it means to talk to: the server name of a TLS ClientHello (SNI)
// or the Host header of an HTTP request. The proxy compares it with the
// name the tunnel was opened for, so a tunnel to an allowed name cannot
// carry a request for another site that shares its servers.
#ifndef LIBSANDBOX_HOST_EGRESS_INSPECT_H_
#define LIBSANDBOX_HOST_EGRESS_INSPECT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace libsandbox {

// Enough for any ClientHello in one TLS record, or an HTTP request head.
inline constexpr size_t kMaxInspectBytes = 16384 + 5;

struct FirstBytes {
  enum Kind {
    kNeedMore,   // not enough bytes yet to tell
    kTls,        // a complete ClientHello
    kHttp,       // a complete HTTP/1.x request head
    kOther,      // some other protocol: nothing to check
    kMalformed,  // claims to be TLS/HTTP but does not parse
  };
  Kind kind = kNeedMore;
  // The SNI host name or the Host header without port, lowercase, without a
  // trailing dot; empty when the message names none.
  std::string name;
  std::string error;  // kMalformed: why
};

FirstBytes InspectFirstBytes(absl::string_view data);

// Lowercase, one trailing dot removed.
std::string NormalizeHostName(absl::string_view name);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_EGRESS_INSPECT_H_
