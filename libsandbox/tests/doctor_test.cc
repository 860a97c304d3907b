// The host self-check on this machine, and on this machine made to look like
// a locked-down container: each restriction (seccomp filter, dropped
// capability, read-only mounts) is applied in a forked child that runs the
// checks and reports back through a pipe.
#include "libsandbox/api/doctor.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/cgroup_host.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const Check* Find(const std::vector<Check>& checks, const std::string& name) {
  for (const Check& c : checks) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Forks; the child runs `setup` (false: report nothing) and then `checks`,
// and sends the results back length-prefixed. The caller's process is never
// restricted.
std::vector<Check> RunChecksInChild(const std::function<bool()>& setup,
                                    const std::function<std::vector<Check>()>& checks) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << errno;
    return {};
  }
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << errno;
    return {};
  }
  if (pid == 0) {
    read_end.Reset();
    if (!setup()) ::_exit(2);
    std::string out;
    for (const Check& c : checks()) {
      std::string bytes = c.SerializeAsString();
      uint32_t len = static_cast<uint32_t>(bytes.size());
      out.append(reinterpret_cast<const char*>(&len), sizeof(len));
      out += bytes;
    }
    WriteAll(write_end.get(), out);
    ::_exit(0);
  }
  write_end.Reset();
  std::string data;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (true) {
    pollfd p{read_end.get(), POLLIN, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0 || ::poll(&p, 1, ms) == 0) {
      ::kill(pid, SIGKILL);
      ADD_FAILURE() << "child did not finish";
      break;
    }
    char buf[4096];
    ssize_t n = ::read(read_end.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  std::vector<Check> result;
  absl::string_view rest = data;
  while (rest.size() >= sizeof(uint32_t)) {
    uint32_t len;
    std::memcpy(&len, rest.data(), sizeof(len));
    rest.remove_prefix(sizeof(len));
    if (rest.size() < len) break;
    Check c;
    EXPECT_TRUE(c.ParseFromArray(rest.data(), static_cast<int>(len)));
    result.push_back(std::move(c));
    rest.remove_prefix(len);
  }
  return result;
}

Check RunCheckInChild(const std::function<bool()>& setup, const std::function<Check()>& check) {
  std::vector<Check> checks = RunChecksInChild(setup, [&] { return std::vector<Check>{check()}; });
  if (checks.size() != 1) {
    ADD_FAILURE() << "child reported " << checks.size() << " checks";
    return Check();
  }
  return checks[0];
}

// What Docker's default seccomp profile does to a container without
// CAP_SYS_ADMIN: the syscall fails with EPERM.
bool DenyWithEperm(int syscall_nr) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return false;
  bool ok =
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), syscall_nr, 0) == 0 && seccomp_load(ctx) == 0;
  seccomp_release(ctx);
  return ok;
}

bool DropEffectiveCap(cap_value_t cap) {
  cap_t caps = cap_get_proc();
  if (caps == nullptr) return false;
  bool ok = cap_set_flag(caps, CAP_EFFECTIVE, 1, &cap, CAP_CLEAR) == 0 && cap_set_proc(caps) == 0;
  cap_free(caps);
  return ok;
}

// Enters a private mount namespace (in the child) and remounts `mountpoints`
// read-only there.
bool RemountReadOnlyPrivately(const std::vector<std::string>& mountpoints) {
  if (::unshare(CLONE_NEWNS) != 0) return false;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  for (const std::string& mp : mountpoints) {
    if (::mount(nullptr, mp.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> CgroupMountpoints() {
  std::vector<std::string> out;
  absl::StatusOr<std::string> info = ReadFile("/proc/self/mountinfo", 4 << 20);
  if (!info.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> halves = absl::StrSplit(line, " - ");
    std::vector<absl::string_view> pre = absl::StrSplit(halves[0], ' ');
    if (halves.size() == 2 && pre.size() >= 5 &&
        (absl::StartsWith(halves[1], "cgroup ") || absl::StartsWith(halves[1], "cgroup2 "))) {
      out.emplace_back(pre[4]);
    }
  }
  return out;
}

class DoctorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir(testing::MakeTestDir("doctor"));
    // Keep the run's state and files inside the test directory.
    config_.set_state_dir(dir_.path() + "/state");
    config_.set_storage_dir(dir_.path() + "/storage");
  }

  TempDir dir_;
  Config config_;
};

void ExpectWellFormed(const std::vector<Check>& checks) {
  std::set<std::string> names;
  for (const Check& c : checks) {
    EXPECT_FALSE(c.name().empty());
    EXPECT_TRUE(names.insert(c.name()).second) << "duplicate check " << c.name();
    EXPECT_FALSE(c.detail().empty()) << c.name();
    if (!c.ok()) {
      EXPECT_FALSE(c.remedy().empty()) << c.name() << " failed without a remedy";
    }
  }
}

TEST_F(DoctorTest, AllChecksAreWellFormedAndTheCoreOnesPassHere) {
  std::vector<Check> checks = RunDoctor(config_);
  ExpectWellFormed(checks);
  std::vector<std::string> names;
  for (const Check& c : checks) names.push_back(c.name());
  EXPECT_THAT(
      names, ::testing::ElementsAre("arch", "root", "runsc", "namespaces", "capabilities",
                                    "apparmor", "selinux", "cgroups", "cgroup_memory", "cgroup_cpu",
                                    "cgroup_pids", "cgroup_swap", "slirp4netns", "iptables",
                                    "session_workspaces", "state_dir", "storage_dir", "smoke_run"));
  // This machine runs sandboxes: root, runsc, namespaces, writable cgroups,
  // the network tools, and a real print('ok').
  for (const char* name : {"arch", "root", "runsc", "namespaces", "capabilities", "cgroups",
                           "cgroup_memory", "cgroup_cpu", "cgroup_pids", "slirp4netns", "iptables",
                           "session_workspaces", "state_dir", "storage_dir", "smoke_run"}) {
    const Check* c = Find(checks, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_TRUE(c->ok()) << name << ": " << c->detail() << " / " << c->remedy();
  }
  EXPECT_THAT(Find(checks, "runsc")->detail(), HasSubstr("runsc version "));
  // Doctor leaves no probe directories behind.
  for (const char* sub : {"/state", "/storage"}) {
    std::string d = dir_.path() + sub;
    if (!std::filesystem::exists(d)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(d)) {
      EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr("libsandbox-doctor")));
    }
  }
}

TEST_F(DoctorTest, MissingConfiguredRunscFailsWithARemedy) {
  const std::string missing = dir_.path() + "/bin/runsc";
  config_.set_runsc_path(missing);
  std::vector<Check> checks = RunDoctor(config_);
  ExpectWellFormed(checks);
  const Check* runsc = Find(checks, "runsc");
  ASSERT_NE(runsc, nullptr);
  EXPECT_FALSE(runsc->ok());
  EXPECT_THAT(runsc->detail(), HasSubstr(missing));
  EXPECT_THAT(runsc->remedy(), HasSubstr("apt-get install runsc"));
  EXPECT_THAT(runsc->remedy(), HasSubstr("runsc_path"));
  const Check* smoke = Find(checks, "smoke_run");
  ASSERT_NE(smoke, nullptr);
  EXPECT_FALSE(smoke->ok());
}

TEST_F(DoctorTest, NonRunscBinaryFailsTheRunscCheck) {
  config_.set_runsc_path("/bin/true");
  Check c = CheckRunsc(config_);
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.detail(), HasSubstr("does not look like runsc"));
  EXPECT_THAT(c.remedy(), Not(IsEmpty()));
}

TEST_F(DoctorTest, UnknownPlatformFailsTheRunscCheck) {
  config_.set_platform("warp");
  Check c = CheckRunsc(config_);
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.detail(), HasSubstr("warp"));
  EXPECT_THAT(c.remedy(), HasSubstr("ptrace"));
}

TEST_F(DoctorTest, DirectoriesUnderARegularFileFail) {
  const std::string file = dir_.path() + "/a-file";
  ASSERT_TRUE(WriteFile(file, "x").ok());
  config_.set_state_dir(file + "/state");
  config_.set_storage_dir(file + "/deeper/storage");
  std::vector<Check> checks = RunDoctor(config_);
  ExpectWellFormed(checks);
  for (const char* name : {"state_dir", "storage_dir", "smoke_run"}) {
    const Check* c = Find(checks, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_FALSE(c->ok()) << name << ": " << c->detail();
  }
  EXPECT_THAT(Find(checks, "state_dir")->detail(), HasSubstr("not a directory"));
  EXPECT_THAT(Find(checks, "state_dir")->remedy(), HasSubstr("state_dir"));
}

TEST_F(DoctorTest, DirectoryCheckLeavesNothingBehind) {
  Check existing = CheckDirWritable("state_dir", dir_.path());
  EXPECT_TRUE(existing.ok()) << existing.detail();
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));

  const std::string later = dir_.path() + "/not/yet";
  Check missing = CheckDirWritable("storage_dir", later);
  EXPECT_TRUE(missing.ok()) << missing.detail();
  EXPECT_THAT(missing.detail(), HasSubstr("will be created"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/not"));

  EXPECT_FALSE(CheckDirWritable("state_dir", "relative/dir").ok());
}

TEST_F(DoctorTest, ReadOnlyStateDirFails) {
  const std::string state = dir_.path() + "/ro";
  ASSERT_TRUE(MakeDirs(state).ok());
  Check c = RunCheckInChild(
      [&] {
        return RemountReadOnlyPrivately({}) &&
               ::mount(state.c_str(), state.c_str(), nullptr, MS_BIND, nullptr) == 0 &&
               ::mount(nullptr, state.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY,
                       nullptr) == 0;
      },
      [&] { return CheckDirWritable("state_dir", state); });
  EXPECT_EQ(c.name(), "state_dir");
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.detail(), HasSubstr("not writable"));
  EXPECT_THAT(c.remedy(), Not(IsEmpty()));
}

// The harness itself does not make the namespace check fail.
TEST_F(DoctorTest, NamespaceCheckPassesInAnUnrestrictedChild) {
  Check c = RunCheckInChild([] { return true; }, [] { return CheckNamespaces(); });
  EXPECT_EQ(c.name(), "namespaces");
  EXPECT_TRUE(c.ok()) << c.detail();
}

TEST_F(DoctorTest, DetectsASeccompFilterThatBlocksUnshare) {
  Check c = RunCheckInChild([] { return DenyWithEperm(SCMP_SYS(unshare)); },
                            [] { return CheckNamespaces(); });
  EXPECT_EQ(c.name(), "namespaces");
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.detail(), HasSubstr("EPERM"));
  EXPECT_THAT(c.detail(), HasSubstr("Seccomp: 2"));
  EXPECT_THAT(c.remedy(), HasSubstr("--security-opt seccomp=unconfined"));
  EXPECT_THAT(c.remedy(), HasSubstr("seccompProfile.type: Unconfined"));
}

TEST_F(DoctorTest, DetectsBlockedMountsAsAppArmorOrSeccomp) {
  Check c = RunCheckInChild([] { return DenyWithEperm(SCMP_SYS(mount)); },
                            [] { return CheckNamespaces(); });
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.detail(), HasSubstr("mount"));
  EXPECT_THAT(c.remedy(), HasSubstr("--security-opt apparmor=unconfined"));
  EXPECT_THAT(c.remedy(), HasSubstr("appArmorProfile.type: Unconfined"));
}

TEST_F(DoctorTest, DetectsAMissingSysAdminCapability) {
  std::vector<Check> checks =
      RunChecksInChild([] { return DropEffectiveCap(CAP_SYS_ADMIN); },
                       [] {
                         return std::vector<Check>{CheckCapabilities(), CheckNamespaces()};
                       });
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_FALSE(checks[0].ok());
  EXPECT_THAT(checks[0].detail(), HasSubstr("SYS_ADMIN"));
  EXPECT_THAT(checks[0].remedy(), HasSubstr("--cap-add SYS_ADMIN"));
  EXPECT_THAT(checks[0].remedy(), HasSubstr("capabilities.add: [SYS_ADMIN]"));
  EXPECT_FALSE(checks[1].ok());
  EXPECT_THAT(checks[1].remedy(), HasSubstr("--cap-add SYS_ADMIN"));
}

TEST_F(DoctorTest, DetectsAReadOnlyCgroupFilesystem) {
  std::vector<std::string> mounts = CgroupMountpoints();
  ASSERT_FALSE(mounts.empty());
  std::vector<Check> checks = RunChecksInChild([&] { return RemountReadOnlyPrivately(mounts); },
                                               [] { return CheckCgroups(); });
  ExpectWellFormed(checks);
  const Check* memory = Find(checks, "cgroup_memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_FALSE(memory->ok());
  EXPECT_THAT(memory->detail(), HasSubstr("not writable"));
  EXPECT_THAT(memory->remedy(), HasSubstr("/sys/fs/cgroup:/sys/fs/cgroup:rw"));
  EXPECT_THAT(memory->remedy(), HasSubstr("allow_unenforced_limits"));

  // The same checks without the restriction pass.
  std::vector<Check> normal = CheckCgroups();
  ASSERT_NE(Find(normal, "cgroup_memory"), nullptr);
  EXPECT_TRUE(Find(normal, "cgroup_memory")->ok()) << Find(normal, "cgroup_memory")->detail();
}

TEST_F(DoctorTest, CgroupsCheckNamesTheLayoutFound) {
  std::vector<Check> checks = CheckCgroups();
  const Check* layout = Find(checks, "cgroups");
  ASSERT_NE(layout, nullptr);
  EXPECT_TRUE(layout->ok()) << layout->detail();
  absl::StatusOr<CgroupHost> host = DetectCgroups();
  ASSERT_TRUE(host.ok());
  if (host->version == CgroupVersion::kV1) {
    EXPECT_THAT(layout->detail(),
                HasSubstr("cgroup v1, memory cgroup " + host->own_dirs["memory"]));
  } else {
    EXPECT_THAT(layout->detail(), HasSubstr("cgroup v2, base " + host->base));
  }
}

TEST_F(DoctorTest, MissingToolNamesThePackages) {
  Check c = CheckTool("libsandbox-no-such-tool");
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.remedy(), HasSubstr("apt-get install"));
  EXPECT_TRUE(CheckTool("slirp4netns").ok());
}

}  // namespace
}  // namespace libsandbox
