#include "libsandbox/base/units.h"

#include <cstdint>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace libsandbox {
namespace {

using u128 = unsigned __int128;

// Longer texts are typos or attacks; no real quantity needs more.
constexpr size_t kMaxTextBytes = 64;
// Keeps every product below 2^127 (10^20 * 2^40 * 10^12 fits).
constexpr int kMaxDigits = 20;
constexpr u128 kInt64Max = std::numeric_limits<int64_t>::max();

// An exact decimal: mantissa / 10^scale.
struct Decimal {
  u128 mantissa = 0;
  int scale = 0;
};

u128 Pow10(int n) {
  u128 r = 1;
  while (n-- > 0) r *= 10;
  return r;
}

// Reads "123", "1.5", ".5", "5." from the front of `text`; nullopt if there
// is no digit. Advances `text` past the number.
std::optional<Decimal> ConsumeDecimal(absl::string_view& text) {
  Decimal d;
  int digits = 0;
  bool dot = false;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.' && !dot) {
      dot = true;
    } else if (absl::ascii_isdigit(c)) {
      if (++digits > kMaxDigits) return std::nullopt;
      d.mantissa = d.mantissa * 10 + static_cast<unsigned>(c - '0');
      if (dot) ++d.scale;
    } else {
      break;
    }
  }
  if (digits == 0) return std::nullopt;
  text.remove_prefix(i);
  return d;
}

// mantissa * multiplier / 10^scale when that is a whole number <= int64 max.
// `not_whole` tells the two failures apart.
std::optional<int64_t> Scale(const Decimal& d, u128 multiplier, bool* not_whole) {
  const u128 denom = Pow10(d.scale);
  const u128 product = d.mantissa * multiplier;
  *not_whole = product % denom != 0;
  if (*not_whole) return std::nullopt;
  const u128 value = product / denom;
  if (value > kInt64Max) return std::nullopt;
  return static_cast<int64_t>(value);
}

absl::Status Bad(absl::string_view field, absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", QuoteForMessage(text), " ", why));
}

// Outer whitespace is forgiven; texts that are too long are not.
absl::StatusOr<absl::string_view> Prepare(absl::string_view field, absl::string_view text,
                                          absl::string_view what) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (t.empty()) return Bad(field, text, absl::StrCat("is empty; expected ", what));
  if (t.size() > kMaxTextBytes) return Bad(field, text, "is too long");
  return t;
}

std::optional<u128> SizeMultiplier(absl::string_view suffix, BareSize bare) {
  std::string s = absl::AsciiStrToLower(suffix);
  if (s.empty()) return bare == BareSize::kMebibytes ? u128{1} << 20 : u128{1};
  if (s == "b") return 1;
  if (s == "k" || s == "kb") return Pow10(3);
  if (s == "m" || s == "mb") return Pow10(6);
  if (s == "g" || s == "gb") return Pow10(9);
  if (s == "t" || s == "tb") return Pow10(12);
  if (s == "ki" || s == "kib") return u128{1} << 10;
  if (s == "mi" || s == "mib") return u128{1} << 20;
  if (s == "gi" || s == "gib") return u128{1} << 30;
  if (s == "ti" || s == "tib") return u128{1} << 40;
  return std::nullopt;
}

std::optional<u128> DurationMillis(absl::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 3600 * 1000;
  if (unit == "d") return 86400 * 1000;
  return std::nullopt;
}

}  // namespace

std::string QuoteForMessage(absl::string_view text) {
  constexpr size_t kShown = 64;
  std::string shown = absl::CHexEscape(text.substr(0, kShown));
  return absl::StrCat("\"", shown, text.size() > kShown ? "...\"" : "\"");
}

absl::StatusOr<int64_t> ParseBytes(absl::string_view field, absl::string_view text, BareSize bare) {
  const char* examples = bare == BareSize::kMebibytes
                             ? "a size like 512Mi, 2Gi or 100M; a bare number means MiB"
                             : "a size like 1Mi, 64Ki or 100k; a bare number means bytes";
  absl::StatusOr<absl::string_view> t = Prepare(field, text, examples);
  if (!t.ok()) return t.status();
  absl::string_view rest = *t;
  std::optional<Decimal> number = ConsumeDecimal(rest);
  std::optional<u128> multiplier =
      number ? SizeMultiplier(absl::StripLeadingAsciiWhitespace(rest), bare) : std::nullopt;
  if (!multiplier) return Bad(field, text, absl::StrCat("is not ", examples));
  bool not_whole = false;
  std::optional<int64_t> bytes = Scale(*number, *multiplier, &not_whole);
  if (not_whole) return Bad(field, text, "is not a whole number of bytes");
  if (!bytes) return Bad(field, text, "is too large");
  return *bytes;
}

absl::StatusOr<double> ParseCpus(absl::string_view field, absl::string_view text) {
  constexpr char kExamples[] = "a CPU count like 2, 0.5 or 500m (millicpus)";
  absl::StatusOr<absl::string_view> t = Prepare(field, text, kExamples);
  if (!t.ok()) return t.status();
  absl::string_view rest = *t;
  std::optional<Decimal> number = ConsumeDecimal(rest);
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (!number || (!rest.empty() && rest != "m")) {
    return Bad(field, text, absl::StrCat("is not ", kExamples));
  }
  bool not_whole = false;
  std::optional<int64_t> millis = Scale(*number, rest == "m" ? 1 : 1000, &not_whole);
  if (not_whole) return Bad(field, text, "is finer than a thousandth of a CPU");
  if (!millis) return Bad(field, text, "is too large");
  return static_cast<double>(*millis) / 1000.0;
}

absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view field, absl::string_view text) {
  constexpr char kExamples[] =
      "a duration like 250ms, 30s, 5m, 1h or 1h30m; a bare number means seconds";
  absl::StatusOr<absl::string_view> t = Prepare(field, text, kExamples);
  if (!t.ok()) return t.status();
  absl::string_view rest = *t;
  u128 total_ms = 0;
  bool first = true;
  while (!rest.empty()) {
    std::optional<Decimal> number = ConsumeDecimal(rest);
    if (!number) return Bad(field, text, absl::StrCat("is not ", kExamples));
    size_t unit_len = 0;
    while (unit_len < rest.size() && absl::ascii_isalpha(rest[unit_len])) ++unit_len;
    absl::string_view unit = rest.substr(0, unit_len);
    rest.remove_prefix(unit_len);
    // Only a lone number may go without a unit.
    if (unit.empty() && !(first && rest.empty())) {
      return Bad(field, text, absl::StrCat("is not ", kExamples));
    }
    std::optional<u128> ms = unit.empty() ? u128{1000} : DurationMillis(unit);
    if (!ms) return Bad(field, text, absl::StrCat("has an unknown unit; expected ", kExamples));
    bool not_whole = false;
    std::optional<int64_t> part = Scale(*number, *ms, &not_whole);
    if (not_whole) return Bad(field, text, "is finer than a millisecond");
    if (!part) return Bad(field, text, "is too large");
    total_ms += static_cast<u128>(*part);
    if (total_ms > kInt64Max) return Bad(field, text, "is too large");
    first = false;
  }
  return absl::Milliseconds(static_cast<int64_t>(total_ms));
}

absl::StatusOr<int64_t> ParseCount(absl::string_view field, absl::string_view text) {
  constexpr char kExamples[] = "a whole number like 128";
  absl::StatusOr<absl::string_view> t = Prepare(field, text, kExamples);
  if (!t.ok()) return t.status();
  for (char c : *t) {
    if (!absl::ascii_isdigit(c)) return Bad(field, text, absl::StrCat("is not ", kExamples));
  }
  absl::string_view rest = *t;
  std::optional<Decimal> number = ConsumeDecimal(rest);
  bool not_whole = false;
  std::optional<int64_t> value = number ? Scale(*number, 1, &not_whole) : std::nullopt;
  if (!value) return Bad(field, text, "is too large");
  return *value;
}

std::string FormatBytes(int64_t bytes) {
  static constexpr struct {
    int shift;
    const char* suffix;
  } kUnits[] = {{40, "Ti"}, {30, "Gi"}, {20, "Mi"}, {10, "Ki"}};
  for (const auto& u : kUnits) {
    const int64_t unit = int64_t{1} << u.shift;
    if (bytes >= unit && bytes % unit == 0) return absl::StrCat(bytes / unit, u.suffix);
  }
  return absl::StrCat(bytes);
}

}  // namespace libsandbox
