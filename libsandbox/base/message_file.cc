#include "libsandbox/base/message_file.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox {
namespace {

// Keeps the first error of the text-format parser, with its position.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, " column ", column + 1, ": ", message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::StatusOr<MessageFormat> MessageFormatOf(const std::string& path, absl::string_view what) {
  if (absl::EndsWith(path, ".json")) return MessageFormat::kJson;
  if (absl::EndsWith(path, ".textproto") || absl::EndsWith(path, ".txtpb") ||
      absl::EndsWith(path, ".pbtxt")) {
    return MessageFormat::kTextproto;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, " ", path, ": name it .textproto, .txtpb, .pbtxt (text format) or .json"));
}

absl::Status ParseMessage(const std::string& text, MessageFormat format,
                          google::protobuf::Message& message) {
  message.Clear();
  if (format == MessageFormat::kJson) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;  // a typo must not drop a setting
    auto status = google::protobuf::util::JsonStringToMessage(text, &message, options);
    if (!status.ok())
      return absl::InvalidArgumentError(absl::StrCat("(JSON): ", status.ToString()));
    return absl::OkStatus();
  }
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &message)) {
    return absl::InvalidArgumentError(absl::StrCat("(textproto): ", errors.first()));
  }
  return absl::OkStatus();
}

absl::Status ReadMessageFile(const std::string& path, absl::string_view what, size_t max_bytes,
                             google::protobuf::Message& message) {
  absl::StatusOr<MessageFormat> format = MessageFormatOf(path, what);
  if (!format.ok()) return format.status();
  absl::StatusOr<std::string> text = ReadFile(path, max_bytes + 1);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat(what, " ", path, ": ", text.status().message()));
  }
  if (text->size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is larger than ", max_bytes, " bytes"));
  }
  if (absl::Status s = ParseMessage(*text, *format, message); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace libsandbox
