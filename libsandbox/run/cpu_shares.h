// Fair CPU between users: the sandboxes one user runs at once split one
// sandbox's CPU weight between them, so that when the CPU is short a user
// with eight runs at once gets as much of it as a user with one, not eight
// times as much. A weight, not a cap: alone, a user's runs use every core.
#ifndef LIBSANDBOX_RUN_CPU_SHARES_H_
#define LIBSANDBOX_RUN_CPU_SHARES_H_

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libsandbox/run/instance.h"

namespace libsandbox {

class CpuShares {
 public:
  // A running sandbox's place in its user's share; leaving (destruction)
  // gives the user's other sandboxes their part back.
  class Member {
   public:
    Member() = default;
    Member(Member&& o) noexcept
        : shares_(std::exchange(o.shares_, nullptr)),
          user_(std::move(o.user_)),
          instance_(o.instance_) {}
    Member& operator=(Member&& o) noexcept;
    ~Member();

   private:
    friend class CpuShares;
    Member(CpuShares* shares, std::string user, Instance* instance)
        : shares_(shares), user_(std::move(user)), instance_(instance) {}
    CpuShares* shares_ = nullptr;
    std::string user_;
    Instance* instance_ = nullptr;
  };

  // `instance` (which must outlive the Member) joins `user`'s sandboxes;
  // each of them gets ShareOf(their number).
  Member Join(const std::string& user, Instance* instance);

  // The CPU share of each of the `sandboxes` one user runs at once.
  static double ShareOf(size_t sandboxes) {
    return 1.0 / static_cast<double>(std::max<size_t>(1, sandboxes));
  }

 private:
  void Leave(const std::string& user, Instance* instance);
  void Apply(const std::vector<Instance*>& sandboxes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, std::vector<Instance*>> running_ ABSL_GUARDED_BY(mu_);
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_CPU_SHARES_H_
