// The library's defaults, in one place: every layer and the public API take
// them from here.
#ifndef LIBSANDBOX_BASE_DEFAULTS_H_
#define LIBSANDBOX_BASE_DEFAULTS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

inline constexpr char kDefaultStateDir[] = "/run/libsandbox";
inline constexpr char kDefaultStorageDir[] = "/var/lib/libsandbox/files";

// Admission when Config.max_concurrent, max_concurrent_per_user and
// max_queued are 0: runs at once, per user, and waiting.
inline constexpr int kDefaultMaxConcurrent = 32;
inline constexpr int kDefaultMaxConcurrentPerUser = 8;
inline constexpr int kDefaultMaxQueued = 256;

// The language of a request (or exec) that names none.
inline constexpr char kDefaultLanguage[] = "python";
// How long a run waits for admission when Config.queue_timeout_s is 0.
inline constexpr absl::Duration kDefaultQueueTimeout = absl::Seconds(60);
// The port an egress allowlist without ports allows.
inline constexpr int kDefaultEgressPort = 443;

// Sessions: idle time before a session's sandbox stops, sandboxes running
// at once per Config (Config.max_sessions 0), output kept per stream of a
// background process when nothing caps it, bytes a file read returns when
// the caller names no size.
inline constexpr absl::Duration kDefaultSessionIdleTimeout = absl::Minutes(30);
inline constexpr int kDefaultMaxSessions = 64;
// Session sandboxes one user may run at once (Config.max_sessions_per_user
// and the policy caps' sessions_per_user 0).
inline constexpr int kDefaultMaxSessionsPerUser = 4;
inline constexpr int64_t kDefaultProcessBuffer = 1 << 20;
// Background processes one session runs at once (SessionOptions
// .max_processes and the policy caps' processes_per_session 0).
// 16: all of them must fit under the default caps, and an idle one (a shell
// and its command) costs the sandbox two of its 128 max_pids and ~2.5 MiB
// of its 128 MiB (measured: 21 MiB booted, 62 MiB with 16, 104 with 32).
inline constexpr int kDefaultMaxProcesses = 16;
// How long an ended background process's record stays (process_ttl_s 0).
inline constexpr absl::Duration kDefaultProcessTtl = absl::Minutes(10);
inline constexpr int64_t kDefaultReadBytes = 1 << 20;

// The caps used when a RunRequest does not set `limits`: 30 s, 128 MiB,
// 1 CPU, 128 pids, 1 MiB per output stream, 64 MiB workspace.
Limits DefaultLimits();

// A session's caps when its options set none: DefaultLimits with a 512 MiB
// workspace (a volume: it persists, so a tmpfs cannot cap it) and a 64 MiB
// /tmp.
Limits DefaultSessionLimits();

// The retention quotas of a Config that sets none: 32 files per execution,
// 4096 files and 256 MiB per user, and 256 MiB of the storage filesystem
// left free (for the host, and promised to running session volumes).
StorageQuota DefaultQuota();

// Fills empty fields of `config` with defaults (state and storage dirs, the
// quota when it is unset; inside a set quota 0 still means "no limit").
Config ResolvedConfig(const Config& config);

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_DEFAULTS_H_
