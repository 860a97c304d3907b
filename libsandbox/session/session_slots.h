// The max_sessions cap of one SessionManager, and the per-user cap inside it:
// a slot per running sandbox. A user at their own cap makes room by stopping
// their own least recently used idle session, never anyone else's; when all
// slots are taken, the idle session stopped is one of the user holding the
// most (least recently used first). So a user never holds more than their
// cap, and with max_sessions above it the others always find room.
#ifndef LIBSANDBOX_SESSION_SESSION_SLOTS_H_
#define LIBSANDBOX_SESSION_SESSION_SLOTS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace libsandbox {

class ManagedSession;

class SessionSlots {
 public:
  explicit SessionSlots(int max) : max_(max) {}

  // A session that may take a slot (and be stopped to free one).
  void Add(std::weak_ptr<ManagedSession> session);
  // A slot for `self` (whose mu_ the caller holds), whose user may hold at
  // most `per_user` (0: no cap of their own). ResourceExhausted, naming the
  // cap, when no idle session may be stopped to make room.
  absl::Status Acquire(const ManagedSession* self, int per_user);
  void Release(const std::string& user);

  // Sandboxes `user` runs now.
  int RunningOf(const std::string& user) const;

 private:
  const int max_;
  mutable absl::Mutex mu_;
  int used_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> per_user_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<ManagedSession>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_SLOTS_H_
