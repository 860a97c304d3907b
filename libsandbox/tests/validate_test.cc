// Input validation: every bad field is refused with InvalidArgument and a
// message that names it, before any sandbox work starts.
#include "libsandbox/rules/validate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "libsandbox/rules/languages.h"
#include "libsandbox/sandbox.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Expects InvalidArgument whose message starts with "<field>:".
void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith(field + ":")) << s;
}

RunRequest ValidRequest() {
  RunRequest r;
  r.set_code("print('hi')");
  r.set_language("python");
  r.set_user("alice@example.com");
  (*r.mutable_env())["MY_VAR"] = "value";
  InputFile* f = r.add_files();
  f->set_path("data/input.csv");
  f->set_content("a,b\n1,2\n");
  return r;
}

TEST(ValidateLimitsTest, DefaultsAndZeroArePermitted) {
  EXPECT_TRUE(ValidateLimits(DefaultLimits()).ok());
  EXPECT_TRUE(ValidateLimits(Limits()).ok()) << "0 means no limit everywhere";
  Limits l;
  l.set_timeout_s(86400);
  l.set_memory_mb(32);
  l.set_cpus(0.01);
  l.set_max_pids(8);
  l.set_max_output_bytes(int64_t{1} << 30);
  l.set_workspace_mb(1 << 20);
  l.set_tmp_mb(1 << 20);
  EXPECT_TRUE(ValidateLimits(l).ok()) << ValidateLimits(l);
}

TEST(ValidateLimitsTest, TimeoutBounds) {
  for (double bad : {-1.0, -0.001, kNaN, 86400.5, 1e300, std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    Limits l = DefaultLimits();
    l.set_timeout_s(bad);
    ExpectInvalid(ValidateLimits(l), "timeout_s");
  }
}

TEST(ValidateLimitsTest, MemoryBounds) {
  for (int64_t bad : {int64_t{-1}, int64_t{1}, int64_t{31}, int64_t{(1 << 20) + 1},
                      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    Limits l = DefaultLimits();
    l.set_memory_mb(bad);
    ExpectInvalid(ValidateLimits(l), "memory_mb");
  }
  Limits l = DefaultLimits();
  l.set_memory_mb(16);
  EXPECT_THAT(std::string(ValidateLimits(l).message()), HasSubstr("at least 32"));
}

TEST(ValidateLimitsTest, CpuBounds) {
  for (double bad : {-1.0, kNaN, 0.001, 1024.5, 1e18, std::numeric_limits<double>::infinity()}) {
    Limits l = DefaultLimits();
    l.set_cpus(bad);
    ExpectInvalid(ValidateLimits(l), "cpus");
  }
}

TEST(ValidateLimitsTest, PidsBounds) {
  for (int64_t bad : {int64_t{-5}, int64_t{1}, int64_t{7}, int64_t{(1 << 22) + 1}}) {
    Limits l = DefaultLimits();
    l.set_max_pids(bad);
    ExpectInvalid(ValidateLimits(l), "max_pids");
  }
}

TEST(ValidateLimitsTest, OutputAndStorageBounds) {
  Limits l = DefaultLimits();
  l.set_max_output_bytes(-1);
  ExpectInvalid(ValidateLimits(l), "max_output_bytes");
  l = DefaultLimits();
  l.set_max_output_bytes((int64_t{1} << 30) + 1);
  ExpectInvalid(ValidateLimits(l), "max_output_bytes");
  l = DefaultLimits();
  l.set_workspace_mb(-1);
  ExpectInvalid(ValidateLimits(l), "workspace_mb");
  l = DefaultLimits();
  l.set_workspace_mb((1 << 20) + 1);
  ExpectInvalid(ValidateLimits(l), "workspace_mb");
  l = DefaultLimits();
  l.set_tmp_mb(-1);
  ExpectInvalid(ValidateLimits(l), "tmp_mb");
  l = DefaultLimits();
  l.set_tmp_mb((1 << 20) + 1);
  ExpectInvalid(ValidateLimits(l), "tmp_mb");
}

TEST(ValidateRequestTest, ValidRequestPasses) {
  EXPECT_TRUE(ValidateRequest(ValidRequest(), DefaultLimits()).ok())
      << ValidateRequest(ValidRequest(), DefaultLimits());
}

TEST(ValidateRequestTest, BadLimitsAreRefusedThroughTheRequest) {
  Limits l = DefaultLimits();
  l.set_memory_mb(-1);
  ExpectInvalid(ValidateRequest(ValidRequest(), l), "memory_mb");
}

TEST(ValidateRequestTest, LanguagesAndAliases) {
  for (const char* lang : {"", "python", "python3", "py", "bash", "shell", "sh"}) {
    RunRequest r = ValidRequest();
    r.set_language(lang);
    EXPECT_TRUE(ValidateRequest(r, DefaultLimits()).ok()) << lang;
  }
  ASSERT_NE(FindLanguage("python3"), nullptr);
  EXPECT_EQ(FindLanguage("python3"), FindLanguage("python"));
  ASSERT_NE(FindLanguage("shell"), nullptr);
  EXPECT_EQ(FindLanguage("shell"), FindLanguage("bash"));
  EXPECT_STREQ(FindLanguage("bash")->argv[0], "/bin/bash");
  EXPECT_EQ(FindLanguage("Python"), nullptr) << "names are exact";
}

TEST(ValidateRequestTest, UnknownLanguageListsTheKnownOnes) {
  RunRequest r = ValidRequest();
  r.set_language("cobol");
  absl::Status s = ValidateRequest(r, DefaultLimits());
  ExpectInvalid(s, "language");
  EXPECT_THAT(std::string(s.message()), HasSubstr("cobol"));
  for (const std::string& name : LanguageNames()) {
    EXPECT_THAT(std::string(s.message()), HasSubstr(name));
  }
  EXPECT_THAT(std::string(s.message()), HasSubstr("python"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("bash"));

  // A huge language name is not echoed back whole.
  r.set_language(std::string(100000, 'x'));
  s = ValidateRequest(r, DefaultLimits());
  ExpectInvalid(s, "language");
  EXPECT_LT(s.message().size(), 1000u);
}

TEST(ValidateRequestTest, Code) {
  RunRequest r = ValidRequest();
  r.set_code("");
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "code");
  r.set_code(std::string("print(1)\0print(2)", 17));
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "code");
  r.set_code(std::string(kMaxCodeBytes + 1, 'x'));
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "code");
  r.set_code(std::string(kMaxCodeBytes, 'x'));
  EXPECT_TRUE(ValidateRequest(r, DefaultLimits()).ok());
}

TEST(ValidateRequestTest, User) {
  RunRequest r = ValidRequest();
  r.set_user(std::string(kMaxUserBytes + 1, 'u'));
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "user");
  r.set_user(std::string("al\0ice", 6));
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "user");
  r.set_user(std::string(kMaxUserBytes, 'u'));
  EXPECT_TRUE(ValidateRequest(r, DefaultLimits()).ok());
  r.set_user("");
  EXPECT_TRUE(ValidateRequest(r, DefaultLimits()).ok());
}

TEST(ValidateRequestTest, Stdin) {
  RunRequest r = ValidRequest();
  r.set_stdin(std::string(kMaxStdinBytes + 1, 'i'));
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "stdin");
  r.set_stdin(std::string("binary\0ok", 9));
  EXPECT_TRUE(ValidateRequest(r, DefaultLimits()).ok());
}

TEST(ValidateRequestTest, EnvNames) {
  for (const std::string& bad :
       {std::string(""), std::string("1ABC"), std::string("A-B"), std::string("A=B"),
        std::string("A B"), std::string("A\0B", 3), std::string("\xC3\xA9")}) {
    RunRequest r = ValidRequest();
    (*r.mutable_env())[bad] = "x";
    ExpectInvalid(ValidateRequest(r, DefaultLimits()), "env");
  }
  RunRequest r = ValidRequest();
  (*r.mutable_env())["_lower_and_UPPER_9"] = "x";
  EXPECT_TRUE(ValidateRequest(r, DefaultLimits()).ok());
}

TEST(ValidateRequestTest, EnvValuesAndCount) {
  RunRequest r = ValidRequest();
  (*r.mutable_env())["SECRET"] = std::string("a\0b", 3);
  absl::Status s = ValidateRequest(r, DefaultLimits());
  ExpectInvalid(s, "env");
  EXPECT_THAT(std::string(s.message()), HasSubstr("SECRET"));

  r = ValidRequest();
  r.mutable_env()->clear();
  for (size_t i = 0; i < kMaxEnvEntries; ++i) (*r.mutable_env())[absl::StrCat("V", i)] = "x";
  EXPECT_TRUE(ValidateRequest(r, DefaultLimits()).ok());
  (*r.mutable_env())["ONE_TOO_MANY"] = "x";
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "env");

  r = ValidRequest();
  (*r.mutable_env())["BIG"] = std::string((1 << 20) + 1, 'v');
  ExpectInvalid(ValidateRequest(r, DefaultLimits()), "env");
}

TEST(ValidateRequestTest, FilePaths) {
  const std::string bad_paths[] = {
      "",
      "../x",
      "/abs",
      "/etc/passwd",
      "a/../../b",
      "a/..",
      "..",
      "a/",
      ".",
      "a/b/",
      std::string("a\0b", 3),
      std::string(256, 'n'),
      "dir/" + std::string(256, 'n'),
      std::string(5000, 'a'),
  };
  for (const std::string& path : bad_paths) {
    ExpectInvalid(ValidateRelativePath(path), "file path");
    RunRequest r = ValidRequest();
    r.add_files()->set_path(path);
    ExpectInvalid(ValidateRequest(r, DefaultLimits()), "file path");
  }
  for (const std::string& good :
       {std::string("x"), std::string("a/b/c.txt"), std::string(".hidden"), std::string("..dots"),
        std::string("a/./b"), std::string(255, 'n')}) {
    EXPECT_TRUE(ValidateRelativePath(good).ok()) << good << ": " << ValidateRelativePath(good);
  }
}

TEST(ValidateRequestTest, FilesMustFitTheWorkspace) {
  Limits l = DefaultLimits();
  l.set_workspace_mb(1);
  RunRequest r = ValidRequest();
  r.add_files()->set_content(std::string(600 << 10, 'a'));
  r.mutable_files()->rbegin()->set_path("one.bin");
  EXPECT_TRUE(ValidateRequest(r, l).ok());
  r.add_files()->set_content(std::string(600 << 10, 'b'));
  r.mutable_files()->rbegin()->set_path("two.bin");
  ExpectInvalid(ValidateRequest(r, l), "files");
  l.set_workspace_mb(0);  // unlimited
  EXPECT_TRUE(ValidateRequest(r, l).ok());
}

}  // namespace
}  // namespace libsandbox
