#include "libsandbox/session/session_slots.h"

#include <optional>
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

absl::Status SessionSlots::Acquire(const ManagedSession* self) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::vector<std::shared_ptr<ManagedSession>> others;  // released outside mu_
    {
      absl::MutexLock lock(&mu_);
      if (used_ < max_) {
        ++used_;
        return absl::OkStatus();
      }
      for (const auto& w : sessions_) {
        if (auto s = w.lock(); s && s.get() != self) others.push_back(std::move(s));
      }
    }
    std::shared_ptr<ManagedSession> victim;
    absl::Time oldest = absl::InfiniteFuture();
    for (const auto& s : others) {
      std::optional<absl::Time> since = s->IdleSince();
      if (since && *since < oldest) {
        oldest = *since;
        victim = s;
      }
    }
    if (victim == nullptr) break;
    victim->StopIfStillIdle();  // frees its slot; then try again
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "all ", max_,
      " session sandboxes are busy (Config.max_sessions); try again when one is idle, or "
      "raise max_sessions"));
}

void SessionSlots::Release() {
  absl::MutexLock lock(&mu_);
  if (used_ > 0) --used_;
}

}  // namespace libsandbox
