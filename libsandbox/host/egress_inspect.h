// What the first bytes a sandbox sends through an egress tunnel say about
// the host it means to talk to: the server name of a TLS ClientHello (SNI)
// or the host of an HTTP/1.x request (its absolute or authority-form target
// and its Host header, which must agree). The proxy compares it with the
// name the tunnel was opened for, so a tunnel to an allowed name cannot
// carry a request for another site that shares its servers. Whatever the
// proxy cannot check is malformed, so refused: a ClientHello without a
// server name, a request naming no host, empty lines before the request
// line, a lowercase method, HTTP/2 without TLS (h2c), any other protocol
// where the client speaks first. (Protocols where the server speaks first,
// such as SMTP, send nothing to inspect and pass.)
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
    kMalformed,  // not something the proxy can check: refused
  };
  Kind kind = kNeedMore;
  // kTls, kHttp: the SNI host name or the request's host without port,
  // lowercase, without a trailing dot; never empty.
  std::string name;
  std::string error;  // kMalformed: why
};

FirstBytes InspectFirstBytes(absl::string_view data);

// Lowercase, one trailing dot removed.
std::string NormalizeHostName(absl::string_view name);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_EGRESS_INSPECT_H_
