#include "libsandbox/rules/policy.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/message_file.h"
#include "libsandbox/base/units.h"
#include "libsandbox/rules/egress_allowlist.h"
#include "libsandbox/rules/validate.h"

namespace libsandbox {
namespace {

// ---- The quantity fields shared by Policy and AdminCaps ----

enum FieldId { kCpus, kMemory, kPids, kWorkspace, kMaxOutput, kTimeout, kIdleTimeout, kNumFields };

// Every field is held as one integer in its canonical unit.
enum class Unit { kMilliCpus, kBytesBareMiB, kBytes, kCount, kMillis };

struct FieldSpec {
  const char* name;  // the same in Policy and AdminCaps
  Unit unit;
  const std::string& (Policy::*of_policy)() const;
  const std::string& (AdminCaps::*of_caps)() const;
};

constexpr std::array<FieldSpec, kNumFields> kFields = {{
    {"cpus", Unit::kMilliCpus, &Policy::cpus, &AdminCaps::cpus},
    {"memory", Unit::kBytesBareMiB, &Policy::memory, &AdminCaps::memory},
    {"pids", Unit::kCount, &Policy::pids, &AdminCaps::pids},
    {"workspace", Unit::kBytesBareMiB, &Policy::workspace, &AdminCaps::workspace},
    {"max_output", Unit::kBytes, &Policy::max_output, &AdminCaps::max_output},
    {"timeout", Unit::kMillis, &Policy::timeout, &AdminCaps::timeout},
    {"idle_timeout", Unit::kMillis, &Policy::idle_timeout, &AdminCaps::idle_timeout},
}};

constexpr int64_t kMiB = int64_t{1} << 20;

absl::StatusOr<int64_t> ParseField(const FieldSpec& spec, absl::string_view label,
                                   const std::string& text) {
  switch (spec.unit) {
    case Unit::kMilliCpus: {
      absl::StatusOr<double> cpus = ParseCpus(label, text);
      if (!cpus.ok()) return cpus.status();
      return std::llround(*cpus * 1000);  // exact: ParseCpus allows 3 decimals
    }
    case Unit::kBytesBareMiB:
    case Unit::kBytes: {
      absl::StatusOr<int64_t> bytes = ParseBytes(
          label, text, spec.unit == Unit::kBytes ? BareSize::kBytes : BareSize::kMebibytes);
      if (!bytes.ok()) return bytes.status();
      // Limits count these in whole MiB; a smaller size would round to 0,
      // which means "no limit".
      if (spec.unit == Unit::kBytesBareMiB && *bytes > 0 && *bytes < kMiB) {
        return absl::InvalidArgumentError(
            absl::StrCat(label, ": ", QuoteForMessage(text), " is less than 1Mi"));
      }
      return bytes;
    }
    case Unit::kCount:
      return ParseCount(label, text);
    case Unit::kMillis: {
      absl::StatusOr<absl::Duration> d = ParseDurationText(label, text);
      if (!d.ok()) return d.status();
      return absl::ToInt64Milliseconds(*d);
    }
  }
  return absl::InternalError("unknown unit");
}

// The library defaults (DefaultLimits) in canonical units; nullopt: none.
std::optional<int64_t> DefaultValue(FieldId id) {
  const Limits d = DefaultLimits();
  switch (id) {
    case kCpus:
      return std::llround(d.cpus() * 1000);
    case kMemory:
      return d.memory_mb() * kMiB;
    case kPids:
      return d.max_pids();
    case kWorkspace:
      return d.workspace_mb() * kMiB;
    case kMaxOutput:
      return d.max_output_bytes();
    case kTimeout:
      return std::llround(d.timeout_s() * 1000);
    default:
      return std::nullopt;
  }
}

// One field of a compiled policy.
struct FieldValue {
  std::optional<int64_t> value;  // used when the request does not ask; 0: no limit
  int64_t ceiling = 0;           // what a request may ask up to; 0: anything
  std::string ceiling_name;      // names the ceiling in messages
};

struct CompiledPolicy {
  std::array<FieldValue, kNumFields> fields;
  ResolvedPolicy resolved;  // before request overrides
};

absl::Status Invalid(absl::string_view prefix, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(prefix, message));
}

bool ValidPolicyName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-';
  });
}

bool ValidEnvName(absl::string_view name) {
  if (name.empty() || name.size() > 256 || absl::ascii_isdigit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

// Absolute, no empty, "." or ".." components, no trailing slash.
bool NormalizedAbsolutePath(absl::string_view path) {
  if (path.size() < 2 || path[0] != '/' || path.back() == '/' || path.size() > 4096) return false;
  if (path.find('\0') != absl::string_view::npos) return false;
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

// Limits from the canonical values (MiB rounded down; see ParseField).
Limits ToLimits(const std::array<FieldValue, kNumFields>& f) {
  Limits l;
  l.set_cpus(static_cast<double>(f[kCpus].value.value_or(0)) / 1000.0);
  l.set_memory_mb(f[kMemory].value.value_or(0) / kMiB);
  l.set_max_pids(f[kPids].value.value_or(0));
  l.set_workspace_mb(f[kWorkspace].value.value_or(0) / kMiB);
  l.set_max_output_bytes(f[kMaxOutput].value.value_or(0));
  l.set_timeout_s(static_cast<double>(f[kTimeout].value.value_or(0)) / 1000.0);
  return l;
}

// ValidateLimits speaks of Limits fields; policy authors wrote policy fields.
std::string PolicyFieldOf(absl::string_view message) {
  static constexpr std::pair<const char*, const char*> kNames[] = {
      {"timeout_s", "timeout"},
      {"memory_mb", "memory"},
      {"cpus", "cpus"},
      {"max_pids", "pids"},
      {"max_output_bytes", "max_output"},
      {"workspace_mb", "workspace"},
      {"tmp_mb", "workspace"}};
  for (const auto& [limits_name, policy_name] : kNames) {
    if (absl::StartsWith(message, absl::StrCat(limits_name, ":"))) return policy_name;
  }
  return "";
}

absl::StatusOr<NetworkMode> CompileNetwork(const NetworkPolicy& n, const AdminCaps& caps,
                                           absl::string_view prefix, ResolvedPolicy& out) {
  const std::string& mode = n.mode();
  if (mode.empty() || mode == "off") {
    if (n.domains_size() > 0 || n.ports_size() > 0) {
      return Invalid(prefix, "network.domains and network.ports need network.mode \"allowlist\"");
    }
    return NetworkMode::kOff;
  }
  if (mode == "on") {
    if (!caps.allow_network_on()) {
      return Invalid(prefix,
                     "network.mode \"on\" is not allowed by the admin caps "
                     "(caps.allow_network_on is false)");
    }
    if (n.domains_size() > 0 || n.ports_size() > 0) {
      return Invalid(prefix, "network.domains and network.ports need network.mode \"allowlist\"");
    }
    return NetworkMode::kOn;
  }
  if (mode != "allowlist") {
    return Invalid(prefix, absl::StrCat("network.mode ", QuoteForMessage(mode),
                                        " is not one of \"off\", \"on\", \"allowlist\""));
  }
  if (!caps.allow_allowlist()) {
    return Invalid(prefix,
                   "network.mode \"allowlist\" is not allowed by the admin caps "
                   "(caps.allow_allowlist is false)");
  }
  if (n.domains_size() == 0) {
    return Invalid(prefix, "network.mode \"allowlist\" needs at least one network.domains entry");
  }
  if (static_cast<size_t>(n.domains_size()) > kMaxPolicyDomains) {
    return Invalid(prefix,
                   absl::StrCat("network.domains has more than ", kMaxPolicyDomains, " entries"));
  }
  if (static_cast<size_t>(n.ports_size()) > kMaxPolicyPorts) {
    return Invalid(prefix,
                   absl::StrCat("network.ports has more than ", kMaxPolicyPorts, " entries"));
  }
  for (const std::string& d : n.domains()) {
    if (absl::Status s = ValidateDomainPattern(d); !s.ok()) {
      return Invalid(prefix, absl::StrCat("network.domains: ", s.message()));
    }
    out.domains.push_back(d);
  }
  for (int32_t port : n.ports()) {
    if (port < 1 || port > 65535) {
      return Invalid(prefix, absl::StrCat("network.ports: ", port, " is not in 1..65535"));
    }
    out.ports.push_back(port);
  }
  if (out.ports.empty()) out.ports.push_back(kDefaultEgressPort);
  return NetworkMode::kAllowlist;
}

absl::Status CompileEnv(const Policy& p, absl::string_view prefix, ResolvedPolicy& out) {
  if (static_cast<size_t>(p.env_size()) > kMaxEnvEntries) {
    return Invalid(prefix, absl::StrCat("env has more than ", kMaxEnvEntries, " entries"));
  }
  size_t bytes = 0;
  for (const auto& [k, v] : p.env()) {
    if (!ValidEnvName(k)) {
      return Invalid(prefix,
                     absl::StrCat("env: ", QuoteForMessage(k), " is not a valid variable name"));
    }
    if (v.find('\0') != std::string::npos) {
      return Invalid(prefix, absl::StrCat("env: the value of ", k, " contains a NUL byte"));
    }
    bytes += k.size() + v.size();
    out.env[k] = v;
  }
  if (bytes > (1 << 20)) return Invalid(prefix, "env is larger than 1 MiB");
  return absl::OkStatus();
}

absl::Status CompileRootfs(const Policy& p, const std::set<std::string>& allowed,
                           absl::string_view prefix, ResolvedPolicy& out) {
  if (p.rootfs().empty()) return absl::OkStatus();
  if (!allowed.contains(p.rootfs())) {
    return Invalid(prefix, absl::StrCat("rootfs ", QuoteForMessage(p.rootfs()),
                                        " is not in caps.allowed_rootfs"));
  }
  struct stat st;
  if (::stat(p.rootfs().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Invalid(prefix,
                   absl::StrCat("rootfs ", QuoteForMessage(p.rootfs()), " is not a directory"));
  }
  out.rootfs = p.rootfs();
  return absl::OkStatus();
}

// The caps in canonical units; 0 means no cap.
using Caps = std::array<int64_t, kNumFields>;

absl::StatusOr<Caps> CompileCaps(const AdminCaps& caps) {
  Caps out{};
  for (int i = 0; i < kNumFields; ++i) {
    const FieldSpec& spec = kFields[i];
    const std::string& text = (caps.*spec.of_caps)();
    if (text.empty()) continue;
    absl::StatusOr<int64_t> v = ParseField(spec, absl::StrCat("caps.", spec.name), text);
    if (!v.ok()) return v.status();
    out[i] = *v;
  }
  for (const std::string& root : caps.allowed_rootfs()) {
    if (!NormalizedAbsolutePath(root)) {
      return absl::InvalidArgumentError(absl::StrCat("caps.allowed_rootfs: ", QuoteForMessage(root),
                                                     " is not a normalized absolute path"));
    }
  }
  return out;
}

std::string CapName(const AdminCaps& caps, const FieldSpec& spec) {
  return absl::StrCat("the admin cap caps.", spec.name, " ",
                      QuoteForMessage((caps.*spec.of_caps)()));
}

// `p` checked against the caps; the name is checked by the caller. A policy
// with an empty name is the caps-only policy for requests that name none.
absl::StatusOr<CompiledPolicy> CompilePolicy(const Policy& p, const AdminCaps& caps,
                                             const Caps& cap_values,
                                             const std::set<std::string>& allowed_rootfs) {
  const std::string prefix = p.name().empty() ? std::string("caps (requests without a policy): ")
                                              : absl::StrCat("policy \"", p.name(), "\": ");
  CompiledPolicy c;
  for (int i = 0; i < kNumFields; ++i) {
    const FieldSpec& spec = kFields[i];
    const int64_t cap = cap_values[i];
    FieldValue& f = c.fields[i];
    const std::string& text = (p.*spec.of_policy)();
    if (text.empty()) {
      // Unset: the default (kept under the cap); requests may ask up to the cap.
      f.value = DefaultValue(static_cast<FieldId>(i));
      if (cap > 0 && (!f.value || *f.value == 0 || *f.value > cap)) f.value = cap;
      f.ceiling = cap;
      f.ceiling_name = CapName(caps, spec);
      continue;
    }
    absl::StatusOr<int64_t> v = ParseField(spec, spec.name, text);
    if (!v.ok()) return Invalid(prefix, v.status().message());
    if (cap > 0 && (*v == 0 || *v > cap)) {
      return Invalid(
          prefix, absl::StrCat(spec.name, " ", QuoteForMessage(text), *v == 0 ? " (no limit)" : "",
                               " is over ", CapName(caps, spec)));
    }
    f.value = *v;
    f.ceiling = *v;
    f.ceiling_name =
        absl::StrCat("the policy \"", p.name(), "\" ", spec.name, " ", QuoteForMessage(text));
  }
  c.resolved.name = p.name();
  c.resolved.limits = ToLimits(c.fields);
  if (absl::Status s = ValidateLimits(c.resolved.limits); !s.ok()) {
    std::string field = PolicyFieldOf(s.message());
    std::string text;
    for (const FieldSpec& spec : kFields) {
      if (field == spec.name) text = (p.*spec.of_policy)();
    }
    return Invalid(prefix,
                   absl::StrCat(field.empty() ? "" : field, text.empty() ? "" : " ",
                                text.empty() ? "" : QuoteForMessage(text), ": ", s.message()));
  }
  if (const auto& idle = c.fields[kIdleTimeout].value; idle && *idle > 0) {
    if (absl::Milliseconds(*idle) > kMaxIdleTimeout) {
      return Invalid(prefix,
                     absl::StrCat("idle_timeout ", QuoteForMessage(p.idle_timeout()),
                                  " is longer than ", absl::FormatDuration(kMaxIdleTimeout)));
    }
    c.resolved.idle_timeout = absl::Milliseconds(*idle);
  }
  absl::StatusOr<NetworkMode> mode = CompileNetwork(p.network(), caps, prefix, c.resolved);
  if (!mode.ok()) return mode.status();
  c.resolved.network = *mode;
  if (absl::Status s = CompileEnv(p, prefix, c.resolved); !s.ok()) return s;
  if (absl::Status s = CompileRootfs(p, allowed_rootfs, prefix, c.resolved); !s.ok()) return s;
  return c;
}

}  // namespace

struct PolicyStore::Compiled {
  PolicySet set;
  absl::flat_hash_map<std::string, CompiledPolicy> policies;
  CompiledPolicy caps_only;
};

namespace {

absl::StatusOr<std::shared_ptr<const PolicyStore::Compiled>> Compile(PolicySet set) {
  auto out = std::make_shared<PolicyStore::Compiled>();
  absl::StatusOr<Caps> caps = CompileCaps(set.caps());
  if (!caps.ok()) return caps.status();
  if (set.caps().sessions_per_user() < 0) {
    return absl::InvalidArgumentError(
        "caps.sessions_per_user: must not be negative (0: the "
        "Config's max_sessions_per_user)");
  }
  if (set.caps().processes_per_session() < 0) {
    return absl::InvalidArgumentError(
        "caps.processes_per_session: must not be negative (0: the library's default of 16)");
  }
  if (static_cast<size_t>(set.policies_size()) > kMaxPolicies) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxPolicies, " policies"));
  }
  const std::set<std::string> allowed(set.caps().allowed_rootfs().begin(),
                                      set.caps().allowed_rootfs().end());
  for (const Policy& p : set.policies()) {
    if (!ValidPolicyName(p.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy name ", QuoteForMessage(p.name()), " is not 1 to 64 of [a-z0-9_-]"));
    }
    if (out->policies.contains(p.name())) {
      return absl::InvalidArgumentError(absl::StrCat("policy \"", p.name(), "\" is defined twice"));
    }
    absl::StatusOr<CompiledPolicy> c = CompilePolicy(p, set.caps(), *caps, allowed);
    if (!c.ok()) return c.status();
    out->policies.emplace(p.name(), *std::move(c));
  }
  if (!set.default_policy().empty() && !out->policies.contains(set.default_policy())) {
    return absl::InvalidArgumentError(
        absl::StrCat("default_policy ", QuoteForMessage(set.default_policy()), " names no policy"));
  }
  // Requests that name no policy, in a set without a default: the caps only.
  Policy none;
  if (set.caps().allow_network_on()) none.mutable_network()->set_mode("on");
  absl::StatusOr<CompiledPolicy> caps_only = CompilePolicy(none, set.caps(), *caps, allowed);
  if (!caps_only.ok()) return caps_only.status();
  out->caps_only = *std::move(caps_only);
  out->set = std::move(set);
  return std::shared_ptr<const PolicyStore::Compiled>(std::move(out));
}

}  // namespace

absl::StatusOr<PolicySet> ParsePolicySet(const std::string& text, PolicyFormat format) {
  PolicySet set;
  absl::Status s = ParseMessage(
      text, format == PolicyFormat::kJson ? MessageFormat::kJson : MessageFormat::kTextproto, set);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("policy set ", s.message()));
  return set;
}

absl::StatusOr<PolicySet> ReadPolicyFile(const std::string& path) {
  absl::StatusOr<MessageFormat> format = MessageFormatOf(path, "policy file");
  if (!format.ok()) return format.status();
  absl::StatusOr<std::string> text = ReadFile(path, kMaxPolicyFileBytes + 1);
  if (!text.ok()) return text.status();
  if (text->size() > kMaxPolicyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy file ", path, " is larger than ", kMaxPolicyFileBytes, " bytes"));
  }
  absl::StatusOr<PolicySet> set = ParsePolicySet(
      *text, *format == MessageFormat::kJson ? PolicyFormat::kJson : PolicyFormat::kTextproto);
  if (!set.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy file ", path, ": ", set.status().message()));
  }
  return set;
}

absl::Status ValidatePolicySet(const PolicySet& set) { return Compile(set).status(); }

absl::Status ApplyPolicy(const ResolvedPolicy& policy, RunRequest& request) {
  if (request.network() && policy.network == NetworkMode::kOff) {
    return absl::InvalidArgumentError(
        policy.name.empty()
            ? std::string("network: not allowed by the admin caps (caps.allow_network_on)")
            : absl::StrCat("network: policy \"", policy.name, "\" has network off"));
  }
  // A named policy decides the network; without one the request does,
  // within the caps.
  if (!policy.name.empty()) {
    if (request.egress().domains_size() > 0 || request.egress().ports_size() > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "egress: policy \"", policy.name, "\" decides the network; the request may not set it"));
    }
    request.set_network(policy.network != NetworkMode::kOff);
    request.clear_egress();
    if (policy.network == NetworkMode::kAllowlist) {
      for (const std::string& d : policy.domains) request.mutable_egress()->add_domains(d);
      for (int p : policy.ports) request.mutable_egress()->add_ports(p);
    }
  }
  *request.mutable_limits() = policy.limits;
  for (const auto& [k, v] : policy.env) (*request.mutable_env())[k] = v;
  return absl::OkStatus();
}

// ---- PolicyStore ----

PolicyStore::PolicyStore() {
  absl::StatusOr<std::shared_ptr<const Compiled>> empty = Compile(PolicySet());
  current_ = *empty;  // an empty set always compiles
}

std::shared_ptr<const PolicyStore::Compiled> PolicyStore::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::Status PolicyStore::Install(PolicySet set) {
  absl::StatusOr<std::shared_ptr<const Compiled>> compiled = Compile(std::move(set));
  if (!compiled.ok()) return compiled.status();
  std::shared_ptr<const Compiled> old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(current_, *std::move(compiled));
  }
  return absl::OkStatus();  // `old` dies outside the readers' lock
}

absl::Status PolicyStore::Replace(const PolicySet& set) {
  absl::MutexLock lock(&write_mu_);
  return Install(set);
}

absl::Status PolicyStore::LoadString(const std::string& text, PolicyFormat format) {
  absl::StatusOr<PolicySet> set = ParsePolicySet(text, format);
  if (!set.ok()) return set.status();
  return Replace(*set);
}

absl::Status PolicyStore::LoadFile(const std::string& path) {
  absl::StatusOr<PolicySet> set = ReadPolicyFile(path);
  if (!set.ok()) return set.status();
  return Replace(*set);
}

absl::Status PolicyStore::SyncWithFile(const std::string& path) {
  absl::MutexLock lock(&write_mu_);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(absl::StrCat("policy file ", path), errno);
  }
  FileStamp stamp{path,
                  st.st_dev,
                  st.st_ino,
                  st.st_size,
                  st.st_mtim.tv_sec * int64_t{1000000000} + st.st_mtim.tv_nsec,
                  st.st_ctim.tv_sec * int64_t{1000000000} + st.st_ctim.tv_nsec};
  if (synced_ && *synced_ == stamp) return absl::OkStatus();
  absl::StatusOr<PolicySet> set = ReadPolicyFile(path);
  if (!set.ok()) return set.status();
  if (absl::Status s = Install(*std::move(set)); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("policy file ", path, ": ", s.message()));
  }
  synced_ = stamp;
  return absl::OkStatus();
}

void UpsertPolicyInSet(PolicySet& set, const Policy& policy) {
  for (Policy& p : *set.mutable_policies()) {
    if (p.name() == policy.name()) {
      p = policy;
      return;
    }
  }
  *set.add_policies() = policy;
}

absl::Status RemovePolicyFromSet(PolicySet& set, const std::string& name) {
  if (set.default_policy() == name && !name.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy \"", name, "\" is the default_policy; change the default first"));
  }
  auto* policies = set.mutable_policies();
  auto it = std::find_if(policies->begin(), policies->end(),
                         [&](const Policy& p) { return p.name() == name; });
  if (it == policies->end()) {
    return absl::NotFoundError(absl::StrCat("no policy ", QuoteForMessage(name)));
  }
  policies->erase(it);
  return absl::OkStatus();
}

absl::Status PolicyStore::Upsert(const Policy& policy) {
  absl::MutexLock lock(&write_mu_);
  PolicySet set = Current()->set;
  UpsertPolicyInSet(set, policy);
  return Install(std::move(set));
}

absl::Status PolicyStore::Remove(const std::string& name) {
  absl::MutexLock lock(&write_mu_);
  PolicySet set = Current()->set;
  if (absl::Status s = RemovePolicyFromSet(set, name); !s.ok()) return s;
  return Install(std::move(set));
}

absl::StatusOr<Policy> PolicyStore::Get(const std::string& name) const {
  std::shared_ptr<const Compiled> c = Current();
  for (const Policy& p : c->set.policies()) {
    if (p.name() == name) return p;
  }
  return absl::NotFoundError(absl::StrCat("no policy ", QuoteForMessage(name)));
}

std::vector<Policy> PolicyStore::List() const {
  std::shared_ptr<const Compiled> c = Current();
  std::vector<Policy> out(c->set.policies().begin(), c->set.policies().end());
  std::sort(out.begin(), out.end(),
            [](const Policy& a, const Policy& b) { return a.name() < b.name(); });
  return out;
}

PolicySet PolicyStore::Snapshot() const { return Current()->set; }

int PolicyStore::SessionsPerUser() const { return Current()->set.caps().sessions_per_user(); }

int PolicyStore::ProcessesPerSession() const {
  return Current()->set.caps().processes_per_session();
}

absl::StatusOr<ResolvedPolicy> PolicyStore::Resolve(const std::string& name,
                                                    const Limits* request_overrides) const {
  std::shared_ptr<const Compiled> c = Current();
  const std::string& chosen = name.empty() ? c->set.default_policy() : name;
  const CompiledPolicy* policy = &c->caps_only;
  if (!chosen.empty()) {
    auto it = c->policies.find(chosen);
    if (it == c->policies.end()) {
      std::vector<std::string> known;
      for (const Policy& p : c->set.policies()) known.push_back(p.name());
      std::sort(known.begin(), known.end());
      return absl::NotFoundError(absl::StrCat("unknown policy ", QuoteForMessage(chosen),
                                              "; known: ", absl::StrJoin(known, ", ")));
    }
    policy = &it->second;
  }
  ResolvedPolicy out = policy->resolved;
  if (request_overrides == nullptr) return out;

  const Limits& r = *request_overrides;
  if (absl::Status s = ValidateLimits(r); !s.ok()) return s;
  const auto& f = policy->fields;
  // A nonzero request value replaces the policy's if within its ceiling.
  auto check = [&](FieldId id, absl::string_view request_field, double requested,
                   double in_canonical) -> absl::Status {
    if (requested == 0 || f[id].ceiling == 0) return absl::OkStatus();
    if (in_canonical > static_cast<double>(f[id].ceiling)) {
      return absl::InvalidArgumentError(absl::StrCat("request limits.", request_field, "=",
                                                     requested, " is over ", f[id].ceiling_name));
    }
    return absl::OkStatus();
  };
  const double mib = static_cast<double>(kMiB);
  for (absl::Status s : {
           check(kTimeout, "timeout_s", r.timeout_s(), r.timeout_s() * 1000),
           check(kMemory, "memory_mb", r.memory_mb(), r.memory_mb() * mib),
           check(kCpus, "cpus", r.cpus(), r.cpus() * 1000),
           check(kPids, "max_pids", r.max_pids(), r.max_pids()),
           check(kMaxOutput, "max_output_bytes", r.max_output_bytes(), r.max_output_bytes()),
           check(kWorkspace, "workspace_mb", r.workspace_mb(), r.workspace_mb() * mib),
           check(kWorkspace, "tmp_mb", r.tmp_mb(), r.tmp_mb() * mib),
       }) {
    if (!s.ok()) return s;
  }
  Limits& l = out.limits;
  if (r.timeout_s() > 0) l.set_timeout_s(r.timeout_s());
  if (r.memory_mb() > 0) l.set_memory_mb(r.memory_mb());
  if (r.cpus() > 0) l.set_cpus(r.cpus());
  if (r.max_pids() > 0) l.set_max_pids(r.max_pids());
  if (r.max_output_bytes() > 0) l.set_max_output_bytes(r.max_output_bytes());
  if (r.workspace_mb() > 0) l.set_workspace_mb(r.workspace_mb());
  if (r.tmp_mb() > 0) l.set_tmp_mb(r.tmp_mb());
  return out;
}

absl::StatusOr<RunRequest> RequestUnderPolicy(PolicyStore& store, const Config& config,
                                              const RunRequest& request, std::string* policy_name) {
  policy_name->clear();
  // Only the admin picks a root file system (a policy's rootfs, from
  // caps.allowed_rootfs).
  if (!request.rootfs().empty()) {
    return absl::InvalidArgumentError(
        "rootfs: only a policy's rootfs sets the root file system; the request may not set it");
  }
  if (config.policy_file().empty()) {
    if (!request.policy().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("policy: the request names policy ",
                                                     QuoteForMessage(request.policy()),
                                                     " but the config has no policy_file"));
    }
    return request;
  }
  if (absl::Status s = store.SyncWithFile(config.policy_file()); !s.ok()) {
    // Fail closed: an admin who just tightened a cap with a typo must not
    // get the old, looser policies silently.
    return absl::FailedPreconditionError(
        absl::StrCat(s.message(), ". Fix the policy file; runs are refused until then."));
  }
  if (!request.policy().empty() && !ValidPolicyName(request.policy())) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: ", QuoteForMessage(request.policy()), " is not a valid policy name"));
  }
  *policy_name = request.policy();  // the audit names what was asked for, even if refused
  absl::StatusOr<ResolvedPolicy> resolved =
      store.Resolve(request.policy(), request.has_limits() ? &request.limits() : nullptr);
  if (!resolved.ok()) return absl::InvalidArgumentError(resolved.status().message());
  *policy_name = resolved->name;
  RunRequest out = request;
  if (absl::Status s = ApplyPolicy(*resolved, out); !s.ok()) return s;
  out.set_rootfs(resolved->rootfs);
  return out;
}

}  // namespace libsandbox
