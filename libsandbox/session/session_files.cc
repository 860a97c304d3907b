#include "libsandbox/session/session_files.h"

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "libsandbox/base/text.h"
#include "libsandbox/run/bundle.h"

namespace libsandbox {
namespace {

constexpr size_t kMaxPathBytes = 4096;

// argv: op, path, limit. Exit 0: done (read: the bytes on stdout; list:
// "type\0size\0name\0" per entry, then "+\0" if there were more). Exit 3:
// stderr holds "ERRNAME message". Opens with O_NONBLOCK so a FIFO cannot
// hang it, and reads or writes regular files only. put enters directories
// with O_NOFOLLOW and no O_DIRECTORY, checking the type with fstat: gVisor
// follows a final symlink when O_DIRECTORY is given, even with O_NOFOLLOW.
constexpr char kHelper[] =
    "import errno, os, stat, sys\n"
    "op, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
    "D = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY\n"
    "def fail(name, msg):\n"
    "    sys.stderr.write(name + ' ' + msg)\n"
    "    sys.exit(3)\n"
    "def regular(fd):\n"
    "    m = os.fstat(fd).st_mode\n"
    "    if stat.S_ISDIR(m):\n"
    "        fail('EISDIR', 'is a directory')\n"
    "    if not stat.S_ISREG(m):\n"
    "        fail('EINVAL', 'is not a regular file')\n"
    "def opendir(name, dir_fd=None):\n"
    "    fd = os.open(name, D, dir_fd=dir_fd)\n"
    "    if not stat.S_ISDIR(os.fstat(fd).st_mode):\n"
    "        os.close(fd)\n"
    "        raise NotADirectoryError(errno.ENOTDIR, 'not a directory')\n"
    "    return fd\n"
    "def put():\n"
    "    src = sys.stdin.buffer\n"
    "    head = src.read(int(src.readline()))\n"
    "    fields = head.split(b'\\0')\n"
    "    for i in range(0, len(fields) - 1, 2):\n"
    "        put_one(src, fields[i], int(fields[i + 1]))\n"
    "def put_one(src, rel, size):\n"
    "    parts = [x for x in rel.split(b'/') if x not in (b'', b'.')]\n"
    "    fd = opendir(b'/home/user')\n"
    "    try:\n"
    "        for part in parts[:-1]:\n"
    "            try:\n"
    "                os.mkdir(part, 0o755, dir_fd=fd)\n"
    "            except FileExistsError:\n"
    "                pass\n"
    "            sub = opendir(part, fd)\n"
    "            os.close(fd)\n"
    "            fd = sub\n"
    "        tmp = b'.libsandbox-input.tmp'\n"
    "        try:\n"
    "            os.unlink(tmp, dir_fd=fd)\n"
    "        except FileNotFoundError:\n"
    "            pass\n"
    "        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, "
    "dir_fd=fd)\n"
    "        try:\n"
    "            while size > 0:\n"
    "                b = src.read(min(size, 1 << 16))\n"
    "                if not b:\n"
    "                    fail('EIO', 'input ended early')\n"
    "                size -= len(b)\n"
    "                while b:\n"
    "                    b = b[os.write(f, b):]\n"
    "        finally:\n"
    "            os.close(f)\n"
    "        os.replace(tmp, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)\n"
    "    except OSError as e:\n"
    "        fail(errno.errorcode.get(e.errno or 0, 'EIO'), '%s: %s' % ("
    "rel.decode('utf-8', 'replace'), e.strerror or ''))\n"
    "    finally:\n"
    "        os.close(fd)\n"
    "p = os.path.join('/home/user', path)\n"
    "out = sys.stdout.buffer\n"
    "try:\n"
    "    if op == 'read':\n"
    "        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)\n"
    "        regular(fd)\n"
    "        n = 0\n"
    "        while True:\n"
    "            b = os.read(fd, 1 << 16)\n"
    "            if not b:\n"
    "                break\n"
    "            n += len(b)\n"
    "            if n > limit:\n"
    "                fail('EFBIG', 'is larger than %d bytes' % limit)\n"
    "            out.write(b)\n"
    "    elif op == 'write':\n"
    "        d = os.path.dirname(p)\n"
    "        if d:\n"
    "            os.makedirs(d, exist_ok=True)\n"
    "        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o644)\n"
    "        regular(fd)\n"
    "        os.ftruncate(fd, 0)\n"
    "        src = sys.stdin.buffer\n"
    "        while True:\n"
    "            b = src.read(1 << 16)\n"
    "            if not b:\n"
    "                break\n"
    "            while b:\n"
    "                b = b[os.write(fd, b):]\n"
    "    elif op == 'list':\n"
    "        n = 0\n"
    "        with os.scandir(p) as it:\n"
    "            for e in it:\n"
    "                if n >= limit:\n"
    "                    out.write(b'+\\0')\n"
    "                    break\n"
    "                n += 1\n"
    "                try:\n"
    "                    st = e.stat(follow_symlinks=False)\n"
    "                except OSError:\n"
    "                    continue\n"
    "                m = st.st_mode\n"
    "                t = ('directory' if stat.S_ISDIR(m) else 'file' if stat.S_ISREG(m)\n"
    "                     else 'symlink' if stat.S_ISLNK(m) else 'other')\n"
    "                out.write(b'%s\\0%d\\0%s\\0' % (t.encode(), st.st_size, "
    "os.fsencode(e.name)))\n"
    "    elif op == 'put':\n"
    "        put()\n"
    "    out.flush()\n"
    "except OSError as e:\n"
    "    fail(errno.errorcode.get(e.errno or 0, 'EIO'), e.strerror or '')\n";

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

std::vector<std::string> FileHelperArgv(FileOp op, const std::string& path, int64_t limit) {
  const char* name = op == FileOp::kRead    ? "read"
                     : op == FileOp::kWrite ? "write"
                     : op == FileOp::kPut   ? "put"
                                            : "list";
  return {kExecutorPython, "-I", "-S", "-c", kHelper, name, path, absl::StrCat(limit)};
}

size_t FileHelperOutputCap(FileOp op, int64_t limit) {
  // The cap holds for stderr too, where errors come: never below 4 KiB.
  constexpr size_t kMin = 4096;
  switch (op) {
    case FileOp::kRead:
      return std::max(kMin, static_cast<size_t>(limit) + 1);
    case FileOp::kWrite:
    case FileOp::kPut:
      return kMin;
    case FileOp::kList:
      // type, size (20 digits) and a name of at most 255 bytes, per entry.
      return std::max(kMin, static_cast<size_t>(limit + 1) * (9 + 1 + 20 + 1 + 255 + 1));
  }
  return kMin;
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
  if (name == "EISDIR" || name == "ENOTDIR" || name == "EINVAL" || name == "ENAMETOOLONG" ||
      name == "ELOOP" || name == "ENXIO" || name == "EEXIST") {
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
  DirListing listing;
  std::vector<absl::string_view> parts = absl::StrSplit(out, '\0');
  // The output ends in NUL, so the last part is empty.
  size_t i = 0;
  while (i + 1 < parts.size()) {
    if (parts[i] == "+") {
      listing.set_truncated(true);
      break;
    }
    if (i + 3 >= parts.size() || listing.entries_size() >= limit) {
      return absl::InternalError("list_dir: malformed output from the helper in the sandbox");
    }
    const absl::string_view type = parts[i];
    int64_t size = 0;
    if ((type != "file" && type != "directory" && type != "symlink" && type != "other") ||
        !absl::SimpleAtoi(parts[i + 1], &size) || parts[i + 2].empty()) {
      return absl::InternalError("list_dir: malformed output from the helper in the sandbox");
    }
    DirEntry* e = listing.add_entries();
    e->set_type(std::string(type));
    e->set_size(size);
    e->set_name(SanitizeUtf8(parts[i + 2]));
    i += 3;
  }
  std::sort(listing.mutable_entries()->begin(), listing.mutable_entries()->end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name() < b.name(); });
  return listing;
}

}  // namespace libsandbox
