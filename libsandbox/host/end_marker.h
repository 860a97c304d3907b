// Finds the line a warm sandbox's executor writes on stderr when the code
// is over: `<prefix><exit status>\n`. With it the host has the run's result
// as soon as the code ends, instead of after the sandbox has shut down. The
// prefix carries a random token per run; code that writes it can only end
// its own run early.
#ifndef LIBSANDBOX_HOST_END_MARKER_H_
#define LIBSANDBOX_HOST_END_MARKER_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace libsandbox {

class EndMarkerScanner {
 public:
  explicit EndMarkerScanner(std::string prefix) : prefix_(std::move(prefix)) {}

  // Takes the next bytes of the stream; returns those that are output (not
  // the marker). Bytes that may begin the marker are held until it is clear.
  // Once the marker is found, everything after it is dropped.
  std::string Feed(absl::string_view data);
  // At the end of the stream: the bytes still held.
  std::string Flush();
  // The exit status the marker gave, once found.
  std::optional<int> exit_code() const { return exit_code_; }

 private:
  // Bytes at the start of held_ that can no longer begin a marker.
  size_t Settled() const;

  std::string prefix_;
  std::string held_;
  std::optional<int> exit_code_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_HOST_END_MARKER_H_
