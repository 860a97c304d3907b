#include "libsandbox/session/session_request.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_scripts.h"

namespace libsandbox {
namespace {

// The one-shot run's request of `user` with `env`, for its checks.
RunRequest AsRunRequest(const std::string& user,
                        const google::protobuf::Map<std::string, std::string>& env) {
  RunRequest as_run;
  as_run.set_user(user);
  *as_run.mutable_env() = env;
  return as_run;
}

}  // namespace

absl::StatusOr<CheckedExec> CheckExecRequest(const ExecRequest& request, const std::string& user,
                                             const Limits& session_limits, bool background) {
  CheckedExec checked;
  checked.language =
      FindLanguage(request.language().empty() ? kDefaultLanguage : request.language());
  if (checked.language == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("language: '", request.language(),
                                                   "' is not one of ",
                                                   absl::StrJoin(LanguageNames(), ", ")));
  }
  RunRequest as_run = AsRunRequest(user, request.env());
  as_run.set_code(request.code());
  as_run.set_language(checked.language->name);
  if (request.has_stdin()) as_run.set_stdin(request.stdin());
  checked.limits = session_limits;
  if (request.has_timeout_s()) {
    checked.limits.set_timeout_s(request.timeout_s());
  } else if (background) {
    checked.limits.set_timeout_s(0);
  }
  if (request.has_max_output_bytes()) {
    checked.limits.set_max_output_bytes(request.max_output_bytes());
  }
  if (background &&
      (request.files_size() > 0 || request.keep_files() || request.keep_exclude_size() > 0 ||
       !request.keep_storage_dir().empty() || request.has_keep_quota())) {
    return absl::InvalidArgumentError(
        "files and keep_*: only for an exec, not a background process");
  }
  if (!request.keep_storage_dir().empty() && request.keep_storage_dir()[0] != '/') {
    return absl::InvalidArgumentError("keep_storage_dir: must be an absolute path");
  }
  if (!request.cwd().empty()) {
    if (absl::Status s = CheckSandboxPath(request.cwd()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("cwd: ", s.message()));
    }
  }
  if (request.pty() && !background) {
    return absl::InvalidArgumentError("pty: only for a background process (Start), not an exec");
  }
  if (!request.pty() && (request.rows() != 0 || request.cols() != 0)) {
    return absl::InvalidArgumentError("rows and cols: only with pty");
  }
  if (request.rows() < 0 || request.rows() > kMaxTerminalSide || request.cols() < 0 ||
      request.cols() > kMaxTerminalSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows and cols: must be between 1 and ", kMaxTerminalSide, " (0: 24 x 80)"));
  }
  if (request.files_size() > kMaxExecInputFiles) {
    return absl::InvalidArgumentError(
        absl::StrCat("files: more than ", kMaxExecInputFiles, " in one exec"));
  }
  int64_t file_bytes = 0;
  for (const InputFile& f : request.files()) file_bytes += static_cast<int64_t>(f.content().size());
  if (file_bytes > kMaxExecInputBytes) {
    return absl::InvalidArgumentError(absl::StrCat("files: ", file_bytes, " bytes, more than ",
                                                   kMaxExecInputBytes, " in one exec"));
  }
  *as_run.mutable_files() = request.files();
  if (request.keep_exclude_size() > kMaxExecInputFiles) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_exclude: more than ", kMaxExecInputFiles, " paths"));
  }
  for (const std::string& path : request.keep_exclude()) {
    if (absl::Status s = ValidateRelativePath(path); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("keep_exclude: ", s.message()));
    }
  }
  if (absl::Status s = ValidateRequest(as_run, checked.limits); !s.ok()) return s;
  return checked;
}

absl::StatusOr<RunRequest> SessionRequest(PolicyStore& policies, const Config& config,
                                          const SessionKey& key, const SessionOptions& options,
                                          std::string* policy_name) {
  RunRequest as_run = AsRunRequest(key.user(), options.env());
  as_run.set_policy(key.policy());
  as_run.set_network(options.network());
  *as_run.mutable_egress() = options.egress();
  if (options.has_limits()) {
    *as_run.mutable_limits() = options.limits();
  } else {
    *as_run.mutable_limits() = DefaultSessionLimits();
    // Under a policy file, the policy sizes the workspace (0: its value).
    if (!config.policy_file().empty()) as_run.mutable_limits()->set_workspace_mb(0);
  }
  absl::StatusOr<RunRequest> effective = RequestUnderPolicy(policies, config, as_run, policy_name);
  if (!effective.ok()) return effective.status();
  RunRequest check = *effective;
  check.set_code("pass");
  if (absl::Status s = ValidateRequest(check, check.limits()); !s.ok()) return s;
  if (options.idle_timeout_s() < 0 || absl::Seconds(options.idle_timeout_s()) > kMaxIdleTimeout) {
    return absl::InvalidArgumentError("idle_timeout_s: must be between 0 and 24 hours");
  }
  return effective;
}

absl::Status WriteProcessSpec(const std::string& path, std::vector<std::string> argv,
                              const std::map<std::string, std::string>& env, int64_t max_pids,
                              bool terminal) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = false;
  oci::Process process = SandboxProcess(std::move(argv), env, max_pids);
  process.set_terminal(terminal);
  auto json_status = google::protobuf::util::MessageToJsonString(process, &json, print);
  if (!json_status.ok()) return absl::InternalError(std::string(json_status.message()));
  return libsandbox::WriteFile(path, json, 0600);
}

// The code goes to a file in the read-only code dir, never on argv; the
// process spec (it holds the env) stays in the host-only run dir.
absl::StatusOr<ManagedSession::ExecFiles> ManagedSession::WriteExecFilesLocked(
    ExecKind kind, const Language& language, const ExecRequest& request) {
  const char* prefix = kind == ExecKind::kBackground ? "bg-" : "exec-";
  const int64_t n = ++next_exec_;
  const std::string name = absl::StrCat(prefix, n, "-", language.file_name);
  const std::string base = absl::StrCat(instance_->run_path(), "/", prefix, n);
  ExecFiles f;
  f.code_file = absl::StrCat(instance_->code_dir(), "/", name);
  f.process_file = base + ".json";
  f.pid_file = base + ".pid";
  std::map<std::string, std::string> env = instance_->BaseEnv();
  for (const auto& [k, v] : env_vars_) env[k] = v;
  if (request.pty() && !env.contains("TERM")) env["TERM"] = "xterm-256color";
  for (const auto& [k, v] : request.env()) env[k] = v;
  // The wrapper starts there instead of the last exec's cwd (and unsets it).
  if (!request.cwd().empty()) {
    env[kCwdVariable] =
        request.cwd()[0] == '/' ? request.cwd() : absl::StrCat(kSandboxHome, "/", request.cwd());
  }
  const std::string code_path = absl::StrCat(kSandboxCodeDir, "/", name);
  std::vector<std::string> argv = kind == ExecKind::kBackground
                                      ? BackgroundWrapperArgv(language, code_path)
                                      : WrapperArgv(language, code_path);
  if (auto s = libsandbox::WriteFile(f.code_file, request.code(), 0644); !s.ok()) return s;
  if (auto s =
          WriteProcessSpec(f.process_file, std::move(argv), env, limits_.max_pids(), request.pty());
      !s.ok()) {
    ::unlink(f.code_file.c_str());
    return s;
  }
  f.argv = instance_->RunscCommand({"exec", "--process", f.process_file, "--internal-pid-file",
                                    f.pid_file, instance_->container()});
  return f;
}

}  // namespace libsandbox
