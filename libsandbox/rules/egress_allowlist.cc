#include "libsandbox/rules/egress_allowlist.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/units.h"

namespace libsandbox {

absl::Status ValidateDomainPattern(absl::string_view pattern) {
  const std::string shown = QuoteForMessage(pattern);
  absl::string_view host = pattern;
  if (absl::StartsWith(host, "*.")) host.remove_prefix(2);
  if (host.empty() || host.size() > 253) {
    return absl::InvalidArgumentError(absl::StrCat(shown, " is not a host name"));
  }
  if (host.find('*') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(shown, ": \"*.\" may only be the whole first label"));
  }
  for (char c : pattern) {
    if (absl::ascii_isupper(c)) {
      return absl::InvalidArgumentError(absl::StrCat(shown, " must be lowercase"));
    }
  }
  std::vector<absl::string_view> labels = absl::StrSplit(host, '.');
  for (absl::string_view label : labels) {
    const bool ok = !label.empty() && label.size() <= 63 && label.front() != '-' &&
                    label.back() != '-' && std::all_of(label.begin(), label.end(), [](char c) {
                      return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
                    });
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          shown, " is not a host name (labels of a-z, 0-9 and inner '-', no trailing dot)"));
    }
  }
  // A top-level label is never all digits, so this also refuses IPv4 literals
  // (IPv6 ones already failed on ':').
  if (std::all_of(labels.back().begin(), labels.back().end(),
                  [](char c) { return absl::ascii_isdigit(c); })) {
    return absl::InvalidArgumentError(
        absl::StrCat(shown, " looks like an IP address; only host names are allowed"));
  }
  if (labels.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(shown, pattern.size() != host.size() ? " would match a whole top-level domain"
                                                          : " is not a fully qualified host name"));
  }
  return absl::OkStatus();
}

bool DomainMatches(absl::string_view pattern, absl::string_view host) {
  if (absl::StartsWith(pattern, "*.")) {
    absl::string_view suffix = pattern.substr(1);  // ".example.org"
    return host.size() > suffix.size() && absl::EndsWith(host, suffix);
  }
  return host == pattern;
}

absl::Status ValidateEgressAllowlist(const EgressAllowlist& allowlist) {
  if (allowlist.domains().empty()) {
    return absl::InvalidArgumentError("egress.domains: an allowlist needs at least one domain");
  }
  if (static_cast<size_t>(allowlist.domains_size()) > kMaxPolicyDomains ||
      static_cast<size_t>(allowlist.ports_size()) > kMaxPolicyPorts) {
    return absl::InvalidArgumentError(absl::StrCat("egress: at most ", kMaxPolicyDomains,
                                                   " domains and ", kMaxPolicyPorts, " ports"));
  }
  for (const std::string& d : allowlist.domains()) {
    if (absl::Status s = ValidateDomainPattern(d); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("egress.domains: ", s.message()));
    }
  }
  for (int port : allowlist.ports()) {
    if (port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("egress.ports: ", port, " is not a port (1..65535)"));
    }
  }
  return absl::OkStatus();
}

bool EgressAllows(const EgressAllowlist& allowlist, absl::string_view host, int port) {
  const bool name_ok = std::any_of(allowlist.domains().begin(), allowlist.domains().end(),
                                   [&](const std::string& d) { return DomainMatches(d, host); });
  if (!name_ok) return false;
  if (allowlist.ports().empty()) return port == kDefaultEgressPort;
  return std::find(allowlist.ports().begin(), allowlist.ports().end(), port) !=
         allowlist.ports().end();
}

}  // namespace libsandbox
