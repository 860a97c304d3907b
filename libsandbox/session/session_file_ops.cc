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
                                                            std::optional<std::string> input,
                                                            const std::vector<std::string>& extra) {
  if (absl::Status s = CheckSandboxPath(path); !s.ok()) return s;
  return WithSandbox([&]() -> absl::StatusOr<ProcessResult> {
    mu_.AssertReaderHeld();
    return RunFileHelperLocked(op, path, limit, std::move(input), extra);
  });
}

absl::StatusOr<ProcessResult> ManagedSession::FileCall(const char* what, FileOp op,
                                                       const std::string& path, int64_t limit,
                                                       std::optional<std::string> input,
                                                       const std::vector<std::string>& extra) {
  absl::StatusOr<ProcessResult> r = RunFileHelper(op, path, limit, std::move(input), extra);
  if (!r.ok()) return r.status();
  if (absl::Status s = FileHelperStatus(*r, what, path); !s.ok()) return s;
  return r;
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
    FileOp op, const std::string& path, int64_t limit, std::optional<std::string> input,
    const std::vector<std::string>& extra) {
  return RunHelperLocked(FileHelperArgv(op, path, limit, extra), input.value_or(""),
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
      FileCall("list_dir", FileOp::kList, path, kMaxListEntries, std::nullopt);
  if (!r.ok()) return r.status();
  return ParseListing(r->out.data, kMaxListEntries);
}

absl::StatusOr<FileStat> ManagedSession::Stat(const std::string& path) {
  absl::StatusOr<ProcessResult> r = FileCall("stat", FileOp::kStat, path, 0, std::nullopt);
  if (!r.ok()) return r.status();
  return ParseStat(r->out.data);
}

absl::Status ManagedSession::MakeDir(const std::string& path, bool parents) {
  return FileCall("mkdir", FileOp::kMkdir, path, parents ? 1 : 0, std::nullopt).status();
}

absl::Status ManagedSession::Remove(const std::string& path, bool recursive) {
  return FileCall("remove", FileOp::kRemove, path, recursive ? 1 : 0, std::nullopt).status();
}

absl::Status ManagedSession::Rename(const std::string& from, const std::string& to) {
  if (absl::Status s = CheckSandboxPath(to); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("to: ", s.message()));
  }
  return FileCall("rename", FileOp::kRename, from, 0, std::nullopt, {to}).status();
}

absl::StatusOr<FileChunk> ManagedSession::ReadRange(const std::string& path, int64_t offset,
                                                    int64_t length) {
  if (offset < 0 || length <= 0 || length > kMaxFileOpBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("read_range: offset must be >= 0 and length between 1 and ", kMaxFileOpBytes));
  }
  absl::StatusOr<ProcessResult> r =
      FileCall("read_range", FileOp::kRange, path, length, std::nullopt, {absl::StrCat(offset)});
  if (!r.ok()) return r.status();
  return ParseRange(r->out.data, offset, length);
}

absl::Status ManagedSession::WriteAt(const std::string& path, const std::string& data,
                                     int64_t offset) {
  if (static_cast<int64_t>(data.size()) > kMaxFileOpBytes || offset < -1) {
    return absl::InvalidArgumentError(absl::StrCat("write_at: at most ", kMaxFileOpBytes,
                                                   " bytes, at an offset >= 0 (or -1: append)"));
  }
  return FileCall("write_at", FileOp::kWriteAt, path, 0, data, {absl::StrCat(offset)}).status();
}

absl::StatusOr<FindResult> ManagedSession::Find(const FindRequest& request) {
  const int limit = request.max_results() == 0 ? kDefaultFindResults : request.max_results();
  if (limit < 0 || limit > kMaxFindResults) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_results: must be between 0 and ", kMaxFindResults));
  }
  for (const std::string* s : {&request.glob(), &request.grep()}) {
    if (s->size() > 4096 || s->find('\0') != std::string::npos || SanitizeUtf8(*s) != *s) {
      return absl::InvalidArgumentError("glob and grep: valid UTF-8 of at most 4096 bytes");
    }
  }
  const std::string path = request.path().empty() ? "." : request.path();
  absl::StatusOr<ProcessResult> r =
      FileCall("find", FileOp::kFind, path, limit, std::nullopt,
               {request.glob(), request.grep(), request.regex() ? "1" : "0"});
  if (!r.ok()) return r.status();
  return ParseFind(r->out.data, limit);
}

absl::StatusOr<std::string> ManagedSession::Archive(const std::vector<std::string>& paths,
                                                    int64_t max_bytes) {
  if (paths.empty() || static_cast<int>(paths.size()) > kMaxArchivePaths) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive: between 1 and ", kMaxArchivePaths, " paths"));
  }
  if (max_bytes <= 0 || max_bytes > kMaxFileOpBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes: must be between 1 and ", kMaxFileOpBytes));
  }
  std::string input;
  for (const std::string& p : paths) {
    if (absl::Status s = CheckSandboxPath(p); !s.ok()) return s;
    absl::StrAppend(&input, p, std::string(1, '\0'));
  }
  absl::StatusOr<ProcessResult> r =
      FileCall("archive", FileOp::kArchive, ".", max_bytes, std::move(input));
  if (!r.ok()) return r.status();
  if (static_cast<int64_t>(r->out.data.size()) > max_bytes) {  // never trust the helper
    return absl::OutOfRangeError(absl::StrCat("archive: larger than ", max_bytes, " bytes"));
  }
  return std::move(r->out.data);
}

}  // namespace libsandbox
