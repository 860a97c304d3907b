#include "libsandbox/session/session_files.h"

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/text.h"
#include "libsandbox/run/bundle.h"
#include "libsandbox/session/scripts/file_helper_py.h"

namespace libsandbox {
namespace {

constexpr size_t kMaxPathBytes = 4096;

// A helper's JSON answer as `Message` (fields it does not know dropped).
template <typename Message>
absl::StatusOr<Message> ParseAnswer(const std::string& out, absl::string_view what) {
  Message m;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(out, &m, options).ok()) {
    return absl::InternalError(
        absl::StrCat(what, ": malformed output from the helper in the sandbox"));
  }
  return m;
}

bool KnownType(absl::string_view type) {
  return type == "file" || type == "directory" || type == "symlink" || type == "other";
}

}  // namespace

absl::Status CheckSandboxPath(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("path: must not be empty");
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat("path: longer than ", kMaxPathBytes, " bytes"));
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("path: must not contain NUL");
  }
  if (SanitizeUtf8(path) != path) return absl::InvalidArgumentError("path: must be valid UTF-8");
  return absl::OkStatus();
}

std::vector<std::string> FileHelperArgv(FileOp op, const std::string& path, int64_t limit,
                                        const std::vector<std::string>& extra) {
  static constexpr const char* kNames[] = {"read", "write", "list",   "put",    "range", "write_at",
                                           "stat", "mkdir", "remove", "rename", "find",  "archive"};
  std::vector<std::string> argv = {
      kExecutorPython,    "-I", "-S", "-c", kFileHelperPy, kNames[static_cast<int>(op)], path,
      absl::StrCat(limit)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

size_t FileHelperOutputCap(FileOp op, int64_t limit) {
  // The cap holds for stderr too, where errors come: never below 4 KiB.
  constexpr size_t kMin = 4096;
  switch (op) {
    case FileOp::kRead:
    case FileOp::kArchive:
      return std::max(kMin, static_cast<size_t>(limit) + 1);
    case FileOp::kRange:
      return static_cast<size_t>(limit) + 32;  // the size line first
    case FileOp::kList:
      // A name of at most 255 bytes (each may grow 6-fold as JSON) and
      // its fields, per entry.
      return std::max(kMin, static_cast<size_t>(limit + 1) * (6 * 255 + 160));
    case FileOp::kFind:
      // A path of at most 4096 bytes or a line of 512, as JSON.
      return std::max(kMin, static_cast<size_t>(limit + 1) * (6 * 4096 + 6 * 512 + 64));
    case FileOp::kStat:
      return 64 << 10;
    default:
      return kMin;
  }
}

absl::Status FileHelperStatus(const ProcessResult& result, const std::string& what,
                              const std::string& path) {
  if (result.timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(what, " ", path, ": timed out"));
  }
  if (result.exit_code == 0 && !result.out.truncated) return absl::OkStatus();
  const std::string err = SanitizeUtf8(result.err.data.substr(0, 300));
  const std::string where = absl::StrCat(what, " '", SanitizeUtf8(path), "': ");
  if (result.exit_code != 3) {
    return absl::InternalError(absl::StrCat(where, "the helper in the sandbox failed (exit ",
                                            result.exit_code, ") ", err));
  }
  std::pair<std::string, std::string> parts = absl::StrSplit(err, absl::MaxSplits(' ', 1));
  const std::string& name = parts.first;
  const std::string message = where + (parts.second.empty() ? name : parts.second);
  if (name == "ENOENT") return absl::NotFoundError(message);
  if (name == "EACCES" || name == "EPERM" || name == "EROFS") {
    return absl::PermissionDeniedError(message);
  }
  if (name == "EFBIG") return absl::OutOfRangeError(message + "; raise max_bytes");
  if (name == "ENOSPC" || name == "EDQUOT") return absl::ResourceExhaustedError(message);
  if (name == "EEXIST") return absl::AlreadyExistsError(message);
  if (name == "ENOTEMPTY") {
    return absl::FailedPreconditionError(message + "; remove it recursively");
  }
  if (name == "EISDIR" || name == "ENOTDIR" || name == "EINVAL" || name == "ENAMETOOLONG" ||
      name == "ELOOP" || name == "ENXIO" || name == "EXDEV") {
    return absl::InvalidArgumentError(message);
  }
  return absl::InternalError(message);
}

std::string PutFilesInput(const google::protobuf::RepeatedPtrField<InputFile>& files) {
  std::string head;
  size_t total = 0;
  for (const InputFile& f : files) {
    head += f.path();
    head.push_back('\0');
    head += std::to_string(f.content().size());
    head.push_back('\0');
    total += f.content().size();
  }
  std::string input = absl::StrCat(head.size(), "\n", head);
  input.reserve(input.size() + total);
  for (const InputFile& f : files) input += f.content();
  return input;
}

absl::StatusOr<DirListing> ParseListing(const std::string& out, int limit) {
  absl::StatusOr<DirListing> listing = ParseAnswer<DirListing>(out, "list_dir");
  if (!listing.ok()) return listing.status();
  if (listing->entries_size() > limit) {
    return absl::InternalError("list_dir: more entries than asked for from the helper");
  }
  for (DirEntry& e : *listing->mutable_entries()) {
    if (!KnownType(e.type()) || e.name().empty()) {
      return absl::InternalError("list_dir: malformed entry from the helper in the sandbox");
    }
    e.set_name(SanitizeUtf8(e.name()));
  }
  std::sort(listing->mutable_entries()->begin(), listing->mutable_entries()->end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name() < b.name(); });
  return listing;
}

absl::StatusOr<FileStat> ParseStat(const std::string& out) {
  absl::StatusOr<FileStat> stat = ParseAnswer<FileStat>(out, "stat");
  if (stat.ok() && !KnownType(stat->type())) {
    return absl::InternalError("stat: malformed output from the helper in the sandbox");
  }
  return stat;
}

absl::StatusOr<FileChunk> ParseRange(const std::string& out, int64_t offset, int64_t length) {
  const size_t newline = out.find('\n');
  int64_t size = 0;
  if (newline == std::string::npos || newline > 20 ||
      !absl::SimpleAtoi(absl::string_view(out).substr(0, newline), &size) || size < 0 ||
      static_cast<int64_t>(out.size() - newline - 1) > length) {
    return absl::InternalError("read_range: malformed output from the helper in the sandbox");
  }
  FileChunk chunk;
  chunk.set_data(out.substr(newline + 1));
  chunk.set_offset(offset);
  chunk.set_size(size);
  chunk.set_eof(offset + static_cast<int64_t>(chunk.data().size()) >= size);
  return chunk;
}

absl::StatusOr<FindResult> ParseFind(const std::string& out, int limit) {
  absl::StatusOr<FindResult> found = ParseAnswer<FindResult>(out, "find");
  if (!found.ok()) return found.status();
  if (found->matches_size() > limit) {
    return absl::InternalError("find: more matches than asked for from the helper");
  }
  for (FindMatch& m : *found->mutable_matches()) {
    m.set_path(SanitizeUtf8(m.path()));
    m.set_text(SanitizeUtf8(m.text()));
  }
  return found;
}

}  // namespace libsandbox
