// The pieces the egress proxy decides with: what the first bytes of a
// tunnel name, which resolved addresses count as public, and the DNS server
// setting. The proxy end to end is in run_egress_test.cc.
#include "libsandbox/host/egress_inspect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "libsandbox/base/ip_address.h"
#include "libsandbox/host/dns_client.h"
#include "libsandbox/host/egress_proxy.h"
#include "libsandbox/rules/egress_allowlist.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;

void Put16(std::string& s, size_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xff));
}

std::string Ext(uint16_t type, const std::string& body) {
  std::string e;
  Put16(e, type);
  Put16(e, body.size());
  return e + body;
}

std::string SniExt(const std::vector<std::string>& names) {
  std::string list;
  for (const std::string& n : names) {
    list.push_back(0);
    Put16(list, n.size());
    list += n;
  }
  std::string body;
  Put16(body, list.size());
  return Ext(0, body + list);
}

// A TLS 1.2-style ClientHello in one record, with the given extensions.
std::string ClientHello(const std::string& extensions) {
  std::string hello = "\x03\x03" + std::string(32, 'r');
  hello.push_back(0);                           // session id
  hello += std::string("\x00\x02\x13\x01", 4);  // one cipher suite
  hello += std::string("\x01\x00", 2);          // null compression
  Put16(hello, extensions.size());
  hello += extensions;
  std::string hs = "\x01";
  hs.push_back(0);
  Put16(hs, hello.size());
  hs += hello;
  std::string rec = "\x16\x03\x01";
  Put16(rec, hs.size());
  return rec + hs;
}

TEST(InspectFirstBytes, ReadsTheServerNameOfAClientHello) {
  std::string hello = ClientHello(Ext(10, "\x00\x02\x00\x1d") + SniExt({"PyPI.org."}));
  FirstBytes f = InspectFirstBytes(hello);
  EXPECT_EQ(f.kind, FirstBytes::kTls);
  EXPECT_EQ(f.name, "pypi.org");
  // Every prefix is incomplete, never misread.
  for (size_t i = 1; i < hello.size(); ++i) {
    EXPECT_EQ(InspectFirstBytes(hello.substr(0, i)).kind, FirstBytes::kNeedMore) << i;
  }
}

TEST(InspectFirstBytes, ClientHelloWithoutServerNameIsRefused) {
  // The server would pick its default site, which may be any it serves.
  FirstBytes f = InspectFirstBytes(ClientHello(Ext(10, "\x00\x02\x00\x1d")));
  EXPECT_EQ(f.kind, FirstBytes::kMalformed);
  EXPECT_THAT(f.error, HasSubstr("server name"));
  EXPECT_EQ(InspectFirstBytes(ClientHello("")).kind, FirstBytes::kMalformed);
}

TEST(InspectFirstBytes, RefusesAmbiguousOrBrokenHellos) {
  EXPECT_EQ(InspectFirstBytes(ClientHello(SniExt({"a.test"}) + SniExt({"b.test"}))).kind,
            FirstBytes::kMalformed);
  EXPECT_EQ(InspectFirstBytes(ClientHello(SniExt({"a.test", "b.test"}))).kind,
            FirstBytes::kMalformed);
  std::string bad_length = ClientHello(SniExt({"a.test"}));
  bad_length[bad_length.size() - 8] = 'x';  // a name length past the end
  EXPECT_EQ(InspectFirstBytes(bad_length).kind, FirstBytes::kMalformed);
  EXPECT_EQ(InspectFirstBytes(std::string("\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", 10)).kind,
            FirstBytes::kMalformed);  // a ServerHello
  EXPECT_EQ(InspectFirstBytes(std::string("\x16\x03\x01\x50\x00", 5)).kind,
            FirstBytes::kMalformed);  // record over 16 KiB
}

TEST(InspectFirstBytes, ReadsTheHostHeader) {
  FirstBytes f = InspectFirstBytes("GET / HTTP/1.1\r\nhost: Files.Pythonhosted.org:443\r\n\r\n");
  EXPECT_EQ(f.kind, FirstBytes::kHttp);
  EXPECT_EQ(f.name, "files.pythonhosted.org");
  EXPECT_EQ(InspectFirstBytes("GET / HTTP/1.1\r\nHost: a\r\n").kind, FirstBytes::kNeedMore);
  EXPECT_EQ(InspectFirstBytes("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").kind,
            FirstBytes::kMalformed);
  EXPECT_EQ(InspectFirstBytes("GE").kind, FirstBytes::kNeedMore);
}

TEST(InspectFirstBytes, TheRequestTargetNamesTheHostToo) {
  // Servers obey an absolute or authority-form target over the Host header.
  FirstBytes f = InspectFirstBytes("GET http://Allowed.test:8080/x HTTP/1.1\r\n\r\n");
  EXPECT_EQ(f.kind, FirstBytes::kHttp);
  EXPECT_EQ(f.name, "allowed.test");
  EXPECT_EQ(InspectFirstBytes("CONNECT evil.test:443 HTTP/1.1\r\n\r\n").name, "evil.test");
  FirstBytes mixed =
      InspectFirstBytes("GET http://evil.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
  EXPECT_EQ(mixed.kind, FirstBytes::kMalformed);
  EXPECT_THAT(mixed.error, HasSubstr("different hosts"));
  // Parsers split "u@evil.test@allowed.test" differently.
  EXPECT_EQ(InspectFirstBytes("GET http://u@evil.test@allowed.test/ HTTP/1.1\r\n\r\n").kind,
            FirstBytes::kMalformed);
}

TEST(InspectFirstBytes, RefusesWhatItCannotCheck) {
  auto refused = [](const std::string& data, const std::string& why) {
    FirstBytes f = InspectFirstBytes(data);
    EXPECT_EQ(f.kind, FirstBytes::kMalformed) << data;
    EXPECT_THAT(f.error, HasSubstr(why)) << data;
  };
  // Empty lines before the request line hide its Host header from a
  // request-line check; servers skip them (RFC 9112 2.2).
  for (const char* prefix : {"\r\n", "\n", "\r\n\r\n"}) {
    refused(std::string(prefix) + "GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n", "empty lines");
  }
  refused("get / HTTP/1.1\r\nHost: evil.test\r\n\r\n", "uppercase");
  refused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2c");
  refused("GET / HTTP/1.0\r\n\r\n", "names no host");
  refused("GET /\r\nHost: a.test\r\n\r\n", "request line");
  refused("GET / SPDY/3\r\nHost: a.test\r\n\r\n", "request line");
  refused("SSH-2.0-OpenSSH\r\n", "neither");
  refused(std::string("\x00\x01", 2), "neither");
}

std::string Reason(const char* text) {
  std::optional<IpAddress> a = IpAddress::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a ? NonPublicReason(*a) : "unparsed";
}

TEST(NonPublicReason, BlocksEverythingButPublicUnicast) {
  for (const char* blocked : {"127.0.0.1",
                              "10.1.2.3",
                              "172.16.0.1",
                              "192.168.1.1",
                              "169.254.169.254",
                              "100.64.0.1",
                              "0.0.0.0",
                              "224.0.0.1",
                              "255.255.255.255",
                              "::1",
                              "::",
                              "fe80::1",
                              "fd00:ec2::254",
                              "ff02::1",
                              "::ffff:127.0.0.1",
                              "::ffff:10.0.0.1",
                              "64:ff9b::a9fe:a9fe",
                              "2002:7f00:1::1",
                              "2001::1",
                              "::127.0.0.1",
                              "fec0::1"}) {
    EXPECT_NE(Reason(blocked), "") << blocked;
  }
  for (const char* open : {"151.101.0.223", "8.8.8.8", "203.0.113.2", "2a04:4e42::223",
                           "2001:db8:7::2", "::ffff:151.101.0.223", "64:ff9b::808:808"}) {
    EXPECT_EQ(Reason(open), "") << open;
  }
  EXPECT_FALSE(IpAddress::Parse("localhost").has_value());
  EXPECT_FALSE(IpAddress::Parse("1.2.3").has_value());
}

TEST(ParseDnsServer, AcceptsIpv4WithOptionalPort) {
  EXPECT_FALSE(ParseDnsServer("")->address.has_value());
  absl::StatusOr<DnsServer> s = ParseDnsServer("203.0.113.2:5353");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(ntohs(s->address->sin_port), 5353);
  EXPECT_EQ(ntohs(ParseDnsServer("203.0.113.2")->address->sin_port), 53);
  for (const char* bad :
       {"dns.example", "2001:db8::1", "1.2.3.4:0", "1.2.3.4:x", "1.2.3.4:65536"}) {
    EXPECT_FALSE(ParseDnsServer(bad).ok()) << bad;
  }
}

TEST(ValidateEgressAllowlist, ChecksDomainsAndPorts) {
  EgressAllowlist a;
  EXPECT_FALSE(ValidateEgressAllowlist(a).ok());  // no domains
  a.add_domains("pypi.org");
  a.add_domains("*.pythonhosted.org");
  EXPECT_TRUE(ValidateEgressAllowlist(a).ok());
  a.add_ports(0);
  EXPECT_FALSE(ValidateEgressAllowlist(a).ok());
  EgressAllowlist ip;
  ip.add_domains("10.0.0.1");
  EXPECT_FALSE(ValidateEgressAllowlist(ip).ok());
}

}  // namespace
}  // namespace libsandbox
