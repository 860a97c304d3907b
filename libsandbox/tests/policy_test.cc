// Named policies under admin caps: loading, validation, resolution for a
// run, runtime changes, and end to end through libsandbox::Run (real runsc).
#include "libsandbox/rules/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/rules/egress_allowlist.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/tests/test_util.h"

namespace libsandbox {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Two policies and caps, as an admin would write them.
constexpr char kTextproto[] = R"pb(
  caps {
    cpus: "2"
    memory: "1Gi"
    pids: "256"
    workspace: "512Mi"
    timeout: "5m"
    max_output: "4Mi"
    idle_timeout: "1h"
    allow_network_on: true
  }
  policies {
    name: "small"
    cpus: "500m"
    memory: "64Mi"
    pids: "32"
    workspace: "16"
    max_output: "64Ki"
    timeout: "1m30s"
    env { key: "MODE" value: "small" }
  }
  policies {
    name: "online"
    memory: "512Mi"
    network { mode: "on" }
    idle_timeout: "10m"
  }
  default_policy: "small"
)pb";

constexpr char kJson[] = R"json({
  "caps": {"cpus": "2", "memory": "1Gi", "pids": "256", "workspace": "512Mi",
           "timeout": "5m", "max_output": "4Mi", "idle_timeout": "1h",
           "allow_network_on": true},
  "policies": [
    {"name": "small", "cpus": "500m", "memory": "64Mi", "pids": "32", "workspace": "16",
     "max_output": "64Ki", "timeout": "1m30s", "env": {"MODE": "small"}},
    {"name": "online", "memory": "512Mi", "network": {"mode": "on"}, "idle_timeout": "10m"}
  ],
  "default_policy": "small"
})json";

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = testing::MakeTestDir("policy"); }
  void TearDown() override { (void)RemoveTree(root_); }

  std::string WriteTo(const std::string& name, const std::string& text) {
    std::string path = root_ + "/" + name;
    EXPECT_TRUE(WriteFile(path, text, 0644, /*overwrite=*/true).ok());
    return path;
  }

  static PolicySet Base() { return *ParsePolicySet(kTextproto, PolicyFormat::kTextproto); }

  // The error of loading `set`, "" when it loads.
  static std::string LoadError(const PolicySet& set) {
    PolicyStore store;
    absl::Status s = store.Replace(set);
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  }

  static Policy* Find(PolicySet& set, const std::string& name) {
    for (Policy& p : *set.mutable_policies()) {
      if (p.name() == name) return &p;
    }
    return nullptr;
  }

  std::string root_;
};

void ExpectSmall(const ResolvedPolicy& p) {
  EXPECT_EQ(p.name, "small");
  EXPECT_DOUBLE_EQ(p.limits.cpus(), 0.5);
  EXPECT_EQ(p.limits.memory_mb(), 64);
  EXPECT_EQ(p.limits.max_pids(), 32);
  EXPECT_EQ(p.limits.workspace_mb(), 16);  // a bare number is MiB
  EXPECT_EQ(p.limits.max_output_bytes(), 64 * 1024);
  EXPECT_DOUBLE_EQ(p.limits.timeout_s(), 90);
  EXPECT_EQ(p.network, NetworkMode::kOff);
  EXPECT_THAT(p.env, ElementsAre(std::pair<const std::string, std::string>("MODE", "small")));
  EXPECT_EQ(p.idle_timeout, absl::Hours(1));  // unset: up to the cap
}

TEST_F(PolicyTest, LoadsTextprotoAndJsonFiles) {
  for (const auto& [name, text] :
       {std::pair{"policies.textproto", kTextproto}, std::pair{"policies.txtpb", kTextproto},
        std::pair{"policies.pbtxt", kTextproto}, std::pair{"policies.json", kJson}}) {
    SCOPED_TRACE(name);
    PolicyStore store;
    ASSERT_TRUE(store.LoadFile(WriteTo(name, text)).ok());
    std::vector<Policy> list = store.List();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].name(), "online");
    EXPECT_EQ(list[1].name(), "small");
    ExpectSmall(*store.Resolve("small", nullptr));
    ExpectSmall(*store.Resolve("", nullptr));  // the default policy
    ResolvedPolicy online = *store.Resolve("online", nullptr);
    EXPECT_EQ(online.network, NetworkMode::kOn);
    EXPECT_EQ(online.limits.memory_mb(), 512);
    EXPECT_EQ(online.idle_timeout, absl::Minutes(10));
    // Fields the policy leaves empty get the library defaults.
    EXPECT_DOUBLE_EQ(online.limits.timeout_s(), DefaultLimits().timeout_s());
    EXPECT_EQ(online.limits.max_pids(), DefaultLimits().max_pids());
  }
}

TEST_F(PolicyTest, FileErrorsSayWhereAndWhat) {
  EXPECT_THAT(ReadPolicyFile(WriteTo("p.yaml", kJson)).status().message(), HasSubstr(".textproto"));
  // A typo in a JSON key must not silently drop a cap.
  EXPECT_FALSE(ReadPolicyFile(WriteTo("p.json", R"({"caps": {"memroy": "1Gi"}})")).ok());
  absl::Status bad = ReadPolicyFile(WriteTo("p.textproto", "caps {\n  memory: 12\n}\n")).status();
  EXPECT_THAT(bad.message(), AllOf(HasSubstr("p.textproto"), HasSubstr("line 2")));
  EXPECT_FALSE(ReadPolicyFile(root_ + "/missing.json").ok());
  EXPECT_THAT(ReadPolicyFile(WriteTo("big.json", std::string(kMaxPolicyFileBytes + 1, ' ')))
                  .status()
                  .message(),
              HasSubstr("larger than"));
}

TEST_F(PolicyTest, ValuesOverACapAreRejectedNamingPolicyFieldValueAndCap) {
  struct Case {
    std::string field, value, cap;
    void (Policy::*set)(const std::string&);
  };
  const Case cases[] = {
      {"cpus", "3", "2", &Policy::set_cpus},
      {"memory", "2Gi", "1Gi", &Policy::set_memory},
      {"memory", "1025", "1Gi", &Policy::set_memory},  // bare MiB
      {"memory", "1.1G", "1Gi", &Policy::set_memory},  // decimal vs binary
      {"pids", "257", "256", &Policy::set_pids},
      {"workspace", "1Gi", "512Mi", &Policy::set_workspace},
      {"timeout", "301s", "5m", &Policy::set_timeout},
      {"max_output", "5Mi", "4Mi", &Policy::set_max_output},
      {"idle_timeout", "2h", "1h", &Policy::set_idle_timeout},
      {"memory", "0", "1Gi", &Policy::set_memory},  // "no limit" is over any cap
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field + "=" + c.value);
    PolicySet set = Base();
    (Find(set, "online")->*c.set)(c.value);
    EXPECT_EQ(LoadError(set),
              absl::StrCat("policy \"online\": ", c.field, " \"", c.value, "\"",
                           c.value == "0" ? " (no limit)" : "", " is over the admin cap caps.",
                           c.field, " \"", c.cap, "\""));
  }
  // At the cap is fine.
  PolicySet set = Base();
  Find(set, "online")->set_memory("1Gi");
  EXPECT_EQ(LoadError(set), "");
}

TEST_F(PolicyTest, BadUnitsAndLimitsNameThePolicyAndField) {
  PolicySet set = Base();
  Find(set, "small")->set_memory("12xb");
  EXPECT_THAT(LoadError(set),
              AllOf(HasSubstr("policy \"small\""), HasSubstr("memory"), HasSubstr("\"12xb\"")));
  set = Base();
  Find(set, "small")->set_memory("16Mi");  // below what the sandbox kernel needs
  EXPECT_THAT(LoadError(set),
              AllOf(HasSubstr("policy \"small\": memory \"16Mi\""), HasSubstr("at least 32 MiB")));
  set = Base();
  Find(set, "small")->set_workspace("64k");  // would round to 0 MiB = no limit
  EXPECT_THAT(LoadError(set), HasSubstr("less than 1Mi"));
  set = Base();
  set.mutable_caps()->set_timeout("forever");
  EXPECT_THAT(LoadError(set), HasSubstr("caps.timeout: \"forever\""));
}

TEST_F(PolicyTest, EmptyFieldsGetTheDefaultKeptUnderTheCap) {
  PolicySet set;
  set.mutable_caps()->set_memory("64Mi");  // below the 128 MiB default
  set.add_policies()->set_name("plain");
  PolicyStore store;
  ASSERT_TRUE(store.Replace(set).ok());
  ResolvedPolicy p = *store.Resolve("plain", nullptr);
  EXPECT_EQ(p.limits.memory_mb(), 64);
  EXPECT_EQ(p.limits.max_pids(), DefaultLimits().max_pids());
}

TEST_F(PolicyTest, NamesAndDefault) {
  for (const char* name : {"", "Big", "a b", "a/b", "ä", "../x"}) {
    PolicySet set = Base();
    Find(set, "online")->set_name(name);
    EXPECT_THAT(LoadError(set), HasSubstr("policy name")) << name;
  }
  PolicySet set = Base();
  Find(set, "online")->set_name(std::string(65, 'a'));
  EXPECT_THAT(LoadError(set), HasSubstr("policy name"));
  Find(set, std::string(65, 'a'))->set_name("a-b_0");
  EXPECT_EQ(LoadError(set), "");
  set = Base();
  Find(set, "online")->set_name("small");
  EXPECT_THAT(LoadError(set), HasSubstr("defined twice"));
  set = Base();
  set.set_default_policy("nope");
  EXPECT_THAT(LoadError(set), HasSubstr("default_policy \"nope\""));
}

TEST_F(PolicyTest, RootfsMustBeAnAllowedDirectory) {
  const std::string image = root_ + "/image";
  ASSERT_TRUE(MakeDirs(image).ok());
  PolicySet set = Base();
  Find(set, "online")->set_rootfs(image);
  EXPECT_THAT(LoadError(set),
              AllOf(HasSubstr("policy \"online\": rootfs"), HasSubstr("caps.allowed_rootfs")));

  set.mutable_caps()->add_allowed_rootfs(image);
  PolicyStore store;
  ASSERT_TRUE(store.Replace(set).ok());
  EXPECT_EQ(store.Resolve("online", nullptr)->rootfs, image);

  // Listed but not there.
  set.mutable_caps()->add_allowed_rootfs(root_ + "/gone");
  Find(set, "online")->set_rootfs(root_ + "/gone");
  EXPECT_THAT(LoadError(set), HasSubstr("is not a directory"));
  // A path that only looks like an allowed one.
  Find(set, "online")->set_rootfs(image + "/../image");
  EXPECT_THAT(LoadError(set), HasSubstr("caps.allowed_rootfs"));
  // The allowlist itself takes only clean absolute paths.
  for (const char* bad : {"relative/dir", "/a/../b", "/a/", "/a//b", "/"}) {
    PolicySet s = Base();
    s.mutable_caps()->add_allowed_rootfs(bad);
    EXPECT_THAT(LoadError(s), HasSubstr("caps.allowed_rootfs")) << bad;
  }
}

TEST_F(PolicyTest, DomainPatterns) {
  for (const char* ok : {"pypi.org", "*.pythonhosted.org", "files.pythonhosted.org",
                         "xn--bcher-kva.example", "a-b.c0.io"}) {
    EXPECT_TRUE(ValidateDomainPattern(ok).ok()) << ok;
  }
  for (const char* bad : {"",
                          "*",
                          "*.",
                          "*.com",
                          "org",
                          "localhost",
                          "PyPI.org",
                          "a.*.org",
                          "*pypi.org",
                          "pypi.org.",
                          "1.2.3.4",
                          "*.10.0.0.1",
                          "[::1]",
                          "::1",
                          "-a.org",
                          "a-.org",
                          "a..org",
                          "pypi.org:443",
                          "http://pypi.org",
                          "a_b.org",
                          "a.123"}) {
    absl::Status s = ValidateDomainPattern(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ValidateDomainPattern("PyPI.org").message(), HasSubstr("lowercase"));
  EXPECT_THAT(ValidateDomainPattern("1.2.3.4").message(), HasSubstr("IP address"));

  EXPECT_TRUE(DomainMatches("*.pythonhosted.org", "files.pythonhosted.org"));
  EXPECT_TRUE(DomainMatches("*.pythonhosted.org", "a.b.pythonhosted.org"));
  EXPECT_FALSE(DomainMatches("*.pythonhosted.org", "pythonhosted.org"));
  EXPECT_FALSE(DomainMatches("*.pythonhosted.org", "evilpythonhosted.org"));
  EXPECT_TRUE(DomainMatches("pypi.org", "pypi.org"));
  EXPECT_FALSE(DomainMatches("pypi.org", "a.pypi.org"));
}

TEST_F(PolicyTest, NetworkModesNeedTheAdminsConsent) {
  PolicySet set = Base();
  set.mutable_caps()->set_allow_network_on(false);
  EXPECT_THAT(LoadError(set), AllOf(HasSubstr("policy \"online\": network.mode \"on\""),
                                    HasSubstr("caps.allow_network_on")));

  set = Base();
  NetworkPolicy* net = Find(set, "online")->mutable_network();
  net->set_mode("allowlist");
  net->add_domains("pypi.org");
  net->add_domains("*.pythonhosted.org");
  EXPECT_THAT(LoadError(set), HasSubstr("caps.allow_allowlist"));
  set.mutable_caps()->set_allow_allowlist(true);
  PolicyStore store;
  ASSERT_TRUE(store.Replace(set).ok());
  ResolvedPolicy p = *store.Resolve("online", nullptr);
  EXPECT_EQ(p.network, NetworkMode::kAllowlist);
  EXPECT_THAT(p.domains, ElementsAre("pypi.org", "*.pythonhosted.org"));
  EXPECT_THAT(p.ports, ElementsAre(443));  // the default

  net->add_ports(80);
  net->add_ports(8443);
  ASSERT_TRUE(store.Replace(set).ok());
  EXPECT_THAT(store.Resolve("online", nullptr)->ports, ElementsAre(80, 8443));
  for (int port : {0, 65536, -1}) {
    PolicySet s = set;
    Find(s, "online")->mutable_network()->add_ports(port);
    EXPECT_THAT(LoadError(s), HasSubstr(absl::StrCat("network.ports: ", port))) << port;
  }
  PolicySet s = set;
  Find(s, "online")->mutable_network()->add_domains("10.0.0.1");
  EXPECT_THAT(LoadError(s), AllOf(HasSubstr("network.domains"), HasSubstr("10.0.0.1")));
  s = set;
  Find(s, "online")->mutable_network()->clear_domains();
  EXPECT_THAT(LoadError(s), HasSubstr("at least one"));
  s = set;
  Find(s, "online")->mutable_network()->set_mode("on");  // domains only mean something in allowlist
  EXPECT_THAT(LoadError(s), HasSubstr("need network.mode \"allowlist\""));
  s = set;
  Find(s, "online")->mutable_network()->set_mode("ON");
  EXPECT_THAT(LoadError(s), HasSubstr("network.mode \"ON\""));
}

TEST_F(PolicyTest, EnvIsValidated) {
  PolicySet set = Base();
  (*Find(set, "small")->mutable_env())["1BAD"] = "x";
  EXPECT_THAT(LoadError(set), AllOf(HasSubstr("policy \"small\": env"), HasSubstr("1BAD")));
}

TEST_F(PolicyTest, RequestsMayAskForLessNeverMore) {
  PolicyStore store;
  ASSERT_TRUE(store.LoadString(kTextproto, PolicyFormat::kTextproto).ok());
  Limits ask;
  ask.set_memory_mb(256);
  absl::StatusOr<ResolvedPolicy> over = store.Resolve("small", &ask);
  ASSERT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(),
            "request limits.memory_mb=256 is over the policy \"small\" memory \"64Mi\"");

  ask.set_memory_mb(48);
  ask.set_timeout_s(10);
  ResolvedPolicy under = *store.Resolve("small", &ask);
  EXPECT_EQ(under.limits.memory_mb(), 48);
  EXPECT_DOUBLE_EQ(under.limits.timeout_s(), 10);
  EXPECT_EQ(under.limits.max_pids(), 32);  // 0 in the request: the policy's value

  Limits cpu;
  cpu.set_cpus(0.75);
  EXPECT_THAT(store.Resolve("small", &cpu).status().message(),
              HasSubstr("limits.cpus=0.75 is over the policy \"small\" cpus \"500m\""));
  Limits tmp;
  tmp.set_tmp_mb(17);
  EXPECT_THAT(store.Resolve("small", &tmp).status().message(), HasSubstr("workspace \"16\""));

  // A field the policy leaves empty may go up to the admin cap, not beyond.
  Limits big;
  big.set_timeout_s(300);
  EXPECT_DOUBLE_EQ(store.Resolve("online", &big)->limits.timeout_s(), 300);
  big.set_timeout_s(301);
  EXPECT_THAT(store.Resolve("online", &big).status().message(),
              HasSubstr("limits.timeout_s=301 is over the admin cap caps.timeout \"5m\""));

  EXPECT_EQ(store.Resolve("nope", nullptr).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PolicyTest, WithoutADefaultRequestsStayWithinTheCaps) {
  PolicySet set = Base();
  set.clear_default_policy();
  PolicyStore store;
  ASSERT_TRUE(store.Replace(set).ok());
  ResolvedPolicy none = *store.Resolve("", nullptr);
  EXPECT_EQ(none.name, "");
  EXPECT_EQ(none.limits.memory_mb(), DefaultLimits().memory_mb());
  Limits ask;
  ask.set_memory_mb(2048);
  EXPECT_THAT(store.Resolve("", &ask).status().message(),
              HasSubstr("limits.memory_mb=2048 is over the admin cap caps.memory \"1Gi\""));
  ask.set_memory_mb(1024);
  EXPECT_EQ(store.Resolve("", &ask)->limits.memory_mb(), 1024);

  // The request decides the network, if the caps allow it at all.
  RunRequest req;
  req.set_network(true);
  EXPECT_TRUE(ApplyPolicy(none, req).ok());
  EXPECT_TRUE(req.network());
  set.mutable_caps()->set_allow_network_on(false);
  Find(set, "online")->clear_network();
  ASSERT_TRUE(store.Replace(set).ok());
  EXPECT_THAT(ApplyPolicy(*store.Resolve("", nullptr), req).message(),
              HasSubstr("caps.allow_network_on"));
}

TEST_F(PolicyTest, ApplyPolicySetsLimitsEnvAndNetwork) {
  PolicyStore store;
  ASSERT_TRUE(store.LoadString(kTextproto, PolicyFormat::kTextproto).ok());
  RunRequest req;
  (*req.mutable_env())["MODE"] = "mine";
  (*req.mutable_env())["OTHER"] = "kept";
  ResolvedPolicy small = *store.Resolve("small", nullptr);
  ASSERT_TRUE(ApplyPolicy(small, req).ok());
  EXPECT_EQ(req.env().at("MODE"), "small");  // the admin's value wins
  EXPECT_EQ(req.env().at("OTHER"), "kept");
  EXPECT_EQ(req.limits().memory_mb(), 64);
  EXPECT_FALSE(req.network());

  req.set_network(true);
  EXPECT_THAT(ApplyPolicy(small, req).message(), HasSubstr("policy \"small\" has network off"));
  RunRequest online_req;
  ASSERT_TRUE(ApplyPolicy(*store.Resolve("online", nullptr), online_req).ok());
  EXPECT_TRUE(online_req.network());
}

TEST_F(PolicyTest, UpsertAndRemoveAtRuntime) {
  PolicyStore store;
  ASSERT_TRUE(store.LoadString(kTextproto, PolicyFormat::kTextproto).ok());
  Policy tiny;
  tiny.set_name("tiny");
  tiny.set_memory("32Mi");
  ASSERT_TRUE(store.Upsert(tiny).ok());
  EXPECT_EQ(store.Resolve("tiny", nullptr)->limits.memory_mb(), 32);
  EXPECT_EQ(store.Get("tiny")->memory(), "32Mi");

  tiny.set_memory("48Mi");
  ASSERT_TRUE(store.Upsert(tiny).ok());
  EXPECT_EQ(store.Resolve("tiny", nullptr)->limits.memory_mb(), 48);
  EXPECT_EQ(store.List().size(), 3u);

  // Over a cap: refused, and the store is unchanged.
  tiny.set_memory("4Gi");
  EXPECT_THAT(store.Upsert(tiny).message(), HasSubstr("caps.memory"));
  EXPECT_EQ(store.Resolve("tiny", nullptr)->limits.memory_mb(), 48);

  EXPECT_TRUE(store.Remove("tiny").ok());
  EXPECT_EQ(store.Get("tiny").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Remove("tiny").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Remove("small").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store.Get("small").ok());
}

TEST_F(PolicyTest, InvalidReplaceKeepsTheOldSet) {
  PolicyStore store;
  ASSERT_TRUE(store.LoadString(kTextproto, PolicyFormat::kTextproto).ok());
  PolicySet bad = Base();
  Find(bad, "small")->set_memory("64Mi");
  Find(bad, "online")->set_memory("64Gi");
  EXPECT_FALSE(store.Replace(bad).ok());
  EXPECT_EQ(store.Resolve("online", nullptr)->limits.memory_mb(), 512);
}

TEST_F(PolicyTest, ReadersSeeWholeSetsDuringReplace) {
  // Two sets that differ in three places; a reader must never see a mix.
  PolicySet a = Base(), b = Base();
  Find(b, "small")->set_memory("128Mi");
  Find(b, "small")->set_cpus("1");
  (*Find(b, "small")->mutable_env())["MODE"] = "b";
  PolicyStore store;
  ASSERT_TRUE(store.Replace(a).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> mixed{0}, reads{0}, seen_b{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        absl::StatusOr<ResolvedPolicy> p = store.Resolve("small", nullptr);
        absl::StatusOr<Policy> raw = store.Get("small");
        if (!p.ok() || !raw.ok()) {
          ++mixed;
          continue;
        }
        const bool is_b = p->limits.memory_mb() == 128;
        if (is_b != (p->limits.cpus() == 1.0) || is_b != (p->env.at("MODE") == "b")) ++mixed;
        if (is_b) ++seen_b;
        ++reads;
      }
    });
  }
  // Ends on b, so the readers below are bound to see it.
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(store.Replace(i % 2 ? b : a).ok());
  // Let the readers observe the last set too.
  const int base = reads.load();
  while (reads.load() < base + 1000) std::this_thread::yield();
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_GT(seen_b.load(), 0);
}

TEST_F(PolicyTest, SyncWithFileReloadsChangesAndKeepsTheLastGoodSet) {
  const std::string path = WriteTo("policies.textproto", kTextproto);
  PolicyStore store;
  ASSERT_TRUE(store.SyncWithFile(path).ok());
  EXPECT_EQ(store.Resolve("small", nullptr)->limits.memory_mb(), 64);

  // Sizes differ too: two writes within one clock tick share an mtime.
  std::string changed = absl::StrReplaceAll(kTextproto, {{"\"64Mi\"", "\"100Mi\""}});
  WriteTo("policies.textproto", changed);
  ASSERT_TRUE(store.SyncWithFile(path).ok());
  EXPECT_EQ(store.Resolve("small", nullptr)->limits.memory_mb(), 100);

  std::string broken = absl::StrReplaceAll(kTextproto, {{"\"64Mi\"", "\"6400Gi\""}});
  WriteTo("policies.textproto", broken);
  absl::Status s = store.SyncWithFile(path);
  EXPECT_THAT(s.message(), AllOf(HasSubstr(path), HasSubstr("caps.memory")));
  EXPECT_FALSE(store.SyncWithFile(path).ok());  // still broken, still said
  EXPECT_EQ(store.Resolve("small", nullptr)->limits.memory_mb(), 100);
}

// ---- End to end through libsandbox::Run ----

class PolicyRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTestDir("policy-run");
    const std::string file = root_ + "/policies.textproto";
    ASSERT_TRUE(WriteFile(file, R"pb(
                  caps { memory: "512Mi" timeout: "60s" }
                  policies { name: "small" memory: "64Mi" timeout: "20s" }
                  policies { name: "roomy" memory: "256Mi" }
                  default_policy: "small"
                )pb")
                    .ok());
    config_.set_state_dir(root_ + "/state");
    config_.set_storage_dir(root_ + "/storage");
    config_.set_runsc_path(testing::TestRunscPath());
    config_.set_policy_file(file);
    config_.set_audit(true);
  }
  void TearDown() override {
    Shutdown();
    (void)RemoveTree(root_);
  }

  Result RunAs(const std::string& code, const std::string& policy, int64_t memory_mb) {
    RunRequest req;
    req.set_code(code);
    req.set_user("alice");
    req.set_policy(policy);
    if (memory_mb > 0) req.mutable_limits()->set_memory_mb(memory_mb);
    return libsandbox::Run(req, config_);
  }

  std::string root_;
  Config config_;
};

TEST_F(PolicyRunTest, RequestOverThePolicyIsRefusedWithinItRunsAndIsAudited) {
  Result over = RunAs("print('hi')", "small", 256);
  EXPECT_EQ(over.status(), Result::INVALID_INPUT);
  EXPECT_THAT(over.message(), HasSubstr("memory_mb=256 is over the policy \"small\" memory"));

  Result ok = RunAs("print('hi')", "", 0);  // the default policy
  EXPECT_EQ(ok.status(), Result::OK) << ok.message() << ok.stderr();
  EXPECT_EQ(ok.stdout(), "hi\n");

  Result unknown = RunAs("print('hi')", "huge", 0);
  EXPECT_EQ(unknown.status(), Result::INVALID_INPUT);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown policy \"huge\"; known: roomy, small"));

  absl::StatusOr<std::vector<AuditRecord>> log = QueryAudit(config_, "alice", 10);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[2].status(), Result::INVALID_INPUT);
  EXPECT_EQ((*log)[2].policy(), "small");
  EXPECT_EQ((*log)[1].status(), Result::OK);
  EXPECT_EQ((*log)[1].policy(), "small");
  EXPECT_EQ((*log)[1].stdout_bytes(), 3);
  EXPECT_GT((*log)[1].duration_s(), 0);
  EXPECT_FALSE((*log)[1].has_code());  // audit_code is off
  EXPECT_EQ((*log)[0].status(), Result::INVALID_INPUT);
  EXPECT_EQ((*log)[0].policy(), "huge");  // what was asked for, even if refused
  EXPECT_TRUE(QueryAudit(config_, "bob", 10)->empty());
}

TEST_F(PolicyRunTest, ThePolicysMemoryCapIsEnforced) {
  // ~100 MiB: over "small" (64Mi), under the 128 MiB default and "roomy".
  constexpr char kHog[] =
      "chunks = []\n"
      "for _ in range(100):\n"
      "    chunks.append(open('/dev/urandom', 'rb').read(1 << 20))\n"
      "print('survived', len(chunks))\n";
  Result small = RunAs(kHog, "small", 0);
  EXPECT_EQ(small.status(), Result::INTERRUPTED) << small.message() << small.stderr();
  EXPECT_EQ(small.reason(), "memory");
  Result roomy = RunAs(kHog, "roomy", 0);
  EXPECT_EQ(roomy.status(), Result::OK) << roomy.message() << roomy.stderr();
  EXPECT_THAT(roomy.stdout(), HasSubstr("survived 100"));
}

TEST_F(PolicyRunTest, ABrokenPolicyFileRefusesRuns) {
  ASSERT_TRUE(WriteFile(config_.policy_file(), "caps { memory: \"lots\" }", 0644, true).ok());
  Result r = RunAs("print('hi')", "", 0);
  EXPECT_EQ(r.status(), Result::SANDBOX_ERROR);
  EXPECT_THAT(r.message(), AllOf(HasSubstr("caps.memory"), HasSubstr("Fix the policy file")));
}

TEST_F(PolicyRunTest, PoliciesChangeAtRuntimeThroughTheApi) {
  absl::StatusOr<PolicySet> set = GetPolicies(config_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->policies_size(), 2);

  Policy tiny;
  tiny.set_name("tiny");
  tiny.set_memory("1Gi");  // over caps.memory: refused, nothing written
  absl::Status over = SetPolicy(config_, tiny);
  EXPECT_TRUE(absl::IsInvalidArgument(over)) << over;
  EXPECT_THAT(over.message(), HasSubstr("caps.memory"));
  EXPECT_EQ(GetPolicies(config_)->policies_size(), 2);

  tiny.set_memory("64Mi");
  tiny.set_timeout("1s");
  ASSERT_TRUE(SetPolicy(config_, tiny).ok());
  constexpr char kSleep[] = "import time; time.sleep(3); print('done')";
  EXPECT_EQ(RunAs(kSleep, "tiny", 0).status(), Result::TIMEOUT);
  tiny.set_timeout("30s");  // replaced in place
  ASSERT_TRUE(SetPolicy(config_, tiny).ok());
  EXPECT_EQ(GetPolicies(config_)->policies_size(), 3);
  Result r = RunAs(kSleep, "tiny", 0);
  EXPECT_EQ(r.status(), Result::OK) << r.message();

  EXPECT_TRUE(absl::IsFailedPrecondition(RemovePolicy(config_, "small")));  // the default
  EXPECT_TRUE(absl::IsNotFound(RemovePolicy(config_, "nope")));
  ASSERT_TRUE(RemovePolicy(config_, "tiny").ok());
  EXPECT_EQ(RunAs("print(1)", "tiny", 0).status(), Result::INVALID_INPUT);
}

TEST_F(PolicyRunTest, ConcurrentChangesAreSerialisedAndABrokenFileIsNeverOverwritten) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([this, i] {
      Policy p;
      p.set_name(absl::StrCat("p", i));
      p.set_memory("32Mi");
      EXPECT_TRUE(SetPolicy(config_, p).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(GetPolicies(config_)->policies_size(), 10);  // none lost

  const std::string broken = "caps { memory: \"lots\" }";
  ASSERT_TRUE(WriteFile(config_.policy_file(), broken, 0644, true).ok());
  Policy p;
  p.set_name("more");
  EXPECT_TRUE(absl::IsFailedPrecondition(SetPolicy(config_, p)));
  EXPECT_EQ(ReadFile(config_.policy_file()).value_or(""), broken);
}

}  // namespace
}  // namespace libsandbox
