// Messages read from files: the format by extension, strict parsing, the
// size cap, and errors that name the file.
#include "libsandbox/base/message_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "libsandbox/base/fs_util.h"
#include "libsandbox/proto/config.pb.h"

namespace libsandbox {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class MessageFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TempDir> dir = TempDir::Create("/tmp", "message-file-test-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    EXPECT_TRUE(WriteFile(path, text).ok());
    return path;
  }
  TempDir dir_;
};

TEST_F(MessageFileTest, ReadsTextprotoAndJsonByExtension) {
  for (const char* name : {"r.textproto", "r.txtpb", "r.pbtxt"}) {
    RunRequest req;
    ASSERT_TRUE(ReadMessageFile(Write(name, "code: \"print(1)\" limits { memory_mb: 64 }"),
                                "request file", 1 << 10, req)
                    .ok());
    EXPECT_EQ(req.code(), "print(1)");
    EXPECT_EQ(req.limits().memory_mb(), 64);
  }
  Config config;
  ASSERT_TRUE(ReadMessageFile(Write("c.json", R"({"storage_dir": "/x", "stateDir": "/y"})"),
                              "config file", 1 << 10, config)
                  .ok());
  EXPECT_EQ(config.storage_dir(), "/x");
  EXPECT_EQ(config.state_dir(), "/y");
}

TEST_F(MessageFileTest, RefusesUnknownFieldsMalformedTextOtherNamesAndLargeFiles) {
  RunRequest req;
  const std::string typo = Write("t.textproto", "code: \"x\"\ncolour: 1\n");
  absl::Status s = ReadMessageFile(typo, "request file", 1 << 10, req);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("request file " + typo), HasSubstr("line 2"), HasSubstr("colour")));

  s = ReadMessageFile(Write("t.json", R"({"colour": 1})"), "request file", 1 << 10, req);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("t.json"), HasSubstr("(JSON)"), HasSubstr("colour")));

  s = ReadMessageFile(Write("b.json", R"({"code": )"), "request file", 1 << 10, req);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);

  s = ReadMessageFile(Write("r.yaml", "code: x"), "request file", 1 << 10, req);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("r.yaml"), HasSubstr(".textproto"), HasSubstr(".json")));

  s = ReadMessageFile(Write("big.textproto", "code: \"" + std::string(100, 'x') + "\""),
                      "request file", 64, req);
  EXPECT_THAT(s.message(), HasSubstr("larger than 64 bytes"));

  s = ReadMessageFile(dir_.path() + "/missing.json", "config file", 1 << 10, req);
  EXPECT_THAT(s.message(), HasSubstr("config file " + dir_.path() + "/missing.json"));
}

}  // namespace
}  // namespace libsandbox
