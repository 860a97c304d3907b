// The OCI bundle: what config.json tells runsc is the sandbox's whole view of
// the host, so every field that keeps the host safe is checked here.
#include "libsandbox/run/bundle.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/rules/languages.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kCode[] = "print('bundle-test-code-marker')\n";

std::vector<std::string> Options(const oci::Mount& m) {
  return {m.options().begin(), m.options().end()};
}

const oci::Mount* FindMount(const oci::Spec& spec, const std::string& destination) {
  const oci::Mount* found = nullptr;
  for (const oci::Mount& m : spec.mounts()) {
    if (m.destination() == destination) found = &m;  // the last one wins, as in the runtime
  }
  return found;
}

std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  ::closedir(d);
  return names;
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir(testing::MakeTestDir("bundle"));
    run_dir_ = dir_.path() + "/run";
    workspace_ = dir_.path() + "/workspace";
    ASSERT_TRUE(MakeDirs(run_dir_).ok());
    ASSERT_TRUE(MakeDirs(workspace_).ok());
    options_.language = FindLanguage("python");
    ASSERT_NE(options_.language, nullptr);
    options_.code = kCode;
    options_.workspace_dir = workspace_;
    options_.tmp_mb = 16;
    options_.cgroups_path = "libsandbox/bundle-test";
    options_.resolv_conf = "nameserver 10.0.2.3\n";
    options_.max_pids = 64;
  }

  // Writes the bundle and parses its config.json back into a Spec.
  oci::Spec WriteAndParse() {
    absl::StatusOr<std::string> bundle = WriteBundle(run_dir_, options_);
    EXPECT_TRUE(bundle.ok()) << bundle.status();
    if (!bundle.ok()) return {};
    EXPECT_EQ(*bundle, run_dir_ + "/bundle");
    absl::StatusOr<std::string> json = ReadFile(*bundle + "/config.json");
    EXPECT_TRUE(json.ok()) << json.status();
    if (!json.ok()) return {};
    json_ = *json;
    oci::Spec spec;
    google::protobuf::util::JsonParseOptions strict;
    strict.ignore_unknown_fields = false;
    auto s = google::protobuf::util::JsonStringToMessage(json_, &spec, strict);
    EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << json_;
    return spec;
  }

  TempDir dir_;
  std::string run_dir_;
  std::string workspace_;
  std::string json_;
  BundleOptions options_;
};

TEST_F(BundleTest, ConfigJsonRoundTripsWithOciFieldNames) {
  oci::Spec parsed = WriteAndParse();
  absl::StatusOr<oci::Spec> built = BuildSpec(run_dir_, options_);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(parsed.SerializeAsString(), built->SerializeAsString())
      << "config.json does not carry the spec BuildSpec made";

  // runsc reads the OCI spec's lowerCamelCase names, never proto field names.
  EXPECT_THAT(json_, HasSubstr("\"ociVersion\":\"1.0.2\""));
  EXPECT_THAT(json_, HasSubstr("\"noNewPrivileges\":true"));
  EXPECT_THAT(json_, HasSubstr("\"cgroupsPath\":\"libsandbox/bundle-test\""));
  EXPECT_THAT(json_, HasSubstr("\"readonly\":true"));
  EXPECT_THAT(json_, HasSubstr("\"capabilities\":{}"));
  for (const char* proto_name : {"oci_version", "no_new_privileges", "cgroups_path"}) {
    EXPECT_THAT(json_, Not(HasSubstr(proto_name)));
  }
  // Numbers stay JSON numbers (64-bit proto fields would print as strings).
  EXPECT_THAT(json_, HasSubstr("\"uid\":1000"));
  EXPECT_THAT(json_, HasSubstr("\"hard\":64"));
  // Only the host process may read the spec.
  struct stat st;
  ASSERT_EQ(::stat((run_dir_ + "/bundle/config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST_F(BundleTest, RootIsReadOnlyAndHoldsOnlySymlinksIntoUsr) {
  oci::Spec spec = WriteAndParse();
  EXPECT_TRUE(spec.root().readonly());
  EXPECT_EQ(spec.root().path(), run_dir_ + "/rootfs");
  struct stat st;
  ASSERT_EQ(::stat(spec.root().path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  for (const std::string& name : ListDir(spec.root().path())) {
    const std::string path = spec.root().path() + "/" + name;
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode)) << name;
    absl::StatusOr<std::string> target = ReadLink(path);
    ASSERT_TRUE(target.ok()) << target.status();
    EXPECT_TRUE(absl::StartsWith(absl::StripPrefix(*target, "/"), "usr/")) << name;
  }
}

TEST_F(BundleTest, UnprivilegedUserWithoutCapabilities) {
  oci::Spec spec = WriteAndParse();
  EXPECT_EQ(spec.process().user().uid(), 1000u);
  EXPECT_EQ(spec.process().user().gid(), 1000u);
  EXPECT_THAT(spec.process().user().additional_gids(), IsEmpty());
  EXPECT_TRUE(spec.process().no_new_privileges());
  EXPECT_FALSE(spec.process().terminal());
  EXPECT_EQ(spec.process().cwd(), "/home/user");
  // Present but empty: an absent capabilities object would let a runtime
  // fill in its defaults.
  ASSERT_TRUE(spec.process().has_capabilities());
  const oci::Capabilities& caps = spec.process().capabilities();
  EXPECT_THAT(caps.bounding(), IsEmpty());
  EXPECT_THAT(caps.effective(), IsEmpty());
  EXPECT_THAT(caps.inheritable(), IsEmpty());
  EXPECT_THAT(caps.permitted(), IsEmpty());
  EXPECT_THAT(caps.ambient(), IsEmpty());

  bool nproc = false;
  for (const oci::Rlimit& r : spec.process().rlimits()) {
    if (r.type() != "RLIMIT_NPROC") continue;
    nproc = true;
    EXPECT_EQ(r.hard(), 64u);
    EXPECT_EQ(r.soft(), 64u);
  }
  EXPECT_TRUE(nproc) << "max_pids is not passed as RLIMIT_NPROC";
}

TEST_F(BundleTest, Namespaces) {
  oci::Spec written = WriteAndParse();
  std::vector<std::string> types;
  for (const oci::Namespace& ns : written.linux().namespaces()) {
    EXPECT_THAT(ns.path(), IsEmpty()) << "joins an existing " << ns.type() << " namespace";
    types.push_back(ns.type());
  }
  EXPECT_THAT(types, UnorderedElementsAre("pid", "ipc", "uts", "mount", "network"));

  // With network on, runsc is started inside a namespace we made and must not
  // ask for another.
  options_.own_network_namespace = false;
  absl::StatusOr<oci::Spec> spec = BuildSpec(run_dir_, options_);
  ASSERT_TRUE(spec.ok()) << spec.status();
  types.clear();
  for (const oci::Namespace& ns : spec->linux().namespaces()) types.push_back(ns.type());
  EXPECT_THAT(types, UnorderedElementsAre("pid", "ipc", "uts", "mount"));
}

TEST_F(BundleTest, CgroupsPathIsPassedThrough) {
  EXPECT_EQ(WriteAndParse().linux().cgroups_path(), "libsandbox/bundle-test");
}

TEST_F(BundleTest, SystemDirsAreReadOnlyBinds) {
  oci::Spec spec = WriteAndParse();
  for (const char* dir : {"/usr", "/bin", "/lib", "/sbin"}) {
    const oci::Mount* m = FindMount(spec, dir);
    // Merged /usr (/bin -> usr/bin): the same symlink in the sandbox's root,
    // resolved there through the /usr bind.
    if (absl::StatusOr<std::string> target = ReadLink(dir); target.ok()) {
      EXPECT_EQ(m, nullptr) << dir << " is a symlink on the host, not a mount";
      absl::StatusOr<std::string> in_root = ReadLink(run_dir_ + "/rootfs" + dir);
      ASSERT_TRUE(in_root.ok()) << dir << " missing from the sandbox's root";
      EXPECT_EQ(*in_root, *target);
      EXPECT_TRUE(absl::StartsWith(absl::StripPrefix(*target, "/"), "usr/"));
      continue;
    }
    ASSERT_NE(m, nullptr) << dir;
    EXPECT_EQ(m->type(), "bind") << dir;
    EXPECT_EQ(m->source(), dir);
    EXPECT_THAT(Options(*m), Contains("ro")) << dir;
    EXPECT_THAT(Options(*m), Not(Contains("rw"))) << dir;
    EXPECT_THAT(Options(*m), Contains("nosuid")) << dir;
  }
}

TEST_F(BundleTest, OnlyTheWorkspaceIsAWritableBind) {
  oci::Spec spec = WriteAndParse();
  const oci::Mount* home = FindMount(spec, "/home/user");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(home->type(), "bind");
  EXPECT_EQ(home->source(), workspace_);
  EXPECT_THAT(Options(*home), Contains("rw"));
  EXPECT_THAT(Options(*home), Not(Contains("ro")));
  EXPECT_THAT(Options(*home), Contains("nosuid"));
  EXPECT_THAT(Options(*home), Contains("nodev"));

  for (const oci::Mount& m : spec.mounts()) {
    if (m.type() != "bind" || m.destination() == "/home/user") continue;
    EXPECT_THAT(Options(m), Contains("ro")) << m.destination() << " is writable";
    EXPECT_THAT(Options(m), Not(Contains("rw"))) << m.destination();
  }
}

TEST_F(BundleTest, NoHostSecretsAreMounted) {
  oci::Spec spec = WriteAndParse();
  for (const oci::Mount& m : spec.mounts()) {
    if (m.type() != "bind") continue;
    for (const char* secret : {"/", "/etc", "/root", "/home", "/var", "/var/lib", "/srv", "/run",
                               "/tmp", "/proc", "/sys", "/dev", "/etc/shadow", "/etc/gshadow",
                               "/etc/ssh", "/etc/sudoers", "/var/run/docker.sock"}) {
      EXPECT_NE(m.source(), secret) << "host " << secret << " is visible at " << m.destination();
    }
    EXPECT_FALSE(absl::StartsWith(m.source(), "/root/")) << m.source();
    EXPECT_FALSE(absl::StartsWith(m.source(), "/etc/ssh")) << m.source();
    EXPECT_FALSE(absl::StartsWith(m.source(), "/etc/shadow")) << m.source();
    EXPECT_FALSE(absl::StartsWith(m.source(), "/var/lib")) << m.source();
  }
  EXPECT_EQ(FindMount(spec, "/etc/shadow"), nullptr);
  EXPECT_EQ(FindMount(spec, "/root"), nullptr);
}

TEST_F(BundleTest, TmpAndShmAreSizedTmpfs) {
  oci::Spec spec = WriteAndParse();
  for (const char* dest : {"/tmp", "/dev/shm"}) {
    const oci::Mount* m = FindMount(spec, dest);
    ASSERT_NE(m, nullptr) << dest;
    EXPECT_EQ(m->type(), "tmpfs") << dest;
    EXPECT_THAT(Options(*m), Contains("size=16m")) << dest;
    EXPECT_THAT(Options(*m), Contains("nosuid")) << dest;
    EXPECT_THAT(Options(*m), Contains("nodev")) << dest;
  }
}

TEST_F(BundleTest, EnvironmentIsBuiltFromScratch) {
  ASSERT_EQ(::setenv("LIBSANDBOX_BUNDLE_TEST_SECRET", "hunter2", 1), 0);
  options_.env = {{"PATH", "/opt/custom/bin"}, {"MY_SETTING", "a=b c"}};
  oci::Spec spec = WriteAndParse();
  ::unsetenv("LIBSANDBOX_BUNDLE_TEST_SECRET");

  std::map<std::string, std::string> env;
  for (const std::string& entry : spec.process().env()) {
    EXPECT_THAT(entry, Not(HasSubstr("hunter2")));
    EXPECT_THAT(entry, Not(HasSubstr("LIBSANDBOX_BUNDLE_TEST_SECRET")));
    size_t eq = entry.find('=');
    ASSERT_NE(eq, std::string::npos) << entry;
    std::string name = entry.substr(0, eq);
    EXPECT_FALSE(env.contains(name)) << name << " is set twice";
    env[name] = entry.substr(eq + 1);
  }
  EXPECT_EQ(env["PATH"], "/opt/custom/bin") << "caller env must override defaults";
  EXPECT_EQ(env["MY_SETTING"], "a=b c");
  EXPECT_EQ(env["HOME"], "/home/user");
  EXPECT_EQ(env["USER"], "user");
  EXPECT_EQ(env["LANG"], "C.UTF-8");
  EXPECT_EQ(env["TMPDIR"], "/tmp");
  // Nothing of the host's own environment beyond what we define.
  for (const char* host_only : {"SHELL", "PWD", "OLDPWD", "SSH_AUTH_SOCK", "TERM", "HOSTNAME"}) {
    EXPECT_FALSE(env.contains(host_only)) << host_only;
  }
}

TEST_F(BundleTest, CodeIsAFileNeverAnArgument) {
  oci::Spec spec = WriteAndParse();
  EXPECT_THAT(spec.process().args(),
              ::testing::ElementsAre("/usr/bin/python3", "/.libsandbox/main.py"));
  EXPECT_THAT(json_, Not(HasSubstr("bundle-test-code-marker")));
  absl::StatusOr<std::string> code = ReadFile(run_dir_ + "/code/main.py");
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, kCode);

  const oci::Mount* m = FindMount(spec, "/.libsandbox");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->source(), run_dir_ + "/code");
  EXPECT_THAT(Options(*m), Contains("ro"));

  options_.language = FindLanguage("bash");
  absl::StatusOr<oci::Spec> bash = BuildSpec(run_dir_, options_);
  ASSERT_TRUE(bash.ok()) << bash.status();
  EXPECT_THAT(bash->process().args(), ::testing::ElementsAre("/bin/bash", "/.libsandbox/main.sh"));
}

TEST_F(BundleTest, GeneratedEtcIsMinimal) {
  oci::Spec spec = WriteAndParse();
  const oci::Mount* etc = FindMount(spec, "/etc");
  ASSERT_NE(etc, nullptr);
  EXPECT_EQ(etc->source(), run_dir_ + "/etc");
  EXPECT_THAT(Options(*etc), Contains("ro"));

  std::set<std::string> files = ListDir(run_dir_ + "/etc");
  for (const char* needed : {"passwd", "group", "hosts", "resolv.conf"}) {
    EXPECT_TRUE(files.contains(needed)) << needed;
  }
  for (const char* secret : {"shadow", "gshadow", "sudoers", "ssh", "machine-id", "environment"}) {
    EXPECT_FALSE(files.contains(secret)) << secret;
  }
  absl::StatusOr<std::string> passwd = ReadFile(run_dir_ + "/etc/passwd");
  ASSERT_TRUE(passwd.ok());
  EXPECT_THAT(*passwd, HasSubstr("user:x:1000:1000:"));
  absl::StatusOr<std::string> resolv = ReadFile(run_dir_ + "/etc/resolv.conf");
  ASSERT_TRUE(resolv.ok());
  EXPECT_EQ(*resolv, "nameserver 10.0.2.3\n");
  absl::StatusOr<std::string> group = ReadFile(run_dir_ + "/etc/group");
  ASSERT_TRUE(group.ok());
  EXPECT_THAT(*group, HasSubstr("user:x:1000:"));

  // Host /etc entries shown are certificates and the like, read-only.
  for (const oci::Mount& m : spec.mounts()) {
    if (!absl::StartsWith(m.source(), "/etc/")) continue;
    EXPECT_EQ(m.destination(), m.source());
    EXPECT_THAT(Options(m), Contains("ro"));
  }
}

TEST_F(BundleTest, ASharedEtcTreeIsOneMountWithTheRunsOwnResolvConfOverIt) {
  options_.etc_dir = dir_.path() + "/shared-etc";
  oci::Spec spec = WriteAndParse();
  const oci::Mount* etc = FindMount(spec, "/etc");
  ASSERT_NE(etc, nullptr);
  EXPECT_EQ(etc->source(), options_.etc_dir);
  EXPECT_THAT(Options(*etc), Contains("ro"));
  const oci::Mount* resolv = FindMount(spec, "/etc/resolv.conf");
  ASSERT_NE(resolv, nullptr);
  EXPECT_EQ(resolv->source(), run_dir_ + "/resolv.conf");
  EXPECT_THAT(Options(*resolv), Contains("ro"));
  EXPECT_EQ(ReadFile(run_dir_ + "/resolv.conf").value_or(""), "nameserver 10.0.2.3\n");
  for (const oci::Mount& m : spec.mounts()) {
    EXPECT_FALSE(absl::StartsWith(m.source(), "/etc")) << m.source() << " bound one by one";
  }
  EXPECT_FALSE(Exists(run_dir_ + "/etc")) << "no per-run /etc beside the shared one";

  // Without network there is nothing to show over the tree's empty one.
  options_.resolv_conf.clear();
  absl::StatusOr<oci::Spec> offline = BuildSpec(run_dir_, options_);
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_EQ(FindMount(*offline, "/etc/resolv.conf"), nullptr);
}

TEST_F(BundleTest, ExtraReadOnlyMounts) {
  options_.extra_ro_mounts = {"/usr/share/zoneinfo:/opt/tz", "/usr/share/common-licenses"};
  absl::StatusOr<oci::Spec> spec = BuildSpec(run_dir_, options_);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const oci::Mount* tz = FindMount(*spec, "/opt/tz");
  ASSERT_NE(tz, nullptr);
  EXPECT_EQ(tz->source(), "/usr/share/zoneinfo");
  EXPECT_THAT(Options(*tz), Contains("ro"));
  const oci::Mount* same = FindMount(*spec, "/usr/share/common-licenses");
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(same->source(), "/usr/share/common-licenses");
  EXPECT_THAT(Options(*same), Contains("ro"));

  for (const std::string& bad :
       {std::string("relative/path"), std::string("/usr/share:relative"), std::string(""),
        std::string(":/opt/x"), std::string("/usr/share:"),
        std::string("/nonexistent-libsandbox-x"),
        std::string("/nonexistent-libsandbox-x:/opt/x")}) {
    options_.extra_ro_mounts = {bad};
    absl::StatusOr<oci::Spec> r = BuildSpec(run_dir_, options_);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("extra_ro_mounts")) << bad;
    // WriteBundle refuses too, before writing anything.
    absl::StatusOr<std::string> w = WriteBundle(run_dir_, options_);
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ListDir(run_dir_), IsEmpty());
}

TEST_F(BundleTest, MissingLanguageIsRefused) {
  options_.language = nullptr;
  EXPECT_EQ(BuildSpec(run_dir_, options_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteBundle(run_dir_, options_).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace libsandbox
