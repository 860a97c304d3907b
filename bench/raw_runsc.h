// The baseline the library is measured against: a hand-written OCI bundle
// equivalent to what Run builds (empty read-only rootfs, read-only system
// binds, tmpfs /tmp, uid 1000, the code as a file) and a bare `runsc run` of
// it, spawned through the same Subprocess the library uses.
#ifndef LIBSANDBOX_BENCH_RAW_RUNSC_H_
#define LIBSANDBOX_BENCH_RAW_RUNSC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/host/process.h"

namespace libsandbox::bench {

struct RawBundleOptions {
  std::vector<std::string> interpreter;  // e.g. {"/usr/bin/python3"}
  std::string code_file;                 // e.g. "main.py"; appended to the command
  std::string code;
};

// Writes <dir>/{bundle/config.json, rootfs/, code/<code_file>} and returns
// the bundle directory.
absl::StatusOr<std::string> WriteRawBundle(const std::string& dir, const RawBundleOptions& options);

// `runsc --root <root> --network=none run --bundle <bundle> <id>`, to
// completion. Removes the container's state if runsc left any behind.
absl::StatusOr<ProcessResult> RunRawRunsc(const std::string& runsc, const std::string& root,
                                          const std::string& bundle, const std::string& id);

// A raw sandbox kept running (its init waits forever) for `runsc exec`
// into it: the cheapest way bare runsc can serve a run without a boot.
// Deleted (runsc delete --force) and its runsc run reaped on destruction.
class RawRunningSandbox {
 public:
  // Starts `runsc run` of `bundle` as container `id` and waits until runsc
  // reports it running.
  static absl::StatusOr<RawRunningSandbox> Start(const std::string& runsc, const std::string& root,
                                                 const std::string& bundle, const std::string& id);
  RawRunningSandbox() = default;
  RawRunningSandbox(RawRunningSandbox&& o) noexcept;
  RawRunningSandbox& operator=(RawRunningSandbox&& o) noexcept;
  RawRunningSandbox(const RawRunningSandbox&) = delete;
  RawRunningSandbox& operator=(const RawRunningSandbox&) = delete;
  ~RawRunningSandbox();

  // `runsc exec --user 1000:1000 --cwd /tmp <id> argv...`, to completion.
  absl::StatusOr<ProcessResult> Exec(const std::vector<std::string>& argv) const;

 private:
  void Delete();
  std::string runsc_;
  std::string root_;
  std::string id_;
  Subprocess run_;  // the foreground `runsc run`; exits once deleted
};

}  // namespace libsandbox::bench

#endif  // LIBSANDBOX_BENCH_RAW_RUNSC_H_
