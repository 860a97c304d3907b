#include "libsandbox/base/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

namespace libsandbox {
namespace {

struct Range {
  uint32_t net;
  int len;
  const char* what;
};

bool InV4(uint32_t a, const Range& r) {
  uint32_t mask = r.len == 0 ? 0 : ~uint32_t{0} << (32 - r.len);
  return (a & mask) == r.net;
}

constexpr uint32_t V4Net(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

// Documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24) are not
// listed: nothing routes them on the internet, and tests use them as
// stand-ins for public hosts.
constexpr Range kV4NonPublic[] = {
    {V4Net(0, 0, 0, 0), 8, "\"this network\""},
    {V4Net(10, 0, 0, 0), 8, "private"},
    {V4Net(100, 64, 0, 0), 10, "carrier-grade NAT"},
    {V4Net(127, 0, 0, 0), 8, "loopback"},
    {V4Net(169, 254, 0, 0), 16, "link-local or metadata"},
    {V4Net(172, 16, 0, 0), 12, "private"},
    {V4Net(192, 0, 0, 0), 24, "IETF protocol assignments"},
    {V4Net(192, 168, 0, 0), 16, "private"},
    {V4Net(198, 18, 0, 0), 15, "benchmarking"},
    {V4Net(224, 0, 0, 0), 4, "multicast"},
    {V4Net(240, 0, 0, 0), 4, "reserved or broadcast"},
};

std::string V4Reason(uint32_t a) {
  for (const Range& r : kV4NonPublic) {
    if (InV4(a, r)) return r.what;
  }
  return "";
}

uint32_t V4At(const std::array<uint8_t, 16>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

bool HasPrefix(const std::array<uint8_t, 16>& b, std::initializer_list<uint8_t> prefix, int bits) {
  int i = 0;
  for (uint8_t p : prefix) {
    int take = std::min(8, bits - i * 8);
    if (take <= 0) break;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - take));
    if ((b[i] & mask) != (p & mask)) return false;
    ++i;
  }
  return true;
}

std::string V6Reason(const std::array<uint8_t, 16>& b) {
  static constexpr std::array<uint8_t, 16> kZero{};
  if (b == kZero) return "unspecified";
  std::array<uint8_t, 16> one{};
  one[15] = 1;
  if (b == one) return "loopback";
  // ::ffff:a.b.c.d and 64:ff9b::a.b.c.d reach the IPv4 address they carry.
  if (HasPrefix(b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96) ||
      HasPrefix(b, {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96)) {
    std::string r = V4Reason(V4At(b, 12));
    return r.empty() ? "" : r + " (IPv4 in IPv6)";
  }
  if (HasPrefix(b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 96)) return "IPv4-compatible";
  if (HasPrefix(b, {0, 0x64, 0xff, 0x9b, 0, 1}, 48)) return "local NAT64";
  if (HasPrefix(b, {0x01, 0, 0, 0, 0, 0, 0, 0}, 64)) return "discard";
  if (HasPrefix(b, {0x20, 0x01, 0x00}, 23)) return "IETF protocol assignments";
  if (HasPrefix(b, {0x20, 0x02}, 16)) return "6to4";
  if (HasPrefix(b, {0xfc}, 7)) return "private (unique local)";
  if (HasPrefix(b, {0xfe, 0x80}, 10)) return "link-local";
  if (HasPrefix(b, {0xfe, 0xc0}, 10)) return "site-local";
  if (HasPrefix(b, {0xff}, 8)) return "multicast";
  return "";
}

}  // namespace

IpAddress IpAddress::V4(const uint8_t (&b)[4]) {
  IpAddress a;
  a.family = AF_INET;
  std::memcpy(a.bytes.data(), b, 4);
  return a;
}

IpAddress IpAddress::V6(const uint8_t (&b)[16]) {
  IpAddress a;
  a.family = AF_INET6;
  std::memcpy(a.bytes.data(), b, 16);
  return a;
}

std::optional<IpAddress> IpAddress::Parse(absl::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, bytes.data(), buf, sizeof(buf));
  return buf;
}

socklen_t IpAddress::ToSockaddr(uint16_t port, sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof(out));
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::string NonPublicReason(const IpAddress& addr) {
  return addr.family == AF_INET ? V4Reason(V4At(addr.bytes, 0)) : V6Reason(addr.bytes);
}

}  // namespace libsandbox
