// Protobuf messages read from files, in the format the file's name says:
// .textproto, .txtpb or .pbtxt (text format) or .json. Strict: a field the
// schema does not have is an error, so a typo never drops a setting.
#ifndef LIBSANDBOX_BASE_MESSAGE_FILE_H_
#define LIBSANDBOX_BASE_MESSAGE_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace libsandbox {

enum class MessageFormat { kTextproto, kJson };

// The format `path`'s name says; otherwise InvalidArgument
// "<what> <path>: name it .textproto, .txtpb, .pbtxt (text format) or .json".
absl::StatusOr<MessageFormat> MessageFormatOf(const std::string& path, absl::string_view what);

// Parses `text` into `message` (cleared first). InvalidArgument on a syntax
// error or an unknown field: "(JSON): ..." or "(textproto): line L column C: ...".
absl::Status ParseMessage(const std::string& text, MessageFormat format,
                          google::protobuf::Message& message);

// Reads the file `path` into `message`, in the format its name says. A file
// larger than `max_bytes` is refused. Errors name `what` and the path:
// "request file req.json: (JSON): ...".
absl::Status ReadMessageFile(const std::string& path, absl::string_view what, size_t max_bytes,
                             google::protobuf::Message& message);

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_MESSAGE_FILE_H_
