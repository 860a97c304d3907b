#include "libsandbox/run/cpu_shares.h"

#include "libsandbox/base/metrics.h"

namespace libsandbox {

CpuShares::Member& CpuShares::Member::operator=(Member&& o) noexcept {
  if (this != &o) {
    if (shares_ != nullptr) shares_->Leave(user_, instance_);
    shares_ = std::exchange(o.shares_, nullptr);
    user_ = std::move(o.user_);
    instance_ = o.instance_;
  }
  return *this;
}

CpuShares::Member::~Member() {
  if (shares_ != nullptr) shares_->Leave(user_, instance_);
}

CpuShares::Member CpuShares::Join(const std::string& user, Instance* instance) {
  absl::MutexLock lock(&mu_);
  std::vector<Instance*>& sandboxes = running_[user];
  sandboxes.push_back(instance);
  Apply(sandboxes);
  return Member(this, user, instance);
}

void CpuShares::Leave(const std::string& user, Instance* instance) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(user);
  if (it == running_.end()) return;
  std::erase(it->second, instance);
  if (it->second.empty()) {
    running_.erase(it);
  } else {
    Apply(it->second);
  }
}

void CpuShares::Apply(const std::vector<Instance*>& sandboxes) {
  const double share = ShareOf(sandboxes.size());
  for (Instance* in : sandboxes) {
    // A weight that could not be written leaves the sandbox at its last one.
    if (!in->SetCpuShare(share).ok()) GlobalMetrics().Increment("cpu_share_failures");
  }
}

}  // namespace libsandbox
