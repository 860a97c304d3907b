#include "libsandbox/run/figures.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/run/bundle.h"

namespace libsandbox {
namespace {

// The MIME type of an image file name, or "" for anything else.
std::string ImageType(const std::string& name) {
  static constexpr std::pair<const char*, const char*> kTypes[] = {
      {".png", "image/png"}, {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
      {".gif", "image/gif"}, {".webp", "image/webp"}, {".svg", "image/svg+xml"},
  };
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [suffix, type] : kTypes) {
    if (absl::EndsWith(lower, suffix)) return type;
  }
  return "";
}

// Reads a regular file below `dir_fd`, never through a symlink; at most
// `max_bytes` (a larger file: nullopt).
std::optional<std::string> ReadBounded(int dir_fd, const char* name, int64_t max_bytes) {
  UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size > max_bytes) {
    return std::nullopt;
  }
  absl::StatusOr<std::string> data = ReadFd(fd.get(), static_cast<size_t>(st.st_size));
  if (!data.ok()) return std::nullopt;
  return *std::move(data);
}

class Collector {
 public:
  explicit Collector(Result* result) : result_(result) {}

  // False once the bounds are reached.
  bool Add(int dir_fd, const std::string& name, const std::string& output_name) {
    if (result_->outputs_size() >= kMaxOutputs) return false;
    const std::string type = ImageType(name);
    if (type.empty()) return true;
    std::optional<std::string> data = ReadBounded(
        dir_fd, name.c_str(), std::min(kMaxOutputBytes, kMaxOutputsTotalBytes - total_));
    if (!data) return true;  // too large for what is left: maybe a smaller one fits
    total_ += static_cast<int64_t>(data->size());
    Output* out = result_->add_outputs();
    out->set_mime_type(type);
    out->set_data(*std::move(data));
    out->set_name(output_name);
    return true;
  }

 private:
  Result* result_;
  int64_t total_ = 0;
};

// The entries of a directory fd, by name, files made later after earlier
// ones ("figure-9" before "figure-10").
std::vector<std::string> FigureNames(int dir_fd) {
  std::vector<std::string> names;
  UniqueFd listing(::dup(dir_fd));
  DIR* d = listing.valid() ? ::fdopendir(listing.get()) : nullptr;
  if (d == nullptr) return names;
  listing.release();  // owned by d now
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    names.emplace_back(e->d_name);
    if (names.size() > 4 * kMaxOutputs) break;  // the backend makes at most kMaxOutputs
  }
  ::closedir(d);
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return names;
}

}  // namespace

void AddPlotCapture(std::map<std::string, std::string>& env) {
  if (env.contains("MPLBACKEND")) return;
  std::string module = kPlotsModuleFile;
  env["MPLBACKEND"] = "module://" + module.substr(0, module.rfind('.'));
  env["LIBSANDBOX_FIGURES"] = absl::StrCat(kSandboxHome, "/", kFiguresDir);
  std::string& path = env["PYTHONPATH"];
  absl::StrAppend(&path, path.empty() ? "" : ":", kSandboxCodeDir);
}

bool IsFigurePath(const std::string& rel_path) {
  return rel_path == kFiguresDir || absl::StartsWith(rel_path, absl::StrCat(kFiguresDir, "/"));
}

void CollectOutputs(const std::string& workspace, Result* result) {
  Collector collector(result);
  UniqueFd root(::open(workspace.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  UniqueFd figures;
  if (root.valid()) {
    figures.Reset(
        ::openat(root.get(), kFiguresDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (figures.valid()) {
    for (const std::string& name : FigureNames(figures.get())) {
      if (!collector.Add(figures.get(), name, name)) return;
    }
  }
  // Kept files are the host's own copies (retention.h): plain paths are safe.
  for (const File& f : result->files()) {
    if (!collector.Add(AT_FDCWD, f.host_path(), f.path())) return;
  }
}

}  // namespace libsandbox
