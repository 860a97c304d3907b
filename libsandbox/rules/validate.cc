#include "libsandbox/rules/validate.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/rules/egress_allowlist.h"
#include "libsandbox/rules/languages.h"

namespace libsandbox {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

template <typename T>
absl::Status InRange(absl::string_view field, T value, T max, absl::string_view unit) {
  if (std::isnan(static_cast<double>(value)) || value < 0) {
    return Invalid(field, "must be >= 0 (0 means no limit)");
  }
  if (value > max) return Invalid(field, absl::StrCat("must be at most ", max, unit));
  return absl::OkStatus();
}

bool ValidEnvName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateLimits(const Limits& l) {
  if (auto s = InRange("timeout_s", l.timeout_s(), 86400.0, " s"); !s.ok()) return s;
  if (auto s = InRange<int64_t>("memory_mb", l.memory_mb(), 1 << 20, " MiB"); !s.ok()) return s;
  if (l.memory_mb() > 0 && l.memory_mb() < 32) {
    return Invalid("memory_mb", "must be at least 32 MiB (the sandbox kernel needs it)");
  }
  if (auto s = InRange("cpus", l.cpus(), 1024.0, ""); !s.ok()) return s;
  if (l.cpus() > 0 && l.cpus() < 0.01) return Invalid("cpus", "must be at least 0.01");
  if (auto s = InRange<int64_t>("max_pids", l.max_pids(), 1 << 22, ""); !s.ok()) return s;
  if (l.max_pids() > 0 && l.max_pids() < 8) {
    return Invalid("max_pids", "must be at least 8 (the interpreter needs a few)");
  }
  if (auto s =
          InRange<int64_t>("max_output_bytes", l.max_output_bytes(), int64_t{1} << 30, " bytes");
      !s.ok()) {
    return s;
  }
  if (auto s = InRange<int64_t>("workspace_mb", l.workspace_mb(), 1 << 20, " MiB"); !s.ok()) {
    return s;
  }
  if (auto s = InRange<int64_t>("tmp_mb", l.tmp_mb(), 1 << 20, " MiB"); !s.ok()) return s;
  return absl::OkStatus();
}

absl::Status ValidateRelativePath(const std::string& path) {
  if (path.empty()) return Invalid("file path", "is empty");
  if (path.size() > 4096) return Invalid("file path", "is longer than 4096 bytes");
  if (path.find('\0') != std::string::npos) return Invalid("file path", "contains a NUL byte");
  if (path[0] == '/') return Invalid("file path", absl::StrCat("'", path, "' is absolute"));
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..")
      return Invalid("file path", absl::StrCat("'", path, "' leaves the workspace"));
    if (part.size() > 255) return Invalid("file path", "has a component longer than 255 bytes");
  }
  if (path == "." || absl::EndsWith(path, "/")) {
    return Invalid("file path", absl::StrCat("'", path, "' names a directory"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const RunRequest& r, const Limits& limits) {
  if (FindLanguage(r.language().empty() ? kDefaultLanguage : r.language()) == nullptr) {
    return Invalid("language", absl::StrCat("unknown language '", r.language().substr(0, 64),
                                            "'; known: ", absl::StrJoin(LanguageNames(), ", ")));
  }
  if (r.code().empty()) return Invalid("code", "is empty");
  if (r.code().size() > kMaxCodeBytes) {
    return Invalid("code", absl::StrCat("is larger than ", kMaxCodeBytes, " bytes"));
  }
  if (r.code().find('\0') != std::string::npos) return Invalid("code", "contains a NUL byte");
  if (r.user().size() > kMaxUserBytes) {
    return Invalid("user", absl::StrCat("is longer than ", kMaxUserBytes, " bytes"));
  }
  if (r.user().find('\0') != std::string::npos) return Invalid("user", "contains a NUL byte");
  if (auto s = ValidateLimits(limits); !s.ok()) return s;
  if (r.has_stdin() && r.stdin().size() > kMaxStdinBytes) {
    return Invalid("stdin", absl::StrCat("is larger than ", kMaxStdinBytes, " bytes"));
  }
  if (r.env_size() > static_cast<int>(kMaxEnvEntries)) {
    return Invalid("env", absl::StrCat("has more than ", kMaxEnvEntries, " entries"));
  }
  size_t env_bytes = 0;
  for (const auto& [k, v] : r.env()) {
    if (!ValidEnvName(k)) {
      return Invalid("env", absl::StrCat("'", k.substr(0, 64), "' is not a valid variable name"));
    }
    if (v.find('\0') != std::string::npos) {
      return Invalid("env", absl::StrCat("value of ", k, " contains a NUL byte"));
    }
    env_bytes += k.size() + v.size();
  }
  if (env_bytes > (1 << 20)) return Invalid("env", "is larger than 1 MiB");
  int64_t file_bytes = 0;
  for (const InputFile& f : r.files()) {
    if (auto s = ValidateRelativePath(f.path()); !s.ok()) return s;
    file_bytes += static_cast<int64_t>(f.content().size());
  }
  if (limits.workspace_mb() > 0 && file_bytes > limits.workspace_mb() * (int64_t{1} << 20)) {
    return Invalid("files", "do not fit in the workspace (raise workspace_mb)");
  }
  if (r.egress().domains_size() > 0 || r.egress().ports_size() > 0) {
    if (!r.network()) return Invalid("egress", "an allowlist needs network on");
    if (auto s = ValidateEgressAllowlist(r.egress()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace libsandbox
