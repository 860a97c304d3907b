// Per-sandbox cgroups on the real cgroup filesystem: placed below our own
// cgroup, limits written exactly, OOM kills seen, members killed, dirs
// removed. Touches only cgroups the test itself creates.
#include "libsandbox/host/cgroup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libsandbox/api/doctor.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/process.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ReadTrimmed(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 4096);
  return text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : "<unreadable: " + path + ">";
}

// The pids listed in a cgroup directory.
std::set<std::string> Procs(const std::string& dir) {
  std::set<std::string> pids;
  absl::StatusOr<std::string> text = ReadFile(dir + "/cgroup.procs", 1 << 20);
  if (!text.ok()) return pids;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    pids.insert(std::string(line));
  }
  return pids;
}

absl::Status Join(const std::string& dir, pid_t pid) {
  return WriteFile(dir + "/cgroup.procs", absl::StrCat(pid), 0644, /*overwrite=*/true);
}

// A child that blocks reading one byte of stdin, then runs `python_code`:
// it can be moved into a cgroup before it does anything that counts.
absl::StatusOr<Subprocess> StartGated(const std::string& python_code) {
  SpawnOptions o;
  o.argv = {"/usr/bin/python3", "-c", absl::StrCat("import sys\nsys.stdin.read(1)\n", python_code)};
  o.stdin_data = "g";
  return Subprocess::Start(o);
}

// A process that sleeps until killed.
absl::StatusOr<Subprocess> StartSleeper() {
  SpawnOptions o;
  o.argv = {"/bin/sleep", "60"};
  return Subprocess::Start(o);
}

// Removes cgroup directories the test made by hand (crash leftovers).
class HandMadeCgroups {
 public:
  ~HandMadeCgroups() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) ::rmdir(it->c_str());
  }
  bool Make(const std::string& dir) {
    dirs_.push_back(dir);
    return ::mkdir(dir.c_str(), 0755) == 0;
  }

 private:
  std::vector<std::string> dirs_;
};

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<CgroupHost> host = PrepareCgroups(CgroupSetup{});
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = *host;
    if (host_.version == CgroupVersion::kNone) GTEST_SKIP() << "no cgroup filesystem";
    prefix_ = absl::StrCat("cgtest-", ::getpid(), "-", RandomHex(4));
  }

  // The directory a sandbox cgroup `name` has in `controller`'s hierarchy.
  std::string DirOf(const std::string& controller, const std::string& name) const {
    return absl::StrCat(host_.own_dirs.at(controller), "/", kCgroupParent, "/", name);
  }

  CgroupHost host_;
  std::string prefix_;
};

TEST_F(CgroupTest, DetectsOwnCgroupInEachController) {
  absl::StatusOr<std::string> self = ReadFile("/proc/self/cgroup");
  ASSERT_TRUE(self.ok());
  // A hybrid/v1 host lists the memory controller by name; pure v2 does not.
  const bool v1 = absl::StrContains(*self, ":memory:");
  EXPECT_EQ(host_.version, v1 ? CgroupVersion::kV1 : CgroupVersion::kV2);
  for (const char* c : {"memory", "cpu", "pids"}) {
    ASSERT_TRUE(host_.Has(c)) << c;
    const std::string& dir = host_.own_dirs.at(c);
    EXPECT_TRUE(IsDir(dir)) << dir;
    // The detected directory really is ours: it lists this process (v2: in
    // the leaf below it, unless it is the true root, which may hold processes).
    const std::string where = host_.version == CgroupVersion::kV2 && !host_.true_root
                                  ? absl::StrCat(dir, "/", kCgroupLeaf)
                                  : dir;
    EXPECT_TRUE(Procs(where).contains(absl::StrCat(::getpid()))) << c << " " << where;
  }
  if (host_.version == CgroupVersion::kV2) {
    // Prepared: the base hands the controllers down and holds no process.
    EXPECT_TRUE(host_.Ready()) << host_.Describe();
    if (!host_.true_root) {
      EXPECT_TRUE(Procs(host_.base).empty()) << host_.Describe();
    }
  }
  if (host_.version == CgroupVersion::kV1) {
    struct stat st;
    EXPECT_EQ(
        host_.memsw,
        ::stat((host_.own_dirs.at("memory") + "/memory.memsw.limit_in_bytes").c_str(), &st) == 0);
  }
}

TEST_F(CgroupTest, CreateWritesExactLimitsBelowOwnCgroup) {
  const std::string name = prefix_ + "-limits";
  CgroupLimits limits{.memory_bytes = 48 << 20, .cpus = 0.5, .pids = 50};
  absl::StatusOr<std::unique_ptr<SandboxCgroup>> cg = SandboxCgroup::Create(host_, name, limits);
  ASSERT_TRUE(cg.ok()) << cg.status();
  if (host_.version == CgroupVersion::kV1) {
    EXPECT_EQ((*cg)->relative_path(), absl::StrCat("libsandbox/", name));
    EXPECT_EQ((*cg)->join_dir(), "");
  } else {
    // runsc is started inside the cgroup rather than told a path.
    EXPECT_EQ((*cg)->relative_path(), "");
    EXPECT_EQ((*cg)->join_dir(), DirOf("memory", name));
  }

  for (const char* c : {"memory", "cpu", "pids"}) {
    std::string dir = DirOf(c, name);
    EXPECT_TRUE(absl::StartsWith(dir, host_.own_dirs.at(c) + "/")) << dir;
    EXPECT_TRUE(IsDir(dir)) << c << " cgroup missing: " << dir;
    if (host_.version == CgroupVersion::kV1) {
      // runsc resolves the relative path below our own cgroup: it must land here.
      EXPECT_TRUE(IsDir(absl::StrCat(host_.own_dirs.at(c), "/", (*cg)->relative_path())));
    }
  }
  if (host_.version == CgroupVersion::kV1) {
    EXPECT_EQ(ReadTrimmed(DirOf("memory", name) + "/memory.limit_in_bytes"),
              absl::StrCat(48 << 20));
    if (host_.memsw) {
      EXPECT_EQ(ReadTrimmed(DirOf("memory", name) + "/memory.memsw.limit_in_bytes"),
                absl::StrCat(48 << 20));
    }
    EXPECT_EQ(ReadTrimmed(DirOf("cpu", name) + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(ReadTrimmed(DirOf("cpu", name) + "/cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(ReadTrimmed(DirOf("pids", name) + "/pids.max"), "50");
  } else {
    EXPECT_EQ(ReadTrimmed(DirOf("memory", name) + "/memory.max"), absl::StrCat(48 << 20));
    // No swap, not even compressed, where the kernel accounts it.
    for (const char* file : {"/memory.swap.max", "/memory.zswap.max"}) {
      const std::string path = DirOf("memory", name) + file;
      if (::access(path.c_str(), F_OK) == 0) {
        EXPECT_EQ(ReadTrimmed(path), "0") << file;
      }
    }
    EXPECT_EQ(ReadTrimmed(DirOf("cpu", name) + "/cpu.max"), "50000 100000");
    EXPECT_EQ(ReadTrimmed(DirOf("pids", name) + "/pids.max"), "50");
  }
  EXPECT_FALSE((*cg)->OomKilled());
  // All sandboxes together hold at most half of the host's tasks.
  const std::string parent = absl::StrCat(host_.own_dirs.at("pids"), "/", kCgroupParent);
  EXPECT_EQ(ReadTrimmed(parent + "/pids.max"), absl::StrCat(SandboxTasksBudget()));
  EXPECT_GE(SandboxTasksBudget(), 1024);
  int64_t pid_max = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ReadTrimmed("/proc/sys/kernel/pid_max"), &pid_max));
  EXPECT_LT(SandboxTasksBudget(), pid_max);

  cg->reset();
  for (const char* c : {"memory", "cpu", "pids"}) {
    EXPECT_FALSE(IsDir(DirOf(c, name))) << c << " cgroup left behind";
  }
}

TEST_F(CgroupTest, UpdateRewritesAndLiftsLimits) {
  const std::string name = prefix_ + "-update";
  auto cg = SandboxCgroup::Create(host_, name,
                                  CgroupLimits{.memory_bytes = 64 << 20, .cpus = 1, .pids = 30});
  ASSERT_TRUE(cg.ok()) << cg.status();
  ASSERT_TRUE((*cg)->Update(CgroupLimits{.memory_bytes = 96 << 20, .cpus = 0.25, .pids = 40}).ok());
  if (host_.version == CgroupVersion::kV1) {
    EXPECT_EQ(ReadTrimmed(DirOf("memory", name) + "/memory.limit_in_bytes"),
              absl::StrCat(96 << 20));
    if (host_.memsw) {
      EXPECT_EQ(ReadTrimmed(DirOf("memory", name) + "/memory.memsw.limit_in_bytes"),
                absl::StrCat(96 << 20));
    }
    EXPECT_EQ(ReadTrimmed(DirOf("cpu", name) + "/cpu.cfs_quota_us"), "25000");
  }
  EXPECT_EQ(ReadTrimmed(DirOf("pids", name) + "/pids.max"), "40");

  // 0 means no limit: a warm sandbox booted with caps can serve a run without.
  ASSERT_TRUE((*cg)->Update(CgroupLimits{}).ok());
  if (host_.version == CgroupVersion::kV1) {
    int64_t mem = 0;
    ASSERT_TRUE(
        absl::SimpleAtoi(ReadTrimmed(DirOf("memory", name) + "/memory.limit_in_bytes"), &mem));
    EXPECT_GT(mem, int64_t{1} << 50);
    EXPECT_EQ(ReadTrimmed(DirOf("cpu", name) + "/cpu.cfs_quota_us"), "-1");
  } else {
    EXPECT_EQ(ReadTrimmed(DirOf("memory", name) + "/memory.max"), "max");
  }
  EXPECT_EQ(ReadTrimmed(DirOf("pids", name) + "/pids.max"), "max");

  // A cap whose controller the cgroup was not created with is refused.
  auto memonly = SandboxCgroup::Create(host_, prefix_ + "-update-memonly",
                                       CgroupLimits{.memory_bytes = 64 << 20});
  ASSERT_TRUE(memonly.ok()) << memonly.status();
  EXPECT_FALSE((*memonly)->Update(CgroupLimits{.memory_bytes = 64 << 20, .pids = 10}).ok());
}

TEST_F(CgroupTest, OnlyNeededControllersAreUsed) {
  const std::string name = prefix_ + "-memonly";
  auto cg = SandboxCgroup::Create(host_, name, CgroupLimits{.memory_bytes = 64 << 20});
  ASSERT_TRUE(cg.ok()) << cg.status();
  EXPECT_TRUE(IsDir(DirOf("memory", name)));
  if (host_.version == CgroupVersion::kV1) {
    // cpu for the CPU weight (fair shares between users), even uncapped.
    EXPECT_EQ(IsDir(DirOf("cpu", name)), host_.Has("cpu"));
    EXPECT_FALSE(IsDir(DirOf("pids", name)));
  }
}

TEST_F(CgroupTest, CreateRefusesWhatItCannotDo) {
  CgroupHost none;
  auto cg = SandboxCgroup::Create(none, prefix_ + "-none", CgroupLimits{.memory_bytes = 1 << 25});
  EXPECT_EQ(cg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(cg.status().message()), HasSubstr("allow_unenforced_limits"));

  CgroupHost no_pids = host_;
  no_pids.own_dirs.erase("pids");
  cg = SandboxCgroup::Create(no_pids, prefix_ + "-nopids", CgroupLimits{.pids = 10});
  EXPECT_EQ(cg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(cg.status().message()), HasSubstr("pids"));

  // A name already in use is not shared or taken over.
  const std::string name = prefix_ + "-dup";
  auto first = SandboxCgroup::Create(host_, name, CgroupLimits{.memory_bytes = 64 << 20});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = SandboxCgroup::Create(host_, name, CgroupLimits{.memory_bytes = 32 << 20});
  EXPECT_FALSE(second.ok());
  EXPECT_TRUE(IsDir(DirOf("memory", name)));
  if (host_.version == CgroupVersion::kV1) {
    EXPECT_EQ(ReadTrimmed(DirOf("memory", name) + "/memory.limit_in_bytes"),
              absl::StrCat(64 << 20));
  }
}

TEST_F(CgroupTest, ABackgroundSandboxYieldsTheCpuUntilItIsHandedARunThenTakesItsUsersShare) {
  const std::string name = prefix_ + "-bg";
  auto cg = SandboxCgroup::Create(
      host_, name, CgroupLimits{.memory_bytes = 64 << 20, .cpu_share = kBackgroundCpuShare});
  ASSERT_TRUE(cg.ok()) << cg.status();
  const bool v1 = host_.version == CgroupVersion::kV1;
  const std::string weight = DirOf("cpu", name) + (v1 ? "/cpu.shares" : "/cpu.weight");
  EXPECT_EQ(ReadTrimmed(weight), v1 ? "2" : "1");
  ASSERT_TRUE((*cg)->Update(CgroupLimits{.memory_bytes = 64 << 20, .cpus = 1}).ok());
  EXPECT_EQ(ReadTrimmed(weight), v1 ? "1024" : "100");
  // One of a user's 8 runs at once: an eighth of the weight.
  ASSERT_TRUE((*cg)->SetCpuShare(1.0 / 8).ok());
  EXPECT_EQ(ReadTrimmed(weight), v1 ? "128" : "13");
  ASSERT_TRUE((*cg)->SetCpuShare(1.0 / 1000).ok());  // never below the lowest
  EXPECT_EQ(ReadTrimmed(weight), v1 ? "2" : "1");
}

TEST_F(CgroupTest, OomKillIsReported) {
  auto cg = SandboxCgroup::Create(host_, prefix_ + "-oom", CgroupLimits{.memory_bytes = 32 << 20});
  ASSERT_TRUE(cg.ok()) << cg.status();
  EXPECT_FALSE((*cg)->OomKilled());

  // Touches 256 MiB, far past the 32 MiB cap, in one memset: an interpreter
  // loop between allocations refaults its own code pages as the cgroup
  // reclaims them, which on a slow v2 host can thrash for minutes before the
  // kernel gives up and kills.
  auto hog = StartGated("x = b'\\x01' * (256 << 20)\nprint('alive')");
  ASSERT_TRUE(hog.ok()) << hog.status();
  ASSERT_TRUE(Join(DirOf("memory", prefix_ + "-oom"), hog->pid()).ok());
  auto r = hog->Communicate(4096, absl::Now() + absl::Seconds(120));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL) << r->err.data;
  EXPECT_EQ(r->out.data, "");
  EXPECT_TRUE((*cg)->OomKilled());
  EXPECT_GT((*cg)->MemoryPeakBytes(), 0);
  EXPECT_LE((*cg)->MemoryPeakBytes(), int64_t{32} << 20);
}

TEST_F(CgroupTest, NoOomWithinTheLimit) {
  auto cg = SandboxCgroup::Create(host_, prefix_ + "-fits", CgroupLimits{.memory_bytes = 64 << 20});
  ASSERT_TRUE(cg.ok()) << cg.status();
  auto p = StartGated("x = [bytes([i + 1]) * (1 << 20) for i in range(4)]\nprint('alive')");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(Join(DirOf("memory", prefix_ + "-fits"), p->pid()).ok());
  auto r = p->Communicate(4096, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err.data;
  EXPECT_EQ(r->out.data, "alive\n");
  EXPECT_FALSE((*cg)->OomKilled());
}

TEST_F(CgroupTest, KillAllKillsEveryMember) {
  const std::string name = prefix_ + "-kill";
  auto cg = SandboxCgroup::Create(host_, name, CgroupLimits{.memory_bytes = 64 << 20, .pids = 20});
  ASSERT_TRUE(cg.ok()) << cg.status();
  auto a = StartSleeper();
  auto b = StartSleeper();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(Join(DirOf("memory", name), a->pid()).ok());
  ASSERT_TRUE(Join(DirOf("pids", name), b->pid()).ok());
  // v1: one directory per hierarchy; v2: a single one holding both.
  const bool unified = DirOf("memory", name) == DirOf("pids", name);
  EXPECT_EQ(Procs(DirOf("memory", name)).size(), unified ? 2u : 1u);

  absl::Time start = absl::Now();
  (*cg)->KillAll();
  auto ra = a->Wait();
  auto rb = b->Wait();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(*ra, 128 + SIGKILL);
  EXPECT_EQ(*rb, 128 + SIGKILL);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(Procs(DirOf("memory", name)).empty());
  EXPECT_TRUE(Procs(DirOf("pids", name)).empty());
  // Still usable: KillAll empties the cgroup, it does not remove it.
  EXPECT_TRUE(IsDir(DirOf("memory", name)));
}

TEST_F(CgroupTest, DestructionKillsMembersAndRemovesDirs) {
  const std::string name = prefix_ + "-dtor";
  auto cg = SandboxCgroup::Create(host_, name, CgroupLimits{.memory_bytes = 64 << 20, .pids = 20});
  ASSERT_TRUE(cg.ok()) << cg.status();
  auto p = StartSleeper();
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(Join(DirOf("pids", name), p->pid()).ok());
  cg->reset();
  EXPECT_FALSE(IsDir(DirOf("memory", name)));
  EXPECT_FALSE(IsDir(DirOf("pids", name)));
  auto r = p->Wait();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 128 + SIGKILL);
}

TEST_F(CgroupTest, ReapRemovesOnlyStaleNames) {
  const std::string live = prefix_ + "-live";
  const std::string stale = prefix_ + "-stale";
  auto owned =
      SandboxCgroup::Create(host_, live, CgroupLimits{.memory_bytes = 64 << 20, .pids = 20});
  ASSERT_TRUE(owned.ok()) << owned.status();

  // Leftovers of a crashed host process: dirs with a process still inside.
  HandMadeCgroups leftovers;
  std::set<std::string> stale_dirs = {DirOf("memory", stale), DirOf("pids", stale)};
  for (const std::string& dir : stale_dirs) ASSERT_TRUE(leftovers.Make(dir)) << dir;
  auto orphan = StartSleeper();
  ASSERT_TRUE(orphan.ok());
  ASSERT_TRUE(Join(DirOf("pids", stale), orphan->pid()).ok());

  std::set<std::string> asked;
  ReapStaleCgroups(host_, [&](const std::string& n) {
    asked.insert(n);
    return n == stale;  // never another process's cgroups
  });
  EXPECT_TRUE(asked.contains(live));
  EXPECT_TRUE(asked.contains(stale));
  EXPECT_FALSE(IsDir(DirOf("memory", stale)));
  EXPECT_FALSE(IsDir(DirOf("pids", stale)));
  EXPECT_TRUE(IsDir(DirOf("memory", live)));
  EXPECT_TRUE(IsDir(DirOf("pids", live)));
  auto r = orphan->Wait();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 128 + SIGKILL);
}

// ---- v2 layouts, played by a child process in a scratch cgroup ----

// What a forked child reports: "ok" or what went wrong.
std::string InChild(const std::function<std::string()>& body) {
  UniqueFd r, w;
  if (!MakePipe(r, w).ok()) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    r.Reset();
    std::string out = body();
    (void)!::write(w.get(), out.data(), out.size());
    ::_exit(0);
  }
  w.Reset();
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(r.get(), buf, sizeof(buf))) > 0;) out.append(buf, n);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out.empty() ? "child reported nothing" : out;
}

class CgroupV2LayoutTest : public CgroupTest {
 protected:
  void SetUp() override {
    CgroupTest::SetUp();
    if (IsSkipped()) return;
    if (host_.version != CgroupVersion::kV2) GTEST_SKIP() << "cgroup v2 layouts";
    // A sandbox cgroup has the controllers available: a fresh "host cgroup".
    auto cg =
        SandboxCgroup::Create(host_, prefix_ + "-host", CgroupLimits{.memory_bytes = 1 << 30});
    ASSERT_TRUE(cg.ok()) << cg.status();
    scratch_cg_ = *std::move(cg);
    scratch_ = DirOf("memory", prefix_ + "-host");
  }
  void TearDown() override {
    if (scratch_.empty()) return;
    scratch_cg_->KillAll();
    // What PrepareCgroups made inside, deepest first.
    for (const std::string& d : {scratch_ + "/" + kCgroupParent + "/x",
                                 scratch_ + "/" + kCgroupLeaf, scratch_ + "/" + kCgroupParent}) {
      ::rmdir(d.c_str());
    }
  }

  std::unique_ptr<SandboxCgroup> scratch_cg_;
  std::string scratch_;
};

TEST_F(CgroupV2LayoutTest, SharedCgroupIsMovedIntoALeafOnceUnlessKept) {
  auto neighbour = StartSleeper();
  ASSERT_TRUE(neighbour.ok());
  ASSERT_TRUE(Join(scratch_, neighbour->pid()).ok());
  const std::string n = absl::StrCat(neighbour->pid());
  std::string r = InChild([&]() -> std::string {
    if (!Join(scratch_, ::getpid()).ok()) return "join failed";
    auto before = DetectCgroups();
    if (!before.ok() || before->base != scratch_ || before->others.size() != 1) {
      return "detect: " + (before.ok() ? before->Describe() : before.status().ToString());
    }
    // The doctor announces the move before it happens, or fails if kept.
    auto layout = [](const Config& config) {
      for (const Check& c : CheckCgroups(config)) {
        if (c.name() == "cgroups") return c;
      }
      return Check();
    };
    Config keep;
    keep.set_keep_cgroup_processes(true);
    Check announced = layout(Config());
    Check refused = layout(keep);
    if (!announced.ok() || !absl::StrContains(announced.detail(), "moves every process of")) {
      return "doctor: " + announced.detail();
    }
    if (refused.ok() || !absl::StrContains(refused.remedy(), "Delegate=yes")) {
      return "doctor with keep: " + refused.detail();
    }
    // Opted out: refused, naming the fix, and nothing moved.
    auto kept = PrepareCgroups(CgroupSetup{.keep_other_processes = true});
    if (kept.ok()) return "keep_other_processes was ignored";
    if (!absl::StrContains(kept.status().message(), "keep_cgroup_processes")) {
      return "message: " + kept.status().ToString();
    }
    if (!Procs(scratch_).contains(n)) return "the neighbour was moved although kept";
    auto moved = PrepareCgroups(CgroupSetup{});
    if (!moved.ok()) return moved.status().ToString();
    if (moved->base != scratch_ || !moved->moved || !moved->Ready()) {
      return "after: " + moved->Describe();
    }
    if (!Procs(scratch_).empty()) return "the base still holds processes";
    const std::string leaf = scratch_ + "/" + kCgroupLeaf;
    if (!Procs(leaf).contains(n) || !Procs(leaf).contains(absl::StrCat(::getpid()))) {
      return "not in the leaf";
    }
    // Once: a second preparation finds the leaf and changes nothing.
    auto again = PrepareCgroups(CgroupSetup{.keep_other_processes = true});
    if (!again.ok() || again->base != scratch_) return "second prepare moved on";
    // And a sandbox cgroup beside the leaf takes a cap.
    auto cg = SandboxCgroup::Create(*again, "x", CgroupLimits{.memory_bytes = 32 << 20});
    if (!cg.ok()) return cg.status().ToString();
    std::string max = ReadTrimmed(scratch_ + "/" + kCgroupParent + "/x/memory.max");
    return max == absl::StrCat(32 << 20) ? "ok" : "memory.max " + max;
  });
  EXPECT_EQ(r, "ok");
}

TEST_F(CgroupV2LayoutTest, PrivateNamespaceOverTheWholeTreeFindsItsRealCgroup) {
  std::string r = InChild([&]() -> std::string {
    if (!Join(scratch_, ::getpid()).ok()) return "join failed";
    if (::unshare(CLONE_NEWCGROUP) != 0) return "unshare failed";
    auto self = ReadFile("/proc/self/cgroup");
    if (!self.ok() || absl::StripAsciiWhitespace(*self) != "0::/") return "not namespaced";
    // "/" names the namespace's root, but the mount shows the whole tree.
    auto host = DetectCgroups();
    if (!host.ok()) return host.status().ToString();
    return host->base == scratch_ && host->namespaced ? "ok" : host->Describe();
  });
  EXPECT_EQ(r, "ok");
}

TEST_F(CgroupV2LayoutTest, PrivateNamespaceWithItsOwnMountStaysInside) {
  const std::string mountpoint = host_.mountpoint;
  std::string r = InChild([&]() -> std::string {
    if (!Join(scratch_, ::getpid()).ok()) return "join failed";
    if (::unshare(CLONE_NEWCGROUP | CLONE_NEWNS) != 0) return "unshare failed";
    // The same superblock cannot be mounted twice on one point: replace it.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::umount2(mountpoint.c_str(), MNT_DETACH) != 0 ||
        ::mount("cgroup2", mountpoint.c_str(), "cgroup2", 0, nullptr) != 0) {
      return absl::StrCat("mount failed: ", strerror(errno));
    }
    // Docker's default: the namespace's root at the mount point.
    auto host = PrepareCgroups(CgroupSetup{});
    if (!host.ok()) return host.status().ToString();
    if (host->base != mountpoint || host->true_root || !host->Ready()) return host->Describe();
    auto cg = SandboxCgroup::Create(*host, "x", CgroupLimits{.memory_bytes = 32 << 20});
    if (!cg.ok()) return cg.status().ToString();
    return "ok";
  });
  EXPECT_EQ(r, "ok");
  // Seen from outside, everything landed below the scratch cgroup.
  EXPECT_TRUE(Procs(scratch_).empty());
  EXPECT_TRUE(IsDir(scratch_ + "/" + kCgroupLeaf));
}

TEST_F(CgroupV2LayoutTest, ReadOnlyCgroupfsIsRefusedAtOnceNamingTheFix) {
  const std::string mountpoint = host_.mountpoint;
  std::string r = InChild([&]() -> std::string {
    if (!Join(scratch_, ::getpid()).ok()) return "join failed";
    // What a container without a writable cgroupfs sees.
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount(nullptr, mountpoint.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) !=
            0) {
      return absl::StrCat("read-only remount failed: ", strerror(errno));
    }
    absl::Time start = absl::Now();
    auto host = PrepareCgroups(CgroupSetup{});
    if (host.ok()) return "prepared on a read-only cgroupfs: " + host->Describe();
    if (absl::Now() - start > absl::Seconds(2)) return "refused, but slowly";
    std::string m(host.status().message());
    for (const char* fix :
         {"Docker", "compose", "Kubernetes", "systemd", "allow_unenforced_limits"}) {
      if (!absl::StrContains(m, fix)) return absl::StrCat("no '", fix, "' in: ", m);
    }
    // Nothing was moved.
    return Procs(scratch_).contains(absl::StrCat(::getpid())) ? "ok" : "moved anyway";
  });
  EXPECT_EQ(r, "ok");
}

}  // namespace
}  // namespace libsandbox
