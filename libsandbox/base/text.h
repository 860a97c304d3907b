// Text from inside the sandbox is untrusted bytes; callers get valid UTF-8.
#ifndef LIBSANDBOX_BASE_TEXT_H_
#define LIBSANDBOX_BASE_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace libsandbox {

// Replaces each invalid UTF-8 sequence with U+FFFD.
std::string SanitizeUtf8(absl::string_view bytes);

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_TEXT_H_
