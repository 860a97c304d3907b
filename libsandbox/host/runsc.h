// Finding the runsc binary and learning what this particular build can do.
// Builds differ a lot (the Debian 2022 build knows ptrace/kvm and no
// --directfs; current releases default to systrap), so callers ask
// RunscInfo instead of assuming a version.
#ifndef LIBSANDBOX_HOST_RUNSC_H_
#define LIBSANDBOX_HOST_RUNSC_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace libsandbox {

struct RunscInfo {
  std::string path;          // absolute path of the binary that was probed
  std::string version;       // e.g. "0.0~20221219.0" or "release-20261101.0"
  int build_date = 0;        // YYYYMMDD when the version carries one, else 0
  std::string spec_version;  // OCI runtime-spec version it reports, may be empty
  // Global flag names without dashes ("platform", "network", ...).
  absl::flat_hash_set<std::string> flags;
  std::vector<std::string> platforms;  // sorted, e.g. {"kvm", "ptrace"}
  std::string default_platform;        // "ptrace" (2022) or "systrap" (current)

  // True if the build accepts the global flag; "--platform", "-platform" and
  // "platform" are all accepted spellings.
  bool Supports(absl::string_view flag) const;
  bool KnowsPlatform(absl::string_view platform) const;
};

// The runsc to use: `configured_path` if non-empty (it must be an executable
// regular file), else the first runsc on PATH. NotFound with the fix otherwise.
// A relative configured path is made absolute against the current directory.
absl::StatusOr<std::string> LocateRunsc(const std::string& configured_path);

// Runs the binary at `path` a few times (`--version`, `flags`, `help
// platforms`) and parses what it says. Cached per (path, inode, size, mtime),
// so a replaced binary is probed again; thread-safe. Fails (never crashes) if
// `path` is not a runsc.
absl::StatusOr<std::shared_ptr<const RunscInfo>> ProbeRunsc(const std::string& path);

// The --platform value to pass: `configured` if set (it must be a platform the
// build knows), else the build's default. Never picks kvm on its own: kvm
// hangs under nested virtualisation, so it is used only when configured.
absl::StatusOr<std::string> ChoosePlatform(const RunscInfo& info, const std::string& configured);

// Parsers behind ProbeRunsc, exposed so that formats of builds not installed
// here can be tested.
struct RunscVersionInfo {
  std::string version;
  int build_date = 0;
  std::string spec_version;
};
// Parses `runsc --version` output ("runsc version X\nspec: Y").
absl::StatusOr<RunscVersionInfo> ParseRunscVersion(absl::string_view output);
// Parses `runsc flags` output (Go's flag.PrintDefaults format) into flag name
// -> help text.
absl::flat_hash_map<std::string, std::string> ParseRunscFlags(absl::string_view output);
// The YYYYMMDD date embedded in a version string, or 0.
int BuildDateFromVersion(absl::string_view version);

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_RUNSC_H_
