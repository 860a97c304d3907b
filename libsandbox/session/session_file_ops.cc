// A session's file operations (ReadFile, WriteFile, ListDir): the fixed
// helper of session_files.h, run inside the booted sandbox like an exec.
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/text.h"
#include "libsandbox/host/process.h"
#include "libsandbox/session/session.h"
#include "libsandbox/session/session_request.h"

namespace libsandbox {
namespace {

constexpr absl::Duration kFileOpTimeout = absl::Seconds(60);

}  // namespace

absl::StatusOr<ProcessResult> ManagedSession::RunFileHelper(FileOp op, const std::string& path,
                                                            int64_t limit,
                                                            std::optional<std::string> input) {
  if (absl::Status s = CheckSandboxPath(path); !s.ok()) return s;
  return WithSandbox([&]() -> absl::StatusOr<ProcessResult> {
    mu_.AssertReaderHeld();
    return RunFileHelperLocked(op, path, limit, std::move(input));
  });
}

absl::StatusOr<ProcessResult> ManagedSession::RunHelperLocked(std::vector<std::string> argv,
                                                              const std::string& input,
                                                              size_t out_cap) {
  // Like an exec's: the spec (uid 1000, no capabilities, rlimits) in the
  // host-only run dir; the arguments go in it, never on the host's argv.
  const std::string process_file =
      absl::StrCat(instance_->run_path(), "/helper-", ++next_exec_, ".json");
  if (auto s = WriteProcessSpec(process_file, std::move(argv), {}, limits_.max_pids()); !s.ok()) {
    return s;
  }
  SpawnOptions spawn;
  spawn.argv = instance_->RunscCommand({"exec", "--process", process_file, instance_->container()});
  spawn.stdin_data = input;
  spawn.exit_drain_grace = kExecDrainGrace;
  absl::StatusOr<ProcessResult> r = absl::InternalError("not run");
  absl::StatusOr<Subprocess> child = Subprocess::Start(spawn);
  if (child.ok()) {
    r = child->Communicate(out_cap, absl::Now() + kFileOpTimeout);
  } else {
    r = child.status();
  }
  ::unlink(process_file.c_str());
  return r;
}

absl::StatusOr<ProcessResult> ManagedSession::RunFileHelperLocked(
    FileOp op, const std::string& path, int64_t limit, std::optional<std::string> input) {
  return RunHelperLocked(FileHelperArgv(op, path, limit), input.value_or(""),
                         FileHelperOutputCap(op, limit));
}

absl::Status ManagedSession::WriteInputFilesLocked(const ExecRequest& request) {
  if (request.files_size() == 0) return absl::OkStatus();
  absl::StatusOr<ProcessResult> r =
      RunFileHelperLocked(FileOp::kPut, ".", 0, PutFilesInput(request.files()));
  if (!r.ok()) return r.status();
  return FileHelperStatus(*r, "files", "/home/user");
}

absl::StatusOr<std::string> ManagedSession::ReadFile(const std::string& path, int64_t max_bytes) {
  if (max_bytes <= 0 || max_bytes > kMaxFileOpBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes: must be between 1 and ", kMaxFileOpBytes));
  }
  absl::StatusOr<ProcessResult> r = RunFileHelper(FileOp::kRead, path, max_bytes, std::nullopt);
  if (!r.ok()) return r.status();
  if (absl::Status s = FileHelperStatus(*r, "read_file", path); !s.ok()) return s;
  if (static_cast<int64_t>(r->out.data.size()) > max_bytes) {  // never trust the helper
    return absl::OutOfRangeError(
        absl::StrCat("read_file '", SanitizeUtf8(path), "': larger than ", max_bytes, " bytes"));
  }
  return std::move(r->out.data);
}

absl::Status ManagedSession::WriteFile(const std::string& path, const std::string& data) {
  if (static_cast<int64_t>(data.size()) > kMaxFileOpBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("write_file: ", data.size(), " bytes, more than ", kMaxFileOpBytes));
  }
  absl::StatusOr<ProcessResult> r = RunFileHelper(FileOp::kWrite, path, 0, data);
  if (!r.ok()) return r.status();
  return FileHelperStatus(*r, "write_file", path);
}

absl::StatusOr<DirListing> ManagedSession::ListDir(const std::string& path) {
  absl::StatusOr<ProcessResult> r =
      RunFileHelper(FileOp::kList, path, kMaxListEntries, std::nullopt);
  if (!r.ok()) return r.status();
  if (absl::Status s = FileHelperStatus(*r, "list_dir", path); !s.ok()) return s;
  return ParseListing(r->out.data, kMaxListEntries);
}

}  // namespace libsandbox
