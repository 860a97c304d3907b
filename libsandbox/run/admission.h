// Admission control: a global and a per-user cap on concurrent sandboxes,
// with a bounded queue served round-robin between users, so one busy user
// cannot starve the others.
#ifndef LIBSANDBOX_RUN_ADMISSION_H_
#define LIBSANDBOX_RUN_ADMISSION_H_

#include <deque>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace libsandbox {

struct AdmissionLimits {
  int max_concurrent = 0;  // 0: unlimited
  int max_per_user = 0;    // 0: unlimited
  int max_queued = 0;      // 0: unlimited
};

class Admission {
 public:
  explicit Admission(AdmissionLimits limits) : limits_(limits) {}

  // Holds one slot until destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& o) noexcept
        : admission_(std::exchange(o.admission_, nullptr)), user_(o.user_) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket() {
      if (admission_ != nullptr) admission_->Release(user_);
    }

   private:
    friend class Admission;
    Ticket(Admission* a, std::string user) : admission_(a), user_(std::move(user)) {}
    Admission* admission_;
    std::string user_;
  };

  // Waits for a slot until `deadline`. A user who may run while others wait
  // (they are held by their own per-user cap) runs at once. ResourceExhausted
  // when the queue is full (a user with the most queued runs loses its
  // newest one to a user with fewer), DeadlineExceeded when no slot freed up
  // in time.
  absl::StatusOr<Ticket> Acquire(const std::string& user, absl::Time deadline);

  int running() const;
  // Runs `user` holds a slot for (admitted, not yet torn down).
  int running(const std::string& user) const;
  int queued() const;

 private:
  struct Waiter {
    std::string user;
    bool granted = false;
    bool evicted = false;  // dropped from a full queue to make room for another user
  };
  bool CanRun(const std::string& user) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Grant(Waiter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With the queue full: drops the newest waiter of the user with the most
  // queued runs when that user would still have more than `user`.
  bool MakeRoomFor(const std::string& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Release(const std::string& user);

  const AdmissionLimits limits_;
  mutable absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int queued_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> running_per_user_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::deque<Waiter*>> waiting_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> turn_ ABSL_GUARDED_BY(mu_);  // users with waiters, in turn order
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_ADMISSION_H_
