// Named run policies under admin hard caps.
//
// An admin writes a PolicySet (policy.proto) as a textproto or JSON file:
// caps that nothing may exceed, and named policies (limits, network, env,
// rootfs image) that runs choose by name. Everything is checked when a set is
// loaded; a value over a cap is refused with a message naming the policy, the
// field, the value and the cap, never silently lowered.
//
// A request may ask for less than its policy gives (each nonzero field of
// its Limits replaces the policy's value; 0 keeps it), never for more. A
// field the policy leaves empty gets the library default (DefaultLimits), or
// the cap when the default is above it, and requests may ask up to the cap.
#ifndef LIBSANDBOX_RULES_POLICY_H_
#define LIBSANDBOX_RULES_POLICY_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libsandbox/proto/config.pb.h"
#include "libsandbox/proto/policy.pb.h"

namespace libsandbox {

inline constexpr size_t kMaxPolicies = 1024;
inline constexpr size_t kMaxPolicyFileBytes = 4 << 20;
// Sessions that outlive a day are forgotten sessions.
inline constexpr absl::Duration kMaxIdleTimeout = absl::Hours(24);

enum class NetworkMode { kOff, kOn, kAllowlist };

// A policy ready for a run.
struct ResolvedPolicy {
  std::string name;  // empty: no policy, only the admin caps applied
  Limits limits;
  NetworkMode network = NetworkMode::kOff;
  std::vector<std::string> domains;  // allowlist mode
  std::vector<int> ports;            // allowlist mode; never empty there
  std::map<std::string, std::string> env;
  std::string rootfs;                          // empty: the host's system directories
  std::optional<absl::Duration> idle_timeout;  // nullopt: not set
};

enum class PolicyFormat { kTextproto, kJson };

// Parses a PolicySet (syntax only; see ValidatePolicySet).
absl::StatusOr<PolicySet> ParsePolicySet(const std::string& text, PolicyFormat format);
// Reads a file, the format chosen by extension: .textproto/.txtpb/.pbtxt or .json.
absl::StatusOr<PolicySet> ReadPolicyFile(const std::string& path);
// Everything in the set: names, units, caps, rootfs allowlist, domains.
absl::Status ValidatePolicySet(const PolicySet& set);

// Adds `policy` to `set`, or replaces the one of the same name (unchecked).
void UpsertPolicyInSet(PolicySet& set, const Policy& policy);
// NotFound if `set` has no policy `name`; FailedPrecondition if it is the
// default policy.
absl::Status RemovePolicyFromSet(PolicySet& set, const std::string& name);

// Applies `policy` to `request`: its limits, its env over the request's, and
// network on unless the mode is off. InvalidArgument when the request asks
// for network the policy does not give.
absl::Status ApplyPolicy(const ResolvedPolicy& policy, RunRequest& request);

// The current policy set; thread-safe. Readers never wait for a load: a new
// set is validated completely, then swapped in atomically, so every reader
// sees either the old set or the new one, never a mix.
class PolicyStore {
 public:
  PolicyStore();  // an empty set: no caps, no policies
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  absl::Status Replace(const PolicySet& set);
  absl::Status LoadString(const std::string& text, PolicyFormat format);
  absl::Status LoadFile(const std::string& path);
  // Loads `path` unless it is the file last loaded by this call and has not
  // changed since (same inode, size, mtime and ctime). If it changed and is
  // now invalid, returns the error and keeps the previous set.
  absl::Status SyncWithFile(const std::string& path);

  // Adds or replaces one policy, checked against the current caps.
  absl::Status Upsert(const Policy& policy);
  // NotFound if absent; FailedPrecondition if it is the default policy.
  absl::Status Remove(const std::string& name);

  absl::StatusOr<Policy> Get(const std::string& name) const;
  std::vector<Policy> List() const;  // sorted by name
  PolicySet Snapshot() const;
  // caps.sessions_per_user of the current set (0: not set).
  int SessionsPerUser() const;
  // caps.processes_per_session of the current set (0: not set).
  int ProcessesPerSession() const;

  // The policy `name` (empty: the default policy, or only the caps when the
  // set has none) with `request_overrides` (may be null) applied. A request
  // over its policy or the caps is InvalidArgument naming the cap.
  absl::StatusOr<ResolvedPolicy> Resolve(const std::string& name,
                                         const Limits* request_overrides) const;

  struct Compiled;  // a validated set with every value parsed

 private:
  std::shared_ptr<const Compiled> Current() const;
  absl::Status Install(PolicySet set) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Serialises writers (validation included), so readers only ever wait for
  // a pointer swap.
  absl::Mutex write_mu_;
  struct FileStamp {
    std::string path;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  std::optional<FileStamp> synced_ ABSL_GUARDED_BY(write_mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<const Compiled> current_ ABSL_GUARDED_BY(mu_);
};

// For Engine::Run: `request` as the config's policy file runs it, and the
// name of the policy applied (empty when none). Without a policy file the
// request passes unchanged, unless it names a policy (InvalidArgument).
// InvalidArgument: the request's fault; FailedPrecondition: the policy file
// is unreadable or invalid; Unimplemented: the policy needs what this build
// cannot enforce yet (domain allowlists). A policy's rootfs is set in the
// returned request; a request that sets rootfs itself is InvalidArgument.
absl::StatusOr<RunRequest> RequestUnderPolicy(PolicyStore& store, const Config& config,
                                              const RunRequest& request, std::string* policy_name);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RULES_POLICY_H_
