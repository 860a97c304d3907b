// Human-friendly quantities in policy files: sizes, CPU counts, durations.
//
// Sizes follow the Kubernetes convention, suffixes in any case:
//   binary   Ki Mi Gi Ti, also KiB MiB GiB TiB   (powers of 1024)
//   decimal  k M G T,     also KB MB GB TB       (powers of 1000)
//   B        bytes
// so "500m" is 500 MB: Kubernetes' "m" for milli makes no sense for bytes
// and is never read that way.
// A bare number's unit depends on the field, and is what an admin already
// writes for it elsewhere:
//   memory, workspace  MiB   (like memory_mb / workspace_mb: "128" = 128 MiB)
//   max_output         bytes (like max_output_bytes)
// Fractions are allowed ("1.5Gi") when the result is a whole number of bytes.
//
// CPU counts: "2", "0.25", or millicpus "500m" (= 0.5); at most 3 decimals.
// Durations: "250ms", "30s", "5m", "1h", "2d", compounds like "1h30m", and a
// bare number means seconds ("1.5" = 1.5 s); millisecond precision.
//
// No signs, exponents, "inf"/"nan" or hex. Every error is InvalidArgument
// naming the field and the value.
#ifndef LIBSANDBOX_BASE_UNITS_H_
#define LIBSANDBOX_BASE_UNITS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace libsandbox {

// What a size without a suffix counts.
enum class BareSize { kBytes, kMebibytes };

// `field` only names the value in error messages ("memory", "caps.memory").
absl::StatusOr<int64_t> ParseBytes(absl::string_view field, absl::string_view text, BareSize bare);
absl::StatusOr<double> ParseCpus(absl::string_view field, absl::string_view text);
absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view field, absl::string_view text);
// A plain non-negative integer (e.g. a pid count).
absl::StatusOr<int64_t> ParseCount(absl::string_view field, absl::string_view text);

// For messages: "64Mi", "1536Ki", "100000000" (bytes).
std::string FormatBytes(int64_t bytes);

// `text` shortened and escaped for an error message.
std::string QuoteForMessage(absl::string_view text);

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_UNITS_H_
