// The OCI bundle of one run: config.json from the typed spec, an empty
// read-only rootfs (the host's system directories or an image's top-level
// entries mounted in it), a minimal /etc and the code file.
#ifndef LIBSANDBOX_RUN_BUNDLE_H_
#define LIBSANDBOX_RUN_BUNDLE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/proto/oci.pb.h"
#include "libsandbox/rules/languages.h"

namespace libsandbox {

// Where things appear inside the sandbox.
inline constexpr char kSandboxHome[] = "/home/user";
inline constexpr char kSandboxCodeDir[] = "/.libsandbox";
inline constexpr uint32_t kSandboxUid = 1000;
inline constexpr uint32_t kSandboxGid = 1000;
inline constexpr char kExecutorPython[] = "/usr/bin/python3";
inline constexpr char kExecutorFile[] = "executor.py";

// The sandbox's environment: fixed defaults, then the caller's variables.
// Built from scratch: the host's environment never leaks in.
std::map<std::string, std::string> SandboxEnvironment(
    const std::map<std::string, std::string>& caller_env);

// The code's path inside the sandbox.
std::string SandboxCodePath(const Language& language);

// The process spec of every sandbox process (the sandbox's own and each
// exec into it): uid/gid 1000, no capabilities, noNewPrivileges, rlimits
// (RLIMIT_NPROC = max_pids unless 0) and SandboxEnvironment(caller_env).
oci::Process SandboxProcess(std::vector<std::string> args,
                            const std::map<std::string, std::string>& caller_env, int64_t max_pids);

struct BundleOptions {
  const Language* language = nullptr;
  std::string code;
  // Run the warm executor (executor.py) instead of `code`; it reads one
  // request on stdin.
  bool executor = false;
  // Non-empty: the sandbox runs this instead (a session's init); code files
  // are written to the code dir later, one per exec.
  std::vector<std::string> init_argv;
  std::string workspace_dir;                 // host dir mounted read-write at /home/user
  int64_t tmp_mb = 0;                        // size of /tmp and /dev/shm; 0: unlimited
  std::map<std::string, std::string> env;    // caller's variables, over the defaults
  std::string cgroups_path;                  // empty: none
  bool own_network_namespace = true;         // false: runsc runs in a netns we made
  std::string resolv_conf;                   // content of /etc/resolv.conf
  int64_t max_pids = 0;                      // RLIMIT_NPROC inside; 0: none
  std::vector<std::string> extra_ro_mounts;  // "HOST[:SANDBOX]"
  // Non-empty (host system directories only): the shared /etc tree
  // (etc_tree.h) shown at /etc, a non-empty resolv_conf bound over its own.
  // Empty: a per-run /etc with the host's shared entries bound in it.
  std::string etc_dir;
  // Non-empty: an image directory whose top-level entries form the root
  // file system (read-only) instead of the host's system directories. Its
  // /etc is used, with the generated passwd, group, hosts, hostname,
  // nsswitch.conf and resolv.conf over the ones it has.
  std::string rootfs;
  // Non-empty: this host directory is shown read-only (not noexec) at
  // kSandboxCompatDir (statx_shim.h).
  std::string compat_dir;
};

// FailedPrecondition unless `path` (absolute, as the sandbox sees it)
// resolves inside `rootfs` (its symlinks followed within it) to an
// executable regular file.
absl::Status CheckRootfsProgram(const std::string& rootfs, const std::string& path);

// Writes <run_dir>/{bundle/config.json, rootfs/, etc/, code/} and returns
// the bundle directory.
absl::StatusOr<std::string> WriteBundle(const std::string& run_dir, const BundleOptions& options);

// The spec WriteBundle serializes; exposed for tests.
absl::StatusOr<oci::Spec> BuildSpec(const std::string& run_dir, const BundleOptions& options);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_BUNDLE_H_
