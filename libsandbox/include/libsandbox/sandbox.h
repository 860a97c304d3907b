// libsandbox: run untrusted code in gVisor sandboxes with enforced limits.
//
//   libsandbox::RunRequest req;
//   req.set_code("print('hi')");
//   libsandbox::Result r = libsandbox::Run(req);
//   // r.status() == libsandbox::Result::OK, r.stdout() == "hi\n"
//
// All functions are thread-safe and never throw; failures are reported in the
// Result (runs) or as absl::Status (queries). client.h and session.h offer
// the same as objects: a Client holding one Config, and Session handles.
#ifndef LIBSANDBOX_SANDBOX_H_
#define LIBSANDBOX_SANDBOX_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libsandbox/proto/config.pb.h"
#include "libsandbox/proto/policy.pb.h"

namespace libsandbox {

inline constexpr std::string_view kVersion = "0.1.0";

// The caps used when a RunRequest does not set `limits`: 30 s, 128 MiB,
// 1 CPU, 128 pids, 1 MiB per output stream, 64 MiB workspace.
Limits DefaultLimits();

// Fills empty fields of `config` with defaults (state and storage dirs).
Config ResolvedConfig(const Config& config);

// Runs `request` in a fresh gVisor sandbox and reports what happened.
// Blocks until the run is over; call from as many threads as you like.
Result Run(const RunRequest& request, const Config& config = Config());

// The version string of the runsc that `config` selects.
absl::StatusOr<std::string> RunscVersion(const Config& config = Config());

// Host self-checks: what gVisor and the caps need, each with a remedy.
std::vector<Check> Doctor(const Config& config = Config());

// "OK", "ERROR", ... as in the public contract.
std::string_view StatusName(Result::Status status);

// The languages Run accepts ("python", "bash", ...).
std::vector<std::string> Languages();
// The language of a request that names none ("python").
std::string_view DefaultLanguage();

// Counters, gauges and latency histograms of this process's runs.
Metrics GetMetrics();

// Up to `limit` (<= 0: 100) audit records of `user` (empty: every user),
// newest first, from the log `config` writes when `audit` is on.
absl::StatusOr<std::vector<AuditRecord>> QueryAudit(const Config& config, const std::string& user,
                                                    int limit);
// The most records one QueryAudit returns; a larger limit is cut to it.
int MaxAuditQueryLimit();

// ---- Policies: the admin's policy file (Config.policy_file) ----
// Changes are checked in full against the file's caps and written
// atomically; every process using the file sees them at its next run. A
// change over a cap is InvalidArgument naming the cap, and nothing is
// written. Comments in a textproto file are not kept.

// The set the file holds now. NotFound when it does not exist.
absl::StatusOr<PolicySet> GetPolicies(const Config& config);
// Replaces the whole set (caps included).
absl::Status SetPolicies(const Config& config, const PolicySet& set);
// Adds `policy`, or replaces the one of the same name.
absl::Status SetPolicy(const Config& config, const Policy& policy);
// NotFound if absent; FailedPrecondition for the default policy.
absl::Status RemovePolicy(const Config& config, const std::string& name);

// Drains warm pools, stops sessions (their workspaces stay) and releases
// what Run keeps between runs. Runs may be made again afterwards. Call
// before exit to leave nothing behind.
void Shutdown();

// ---- Persistent sessions: one sandbox and workspace per SessionKey ----
// The workspace lives under <storage_dir>/sessions/ and survives Stop and
// host restarts; cwd, files and background processes
// carry from exec to exec while the session runs. Sessions idle past their
// idle timeout stop.

// Runs `request` in the session of `key`, creating it with `options` and
// booting its sandbox if needed. Same statuses as Run; a TIMEOUT stops only
// this command, INTERRUPTED "memory" means the session's sandbox was
// stopped and the next exec starts a new one on the same workspace.
// request.files are written into the workspace first; with
// request.keep_files the files the exec created or changed are kept like a
// run's (Result.files, Config.quota, STORAGE_ERROR; or where and under the
// quota the request names).
Result SessionExec(const SessionKey& key, const ExecRequest& request,
                   const SessionOptions& options = SessionOptions(),
                   const Config& config = Config());
// Stops the session's sandbox; the workspace is kept.
absl::Status StopSession(const SessionKey& key, const Config& config = Config());
// Stops the session and empties its workspace.
absl::Status ResetSession(const SessionKey& key, const Config& config = Config());
// The sessions of `config` whose sandbox is running.
absl::StatusOr<std::vector<SessionInfo>> ListSessions(const Config& config = Config());
// Stops every session (workspaces are kept).
void ShutdownSessions();

}  // namespace libsandbox

#endif  // LIBSANDBOX_SANDBOX_H_
