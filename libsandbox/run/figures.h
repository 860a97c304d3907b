// Rich outputs of a one-shot run (Result.outputs): matplotlib figures, which
// the plot backend shipped in the code dir (plots.py) saves without the code
// asking, and the images the code saved among its kept files. The
// workspace is hostile: it is read by directory fds, never following a
// symlink, and everything is bounded.
#ifndef LIBSANDBOX_RUN_FIGURES_H_
#define LIBSANDBOX_RUN_FIGURES_H_

#include <cstdint>
#include <map>
#include <string>

#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// The backend's module file in the code dir, and where figures go (below
// the workspace; never kept as files).
inline constexpr char kPlotsModuleFile[] = "libsandbox_plots.py";
inline constexpr char kFiguresDir[] = ".libsandbox-figures";

// Outputs per run: at most this many, each and all together.
inline constexpr int kMaxOutputs = 16;
inline constexpr int64_t kMaxOutputBytes = int64_t{8} << 20;
inline constexpr int64_t kMaxOutputsTotalBytes = int64_t{32} << 20;

// Points matplotlib at the backend, unless the caller chose a backend
// (MPLBACKEND set): theirs wins and nothing is captured. The code dir goes
// last on PYTHONPATH.
void AddPlotCapture(std::map<std::string, std::string>& env);

// True for workspace paths the backend writes (kFiguresDir and below).
bool IsFigurePath(const std::string& rel_path);

// Appends the figures in `workspace`/kFiguresDir, in the order they were
// made, then the kept images of `result->files` (PNG, JPEG, GIF, WebP,
// SVG), within the bounds above (what does not fit is left out).
void CollectOutputs(const std::string& workspace, Result* result);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_FIGURES_H_
