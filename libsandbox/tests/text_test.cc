// SanitizeUtf8: what the sandbox prints reaches callers as valid UTF-8, with
// valid text untouched and each bad byte visible as one U+FFFD.
#include "libsandbox/base/text.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace libsandbox {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

// Repeats U+FFFD `n` times.
std::string Replacements(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += kFffd;
  return s;
}

TEST(TextTest, ValidUtf8IsUnchanged) {
  const std::string cases[] = {
      "",
      "plain ASCII with\ttabs\nand newlines\r\n",
      std::string("NUL\0inside", 10),
      "\x7F",                                              // DEL, the last 1-byte code point
      "\xC2\x80 \xDF\xBF",                                 // U+0080, U+07FF: 2-byte bounds
      "caf\xC3\xA9 \xC3\xBC",                              // é ü
      "\xE0\xA0\x80 \xEF\xBF\xBF",                         // U+0800, U+FFFF: 3-byte bounds
      "\xE2\x82\xAC \xE4\xB8\xAD\xE6\x96\x87",             // € 中文
      "\xED\x9F\xBF \xEE\x80\x80",                         // U+D7FF, U+E000 around the surrogates
      "\xF0\x90\x80\x80 \xF4\x8F\xBF\xBF",                 // U+10000, U+10FFFF: 4-byte bounds
      "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",  // emoji with a skin-tone modifier
      std::string(kFffd),  // an already-present replacement character
  };
  for (const std::string& s : cases) {
    EXPECT_EQ(SanitizeUtf8(s), s) << "input: " << s;
  }
}

TEST(TextTest, LargeValidInputIsUnchanged) {
  std::string s;
  for (int i = 0; i < 10000; ++i) s += "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  EXPECT_EQ(SanitizeUtf8(s), s);
}

TEST(TextTest, EachStrayByteBecomesOneReplacement) {
  // Lone continuation bytes and bytes that never start a sequence.
  EXPECT_EQ(SanitizeUtf8("\x80"), kFffd);
  EXPECT_EQ(SanitizeUtf8("\xBF"), kFffd);
  EXPECT_EQ(SanitizeUtf8("\xFF"), kFffd);
  EXPECT_EQ(SanitizeUtf8("\xFE"), kFffd);
  EXPECT_EQ(SanitizeUtf8("\xF8\x88\x80\x80\x80"), Replacements(5));  // 5-byte form
  EXPECT_EQ(SanitizeUtf8("a\x80\x81\x82z"), absl::StrCat("a", Replacements(3), "z"));
  EXPECT_EQ(SanitizeUtf8("\xFF\xFE\xFD"), Replacements(3));
}

TEST(TextTest, ValidTextAroundBadBytesIsKept) {
  EXPECT_EQ(SanitizeUtf8("ok \xC3\xA9 \xFF ok \xF0\x9F\x98\x80"),
            absl::StrCat("ok \xC3\xA9 ", kFffd, " ok \xF0\x9F\x98\x80"));
  // A lead byte followed by a non-continuation: the lead is replaced, the
  // next character survives.
  EXPECT_EQ(SanitizeUtf8("\xC3"
                         "A"),
            absl::StrCat(kFffd, "A"));
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"
                         "A"),
            absl::StrCat(Replacements(2), "A"));
  EXPECT_EQ(SanitizeUtf8("\xE2\xC3\xA9"), absl::StrCat(kFffd, "\xC3\xA9"));
}

TEST(TextTest, TruncatedSequenceAtTheEnd) {
  // Output cut at the byte cap can end mid-character.
  EXPECT_EQ(SanitizeUtf8("abc\xC3"), absl::StrCat("abc", kFffd));
  EXPECT_EQ(SanitizeUtf8("abc\xE2\x82"), absl::StrCat("abc", Replacements(2)));
  EXPECT_EQ(SanitizeUtf8("abc\xF0\x9F\x98"), absl::StrCat("abc", Replacements(3)));
  EXPECT_EQ(SanitizeUtf8("\xF0"), kFffd);
}

TEST(TextTest, NeverReadsPastTheView) {
  // The capped buffer may be a prefix of more bytes: what lies beyond the
  // view must not complete a sequence.
  const std::string buffer = "x\xE2\x82\xAC";
  EXPECT_EQ(SanitizeUtf8(absl::string_view(buffer.data(), 2)), absl::StrCat("x", kFffd));
  EXPECT_EQ(SanitizeUtf8(absl::string_view(buffer.data(), 3)), absl::StrCat("x", Replacements(2)));
  EXPECT_EQ(SanitizeUtf8(absl::string_view(buffer.data(), 4)), buffer);
}

TEST(TextTest, OverlongEncodingsAreRejected) {
  // "/" and NUL in 2, 3 and 4 bytes: classic filter bypasses.
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), Replacements(2));
  EXPECT_EQ(SanitizeUtf8("\xC0\x80"), Replacements(2));
  EXPECT_EQ(SanitizeUtf8("\xC1\xBF"), Replacements(2));
  EXPECT_EQ(SanitizeUtf8("\xE0\x80\xAF"), Replacements(3));
  EXPECT_EQ(SanitizeUtf8("\xE0\x9F\xBF"), Replacements(3));  // U+07FF in 3 bytes
  EXPECT_EQ(SanitizeUtf8("\xF0\x80\x80\xAF"), Replacements(4));
  EXPECT_EQ(SanitizeUtf8("\xF0\x8F\xBF\xBF"), Replacements(4));  // U+FFFF in 4 bytes
}

TEST(TextTest, SurrogatesAreRejected) {
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), Replacements(3));  // U+D800
  EXPECT_EQ(SanitizeUtf8("\xED\xBF\xBF"), Replacements(3));  // U+DFFF
  // CESU-8 style pair for U+1F600.
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\xBD\xED\xB8\x80"), Replacements(6));
}

TEST(TextTest, CodePointsAboveMaxAreRejected) {
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), Replacements(4));  // U+110000
  EXPECT_EQ(SanitizeUtf8("\xF7\xBF\xBF\xBF"), Replacements(4));  // U+1FFFFF
  EXPECT_EQ(SanitizeUtf8("\xF5\x80\x80\x80"), Replacements(4));
}

TEST(TextTest, OutputIsAlwaysValid) {
  // Every single byte and every pair of bytes: sanitizing twice changes
  // nothing, so the first pass produced valid UTF-8.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; b += 7) {
      std::string in = {static_cast<char>(a), static_cast<char>(b), '\xE2', '\x82'};
      std::string once = SanitizeUtf8(in);
      ASSERT_EQ(SanitizeUtf8(once), once) << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace libsandbox
