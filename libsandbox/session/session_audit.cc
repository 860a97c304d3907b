#include "libsandbox/session/session_audit.h"

#include <utility>

#include "libsandbox/base/defaults.h"
#include "libsandbox/base/metrics.h"
#include "libsandbox/base/text.h"

namespace libsandbox {
namespace {

constexpr size_t kMaxErrorBytes = 1024;

// A run-shaped request, so exec records share the run's fields and code cut.
RunRequest AsRun(const SessionKey& key, const ExecRequest& request) {
  RunRequest r;
  r.set_user(key.user());
  r.set_code(request.code());
  r.set_language(request.language().empty() ? kDefaultLanguage : request.language());
  return r;
}

void SetOutcome(const absl::Status& status, AuditRecord& record) {
  if (status.ok()) {
    record.set_status(Result::OK);
    return;
  }
  record.set_status(status.code() == absl::StatusCode::kInvalidArgument ? Result::INVALID_INPUT
                                                                        : Result::SANDBOX_ERROR);
  const std::string error = status.ToString();
  record.set_error(SanitizeUtf8(absl::string_view(error).substr(0, kMaxErrorBytes)));
}

}  // namespace

SessionAudit::SessionAudit(const Config& config)
    : with_code_(config.audit_code()), skip_file_reads_(config.audit_skip_file_reads()) {
  if (config.audit()) log_ = std::make_unique<AuditLog>(AuditOptionsFor(config));
}

void SessionAudit::Exec(const SessionKey& key, const ExecRequest& request,
                        const Result& result) const {
  if (log_ == nullptr) return;
  AuditRecord record = MakeAuditRecord(AsRun(key, request), result, key.policy(), with_code_);
  record.set_call("exec");
  Append(key, std::move(record));
}

void SessionAudit::Start(const SessionKey& key, const ExecRequest& request,
                         const absl::Status& status, const std::string& process) const {
  if (log_ == nullptr) return;
  AuditRecord record = MakeAuditRecord(AsRun(key, request), Result(), key.policy(), with_code_);
  record.set_call("start");
  record.set_process(SanitizeUtf8(process));
  SetOutcome(status, record);
  Append(key, std::move(record));
}

void SessionAudit::Call(const SessionKey& key, std::string_view call, const absl::Status& status,
                        const Details& details) const {
  if (log_ == nullptr) return;
  if (skip_file_reads_ && (call == "read_file" || call == "list_dir" || call == "stat" ||
                           call == "read_range" || call == "find" || call == "archive")) {
    return;
  }
  AuditRecord record;
  record.set_call(std::string(call));
  record.set_user(SanitizeUtf8(key.user()));
  record.set_policy(SanitizeUtf8(key.policy()));
  record.set_process(SanitizeUtf8(details.process));
  record.set_path(SanitizeUtf8(details.path));
  record.set_bytes(details.bytes);
  record.set_signal(details.signal);
  SetOutcome(status, record);
  Append(key, std::move(record));
}

void SessionAudit::Append(const SessionKey& key, AuditRecord record) const {
  record.set_chat(SanitizeUtf8(key.chat()));
  if (!log_->Append(std::move(record)).ok()) GlobalMetrics().Increment("audit_failures");
}

}  // namespace libsandbox
