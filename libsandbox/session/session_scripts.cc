#include "libsandbox/session/session_scripts.h"

#include <string_view>

#include "libsandbox/run/bundle.h"
#include "libsandbox/session/scripts/cwd_wrapper_py.h"
#include "libsandbox/session/scripts/cwd_wrapper_sh.h"
#include "libsandbox/session/scripts/init_py.h"

namespace libsandbox {
namespace {

// The wrappers' lines that record the cwd lie between these two lines.
constexpr std::string_view kRecordBegin = "# begin record-cwd";
constexpr std::string_view kRecordEnd = "# end record-cwd";

static_assert(std::string_view(kCwdWrapperSh).find(kRecordBegin) != std::string_view::npos &&
              std::string_view(kCwdWrapperSh).find(kRecordEnd) != std::string_view::npos);
static_assert(std::string_view(kCwdWrapperPy).find(kRecordBegin) != std::string_view::npos &&
              std::string_view(kCwdWrapperPy).find(kRecordEnd) != std::string_view::npos);

// `script` without its recording lines (the markers included).
std::string WithoutRecording(std::string_view script) {
  const size_t begin = script.find(kRecordBegin);
  const size_t end = script.find('\n', script.find(kRecordEnd)) + 1;
  return std::string(script.substr(0, begin)) + std::string(script.substr(end));
}

}  // namespace

std::vector<std::string> SessionInitArgv() { return {kExecutorPython, "-c", kInitPy}; }

std::vector<std::string> WrapperArgv(const Language& language, const std::string& code_path) {
  if (language.in_process_python) {
    return {kExecutorPython, "-c", kCwdWrapperPy, code_path};
  }
  return {language.argv[0], "-c", kCwdWrapperSh, "libsandbox-exec", code_path};
}

std::vector<std::string> BackgroundWrapperArgv(const Language& language,
                                               const std::string& code_path) {
  if (language.in_process_python) {
    return {kExecutorPython, "-c", WithoutRecording(kCwdWrapperPy), code_path};
  }
  return {language.argv[0], "-c", WithoutRecording(kCwdWrapperSh), "libsandbox-exec", code_path};
}

}  // namespace libsandbox
