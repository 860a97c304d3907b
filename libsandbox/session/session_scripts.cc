#include "libsandbox/session/session_scripts.h"

#include <string_view>

#include "libsandbox/run/bundle.h"
#include "libsandbox/session/scripts/cwd_wrapper_py.h"
#include "libsandbox/session/scripts/cwd_wrapper_sh.h"
#include "libsandbox/session/scripts/init_py.h"

namespace libsandbox {
namespace {

// The wrappers' lines that record the cwd lie between these two lines.
constexpr char kRecordBegin[] = "# begin record-cwd";
constexpr char kRecordEnd[] = "# end record-cwd";

// Whether `text` contains `part`, at compile time (a plain loop: string_view
// searches are not constant expressions in sanitizer builds).
template <size_t N, size_t M>
constexpr bool Contains(const char (&text)[N], const char (&part)[M]) {
  for (size_t i = 0; i + M <= N; ++i) {
    size_t j = 0;
    while (j + 1 < M && text[i + j] == part[j]) ++j;
    if (j + 1 == M) return true;
  }
  return false;
}

static_assert(Contains(kCwdWrapperSh, kRecordBegin) && Contains(kCwdWrapperSh, kRecordEnd));
static_assert(Contains(kCwdWrapperPy, kRecordBegin) && Contains(kCwdWrapperPy, kRecordEnd));
static_assert(!Contains(kRecordBegin, kRecordEnd));

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
