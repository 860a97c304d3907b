#include "libsandbox/run/audit.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/text.h"

namespace libsandbox {
namespace {

absl::Mutex locks_mu(absl::kConstInit);

// One lock per log path, process-wide, so that two engines writing the same
// log still append and rotate one at a time.
absl::Mutex& LockFor(const std::string& path) {
  absl::MutexLock lock(&locks_mu);
  static auto* locks = new std::map<std::string, std::unique_ptr<absl::Mutex>>();
  std::unique_ptr<absl::Mutex>& m = (*locks)[path];
  if (m == nullptr) m = std::make_unique<absl::Mutex>();
  return *m;
}

std::string FormatRecordTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::StatusOr<UniqueFd> OpenForAppend(const std::string& path) {
  // O_NOFOLLOW: the log is never written through a planted symlink.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat("open ", path), errno);
  return fd;
}

// An invalid fd when the file does not exist.
absl::StatusOr<UniqueFd> OpenForRead(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid() && errno != ENOENT) return ErrnoStatus(absl::StrCat("open ", path), errno);
  return fd;
}

// Calls `fn` with each line of the file `fd` (named `path`), last line
// first, until it returns false. Lines over kMaxAuditLineBytes are skipped.
absl::Status ForEachLineBackward(const UniqueFd& fd, const std::string& path,
                                 const std::function<bool(absl::string_view)>& fn) {
  if (!fd.valid()) return absl::OkStatus();
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(absl::StrCat("stat ", path), errno);
  constexpr size_t kChunk = 64 << 10;
  auto buf = std::make_unique<char[]>(kChunk);
  off_t pos = st.st_size;
  std::string partial;  // the start of a line whose end we have seen
  bool overlong = false;
  auto emit = [&](absl::string_view head) {
    bool more = true;
    if (!overlong) {
      if (partial.empty()) {
        more = head.empty() || fn(head);
      } else {
        std::string line = absl::StrCat(head, partial);
        more = fn(line);
      }
    }
    partial.clear();
    overlong = false;
    return more;
  };
  while (pos > 0) {
    const size_t n = static_cast<size_t>(std::min<off_t>(pos, kChunk));
    pos -= static_cast<off_t>(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd.get(), buf.get() + got, n - got, pos + static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus(absl::StrCat("read ", path), errno);
      if (r == 0) return absl::DataLossError(absl::StrCat(path, " shrank while being read"));
      got += static_cast<size_t>(r);
    }
    size_t end = n;
    for (size_t i = n; i-- > 0;) {
      if (buf[i] != '\n') continue;
      if (!emit(absl::string_view(buf.get() + i + 1, end - i - 1))) return absl::OkStatus();
      end = i;
    }
    if (!overlong) {
      if (partial.size() + end > kMaxAuditLineBytes) {
        overlong = true;
        partial.clear();
      } else {
        partial.insert(0, buf.get(), end);
      }
    }
  }
  emit("");
  return absl::OkStatus();
}

}  // namespace

AuditOptions AuditOptionsFor(const Config& config) {
  AuditOptions o;
  o.path = config.audit_path().empty() ? absl::StrCat(config.state_dir(), "/audit.log")
                                       : config.audit_path();
  o.log_code = config.audit_code();
  return o;
}

AuditRecord MakeAuditRecord(const RunRequest& request, const Result& result,
                            const std::string& policy, bool with_code) {
  AuditRecord r;
  r.set_call("run");
  r.set_user(SanitizeUtf8(request.user()));
  r.set_policy(SanitizeUtf8(policy));
  r.set_language(SanitizeUtf8(request.language().empty() ? kDefaultLanguage : request.language()));
  r.set_status(result.status());
  r.set_reason(SanitizeUtf8(result.reason()));
  if (result.has_exit_code()) r.set_exit_code(result.exit_code());
  r.set_duration_s(result.duration_s());
  r.set_stdout_bytes(static_cast<int64_t>(result.stdout().size()));
  r.set_stderr_bytes(static_cast<int64_t>(result.stderr().size()));
  r.set_files(result.files_size());
  int64_t file_bytes = 0;
  for (const File& f : result.files()) file_bytes += f.size();
  r.set_file_bytes(file_bytes);
  if (result.has_egress()) {
    r.set_egress_allowed(result.egress().allowed());
    r.set_egress_denied(result.egress().denied());
    // Already escaped and cut by the proxy.
    for (const std::string& d : result.egress().denials()) r.add_egress_denials(SanitizeUtf8(d));
  }
  if (with_code) {
    const std::string& code = request.code();
    r.set_code(SanitizeUtf8(absl::string_view(code).substr(0, kMaxAuditCodeBytes)));
    r.set_code_truncated(code.size() > kMaxAuditCodeBytes);
  }
  return r;
}

AuditLog::AuditLog(AuditOptions options) : options_(std::move(options)) {}

absl::Status AuditLog::Append(AuditRecord record) {
  // Whatever the caller filled in, code reaches the log only when enabled.
  if (!options_.log_code) {
    record.clear_code();
    record.clear_code_truncated();
  }
  const std::string& path = options_.path;
  absl::MutexLock lock(&LockFor(path));
  // Stamped under the lock, so lines are in time order (Query relies on it).
  if (record.time().empty()) record.set_time(FormatRecordTime(absl::Now()));
  std::string line;
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;  // the names admins grep for
  if (auto s = google::protobuf::util::MessageToJsonString(record, &line, json); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("audit record: ", s.ToString()));
  }
  line.push_back('\n');

  const std::string dir = ParentDir(path);
  if (struct stat st; ::stat(dir.c_str(), &st) != 0) {
    if (absl::Status s = MakeDirs(dir, 0700); !s.ok()) return s;
  }
  absl::StatusOr<UniqueFd> fd = OpenForAppend(path);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoStatus(absl::StrCat("stat ", path), errno);
  if (st.st_size > 0 &&
      st.st_size + static_cast<off_t>(line.size()) > static_cast<off_t>(options_.rotate_bytes)) {
    const std::string rotated = path + ".1";
    if (::rename(path.c_str(), rotated.c_str()) != 0) {
      return ErrnoStatus(absl::StrCat("rotate ", path), errno);
    }
    fd = OpenForAppend(path);
    if (!fd.ok()) return fd.status();
  } else if (char last = '\n';
             st.st_size > 0 && ::pread(fd->get(), &last, 1, st.st_size - 1) == 1 && last != '\n') {
    // A line cut by a crash must not swallow this record: start a fresh one.
    line = absl::StrCat("\n", line);
  }
  // One write per record: readers never see half of one unless the disk fills.
  ssize_t n;
  do {
    n = ::write(fd->get(), line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(absl::StrCat("write ", path), errno);
  if (static_cast<size_t>(n) != line.size()) {
    return absl::ResourceExhaustedError(absl::StrCat("short write to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditRecord>> AuditLog::Query(const std::string& user, absl::Time since,
                                                         int limit) const {
  if (limit <= 0) limit = kDefaultAuditQueryLimit;
  limit = std::min(limit, kMaxAuditQueryLimit);
  std::vector<AuditRecord> out;
  bool older_than_since = false;
  auto visit = [&](absl::string_view line) {
    AuditRecord r;
    google::protobuf::util::JsonParseOptions json;
    json.ignore_unknown_fields = true;  // lines from a newer version
    if (!google::protobuf::util::JsonStringToMessage(std::string(line), &r, json).ok()) {
      return true;  // a cut or foreign line: skip it
    }
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, r.time(), &t, &err)) return true;
    if (t < since) {
      older_than_since = true;  // lines are in time order: the rest is older
      return false;
    }
    if (!user.empty() && r.user() != user) return true;
    out.push_back(std::move(r));
    return static_cast<int>(out.size()) < limit;
  };
  // Both files opened together, so a rotation in between cannot make a
  // record appear twice or not at all.
  const std::string paths[] = {options_.path, options_.path + ".1"};
  UniqueFd fds[2];
  {
    absl::MutexLock lock(&LockFor(options_.path));
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<UniqueFd> fd = OpenForRead(paths[i]);
      if (!fd.ok()) return fd.status();
      fds[i] = *std::move(fd);
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (absl::Status s = ForEachLineBackward(fds[i], paths[i], visit); !s.ok()) return s;
    if (older_than_since || static_cast<int>(out.size()) >= limit) break;
  }
  return out;
}

}  // namespace libsandbox
