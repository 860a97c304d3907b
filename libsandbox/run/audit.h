// The per-run audit log: who ran what, under which policy, and how it ended.
//
// One AuditRecord (config.proto) per run, as one line of protobuf JSON,
// appended with a single O_APPEND write. When the file would grow past its
// rotation size it is renamed to "<path>.1" (replacing an older one) and a
// fresh file is started, so the log keeps between one and two rotations'
// worth of runs. The code of a run is logged only when the admin enabled it.
//
// One writer per log file: appends are serialised within this process, so
// point at most one process at a given path.
#ifndef LIBSANDBOX_RUN_AUDIT_H_
#define LIBSANDBOX_RUN_AUDIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

inline constexpr int64_t kDefaultAuditRotateBytes = int64_t{64} << 20;
// Longer code is logged cut, with code_truncated set.
inline constexpr size_t kMaxAuditCodeBytes = 64 << 10;
// Lines longer than this are not records we wrote; Query skips them.
inline constexpr size_t kMaxAuditLineBytes = 1 << 20;
inline constexpr int kDefaultAuditQueryLimit = 100;
inline constexpr int kMaxAuditQueryLimit = 100000;

struct AuditOptions {
  std::string path;  // the log file
  int64_t rotate_bytes = kDefaultAuditRotateBytes;
  bool log_code = false;  // false: Append drops any code in a record
};

// The options a (resolved) Config asks for: audit_path, or
// "<state_dir>/audit.log"; audit_code.
AuditOptions AuditOptionsFor(const Config& config);

// The record of one run. `code` is filled only when `with_code`.
AuditRecord MakeAuditRecord(const RunRequest& request, const Result& result,
                            const std::string& policy, bool with_code);

class AuditLog {
 public:
  explicit AuditLog(AuditOptions options);

  // Appends `record` as one line, with `time` set to now when empty. Makes
  // the log's directory (0700) and file (0600) when missing.
  absl::Status Append(AuditRecord record);

  // Up to `limit` records (<= 0: kDefaultAuditQueryLimit) of `user` (empty:
  // every user) from `since` on, newest first, from the log and its
  // rotation. Lines that do not parse (a cut last line after a crash, say)
  // are skipped.
  absl::StatusOr<std::vector<AuditRecord>> Query(const std::string& user, absl::Time since,
                                                 int limit) const;

  const AuditOptions& options() const { return options_; }

 private:
  AuditOptions options_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_AUDIT_H_
