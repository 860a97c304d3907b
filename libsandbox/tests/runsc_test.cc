// runsc discovery and probing against the real runsc on PATH, plus fake
// "runsc" scripts for builds that are not installed and for wrong binaries.
#include "libsandbox/host/runsc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/platform_probe.h"
#include "libsandbox/host/process.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A script that answers like an upstream runsc built on `date`.
std::string FakeRunscScript(const std::string& version) {
  return absl::StrCat(R"(#!/bin/sh
case "$1" in
  --version) printf 'runsc version )",
                      version, R"(\nspec: 1.2.1\n' ;;
  flags) cat >&2 <<'EOF'
  -directfs
    	directly access the container filesystems from the sentry. (default true)
  -host-uds value
    	controls permission to access host Unix-domain sockets.
  -network value
    	specifies which network to use: sandbox (default), host, none.
  -platform string
    	specifies which platform to use: systrap (default), ptrace, kvm. (default "systrap")
EOF
  ;;
  help) [ "$2" = platforms ] && printf 'kvm\nptrace\nsystrap\n' ;;
  *) exit 64 ;;
esac
)");
}

class RunscTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = TempDir(testing::MakeTestDir("runsc")); }

  std::string WriteScript(const std::string& name, const std::string& text) {
    std::string path = absl::StrCat(dir_.path(), "/", name);
    EXPECT_TRUE(WriteFile(path, text, 0755, /*overwrite=*/true).ok());
    return path;
  }

  TempDir dir_;
};

std::string RealRunsc() {
  std::optional<std::string> path = FindInPath("runsc");
  return path.value_or("");
}

TEST_F(RunscTest, LocatesRunscOnPath) {
  absl::StatusOr<std::string> path = LocateRunsc("");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(absl::EndsWith(*path, "/runsc")) << *path;
  EXPECT_EQ(::access(path->c_str(), X_OK), 0);
}

TEST_F(RunscTest, NoRunscOnPathIsAClearNotFound) {
  const char* old = std::getenv("PATH");
  std::string saved = old != nullptr ? old : "";
  ::setenv("PATH", dir_.path().c_str(), 1);  // an empty directory
  absl::StatusOr<std::string> path = LocateRunsc("");
  ::setenv("PATH", saved.c_str(), 1);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(path.status().message(),
            "runsc not found; install the Debian package runsc or gVisor's release, or set "
            "runsc_path");
}

TEST_F(RunscTest, LocatesConfiguredPathAndMakesRelativeOnesAbsolute) {
  const std::string real = RealRunsc();
  ASSERT_FALSE(real.empty());
  absl::StatusOr<std::string> path = LocateRunsc(real);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, real);

  // The same binary named relative to the current directory.
  char cwd[PATH_MAX];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  std::string relative;
  for (absl::string_view part : absl::StrSplit(cwd, '/', absl::SkipEmpty())) {
    (void)part;
    relative += "../";
  }
  relative += real.substr(1);
  absl::StatusOr<std::string> rel = LocateRunsc(relative);
  ASSERT_TRUE(rel.ok()) << rel.status();
  EXPECT_EQ(rel->front(), '/');
  struct stat a, b;
  ASSERT_EQ(::stat(real.c_str(), &a), 0);
  ASSERT_EQ(::stat(rel->c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(RunscTest, ConfiguredPathThatDoesNotExistIsAClearNotFound) {
  const std::string missing = absl::StrCat(dir_.path(), "/no-such-runsc");
  absl::StatusOr<std::string> path = LocateRunsc(missing);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(path.status().message(), HasSubstr(missing));
  EXPECT_THAT(path.status().message(), HasSubstr("runsc_path"));
  EXPECT_THAT(path.status().message(), HasSubstr("install"));
}

TEST_F(RunscTest, ConfiguredDirectoryOrNonExecutableIsRejected) {
  absl::StatusOr<std::string> dir = LocateRunsc(dir_.path());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(dir.status().message(), HasSubstr("not a regular file"));

  std::string plain = absl::StrCat(dir_.path(), "/runsc");
  ASSERT_TRUE(WriteFile(plain, "#!/bin/sh\n", 0644).ok());
  absl::StatusOr<std::string> noexec = LocateRunsc(plain);
  ASSERT_FALSE(noexec.ok());
  EXPECT_EQ(noexec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(noexec.status().message(), HasSubstr("not executable"));
}

TEST_F(RunscTest, ProbingSomethingThatIsNotRunscFailsCleanly) {
  for (const char* not_runsc : {"/bin/true", "/bin/false", "/bin/echo"}) {
    absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(not_runsc);
    ASSERT_FALSE(info.ok()) << not_runsc;
    EXPECT_EQ(info.status().code(), absl::StatusCode::kFailedPrecondition) << info.status();
    EXPECT_THAT(info.status().message(), HasSubstr("does not look like runsc"));
  }
  absl::StatusOr<std::shared_ptr<const RunscInfo>> missing =
      ProbeRunsc(absl::StrCat(dir_.path(), "/missing"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RunscTest, ProbesTheInstalledRunsc) {
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(RealRunsc());
  ASSERT_TRUE(info.ok()) << info.status();
  const RunscInfo& r = **info;
  EXPECT_FALSE(r.version.empty());
  if (r.build_date != 0) {
    EXPECT_GT(r.build_date, 20180000);
    EXPECT_THAT(r.version, HasSubstr(std::to_string(r.build_date)));
  }
  EXPECT_TRUE(r.Supports("--platform"));
  EXPECT_TRUE(r.Supports("-network"));
  EXPECT_TRUE(r.Supports("debug-log"));
  EXPECT_FALSE(r.Supports("--no-such-flag-at-all"));
  EXPECT_THAT(r.platforms, Contains("ptrace"));
  EXPECT_FALSE(r.default_platform.empty());
  EXPECT_TRUE(r.KnowsPlatform(r.default_platform));
  EXPECT_NE(r.default_platform, "kvm");
}

TEST_F(RunscTest, ProbeIsCachedUntilTheBinaryChanges) {
  absl::StatusOr<std::shared_ptr<const RunscInfo>> a = ProbeRunsc(RealRunsc());
  absl::StatusOr<std::shared_ptr<const RunscInfo>> b = ProbeRunsc(RealRunsc());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());

  std::string fake = WriteScript("runsc", FakeRunscScript("release-20261101.0"));
  absl::StatusOr<std::shared_ptr<const RunscInfo>> first = ProbeRunsc(fake);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->version, "release-20261101.0");
  // Replaced in place (new size and mtime): probed again.
  WriteScript("runsc", FakeRunscScript("release-20270202.10"));
  absl::StatusOr<std::shared_ptr<const RunscInfo>> second = ProbeRunsc(fake);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(first->get(), second->get());
  EXPECT_EQ((*second)->version, "release-20270202.10");
  EXPECT_EQ((*second)->build_date, 20270202);
}

TEST_F(RunscTest, ConcurrentProbesShareOneResult) {
  std::string fake = WriteScript("runsc", FakeRunscScript("release-20261101.0"));
  std::vector<const RunscInfo*> seen(4, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(fake);
      if (info.ok()) seen[i] = info->get();
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_NE(seen[0], nullptr);
  for (const RunscInfo* p : seen) EXPECT_EQ(p, seen[0]);
}

TEST_F(RunscTest, ProbesAnUpstreamStyleBuild) {
  std::string fake = WriteScript("runsc", FakeRunscScript("release-20261101.0"));
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(fake);
  ASSERT_TRUE(info.ok()) << info.status();
  const RunscInfo& r = **info;
  EXPECT_EQ(r.build_date, 20261101);
  EXPECT_EQ(r.spec_version, "1.2.1");
  EXPECT_THAT(r.platforms, ElementsAre("kvm", "ptrace", "systrap"));
  EXPECT_EQ(r.default_platform, "systrap");
  EXPECT_TRUE(r.Supports("directfs"));
  EXPECT_TRUE(r.Supports("host-uds"));
  EXPECT_FALSE(r.Supports("overlay2"));
}

// An optional second runsc (e.g. a current build next to the distribution's)
// named by LIBSANDBOX_TEST_CURRENT_RUNSC.
TEST_F(RunscTest, ProbesACurrentBuildWhenProvided) {
  const char* current = std::getenv("LIBSANDBOX_TEST_CURRENT_RUNSC");
  if (current == nullptr || *current == '\0') GTEST_SKIP() << "LIBSANDBOX_TEST_CURRENT_RUNSC unset";
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(current);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE((*info)->KnowsPlatform("systrap"));
  EXPECT_EQ((*info)->default_platform, "systrap");
  EXPECT_TRUE((*info)->Supports("directfs"));
  absl::StatusOr<std::string> platform = ChoosePlatform(**info, "");
  ASSERT_TRUE(platform.ok());
  EXPECT_EQ(*platform, "systrap");
}

TEST(ChoosePlatformTest, UsesTheBuildDefaultAndNeverKvmUnasked) {
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(RealRunsc());
  ASSERT_TRUE(info.ok()) << info.status();
  absl::StatusOr<std::string> platform = ChoosePlatform(**info, "");
  ASSERT_TRUE(platform.ok()) << platform.status();
  EXPECT_EQ(*platform, (*info)->default_platform);
  EXPECT_NE(*platform, "kvm");

  // A build whose own default is kvm still gets a software platform.
  RunscInfo kvm_default;
  kvm_default.flags = {"platform"};
  kvm_default.platforms = {"kvm", "ptrace"};
  kvm_default.default_platform = "kvm";
  platform = ChoosePlatform(kvm_default, "");
  ASSERT_TRUE(platform.ok()) << platform.status();
  EXPECT_EQ(*platform, "ptrace");
  // kvm only when asked for explicitly.
  platform = ChoosePlatform(kvm_default, "kvm");
  ASSERT_TRUE(platform.ok());
  EXPECT_EQ(*platform, "kvm");

  RunscInfo only_kvm = kvm_default;
  only_kvm.platforms = {"kvm"};
  EXPECT_FALSE(ChoosePlatform(only_kvm, "").ok());
}

TEST(ChoosePlatformTest, RejectsUnknownPlatforms) {
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(RealRunsc());
  ASSERT_TRUE(info.ok()) << info.status();
  for (const char* bad : {"bogus", "PTRACE", "ptrace --debug", "gvisor"}) {
    absl::StatusOr<std::string> platform = ChoosePlatform(**info, bad);
    ASSERT_FALSE(platform.ok()) << bad;
    EXPECT_EQ(platform.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(platform.status().message(), HasSubstr("ptrace"));  // lists what it knows
  }
  absl::StatusOr<std::string> ok = ChoosePlatform(**info, "ptrace");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "ptrace");
}

TEST(ParseRunscVersionTest, ReadsTheKnownFormats) {
  absl::StatusOr<RunscVersionInfo> debian =
      ParseRunscVersion("runsc version 0.0~20221219.0\nspec: 1.0.2-dev\n");
  ASSERT_TRUE(debian.ok());
  EXPECT_EQ(debian->version, "0.0~20221219.0");
  EXPECT_EQ(debian->build_date, 20221219);
  EXPECT_EQ(debian->spec_version, "1.0.2-dev");

  absl::StatusOr<RunscVersionInfo> release =
      ParseRunscVersion("runsc version release-20261101.0\n");
  ASSERT_TRUE(release.ok());
  EXPECT_EQ(release->version, "release-20261101.0");
  EXPECT_EQ(release->build_date, 20261101);

  absl::StatusOr<RunscVersionInfo> google = ParseRunscVersion("runsc version google-552218452\n");
  ASSERT_TRUE(google.ok());
  EXPECT_EQ(google->version, "google-552218452");
  EXPECT_EQ(google->build_date, 0);

  // A Go pseudo-version carries a timestamp.
  EXPECT_EQ(BuildDateFromVersion("v0.0.0-20251110183512-0123456789ab"), 20251110);
  EXPECT_EQ(BuildDateFromVersion("VERSION_MISSING"), 0);
  EXPECT_EQ(BuildDateFromVersion("0.0~20221399.0"), 0);  // no month 13
}

TEST(ParseRunscVersionTest, RejectsOtherOutput) {
  EXPECT_FALSE(ParseRunscVersion("").ok());
  EXPECT_FALSE(ParseRunscVersion("true (GNU coreutils) 9.1\n").ok());
  EXPECT_FALSE(ParseRunscVersion("runsc version \n").ok());
  EXPECT_FALSE(ParseRunscVersion("runsc version a\x01"
                                 "b\n")
                   .ok());
  EXPECT_FALSE(ParseRunscVersion(absl::StrCat("runsc version ", std::string(10000, 'x'))).ok());
}

TEST(ParseRunscFlagsTest, ReadsGoFlagHelpAndCapsIt) {
  auto flags = ParseRunscFlags(
      "  -debug\n"
      "    \tenable debug logging.\n"
      "  -platform string\n"
      "    \tspecifies which platform to use: ptrace (default), kvm. (default \"ptrace\")\n"
      "  -x\tshort flag\n"
      "    \tnot a flag line: -fake\n");
  EXPECT_TRUE(flags.contains("debug"));
  EXPECT_TRUE(flags.contains("platform"));
  EXPECT_TRUE(flags.contains("x"));
  EXPECT_FALSE(flags.contains("fake"));
  EXPECT_THAT(flags["platform"], HasSubstr("(default \"ptrace\")"));

  std::string flood;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&flood, "  -flag", i, "\n");
  absl::StrAppend(&flood, "  -", std::string(500, 'y'), "\n");
  EXPECT_LE(ParseRunscFlags(flood).size(), 1024u);
  EXPECT_THAT(ParseRunscFlags(flood), Not(Contains(::testing::Key(std::string(500, 'y')))));
}

}  // namespace
}  // namespace libsandbox

namespace libsandbox {
namespace {

// A runsc whose `do` behaves as `body` says, counting its boots in `count`.
std::string PlatformScript(const std::string& count, const std::string& body) {
  return absl::StrCat("#!/bin/sh\necho boot >> ", count, "\n", body, "\n");
}

TEST_F(RunscTest, PlatformProbeRefusesAPlatformThatCannotRunNamingIt) {
  const std::string count = dir_.path() + "/boots";
  RunscInfo info;
  info.path = WriteScript("failing", PlatformScript(count, "echo 'no vcpu' >&2; exit 3"));
  absl::Status s = ProbePlatform(info, "kvm", dir_.path() + "/state");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("platform \"kvm\" cannot run sandboxes here"));
  EXPECT_THAT(s.message(), HasSubstr("no vcpu"));
  EXPECT_THAT(s.message(), HasSubstr("leave platform empty"));
  EXPECT_THAT(s.message(), HasSubstr("/dev/kvm"));
  // Kept: the next call answers without booting again.
  EXPECT_EQ(ProbePlatform(info, "kvm", dir_.path() + "/state"), s);
  absl::StatusOr<std::string> boots = ReadFile(count);
  ASSERT_TRUE(boots.ok());
  EXPECT_EQ(*boots, "boot\n");
  // Its throwaway state is gone.
  const std::string state = dir_.path() + "/state";
  EXPECT_TRUE(!std::filesystem::exists(state) || std::filesystem::is_empty(state));
}

TEST_F(RunscTest, PlatformProbeStopsAHangingPlatformAtItsDeadline) {
  RunscInfo info;
  info.path = WriteScript("hanging", PlatformScript(dir_.path() + "/n", "exec sleep 60"));
  const absl::Time start = absl::Now();
  absl::Status s = ProbePlatform(info, "kvm", dir_.path() + "/state", absl::Seconds(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("did not finish"));
}

TEST_F(RunscTest, PlatformProbePassesAPlatformThatRuns) {
  RunscInfo info;
  info.path = WriteScript("working", PlatformScript(dir_.path() + "/n", "exit 0"));
  EXPECT_TRUE(ProbePlatform(info, "ptrace", dir_.path() + "/state").ok());
}

}  // namespace
}  // namespace libsandbox
