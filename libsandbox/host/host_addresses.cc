#include "libsandbox/host/host_addresses.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "libsandbox/base/fs_util.h"

namespace libsandbox {
namespace {

// The IPv4 address inside ::ffff:a.b.c.d and 64:ff9b::a.b.c.d.
std::optional<IpAddress> EmbeddedV4(const IpAddress& a) {
  if (a.family != AF_INET6) return std::nullopt;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a.bytes.data(), kMapped, 12) != 0 &&
      std::memcmp(a.bytes.data(), kNat64, 12) != 0) {
    return std::nullopt;
  }
  uint8_t v4[4];
  std::memcpy(v4, a.bytes.data() + 12, 4);
  return IpAddress::V4(v4);
}

}  // namespace

absl::StatusOr<std::vector<IpAddress>> HostInterfaceAddresses() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return ErrnoStatus("getifaddrs", errno);
  std::vector<IpAddress> out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      uint8_t b[4];
      std::memcpy(b, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
      out.push_back(IpAddress::V4(b));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      uint8_t b[16];
      std::memcpy(b, &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
      out.push_back(IpAddress::V6(b));
    }
  }
  ::freeifaddrs(list);
  return out;
}

bool IsHostAddress(const IpAddress& addr, const std::vector<IpAddress>& host) {
  const std::optional<IpAddress> v4 = EmbeddedV4(addr);
  return std::any_of(host.begin(), host.end(),
                     [&](const IpAddress& h) { return h == addr || (v4.has_value() && h == *v4); });
}

}  // namespace libsandbox
