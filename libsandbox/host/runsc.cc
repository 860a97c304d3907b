#include "libsandbox/host/runsc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/process.h"

namespace libsandbox {
namespace {

constexpr char kInstallHint[] =
    "install the Debian package runsc or gVisor's release, or set runsc_path";

// A probe runs the binary three times; a healthy runsc answers in well under
// a second, so this only guards against a configured path that hangs.
constexpr absl::Duration kProbeTimeout = absl::Seconds(15);

// Caps on what we keep from the binary's output: a wrong or hostile binary
// must not make us store unbounded data.
constexpr size_t kMaxFlags = 1024;
constexpr size_t kMaxFlagNameLen = 64;
constexpr size_t kMaxFlagHelpLen = 4096;
constexpr size_t kMaxPlatforms = 16;
constexpr size_t kMaxPlatformNameLen = 32;
constexpr size_t kMaxVersionLen = 128;

absl::string_view StripDashes(absl::string_view flag) {
  while (absl::ConsumePrefix(&flag, "-")) {
  }
  return flag;
}

bool IsPlatformName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxPlatformNameLen) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
  });
}

bool IsPrintableToken(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isgraph(c); });
}

// `default "x"` from a Go flag help text, or "".
std::string GoFlagDefault(absl::string_view help) {
  size_t at = help.rfind("(default \"");
  if (at == absl::string_view::npos) return "";
  help.remove_prefix(at + 10);
  size_t end = help.find('"');
  if (end == absl::string_view::npos) return "";
  return std::string(help.substr(0, end));
}

// Platform names listed in the --platform help ("... to use: ptrace (default),
// kvm."), for builds whose `help platforms` fails.
std::vector<std::string> PlatformsFromHelp(absl::string_view help) {
  std::vector<std::string> out;
  size_t at = help.find(':');
  if (at == absl::string_view::npos) return out;
  help.remove_prefix(at + 1);
  help = help.substr(0, help.find("(default \""));
  for (absl::string_view word : absl::StrSplit(help, absl::ByAnyChar(" ,.()\t\n"))) {
    if (word != "default" && IsPlatformName(word)) out.emplace_back(word);
  }
  return out;
}

std::string Combined(const ProcessResult& r) { return absl::StrCat(r.out.data, "\n", r.err.data); }

absl::StatusOr<ProcessResult> RunProbe(const std::string& path,
                                       const std::vector<std::string>& args) {
  std::vector<std::string> argv = {path};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<ProcessResult> r = RunCommand(argv, kProbeTimeout);
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat("running ", absl::StrJoin(argv, " "), ": ",
                                                        r.status().message()));
  }
  if (r->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(absl::StrJoin(argv, " "), " did not finish within ",
                     absl::FormatDuration(kProbeTimeout), "; is ", path, " really runsc?"));
  }
  return r;
}

absl::StatusOr<RunscInfo> ProbeUncached(const std::string& path) {
  RunscInfo info;
  info.path = path;

  absl::StatusOr<ProcessResult> version = RunProbe(path, {"--version"});
  if (!version.ok()) return version.status();
  absl::StatusOr<RunscVersionInfo> parsed = ParseRunscVersion(Combined(*version));
  if (!parsed.ok() || version->exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " does not look like runsc: `", path, " --version` exited with ",
                     version->exit_code, " and printed no \"runsc version\" line; ", kInstallHint));
  }
  info.version = std::move(parsed->version);
  info.build_date = parsed->build_date;
  info.spec_version = std::move(parsed->spec_version);

  // The 2022 build prints the flag list on stderr, so read both streams.
  absl::StatusOr<ProcessResult> flags = RunProbe(path, {"flags"});
  if (!flags.ok()) return flags.status();
  absl::flat_hash_map<std::string, std::string> flag_help = ParseRunscFlags(Combined(*flags));
  if (flag_help.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "`", path, " flags` (runsc version ", info.version, ") listed no flags; ", kInstallHint));
  }
  for (const auto& [name, help] : flag_help) info.flags.insert(name);

  if (info.Supports("platform")) {
    absl::StatusOr<ProcessResult> platforms = RunProbe(path, {"help", "platforms"});
    if (platforms.ok() && platforms->exit_code == 0) {
      for (absl::string_view line : absl::StrSplit(platforms->out.data, '\n')) {
        line = absl::StripAsciiWhitespace(line);
        if (IsPlatformName(line)) info.platforms.emplace_back(line);
        if (info.platforms.size() >= kMaxPlatforms) break;
      }
    }
    const std::string& help = flag_help["platform"];
    if (info.platforms.empty()) info.platforms = PlatformsFromHelp(help);
    std::sort(info.platforms.begin(), info.platforms.end());
    info.platforms.erase(std::unique(info.platforms.begin(), info.platforms.end()),
                         info.platforms.end());
    if (info.platforms.size() > kMaxPlatforms) info.platforms.resize(kMaxPlatforms);

    std::string def = GoFlagDefault(help);
    if (IsPlatformName(def)) {
      info.default_platform = std::move(def);
    } else if (info.KnowsPlatform("systrap")) {
      info.default_platform = "systrap";
    } else if (info.KnowsPlatform("ptrace")) {
      info.default_platform = "ptrace";
    }
    if (!info.default_platform.empty() && !info.KnowsPlatform(info.default_platform)) {
      info.platforms.push_back(info.default_platform);
      std::sort(info.platforms.begin(), info.platforms.end());
    }
  }
  return info;
}

// Identifies one version of the file at a path: a replaced or rebuilt binary
// changes inode, size or mtime and is probed again.
struct FileKey {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileKey& o) const {
    return std::tie(dev, ino, size, mtime_ns) == std::tie(o.dev, o.ino, o.size, o.mtime_ns);
  }
};

struct ProbeCache {
  absl::Mutex mu;
  absl::flat_hash_map<std::string, std::pair<FileKey, std::shared_ptr<const RunscInfo>>> entries
      ABSL_GUARDED_BY(mu);
};

ProbeCache& Cache() {
  static ProbeCache* cache = new ProbeCache();  // never destroyed: used from any thread
  return *cache;
}

}  // namespace

bool RunscInfo::Supports(absl::string_view flag) const { return flags.contains(StripDashes(flag)); }

bool RunscInfo::KnowsPlatform(absl::string_view platform) const {
  return std::find(platforms.begin(), platforms.end(), platform) != platforms.end();
}

int BuildDateFromVersion(absl::string_view version) {
  for (size_t i = 0; i < version.size();) {
    if (!absl::ascii_isdigit(version[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < version.size() && absl::ascii_isdigit(version[j])) ++j;
    // YYYYMMDD in release and Debian versions; YYYYMMDDhhmmss in Go
    // pseudo-versions of builds from the module proxy.
    if (j - i == 8 || j - i == 14) {
      int v = 0;
      for (size_t k = i; k < i + 8; ++k) v = v * 10 + (version[k] - '0');
      int year = v / 10000, month = v / 100 % 100, day = v % 100;
      if (year >= 2015 && year <= 2100 && month >= 1 && month <= 12 && day >= 1 && day <= 31) {
        return v;
      }
    }
    i = j;
  }
  return 0;
}

absl::StatusOr<RunscVersionInfo> ParseRunscVersion(absl::string_view output) {
  RunscVersionInfo out;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!found && absl::ConsumePrefix(&line, "runsc version")) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line.size() > kMaxVersionLen || !IsPrintableToken(line)) {
        return absl::InvalidArgumentError("malformed runsc version line");
      }
      out.version = std::string(line);
      found = true;
    } else if (out.spec_version.empty() && absl::ConsumePrefix(&line, "spec:")) {
      line = absl::StripAsciiWhitespace(line);
      if (line.size() <= kMaxVersionLen && IsPrintableToken(line)) {
        out.spec_version = std::string(line);
      }
    }
  }
  if (!found) return absl::InvalidArgumentError("no \"runsc version\" line");
  out.build_date = BuildDateFromVersion(out.version);
  return out;
}

absl::flat_hash_map<std::string, std::string> ParseRunscFlags(absl::string_view output) {
  absl::flat_hash_map<std::string, std::string> flags;
  std::string* help = nullptr;  // help text of the flag being read
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    // Go prints each flag as "  -name [type]" and its help on lines indented
    // by four spaces and a tab (or after a tab on the same line).
    if (absl::StartsWith(line, "  -") && line.size() > 3 && line[3] != ' ') {
      absl::string_view rest = line.substr(3);
      size_t end = rest.find_first_of(" \t");
      absl::string_view name = StripDashes(rest.substr(0, end));
      help = nullptr;
      if (name.empty() || name.size() > kMaxFlagNameLen || !IsPrintableToken(name)) continue;
      if (flags.size() >= kMaxFlags) break;
      help = &flags[name];
      if (size_t tab = rest.find('\t'); tab != absl::string_view::npos) {
        absl::StrAppend(help, absl::StripAsciiWhitespace(rest.substr(tab + 1)));
      }
    } else if (help != nullptr && absl::StartsWith(line, "    ")) {
      absl::string_view text = absl::StripAsciiWhitespace(line);
      if (help->size() + text.size() + 1 > kMaxFlagHelpLen) continue;
      if (!help->empty()) help->push_back(' ');
      absl::StrAppend(help, text);
    } else {
      help = nullptr;
    }
  }
  return flags;
}

absl::StatusOr<std::string> LocateRunsc(const std::string& configured_path) {
  if (configured_path.empty()) {
    if (std::optional<std::string> found = FindInPath("runsc")) return *found;
    return absl::NotFoundError(absl::StrCat("runsc not found; ", kInstallHint));
  }
  std::string path = configured_path;
  if (path.front() != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr) return ErrnoStatus("getcwd", errno);
    path = absl::StrCat(cwd, "/", path);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("runsc_path \"", configured_path, "\" does not exist (",
                                            std::strerror(errno), "); ", kInstallHint,
                                            " to the runsc binary"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("runsc_path \"", configured_path,
                                            "\" is not a regular file; set runsc_path to the "
                                            "runsc binary, or leave it empty to search PATH"));
  }
  if (::access(path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("runsc_path \"", configured_path,
                                            "\" is not executable; chmod +x it, or set "
                                            "runsc_path to an executable runsc"));
  }
  return path;
}

absl::StatusOr<std::shared_ptr<const RunscInfo>> ProbeRunsc(const std::string& path) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("runsc \"", path, "\" is not an existing file; ", kInstallHint));
  }
  FileKey key{st.st_dev, st.st_ino, st.st_size,
              static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  ProbeCache& cache = Cache();
  {
    absl::MutexLock lock(&cache.mu);
    auto it = cache.entries.find(path);
    if (it != cache.entries.end() && it->second.first == key) return it->second.second;
  }
  // Probe without the lock: it takes a few hundred milliseconds and other
  // paths should not wait. Concurrent probes of one path keep the first result.
  absl::StatusOr<RunscInfo> info = ProbeUncached(path);
  if (!info.ok()) return info.status();
  auto shared = std::make_shared<const RunscInfo>(*std::move(info));
  absl::MutexLock lock(&cache.mu);
  auto [it, inserted] = cache.entries.try_emplace(path, key, shared);
  if (!inserted && !(it->second.first == key)) it->second = {key, shared};
  return it->second.second;
}

absl::StatusOr<std::string> ChoosePlatform(const RunscInfo& info, const std::string& configured) {
  const std::string known =
      info.platforms.empty() ? "none listed" : absl::StrJoin(info.platforms, ", ");
  if (!configured.empty()) {
    if (!info.Supports("platform")) {
      return absl::InvalidArgumentError(
          absl::StrCat("platform \"", configured, "\" is configured but runsc ", info.version,
                       " at ", info.path, " has no --platform flag; leave platform empty"));
    }
    if (!info.KnowsPlatform(configured)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "platform \"", configured, "\" is not known to runsc ", info.version, " at ", info.path,
          " (it knows: ", known, "); leave platform empty to use the build's default"));
    }
    return configured;
  }
  // A build without --platform has a single platform: pass nothing.
  if (!info.Supports("platform")) return std::string();
  if (!info.default_platform.empty() && info.default_platform != "kvm") {
    return info.default_platform;
  }
  for (const char* fallback : {"systrap", "ptrace"}) {
    if (info.KnowsPlatform(fallback)) return std::string(fallback);
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "runsc ", info.version, " at ", info.path,
      " has no default platform other than kvm (it knows: ", known, "); set platform explicitly"));
}

}  // namespace libsandbox
