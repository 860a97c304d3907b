#include "libsandbox/host/end_marker.h"

#include <algorithm>

#include "absl/strings/numbers.h"

namespace libsandbox {
namespace {

// "255\n" at most after the prefix.
constexpr size_t kMaxStatusChars = 4;

}  // namespace

size_t EndMarkerScanner::Settled() const {
  // The first possible start of the prefix, as a whole or cut at the end.
  for (size_t i = 0; i < held_.size(); ++i) {
    const size_t n = std::min(prefix_.size(), held_.size() - i);
    if (held_.compare(i, n, prefix_, 0, n) == 0) return i;
  }
  return held_.size();
}

std::string EndMarkerScanner::Feed(absl::string_view data) {
  if (exit_code_.has_value() || prefix_.empty()) return exit_code_ ? "" : std::string(data);
  held_.append(data.data(), data.size());
  std::string out;
  while (true) {
    const size_t start = Settled();
    out.append(held_, 0, start);
    held_.erase(0, start);
    if (held_.size() <= prefix_.size()) return out;  // empty, or maybe the prefix
    // The prefix is whole: a status and a newline must follow.
    const size_t newline = held_.find('\n', prefix_.size());
    const size_t digits =
        newline == std::string::npos ? held_.size() - prefix_.size() : newline - prefix_.size();
    int status = 0;
    const absl::string_view text = absl::string_view(held_).substr(prefix_.size(), digits);
    const bool is_digits =
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (is_digits && newline == std::string::npos && digits < kMaxStatusChars) return out;
    if (is_digits && newline != std::string::npos && !text.empty() &&
        absl::SimpleAtoi(text, &status) && status <= 255) {
      exit_code_ = status;
      held_.clear();
      return out;
    }
    // Not a marker after all: its first byte is output; look again after it.
    out.push_back(held_[0]);
    held_.erase(0, 1);
  }
}

std::string EndMarkerScanner::Flush() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

}  // namespace libsandbox
