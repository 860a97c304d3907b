#include "libsandbox/session/session_slots.h"

#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libsandbox/session/session.h"

namespace libsandbox {

void SessionSlots::Add(std::weak_ptr<ManagedSession> session) {
  absl::MutexLock lock(&mu_);
  std::erase_if(sessions_, [](const std::weak_ptr<ManagedSession>& w) { return w.expired(); });
  sessions_.push_back(std::move(session));
}

absl::Status SessionSlots::Acquire(const ManagedSession* self, int per_user) {
  const std::string& user = self->key().user();
  bool user_full = false;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::vector<std::shared_ptr<ManagedSession>> others;  // released outside mu_
    std::map<std::string, int> running;
    {
      absl::MutexLock lock(&mu_);
      auto it = per_user_.find(user);
      user_full = per_user > 0 && it != per_user_.end() && it->second >= per_user;
      if (!user_full && used_ < max_) {
        ++used_;
        ++per_user_[user];
        return absl::OkStatus();
      }
      for (const auto& w : sessions_) {
        auto s = w.lock();
        if (s == nullptr || s.get() == self) continue;
        // At their own cap a user makes room among their own sessions only.
        if (user_full && s->key().user() != user) continue;
        others.push_back(std::move(s));
      }
      running = per_user_;
    }
    // The idle session of the user holding the most, least recently used.
    std::shared_ptr<ManagedSession> victim;
    std::tuple<int, absl::Time> best{0, absl::InfiniteFuture()};
    for (const auto& s : others) {
      std::optional<absl::Time> since = s->IdleSince();
      if (!since) continue;
      const std::tuple<int, absl::Time> rank{-running[s->key().user()], *since};
      if (victim == nullptr || rank < best) {
        best = rank;
        victim = s;
      }
    }
    if (victim == nullptr) break;
    victim->StopIfStillIdle();  // frees its slot; then try again
  }
  if (user_full) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this user's ", per_user,
        " session sandboxes are all busy (the per-user cap: Config.max_sessions_per_user or the "
        "policy file's caps.sessions_per_user); try again when one is idle, stop one, or raise "
        "the cap"));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "all ", max_,
      " session sandboxes are busy (Config.max_sessions); try again when one is idle, or "
      "raise max_sessions"));
}

void SessionSlots::Release(const std::string& user) {
  absl::MutexLock lock(&mu_);
  if (used_ > 0) --used_;
  if (auto it = per_user_.find(user); it != per_user_.end() && --it->second <= 0) {
    per_user_.erase(it);
  }
}

int SessionSlots::RunningOf(const std::string& user) const {
  absl::MutexLock lock(&mu_);
  auto it = per_user_.find(user);
  return it == per_user_.end() ? 0 : it->second;
}

}  // namespace libsandbox
