#include "libsandbox/run/admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace libsandbox {

bool Admission::CanRun(const std::string& user) const {
  if (limits_.max_concurrent > 0 && running_ >= limits_.max_concurrent) return false;
  if (limits_.max_per_user > 0) {
    auto it = running_per_user_.find(user);
    if (it != running_per_user_.end() && it->second >= limits_.max_per_user) return false;
  }
  return true;
}

void Admission::Grant(Waiter* w) {
  w->granted = true;
  ++running_;
  ++running_per_user_[w->user];
}

void Admission::Dispatch() {
  // Round-robin: the first user in turn who may run gets a slot and goes to
  // the back; users held back by their own cap keep their place.
  while (limits_.max_concurrent <= 0 || running_ < limits_.max_concurrent) {
    auto it = std::find_if(turn_.begin(), turn_.end(),
                           [&](const std::string& user) { return CanRun(user); });
    if (it == turn_.end()) break;
    std::string user = *it;
    turn_.erase(it);
    std::deque<Waiter*>& q = waiting_[user];
    Grant(q.front());
    q.pop_front();
    --queued_;
    if (q.empty()) {
      waiting_.erase(user);
    } else {
      turn_.push_back(user);
    }
  }
}

bool Admission::MakeRoomFor(const std::string& user) {
  // The user holding the most queued runs gives up its newest one, if that
  // still leaves it more than the newcomer will have.
  auto mine = waiting_.find(user);
  const size_t wanted = (mine == waiting_.end() ? 0 : mine->second.size()) + 1;
  auto most = std::max_element(waiting_.begin(), waiting_.end(), [](const auto& a, const auto& b) {
    return a.second.size() < b.second.size();
  });
  if (most == waiting_.end() || most->second.size() <= wanted) return false;
  most->second.back()->evicted = true;
  most->second.pop_back();
  --queued_;
  return true;
}

absl::StatusOr<Admission::Ticket> Admission::Acquire(const std::string& user, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  // Dispatch leaves no waiter that could run, so if this user may run now
  // (and has no earlier run waiting), nobody waiting is passed over.
  if (!waiting_.contains(user) && CanRun(user)) {
    Waiter w{user};
    Grant(&w);
    return Ticket(this, user);
  }
  if (limits_.max_queued > 0 && queued_ >= limits_.max_queued && !MakeRoomFor(user)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many runs are waiting (max_queued=", limits_.max_queued, ")"));
  }
  Waiter w{user};
  if (!waiting_.contains(user)) turn_.push_back(user);
  waiting_[user].push_back(&w);
  ++queued_;
  Dispatch();
  auto done = [](Waiter* w) { return w->granted || w->evicted; };
  const bool woken = mu_.AwaitWithDeadline(absl::Condition(+done, &w), deadline);
  if (w.evicted) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many runs are waiting (max_queued=", limits_.max_queued,
                     "): this user's newest queued run made room for another user's"));
  }
  if (!woken) {
    std::deque<Waiter*>& q = waiting_[user];
    q.erase(std::find(q.begin(), q.end(), &w));
    --queued_;
    if (q.empty()) {
      waiting_.erase(user);
      turn_.erase(std::find(turn_.begin(), turn_.end(), user));
    }
    return absl::DeadlineExceededError("no sandbox slot became free in time");
  }
  return Ticket(this, user);
}

void Admission::Release(const std::string& user) {
  absl::MutexLock lock(&mu_);
  --running_;
  if (--running_per_user_[user] == 0) running_per_user_.erase(user);
  Dispatch();
}

int Admission::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

int Admission::running(const std::string& user) const {
  absl::MutexLock lock(&mu_);
  auto it = running_per_user_.find(user);
  return it == running_per_user_.end() ? 0 : it->second;
}

int Admission::queued() const {
  absl::MutexLock lock(&mu_);
  return queued_;
}

}  // namespace libsandbox
