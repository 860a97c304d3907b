// Quantities in policy files: sizes, CPU counts, durations, counts.
#include "libsandbox/base/units.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace libsandbox {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kKi = 1024;
constexpr int64_t kMi = kKi * 1024;
constexpr int64_t kGi = kMi * 1024;

int64_t Bytes(const std::string& text, BareSize bare = BareSize::kBytes) {
  absl::StatusOr<int64_t> v = ParseBytes("memory", text, bare);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.value_or(-1);
}

TEST(UnitsTest, SizesBinarySuffixes) {
  EXPECT_EQ(Bytes("4Gi"), 4 * kGi);
  EXPECT_EQ(Bytes("512MiB"), 512 * kMi);
  EXPECT_EQ(Bytes("1.5GiB"), 3 * kGi / 2);
  EXPECT_EQ(Bytes("64Ki"), 64 * kKi);
  EXPECT_EQ(Bytes("2Ti"), 2 * kGi * 1024);
  EXPECT_EQ(Bytes("64mi"), 64 * kMi);  // suffixes in any case
}

TEST(UnitsTest, SizesDecimalSuffixes) {
  EXPECT_EQ(Bytes("8G"), 8'000'000'000);
  EXPECT_EQ(Bytes("100MB"), 100'000'000);
  EXPECT_EQ(Bytes("64k"), 64'000);
  EXPECT_EQ(Bytes("64K"), 64'000);
  EXPECT_EQ(Bytes("1T"), 1'000'000'000'000);
  EXPECT_EQ(Bytes("1.5k"), 1'500);
  EXPECT_EQ(Bytes("10B"), 10);
}

TEST(UnitsTest, LowercaseMIsMegabytesNotMilli) { EXPECT_EQ(Bytes("500m"), 500'000'000); }

TEST(UnitsTest, BareSizeDependsOnTheField) {
  EXPECT_EQ(Bytes("2", BareSize::kMebibytes), 2 * kMi);
  EXPECT_EQ(Bytes("128", BareSize::kMebibytes), 128 * kMi);
  EXPECT_EQ(Bytes("2", BareSize::kBytes), 2);
  // A suffix always wins over the field's bare unit.
  EXPECT_EQ(Bytes("2Gi", BareSize::kMebibytes), 2 * kGi);
  EXPECT_EQ(Bytes(" 64Mi ", BareSize::kMebibytes), 64 * kMi);
}

TEST(UnitsTest, SizeJunkNamesFieldAndValue) {
  for (const char* junk : {"12xb", "-1", "1e999", "", "Gi", "1..5Gi", "0x10", "inf", "nan", "1 2",
                           "+5", "Mi5", "5 Gi x", "1.5.5"}) {
    absl::StatusOr<int64_t> v = ParseBytes("workspace", junk, BareSize::kMebibytes);
    ASSERT_FALSE(v.ok()) << junk;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << junk;
    EXPECT_THAT(v.status().message(), HasSubstr("workspace: ")) << junk;
    EXPECT_THAT(v.status().message(), HasSubstr(std::string("\"") + junk + "\"")) << junk;
  }
}

TEST(UnitsTest, SizeOverflowAndFractionsOfBytes) {
  EXPECT_THAT(ParseBytes("memory", "9000000000Ti", BareSize::kBytes).status().message(),
              HasSubstr("too large"));
  EXPECT_THAT(ParseBytes("memory", "99999999999999999999999", BareSize::kBytes).status().message(),
              HasSubstr("memory"));
  EXPECT_EQ(Bytes("8388607Ti"), 8388607 * kGi * 1024);  // just below 2^63
  EXPECT_FALSE(ParseBytes("memory", "8388608Ti", BareSize::kBytes).ok());
  EXPECT_THAT(ParseBytes("max_output", "0.5", BareSize::kBytes).status().message(),
              HasSubstr("whole number of bytes"));
  EXPECT_THAT(ParseBytes("memory", std::string(200, '1'), BareSize::kBytes).status().message(),
              HasSubstr("too long"));
}

TEST(UnitsTest, Cpus) {
  EXPECT_DOUBLE_EQ(*ParseCpus("cpus", "2"), 2.0);
  EXPECT_DOUBLE_EQ(*ParseCpus("cpus", "500m"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseCpus("cpus", "0.25"), 0.25);
  EXPECT_DOUBLE_EQ(*ParseCpus("cpus", "1500m"), 1.5);
  EXPECT_DOUBLE_EQ(*ParseCpus("cpus", "0"), 0.0);
  for (const char* junk : {"", "-1", "1e3", "2x", "m", "0.0001", "2 cpus", "1.5Gi"}) {
    absl::StatusOr<double> v = ParseCpus("caps.cpus", junk);
    ASSERT_FALSE(v.ok()) << junk;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(v.status().message(),
                AllOf(HasSubstr("caps.cpus"), HasSubstr(std::string("\"") + junk + "\"")));
  }
}

TEST(UnitsTest, Durations) {
  EXPECT_EQ(*ParseDurationText("timeout", "30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseDurationText("timeout", "5m"), absl::Minutes(5));
  EXPECT_EQ(*ParseDurationText("timeout", "1h"), absl::Hours(1));
  EXPECT_EQ(*ParseDurationText("timeout", "250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDurationText("timeout", "1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationText("timeout", "2d"), absl::Hours(48));
  EXPECT_EQ(*ParseDurationText("timeout", "45"), absl::Seconds(45));  // bare: seconds
  EXPECT_EQ(*ParseDurationText("timeout", "1.5"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDurationText("timeout", "0.5m"), absl::Seconds(30));
}

TEST(UnitsTest, DurationJunk) {
  for (const char* junk : {"", "-1s", "1e999", "30x", "s", "1.5.5s", "10 20", "5min", "1us",
                           "0.0001s", "1h30", "inf"}) {
    absl::StatusOr<absl::Duration> v = ParseDurationText("idle_timeout", junk);
    ASSERT_FALSE(v.ok()) << junk;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(v.status().message(),
                AllOf(HasSubstr("idle_timeout"), HasSubstr(std::string("\"") + junk + "\"")));
  }
  EXPECT_THAT(ParseDurationText("timeout", "99999999999999999999d").status().message(),
              HasSubstr("too large"));
}

TEST(UnitsTest, Counts) {
  EXPECT_EQ(*ParseCount("pids", "128"), 128);
  EXPECT_EQ(*ParseCount("pids", "0"), 0);
  for (const char* junk : {"", "-1", "1.5", "12k", "1e3", "99999999999999999999999"}) {
    absl::StatusOr<int64_t> v = ParseCount("pids", junk);
    ASSERT_FALSE(v.ok()) << junk;
    EXPECT_THAT(v.status().message(), HasSubstr("pids"));
  }
}

TEST(UnitsTest, MessagesEscapeHostileText) {
  absl::StatusOr<int64_t> v = ParseBytes("memory", "1\n2\x01", BareSize::kBytes);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), Not(HasSubstr("\n")));
  EXPECT_EQ(FormatBytes(64 * kMi), "64Mi");
  EXPECT_EQ(FormatBytes(1536 * kKi), "1536Ki");
  EXPECT_EQ(FormatBytes(100'000'000), "100000000");
}

}  // namespace
}  // namespace libsandbox
