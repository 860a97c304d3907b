#include "libsandbox/host/platform_probe.h"

#include <map>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/process.h"

namespace libsandbox {
namespace {

ABSL_CONST_INIT absl::Mutex probes_mu(absl::kConstInit);

// Outcomes by (runsc path, platform). Never freed: it lives as long as the
// process, like the runsc probe cache.
std::map<std::pair<std::string, std::string>, absl::Status>& Probes()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(probes_mu) {
  static auto* probes = new std::map<std::pair<std::string, std::string>, absl::Status>();
  return *probes;
}

std::string Remedy(const std::string& platform) {
  std::string remedy = "leave platform empty to use the runsc build's default";
  if (platform == "kvm") {
    absl::StrAppend(&remedy,
                    ", or run where KVM works for gVisor (bare metal or nested virtualisation "
                    "that supports it; the container needs /dev/kvm: Docker --device /dev/kvm)");
  }
  return remedy;
}

absl::Status Boot(const RunscInfo& runsc, const std::string& platform, const std::string& state_dir,
                  absl::Duration timeout) {
  const std::string root = absl::StrCat(state_dir, "/platform-probe-", RandomHex(6));
  if (absl::Status s = MakeDirs(root, 0700); !s.ok()) return s;
  std::vector<std::string> argv = {runsc.path,   "--root", root,
                                   "--platform", platform, "--network=none"};
  if (runsc.Supports("ignore-cgroups")) argv.push_back("--ignore-cgroups");
  argv.insert(argv.end(), {"do", "/bin/true"});
  absl::StatusOr<ProcessResult> p = RunCommand(argv, timeout);
  (void)RemoveTree(root);
  std::string what;
  if (!p.ok()) {
    what = std::string(p.status().message());
  } else if (p->timed_out) {
    what = absl::StrCat("a sandbox on it did not finish /bin/true within ",
                        absl::FormatDuration(timeout));
  } else if (p->exit_code != 0) {
    what = absl::StrCat("a sandbox on it failed (exit ", p->exit_code,
                        "): ", absl::StripAsciiWhitespace(p->err.data).substr(0, 300));
  } else {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "platform \"", platform, "\" cannot run sandboxes here: ", what, "; ", Remedy(platform)));
}

}  // namespace

absl::Status ProbePlatform(const RunscInfo& runsc, const std::string& platform,
                           const std::string& state_dir, absl::Duration timeout) {
  const std::pair<std::string, std::string> key(runsc.path, platform);
  // One probe at a time: concurrent first runs wait for the same answer.
  absl::MutexLock lock(&probes_mu);
  auto it = Probes().find(key);
  if (it != Probes().end()) return it->second;
  absl::Status s = Boot(runsc, platform, state_dir, timeout);
  Probes().emplace(key, s);
  return s;
}

}  // namespace libsandbox
