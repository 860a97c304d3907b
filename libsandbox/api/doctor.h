// Host self-check: does this machine (or container) give gVisor and the caps
// what they need? Each check says what it found and, when it fails, the exact
// Docker / Kubernetes / package fix.
#ifndef LIBSANDBOX_API_DOCTOR_H_
#define LIBSANDBOX_API_DOCTOR_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// All checks, in a stable order, with stable names: arch, root, runsc,
// namespaces, capabilities, apparmor, selinux, cgroups, cgroup_memory,
// cgroup_cpu, cgroup_pids, cgroup_swap, slirp4netns, iptables, state_dir,
// storage_dir, smoke_run. The smoke run starts one real sandbox; it is
// reported as failed-and-skipped when runsc or the directories are unusable.
std::vector<Check> RunDoctor(const Config& config);

// The single checks behind RunDoctor.
Check CheckArch();
Check CheckRoot();
// Locates and probes runsc and chooses its platform, as a run would.
Check CheckRunsc(const Config& config);
// Tries the namespaces runsc creates in a forked child (never in this
// process), so that a seccomp filter or LSM that blocks unshare or mount is
// seen before a sandbox fails.
Check CheckNamespaces();
Check CheckCapabilities();
Check CheckAppArmor();
Check CheckSelinux();
// "cgroups" (the version and, on v2, the layout found and what the first
// capped run changes) plus one check per controller and swap accounting.
std::vector<Check> CheckCgroups(const Config& config = Config());
// A host tool that network=on needs.
Check CheckTool(const std::string& tool);
// `path` exists and is writable, or can be created below a writable ancestor.
// Leaves nothing behind.
Check CheckDirWritable(absl::string_view name, const std::string& path);
// Runs print('ok') through libsandbox::Run.
Check CheckSmokeRun(const Config& config);

}  // namespace libsandbox

#endif  // LIBSANDBOX_API_DOCTOR_H_
