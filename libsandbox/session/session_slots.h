// The max_sessions cap of one SessionManager: a slot per running sandbox.
// When all are taken, booting one more first stops the least recently used
// idle session (no exec, no background process running in it).
#ifndef LIBSANDBOX_SESSION_SESSION_SLOTS_H_
#define LIBSANDBOX_SESSION_SESSION_SLOTS_H_

#include <memory>
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
  // A slot for `self` (whose mu_ the caller holds). ResourceExhausted when
  // every slot is held by a busy session.
  absl::Status Acquire(const ManagedSession* self);
  void Release();

 private:
  const int max_;
  absl::Mutex mu_;
  int used_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::weak_ptr<ManagedSession>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_SLOTS_H_
