// Audit records of the calls on sessions (Config.audit): one AuditRecord per
// call, in the log runs write to, with `call` naming it and the session's
// user, policy and chat. Refused calls are logged too, with their error.
// Polls, process lists and infos read back what the code printed and are not
// logged; file reads are unless Config.audit_skip_file_reads.
#ifndef LIBSANDBOX_SESSION_SESSION_AUDIT_H_
#define LIBSANDBOX_SESSION_SESSION_AUDIT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "libsandbox/proto/config.pb.h"
#include "libsandbox/run/audit.h"

namespace libsandbox {

// What a call's record says beyond its key, call and outcome.
struct SessionAuditDetails {
  std::string process;
  std::string path;
  int64_t bytes = 0;
  int signal = 0;
};

class SessionAudit {
 public:
  using Details = SessionAuditDetails;

  // Logs nothing unless config.audit() (a resolved Config).
  explicit SessionAudit(const Config& config);

  // An exec, with what a run's record has.
  void Exec(const SessionKey& key, const ExecRequest& request, const Result& result) const;
  // A start: the code (with audit_code) and the new process's id.
  void Start(const SessionKey& key, const ExecRequest& request, const absl::Status& status,
             const std::string& process) const;
  // Any other call ("input", "kill", "write_file", "read_file", ...).
  void Call(const SessionKey& key, std::string_view call, const absl::Status& status,
            const Details& details = {}) const;

 private:
  void Append(const SessionKey& key, AuditRecord record) const;

  std::unique_ptr<AuditLog> log_;  // null: audit off
  bool with_code_ = false;
  bool skip_file_reads_ = false;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_AUDIT_H_
