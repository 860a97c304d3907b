// The fixture the session suites share: a fresh state and storage dir per
// test, a SessionManager on it, and checks that nothing is left behind.
#ifndef LIBSANDBOX_TESTS_SESSION_FIXTURE_H_
#define LIBSANDBOX_TESTS_SESSION_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/sandbox.h"
#include "libsandbox/session/session.h"
#include "libsandbox/tests/test_util.h"

// Expects result `r` to have status Result::`st`, showing its output if not.
#define EXPECT_RESULT(r, st)          \
  EXPECT_EQ((r).status(), Result::st) \
      << (r).message() << "\nstdout: " << (r).stdout() << "\nstderr: " << (r).stderr()

namespace libsandbox::testing {

// SetUp makes the dirs but no manager, so a test may change config_ first;
// Get makes one on first use. TearDown destroys the manager (which stops
// every session) and expects no runsc state, run dirs or processes left.
class SessionFixture : public ::testing::Test {
 protected:
  // `dir_name` names the test's directory under the system temp dir.
  explicit SessionFixture(std::string dir_name) : dir_name_(std::move(dir_name)) {}

  void SetUp() override {
    root_ = MakeTestDir(dir_name_);
    config_.set_state_dir(root_ + "/state");
    config_.set_storage_dir(root_ + "/storage");
    config_.set_runsc_path(TestRunscPath());
  }
  void TearDown() override {
    manager_.reset();
    SandboxLeftovers l = CountLeftovers(config_);
    EXPECT_EQ(l.runsc_entries, 0);
    EXPECT_EQ(l.run_entries, 0);
    EXPECT_EQ(l.processes, 0);
    (void)RemoveTree(root_);
  }

  // A new manager on config_, as after a host restart.
  void NewManager() {
    manager_.reset();
    absl::StatusOr<std::unique_ptr<SessionManager>> m = SessionManager::Create(config_);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = *std::move(m);
  }

  // The session of `user` under `policy`; null (and a failure) on error.
  std::shared_ptr<ManagedSession> Get(const std::string& user, SessionOptions options = {},
                                      const std::string& policy = "") {
    if (manager_ == nullptr) NewManager();
    if (manager_ == nullptr) return nullptr;
    SessionKey key;
    key.set_user(user);
    key.set_policy(policy);
    absl::StatusOr<std::shared_ptr<ManagedSession>> s = manager_->Get(key, options);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : nullptr;
  }

  static Result Exec(ManagedSession& s, const std::string& code,
                     const std::string& language = "bash",
                     std::optional<double> timeout_s = std::nullopt) {
    ExecRequest req;
    req.set_code(code);
    req.set_language(language);
    if (timeout_s) req.set_timeout_s(*timeout_s);
    return s.Exec(req);
  }

  std::string root_;
  Config config_;
  std::unique_ptr<SessionManager> manager_;

 private:
  std::string dir_name_;
};

}  // namespace libsandbox::testing

#endif  // LIBSANDBOX_TESTS_SESSION_FIXTURE_H_
