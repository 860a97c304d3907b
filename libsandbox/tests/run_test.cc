// End-to-end runs through the public API: real runsc, real cgroups.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/host/cgroup.h"
#include "libsandbox/host/cgroup_host.h"
#include "libsandbox/host/process.h"
#include "libsandbox/host/run_dir.h"
#include "libsandbox/host/runsc.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every test runs on the cold path and on the warm path (a pool of
// pre-booted sandboxes): both must behave the same.
class RunTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    root_ = testing::MakeTestDir("run");
    config_.set_state_dir(root_ + "/state");
    config_.set_storage_dir(root_ + "/storage");
    config_.set_runsc_path(testing::TestRunscPath());
    if (GetParam()) {
      config_.set_pool_size(1);
      config_.add_pool_languages("python");
      config_.add_pool_languages("bash");
      testing::WaitForWarmPool(config_, 2);
    }
  }
  void TearDown() override {
    Shutdown();  // drains the pool before its state dir goes
    (void)RemoveTree(root_);
  }

  Result RunCode(const std::string& code, const std::string& language = "python") {
    RunRequest req;
    req.set_code(code);
    req.set_language(language);
    *req.mutable_limits() = limits_;
    return libsandbox::Run(req, config_);
  }

  std::string root_;
  Config config_;
  Limits limits_ = DefaultLimits();
};

INSTANTIATE_TEST_SUITE_P(ColdAndWarm, RunTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Warm" : "Cold";
                         });

// Users share the CPU, not sandboxes: one user's two runs at once weigh
// half a run each, another user's one run a whole one.
TEST_P(RunTest, ConcurrentRunsOfOneUserSplitItsCpuWeight) {
  absl::StatusOr<CgroupHost> host = DetectCgroups();
  if (!host.ok() || !host->Has("cpu")) GTEST_SKIP() << "no cpu controller";
  const bool v1 = host->version == CgroupVersion::kV1;
  const std::string file = v1 ? "cpu.shares" : "cpu.weight";
  const std::string whole = v1 ? "1024" : "100", half = v1 ? "512" : "50";
  std::vector<std::thread> runs;
  for (const char* user : {"many", "many", "one"}) {
    runs.emplace_back([this, user] {
      RunRequest req;
      req.set_code("import time; time.sleep(8)");
      req.set_user(user);
      Result r = libsandbox::Run(req, config_);
      EXPECT_EQ(r.status(), Result::OK) << r.message();
    });
  }
  // The weights of the sandboxes running code (pooled ones booting in the
  // background have the lowest).
  auto weights = [&] {
    std::multiset<std::string> w;
    for (const std::string& id : testing::RunIds(config_)) {
      absl::StatusOr<std::string> v =
          ReadFile(absl::StrCat(host->own_dirs.at("cpu"), "/", kCgroupParent, "/", id, "/", file));
      if (v.ok() && absl::StripAsciiWhitespace(*v) != (v1 ? "2" : "1")) {
        w.insert(std::string(absl::StripAsciiWhitespace(*v)));
      }
    }
    return w;
  };
  const std::multiset<std::string> expected = {half, half, whole};
  std::multiset<std::string> seen;
  for (absl::Time give_up = absl::Now() + absl::Seconds(60); absl::Now() < give_up;) {
    if ((seen = weights()) == expected) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(seen, expected);
  for (std::thread& t : runs) t.join();
}

TEST_P(RunTest, WarmPathServesFromThePool) {
  int64_t hits =
      GetMetrics().counters().contains("pool_hits") ? GetMetrics().counters().at("pool_hits") : 0;
  Result r = RunCode("print('hi')");
  EXPECT_EQ(r.status(), Result::OK);
  Metrics m = GetMetrics();
  int64_t after = m.counters().contains("pool_hits") ? m.counters().at("pool_hits") : 0;
  EXPECT_EQ(after - hits, GetParam() ? 1 : 0);
}

TEST_P(RunTest, PythonHelloWorld) {
  Result r = RunCode("print('Hello from the sandbox!')");
  EXPECT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.stdout(), "Hello from the sandbox!\n");
  ASSERT_TRUE(r.has_exit_code());
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_GT(r.duration_s(), 0);
}

TEST_P(RunTest, BashSampleWithDmesgShowsGvisor) {
  Result r = RunCode("echo Hello; date; dmesg; echo Bye", "bash");
  EXPECT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_THAT(r.stdout(), HasSubstr("Hello"));
  EXPECT_THAT(r.stdout(), HasSubstr("gVisor"));
  EXPECT_THAT(r.stdout(), HasSubstr("Bye"));
}

TEST_P(RunTest, SyntaxErrorsAreErrors) {
  Result py = RunCode("print('foo");
  EXPECT_EQ(py.status(), Result::ERROR);
  EXPECT_THAT(py.stderr(), HasSubstr("SyntaxError"));
  Result sh = RunCode("echo 'foo", "bash");
  EXPECT_EQ(sh.status(), Result::ERROR);
  EXPECT_NE(sh.exit_code(), 0);
}

TEST_P(RunTest, ExitCodeIsReported) {
  Result r = RunCode("import sys; sys.exit(7)");
  EXPECT_EQ(r.status(), Result::ERROR);
  EXPECT_EQ(r.exit_code(), 7);
}

TEST_P(RunTest, PythonEndsAsItsInterpreterWould) {
  // Warm runs return when the code is over, before the sandbox shuts down
  // (end_marker.h): what the interpreter's own exit does must still happen.
  Result r = RunCode("import sys\nprint('out')\nsys.exit('bye')");
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.stdout(), "out\n");
  EXPECT_EQ(r.stderr(), "bye\n");
  r = RunCode("import sys\nsys.exit(256 + 3)");
  EXPECT_EQ(r.exit_code(), 3);
  r = RunCode(
      "import atexit, sys, threading, time\n"
      "atexit.register(lambda: print('atexit'))\n"
      "threading.Thread(target=lambda: (time.sleep(0.5), print('thread'))).start()\n"
      "sys.stdout.write('unflushed')");
  EXPECT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.stdout(), "unflushedthread\natexit\n");
  // A child the code forks ends the ordinary way, and does not end the run.
  r = RunCode(
      "import os, time\n"
      "if os.fork() == 0:\n"
      "    time.sleep(0.3); print('child')\n"
      "else:\n"
      "    os.wait(); print('parent')");
  EXPECT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.stdout(), "child\nparent\n");
  EXPECT_EQ(r.stderr(), "");
}

TEST_P(RunTest, TimeoutKeepsPartialOutput) {
  limits_.set_timeout_s(3);
  absl::Time start = absl::Now();
  Result r = RunCode("import time\nprint('before', flush=True)\ntime.sleep(60)\nprint('after')");
  EXPECT_EQ(r.status(), Result::TIMEOUT) << r.message();
  EXPECT_EQ(r.stdout(), "before\n");
  EXPECT_FALSE(r.has_exit_code());
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

TEST_P(RunTest, TimeoutKillsEveryProcessInTheSandbox) {
  limits_.set_timeout_s(2);
  Result r = RunCode("(sleep 100; echo orphan) & sleep 100 & wait", "bash");
  EXPECT_EQ(r.status(), Result::TIMEOUT);
  EXPECT_THAT(r.stdout(), Not(HasSubstr("orphan")));
}

TEST_P(RunTest, MemoryHogIsInterrupted) {
  limits_.set_memory_mb(128);
  Result r = RunCode(
      "chunks = []\n"
      "for _ in range(256):\n"
      "    chunks.append(open('/dev/urandom', 'rb').read(1 << 20))\n"
      "print('survived', len(chunks))\n");
  EXPECT_EQ(r.status(), Result::INTERRUPTED) << r.message() << r.stdout() << r.stderr();
  EXPECT_EQ(r.reason(), "memory");
  EXPECT_THAT(r.stdout(), Not(HasSubstr("survived")));
  EXPECT_THAT(r.message(), HasSubstr("memory_mb"));
}

TEST_P(RunTest, ForkBombIsContained) {
  limits_.set_max_pids(64);
  // A second here; an emulated (TCG) CI VM took over 10 s to fork 63
  // Pythons. The cap under test is max_pids, not the clock.
  limits_.set_timeout_s(60);
  Result r = RunCode(
      "import os, time\n"
      "n = 0\n"
      "try:\n"
      "    while True:\n"
      "        if os.fork() == 0:\n"
      "            time.sleep(30); os._exit(0)\n"
      "        n += 1\n"
      "except OSError as e:\n"
      "    print('fork failed after', n, flush=True)\n");
  // Either the code saw fork fail at max_pids (its own tasks, counted
  // inside the sandbox, warm or cold) or the sandbox was stopped for it;
  // never unbounded, never a crash of ours.
  if (r.status() == Result::OK) {
    ASSERT_THAT(r.stdout(), HasSubstr("fork failed after "));
    int n = 0;
    ASSERT_TRUE(
        absl::SimpleAtoi(absl::StripAsciiWhitespace(r.stdout().substr(r.stdout().rfind(' '))), &n))
        << r.stdout();
    EXPECT_LT(n, 64);
  } else {
    // Which cap stops it first depends on the platform: each task costs
    // host threads (pids) and sentry memory.
    EXPECT_EQ(r.status(), Result::INTERRUPTED) << r.message() << r.stderr();
    EXPECT_THAT(r.reason(), ::testing::AnyOf("pids", "memory"));
    EXPECT_THAT(r.message(), ::testing::AnyOf(HasSubstr("max_pids"), HasSubstr("memory_mb")));
  }
  // The host still forks fine afterwards.
  Result after = RunCode("print('alive')");
  EXPECT_EQ(after.status(), Result::OK);
}

// max_pids counts the code's own tasks inside the sandbox; a warm sandbox,
// booted with the pool's larger cap, lowers it to the run's.
TEST_P(RunTest, ForkFailsAtMaxPids) {
  limits_.set_max_pids(16);
  Result r = RunCode(
      "import os, time\n"
      "n = 0\n"
      "try:\n"
      "    while True:\n"
      "        if os.fork() == 0:\n"
      "            time.sleep(30); os._exit(0)\n"
      "        n += 1\n"
      "except OSError as e:\n"
      "    print('fork failed after', n, e.errno == 11, flush=True)\n");
  EXPECT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.stdout(), "fork failed after 15 True\n");  // the interpreter counts too
}

TEST_P(RunTest, LargeOutputIsTruncatedAndFlagged) {
  limits_.set_max_output_bytes(1 << 20);
  Result r =
      RunCode("import sys\nsys.stdout.write('x' * (20 << 20))\nprint('done', file=sys.stderr)");
  EXPECT_EQ(r.status(), Result::OK) << r.message();
  EXPECT_EQ(r.stdout().size(), size_t{1} << 20);
  EXPECT_TRUE(r.stdout_truncated());
  EXPECT_FALSE(r.stderr_truncated());
  EXPECT_EQ(r.stderr(), "done\n");
}

TEST_P(RunTest, InvalidUtf8IsReplaced) {
  Result r = RunCode("import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end')");
  EXPECT_EQ(r.status(), Result::OK);
  EXPECT_EQ(r.stdout(), "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST_P(RunTest, RootFilesystemIsReadOnlyAndUserIsUnprivileged) {
  Result r = RunCode(
      "for p in ['/usr/evil', '/etc/evil', '/evil', '/bin/evil']:\n"
      "    try:\n"
      "        open(p, 'w').write('x'); print('WROTE', p)\n"
      "    except OSError:\n"
      "        pass\n"
      "import os\n"
      "print('uid', os.getuid(), os.getgid())\n"
      "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0].strip())\n"
      "open('/home/user/ok.txt', 'w').write('fine'); open('/tmp/t', 'w').write('fine')\n");
  EXPECT_EQ(r.status(), Result::OK) << r.stderr();
  EXPECT_THAT(r.stdout(), Not(HasSubstr("WROTE")));
  EXPECT_THAT(r.stdout(), HasSubstr("uid 1000 1000"));
  EXPECT_THAT(r.stdout(), HasSubstr("CapEff:\t0000000000000000"));
}

TEST_P(RunTest, TheHostsCertificatesAndLibraryCacheAreShownAsTheyAre) {
  // The shared /etc tree is a copy: it must hold what the host holds.
  std::string code = "import os\n";
  std::string expected;
  for (const char* file :
       {"/etc/ssl/certs/ca-certificates.crt", "/etc/ld.so.cache", "/etc/mime.types"}) {
    absl::StatusOr<std::string> host = ReadFile(file, 64 << 20);
    if (!host.ok()) continue;
    absl::StrAppend(&code, "print('", file, "', len(open('", file, "', 'rb').read()))\n");
    absl::StrAppend(&expected, file, " ", host->size(), "\n");
  }
  absl::StrAppend(&code, "print('certs', len(os.listdir('/etc/ssl/certs')))\n");
  Result r = RunCode(code);
  EXPECT_EQ(r.status(), Result::OK) << r.stderr();
  EXPECT_THAT(r.stdout(), HasSubstr(expected));
  std::error_code ec;
  size_t host_certs = 0;
  for (auto it = std::filesystem::directory_iterator("/etc/ssl/certs", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++host_certs;
  }
  if (host_certs > 0) {
    EXPECT_THAT(r.stdout(), HasSubstr(absl::StrCat("certs ", host_certs, "\n")));
  }
}

TEST_P(RunTest, HostSecretsAndEnvironmentAreInvisible) {
  ::setenv("LIBSANDBOX_HOST_SECRET", "s3cr3t-env", 1);
  std::string secret_dir = root_ + "/secret";
  ASSERT_TRUE(MakeDirs(secret_dir).ok());
  ASSERT_TRUE(WriteFile(secret_dir + "/key", "s3cr3t-file").ok());
  Result r =
      RunCode(absl::StrCat("import os\n"
                           "print(sorted(os.environ.items()))\n"
                           "for p in ['/root', '/home', '/var/lib', '/srv', '/app', '",
                           secret_dir, "']:\n",
                           "    print(p, os.path.exists(p) and os.listdir(p))\n"
                           "print(open('/etc/passwd').read())\n"));
  EXPECT_EQ(r.status(), Result::OK) << r.stderr();
  EXPECT_THAT(r.stdout(), Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(r.stdout(), Not(HasSubstr("LIBSANDBOX_HOST_SECRET")));
  EXPECT_THAT(r.stdout(), HasSubstr("/home ['user']"));
  EXPECT_THAT(r.stdout(), HasSubstr("/root False"));
}

TEST_P(RunTest, StdinEnvAndInputFiles) {
  RunRequest req;
  req.set_code(
      "import os, sys\n"
      "print(sys.stdin.read().upper())\n"
      "print(os.environ['GREETING'])\n"
      "print(open('data/in.txt').read())\n");
  req.set_stdin("from stdin");
  (*req.mutable_env())["GREETING"] = "hello env";
  InputFile* f = req.add_files();
  f->set_path("data/in.txt");
  f->set_content("input file");
  Result r = libsandbox::Run(req, config_);
  EXPECT_EQ(r.status(), Result::OK) << r.stderr();
  EXPECT_EQ(r.stdout(), "FROM STDIN\nhello env\ninput file\n");
  // Unchanged inputs are not reported back as outputs.
  EXPECT_EQ(r.files_size(), 0);
}

TEST_P(RunTest, GeneratedFilesAreKeptPerUser) {
  RunRequest req;
  req.set_code("mkdir -p out && echo hi > out/a.txt && ln -s /etc/shadow link && mkfifo fifo");
  req.set_language("bash");
  req.set_user("alice");
  Result r = libsandbox::Run(req, config_);
  ASSERT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  ASSERT_EQ(r.files_size(), 1);
  EXPECT_EQ(r.files(0).path(), "out/a.txt");
  EXPECT_EQ(r.files(0).size(), 3);
  EXPECT_TRUE(absl::StartsWith(r.files(0).host_path(), config_.storage_dir()));
  absl::StatusOr<std::string> kept = ReadFile(r.files(0).host_path());
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "hi\n");
}

TEST_P(RunTest, StorageQuotaViolationIsStorageError) {
  config_.mutable_quota()->set_max_files_per_execution(4);
  Result r = RunCode("for i in $(seq 10); do touch f$i; done", "bash");
  EXPECT_EQ(r.status(), Result::STORAGE_ERROR) << r.message();
  EXPECT_EQ(r.files_size(), 0);
  EXPECT_THAT(r.message(), HasSubstr("max_files_per_execution"));
}

// A Config without a quota keeps files under bounded defaults: one run
// cannot leave thousands of files in its user's storage.
TEST_P(RunTest, AConfigWithoutAQuotaKeepsFilesUnderTheDefaultOne) {
  ASSERT_FALSE(config_.has_quota());
  const int64_t cap = DefaultQuota().max_files_per_execution();
  Result over = RunCode(absl::StrCat("for i in $(seq ", cap + 1, "); do touch f$i; done"), "bash");
  EXPECT_EQ(over.status(), Result::STORAGE_ERROR) << over.message();
  EXPECT_THAT(over.message(), HasSubstr("max_files_per_execution"));
  Result at = RunCode(absl::StrCat("for i in $(seq ", cap, "); do touch f$i; done"), "bash");
  EXPECT_EQ(at.status(), Result::OK) << at.message();
  EXPECT_EQ(at.files_size(), cap);
  // Inside a quota the config sets, 0 still means "no limit".
  config_.mutable_quota()->set_max_files_per_execution(0);
  Result unlimited = RunCode("for i in $(seq 300); do touch f$i; done", "bash");
  EXPECT_EQ(unlimited.status(), Result::OK) << unlimited.message();
  EXPECT_EQ(unlimited.files_size(), 300);
}

TEST_P(RunTest, WorkspaceAndTmpAreSizeCapped) {
  limits_.set_workspace_mb(8);
  limits_.set_memory_mb(256);
  Result r = RunCode(
      "import os\n"
      "for d in ['/home/user', '/tmp']:\n"
      "    try:\n"
      "        with open(d + '/big', 'wb') as f:\n"
      "            f.write(b'x' * (32 << 20))\n"
      "        print(d, 'wrote all')\n"
      "    except OSError as e:\n"
      "        print(d, 'full', e.errno)\n");
  EXPECT_EQ(r.status(), Result::OK) << r.stderr();
  EXPECT_THAT(r.stdout(), HasSubstr("/home/user full"));
  EXPECT_THAT(r.stdout(), HasSubstr("/tmp full"));
}

TEST_P(RunTest, BadInputIsInvalidInput) {
  EXPECT_EQ(RunCode("print(1)", "cobol").status(), Result::INVALID_INPUT);
  EXPECT_EQ(RunCode("").status(), Result::INVALID_INPUT);
  EXPECT_EQ(RunCode(std::string("print(1)\0", 9)).status(), Result::INVALID_INPUT);
  limits_.set_memory_mb(-1);
  Result neg = RunCode("print(1)");
  EXPECT_EQ(neg.status(), Result::INVALID_INPUT);
  EXPECT_THAT(neg.message(), HasSubstr("memory_mb"));
  limits_ = DefaultLimits();
  for (const char* path : {"../x", "/etc/passwd", "a/../../b"}) {
    RunRequest req;
    req.set_code("print(1)");
    InputFile* f = req.add_files();
    f->set_path(path);
    Result r = libsandbox::Run(req, config_);
    EXPECT_EQ(r.status(), Result::INVALID_INPUT) << path;
  }
}

TEST_P(RunTest, NetworkOffReachesNothing) {
  Result r = RunCode(
      "import socket\n"
      "for host in ['127.0.0.1', '10.0.2.2', '169.254.169.254', '8.8.8.8']:\n"
      "    s = socket.socket(); s.settimeout(2)\n"
      "    try:\n"
      "        s.connect((host, 80)); print('CONNECTED', host)\n"
      "    except OSError as e:\n"
      "        print('blocked', host)\n");
  EXPECT_EQ(r.status(), Result::OK) << r.stderr();
  EXPECT_THAT(r.stdout(), Not(HasSubstr("CONNECTED")));
}

TEST_P(RunTest, EightConcurrentRuns) {
  std::vector<Result> results(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { results[i] = RunCode(absl::StrCat("print(", i, ")")); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(results[i].status(), Result::OK) << results[i].message() << results[i].stderr();
    EXPECT_EQ(results[i].stdout(), absl::StrCat(i, "\n"));
  }
}

// A configured platform is booted once before any run uses it: kvm where
// /dev/kvm exists but cannot run gVisor's guest (nested virtualisation) is
// refused naming it, instead of hanging every run until its timeout.
TEST(PlatformRunTest, AConfiguredPlatformRunsOrIsRefusedNamingIt) {
  const std::string root = testing::MakeTestDir("platform");
  Config config;
  config.set_state_dir(root + "/state");
  config.set_storage_dir(root + "/storage");
  config.set_runsc_path(testing::TestRunscPath());
  absl::StatusOr<std::string> runsc = LocateRunsc(testing::TestRunscPath());
  ASSERT_TRUE(runsc.ok()) << runsc.status();
  absl::StatusOr<std::shared_ptr<const RunscInfo>> info = ProbeRunsc(*runsc);
  ASSERT_TRUE(info.ok()) << info.status();
  if (!(*info)->KnowsPlatform("kvm")) GTEST_SKIP() << "this runsc has no kvm platform";
  RunRequest req;
  req.set_code("print('ran')");
  *req.mutable_limits() = DefaultLimits();
  req.mutable_limits()->set_timeout_s(20);

  config.set_platform("kvm");
  Result first = libsandbox::Run(req, config);
  if (first.status() == Result::OK) {
    EXPECT_EQ(first.stdout(), "ran\n");  // KVM works for gVisor on this host
  } else {
    EXPECT_EQ(first.status(), Result::SANDBOX_ERROR) << first.message();
    EXPECT_EQ(first.reason_code(), REASON_SETUP);
    EXPECT_THAT(first.message(), HasSubstr("platform \"kvm\" cannot run sandboxes here"));
    EXPECT_THAT(first.message(), HasSubstr("leave platform empty"));
    Result again = libsandbox::Run(req, config);
    EXPECT_EQ(again.status(), Result::SANDBOX_ERROR);
    EXPECT_EQ(again.message(), first.message());
  }
  // The build's own default, named explicitly, passes its probe and runs.
  config.set_platform((*info)->default_platform);
  Result named = libsandbox::Run(req, config);
  EXPECT_EQ(named.status(), Result::OK) << named.message();
  EXPECT_EQ(named.stdout(), "ran\n");
  Shutdown();
  (void)RemoveTree(root);
}

// What a run leaves behind: runsc state, cgroups, run dirs, processes.
struct Leftovers {
  int runsc_entries = 0;
  int cgroups = 0;
  int run_entries = 0;
  int runsc_processes = 0;
};

// Sandbox cgroups that exist now, by path; leftovers are counted against a
// snapshot taken before the test, so older debris on the machine is not ours.
// Only the memory hierarchy: every sandbox has a memory cgroup, and there it
// sits below this process's own cgroup, away from unrelated processes'
// sandboxes (cpu and pids may be shared at the root).
std::set<std::string> SandboxCgroups() {
  std::set<std::string> paths;
  if (auto host = DetectCgroups(); host.ok() && host->Has("memory")) {
    for (const std::string& dir : {host->own_dirs.at("memory")}) {
      std::string parent = absl::StrCat(dir, "/", kCgroupParent);
      DIR* d = ::opendir(parent.c_str());
      if (d == nullptr) continue;
      while (struct dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (e->d_type == DT_DIR && name != "." && name != "..") paths.insert(parent + "/" + name);
      }
      ::closedir(d);
    }
  }
  return paths;
}

Leftovers Count(const Config& config, const std::set<std::string>& cgroups_before) {
  Leftovers l;
  l.runsc_entries = testing::CountEntries(RunscRoot(config.state_dir()));
  l.run_entries = testing::CountEntries(config.state_dir() + "/runs");
  for (const std::string& path : SandboxCgroups()) l.cgroups += !cgroups_before.contains(path);
  auto ps = RunCommand({"/usr/bin/pgrep", "-f", config.state_dir()});
  if (ps.ok()) {
    for (char c : ps->out.data) l.runsc_processes += c == '\n';
  }
  return l;
}

TEST_P(RunTest, TeardownLeavesNothing) {
  const std::set<std::string> before = SandboxCgroups();
  limits_.set_timeout_s(2);
  RunCode("print('ok')");
  RunCode("import time; time.sleep(30)");
  RunCode("x = bytearray(1 << 30)");
  Shutdown();  // the warm pool keeps sandboxes until then
  Leftovers l = Count(config_, before);
  EXPECT_EQ(l.runsc_entries, 0);
  EXPECT_EQ(l.run_entries, 0);
  EXPECT_EQ(l.cgroups, 0);
  EXPECT_EQ(l.runsc_processes, 0);
}

TEST_P(RunTest, CrashedHostIsReapedOnNextStart) {
  // The "host" is a forked child, so this process must hold no pool.
  Shutdown();
  config_.clear_pool_size();
  const std::set<std::string> before = SandboxCgroups();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    RunCode("import time; time.sleep(60)");
    ::_exit(0);
  }
  // Wait until the sandbox is up, then kill the "host" without warning.
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (testing::CountEntries(RunscRoot(config_.state_dir())) == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::SleepFor(absl::Milliseconds(500));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_GT(Count(config_, before).run_entries, 0);
  EXPECT_GT(ReapStaleRuns(config_.state_dir(),
                          testing::TestRunscPath().empty() ? "runsc" : testing::TestRunscPath()),
            0);
  Leftovers l = Count(config_, before);
  EXPECT_EQ(l.run_entries, 0);
  EXPECT_EQ(l.cgroups, 0);
  EXPECT_EQ(l.runsc_entries, 0);
  EXPECT_EQ(l.runsc_processes, 0);
}

// Figures come back as outputs without the code asking: shown or left open,
// in order; images the code saves come back too, and figures are not files.
TEST_P(RunTest, MatplotlibFiguresAndSavedImagesAreOutputs) {
  limits_.set_timeout_s(60);
  Result r = RunCode(
      "import matplotlib.pyplot as plt\n"
      "plt.plot([1, 2, 3]); plt.show()\n"
      "plt.figure(); plt.bar([1], [2]); plt.savefig('chart.png')\n"  // left open too
      "open('notes.txt', 'w').write('x')\n");
  ASSERT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  ASSERT_EQ(r.outputs_size(), 3);
  EXPECT_EQ(r.outputs(0).name(), "figure-1.png");
  EXPECT_EQ(r.outputs(1).name(), "figure-2.png");
  EXPECT_EQ(r.outputs(2).name(), "chart.png");
  for (const Output& o : r.outputs()) {
    EXPECT_EQ(o.mime_type(), "image/png");
    EXPECT_TRUE(o.data().starts_with("\x89PNG\r\n\x1a\n")) << o.name();
  }
  std::set<std::string> kept;
  for (const File& f : r.files()) kept.insert(f.path());
  EXPECT_EQ(kept, (std::set<std::string>{"chart.png", "notes.txt"}));

  // SVG where the code asks for it; the caller's own backend captures nothing.
  r = RunCode(
      "import matplotlib.pyplot as plt\nplt.rcParams['savefig.format'] = 'svg'\n"
      "plt.plot([1, 2])\n");
  ASSERT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  ASSERT_EQ(r.outputs_size(), 1);
  EXPECT_EQ(r.outputs(0).mime_type(), "image/svg+xml");
  EXPECT_THAT(r.outputs(0).data(), HasSubstr("<svg"));
  RunRequest own;
  own.set_code("import matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()\n");
  *own.mutable_limits() = limits_;
  (*own.mutable_env())["MPLBACKEND"] = "Agg";
  r = libsandbox::Run(own, config_);
  ASSERT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.outputs_size(), 0);
}

// A flood of figures, oversized images and a figures dir full of symlinks
// to host files: bounded, and nothing outside the workspace is read.
TEST_P(RunTest, OutputsAreBoundedAndNeverFollowSymlinks) {
  limits_.set_timeout_s(60);
  Result r = RunCode(
      "import matplotlib.pyplot as plt\n"
      "for i in range(40):\n"
      "    plt.figure(); plt.plot([i])\n");
  ASSERT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.outputs_size(), 16);
  EXPECT_EQ(r.outputs(15).name(), "figure-16.png");

  r = RunCode(
      "mkdir -p .libsandbox-figures && cd .libsandbox-figures && "
      "ln -s /etc/passwd a.png && ln -s /proc/self/environ b.png && "
      "head -c 9000000 /dev/zero > big.png && printf 'small' > c.png && "
      "ln -s /etc .. 2>/dev/null; cd .. && ln -s /etc/hostname host.png; echo done",
      "bash");
  ASSERT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  std::vector<std::string> names;
  for (const Output& o : r.outputs()) {
    names.push_back(o.name());
    EXPECT_THAT(o.data(), Not(HasSubstr("root:")));
  }
  EXPECT_EQ(names, std::vector<std::string>{"c.png"});
  EXPECT_EQ(r.outputs(0).data(), "small");
  for (const File& f : r.files()) EXPECT_THAT(f.path(), Not(HasSubstr(".libsandbox-figures")));
}

// coreutils' ls and stat call statx(AT_NO_AUTOMOUNT), which older runsc
// builds refuse; the statx shim makes them work there too (cold and warm).
TEST_P(RunTest, LsAndStatWork) {
  Result r =
      RunCode("echo x > f; ls -A /home/user /tmp; stat -c %F /home/user; ls -l f | wc -l", "bash");
  EXPECT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.stderr(), "");
  EXPECT_THAT(r.stdout(), HasSubstr("directory\n1\n"));
  // Python's own calls are unaffected.
  r = RunCode(
      "import os, subprocess; print(os.listdir('/home/user'), "
      "subprocess.run(['ls', '/'], capture_output=True).returncode)");
  EXPECT_EQ(r.status(), Result::OK) << r.message() << r.stderr();
  EXPECT_EQ(r.stdout(), "[] 0\n");
}

TEST_P(RunTest, MissingRunscIsSandboxErrorWithRemedy) {
  config_.set_runsc_path(root_ + "/no-such-runsc");
  Result r = RunCode("print(1)");
  EXPECT_EQ(r.status(), Result::SANDBOX_ERROR);
  EXPECT_THAT(r.message(), HasSubstr("runsc"));
}

}  // namespace
}  // namespace libsandbox
