#include "libsandbox/host/egress_inspect.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace libsandbox {
namespace {

// Big-endian reader that fails instead of reading past the end.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}
  bool U8(uint32_t& v) { return Int(1, v); }
  bool U16(uint32_t& v) { return Int(2, v); }
  bool U24(uint32_t& v) { return Int(3, v); }
  bool Skip(size_t n) {
    if (n > data_.size()) return false;
    data_.remove_prefix(n);
    return true;
  }
  // A block of `n` bytes as a reader of its own.
  bool Sub(size_t n, Reader& out) {
    if (n > data_.size()) return false;
    out = Reader(data_.substr(0, n));
    data_.remove_prefix(n);
    return true;
  }
  bool Bytes(size_t n, absl::string_view& out) {
    if (n > data_.size()) return false;
    out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool empty() const { return data_.empty(); }

 private:
  bool Int(size_t n, uint32_t& v) {
    if (n > data_.size()) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<uint8_t>(data_[i]);
    data_.remove_prefix(n);
    return true;
  }
  absl::string_view data_;
};

FirstBytes Malformed(std::string why) {
  FirstBytes f;
  f.kind = FirstBytes::kMalformed;
  f.error = std::move(why);
  return f;
}

FirstBytes InspectTls(absl::string_view data) {
  // Record header: type 22 (handshake), version 3.x, length.
  if (data.size() < 5) return FirstBytes{};
  Reader rec(data);
  uint32_t type, major, minor, rec_len;
  rec.U8(type);
  rec.U8(major);
  rec.U8(minor);
  rec.U16(rec_len);
  if (major != 3 || rec_len == 0 || rec_len > 16384) return Malformed("bad TLS record header");
  if (data.size() < 5 + rec_len) return FirstBytes{};
  Reader hs(data.substr(5, rec_len));
  uint32_t hs_type, hs_len;
  if (!hs.U8(hs_type) || hs_type != 1) return Malformed("first TLS message is not a ClientHello");
  // A ClientHello split over several records is not accepted.
  Reader hello(absl::string_view{});
  if (!hs.U24(hs_len) || !hs.Sub(hs_len, hello)) {
    return Malformed("ClientHello does not fit in its first record");
  }
  uint32_t len;
  if (!hello.Skip(2 + 32) || !hello.U8(len) || !hello.Skip(len) ||  // version, random, session
      !hello.U16(len) || !hello.Skip(len) ||                        // cipher suites
      !hello.U8(len) || !hello.Skip(len)) {                         // compression
    return Malformed("truncated ClientHello");
  }
  // Without a server name the server picks its default site, which may be
  // any site it serves: refused.
  const FirstBytes no_name = Malformed("a TLS ClientHello without a server name (SNI)");
  FirstBytes f;
  f.kind = FirstBytes::kTls;
  if (hello.empty()) return no_name;  // no extensions at all
  Reader exts(absl::string_view{});
  if (!hello.U16(len) || !hello.Sub(len, exts)) return Malformed("truncated extensions");
  bool seen = false;
  while (!exts.empty()) {
    uint32_t ext_type, ext_len;
    Reader ext(absl::string_view{});
    if (!exts.U16(ext_type) || !exts.U16(ext_len) || !exts.Sub(ext_len, ext)) {
      return Malformed("truncated extension");
    }
    if (ext_type != 0) continue;  // server_name
    // Two server_name extensions could name two hosts: refuse.
    if (seen) return Malformed("two server_name extensions");
    seen = true;
    Reader list(absl::string_view{});
    if (!ext.U16(len) || !ext.Sub(len, list)) return Malformed("truncated server_name");
    int names = 0;
    while (!list.empty()) {
      uint32_t name_type, name_len;
      absl::string_view name;
      if (!list.U8(name_type) || !list.U16(name_len) || !list.Bytes(name_len, name)) {
        return Malformed("truncated server_name entry");
      }
      if (name_type != 0) continue;
      if (++names > 1) return Malformed("several host names in server_name");
      f.name = NormalizeHostName(name);
    }
  }
  return f.name.empty() ? no_name : f;
}

bool IsTokenChar(char c) { return absl::ascii_isupper(c) || c == '-'; }

// The host of an authority ("host:port", "[v6]:port"), lowercase.
std::string AuthorityHost(absl::string_view authority) {
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    return NormalizeHostName(close == absl::string_view::npos ? authority
                                                              : authority.substr(0, close + 1));
  }
  if (size_t port = authority.rfind(':'); port != absl::string_view::npos) {
    authority = authority.substr(0, port);
  }
  return NormalizeHostName(authority);
}

// The host a request target names: absolute-form ("http://host/...") and
// authority-form ("host:443", CONNECT) name one, which servers obey over the
// Host header (RFC 9112 3.2); origin-form ("/...") and "*" name none ("").
// nullopt for user info ("a@b"), which senders must not send (RFC 9110
// 4.2.4) and parsers split differently.
std::optional<std::string> TargetHost(absl::string_view target) {
  if (absl::StartsWith(target, "/") || target == "*") return "";
  if (size_t scheme = target.find("://"); scheme != absl::string_view::npos) {
    target = target.substr(scheme + 3);
    target = target.substr(0, target.find_first_of("/?#"));
  }
  if (target.find('@') != absl::string_view::npos) return std::nullopt;
  return AuthorityHost(target);
}

FirstBytes InspectHttp(absl::string_view data) {
  size_t end = data.find("\r\n\r\n");
  if (end == absl::string_view::npos) {
    if (data.size() >= kMaxInspectBytes) return Malformed("HTTP request head too long");
    return FirstBytes{};
  }
  const absl::string_view head = data.substr(0, end);
  const absl::string_view request_line = head.substr(0, head.find("\r\n"));
  std::vector<absl::string_view> parts = absl::StrSplit(request_line, ' ');
  if (parts.size() != 3 || parts[1].empty()) return Malformed("not an HTTP/1.x request line");
  if (parts[2] == "HTTP/2.0") {
    return Malformed("HTTP/2 without TLS (h2c) names no host the proxy can check; use https");
  }
  if (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") {
    return Malformed("not an HTTP/1.x request line");
  }
  FirstBytes f;
  f.kind = FirstBytes::kHttp;
  std::optional<std::string> target_host = TargetHost(parts[1]);
  if (!target_host) return Malformed("a request target with user info");
  f.name = *std::move(target_host);
  bool first = true;
  int hosts = 0;
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (first) {
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)), "host")) {
      continue;
    }
    if (++hosts > 1) return Malformed("several Host headers");
    const std::string host = AuthorityHost(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (!f.name.empty() && host != f.name) {
      return Malformed("the request target and the Host header name different hosts");
    }
    f.name = host;
  }
  if (f.name.empty()) return Malformed("an HTTP request that names no host (no Host header)");
  return f;
}

}  // namespace

std::string NormalizeHostName(absl::string_view name) {
  std::string out = absl::AsciiStrToLower(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

FirstBytes InspectFirstBytes(absl::string_view data) {
  if (data.empty()) return FirstBytes{};
  if (static_cast<uint8_t>(data[0]) == 22) return InspectTls(data);
  // "GET /", "POST /": an uppercase token then a space.
  size_t i = 0;
  while (i < data.size() && i < 16 && IsTokenChar(data[i])) ++i;
  if (i == data.size() && i < 16) return FirstBytes{};
  if (i > 0 && i < data.size() && data[i] == ' ') return InspectHttp(data);
  // Anything else could name a host the proxy cannot see, so only what it
  // checked passes. Servers skip empty lines before a request line (RFC 9112
  // 2.2) and some accept lowercase methods: both would hide a Host header.
  if (data[0] == '\r' || data[0] == '\n') return Malformed("empty lines before the request line");
  if (absl::ascii_islower(data[0])) return Malformed("an HTTP method must be uppercase");
  return Malformed("the first bytes are neither a TLS ClientHello nor an HTTP/1.x request");
}

}  // namespace libsandbox
