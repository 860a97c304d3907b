// One thread that runs queued closures in order, for work that must happen
// on a thread that outlives its callers: a child started with
// PR_SET_PDEATHSIG dies when the *thread* that forked it exits, and slow
// cleanup should not hold up the caller that caused it.
//
// After fork() the child has none of its parent's threads, and the queue's
// mutex may be held there forever by one of them. So a TaskThread belongs to
// the process that runs it: in a forked child, the first use starts a fresh
// thread with an empty queue (the parent's pending tasks are the parent's,
// their objects too), and the parent's state is left alone, leaked on
// purpose. The destructor of a TaskThread runs what is queued, then joins.
#ifndef LIBSANDBOX_BASE_TASK_THREAD_H_
#define LIBSANDBOX_BASE_TASK_THREAD_H_

#include <atomic>
#include <future>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"

namespace libsandbox {

class TaskThread {
 public:
  TaskThread();
  // Runs every task queued so far, then joins the thread.
  ~TaskThread();
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Queues `task` and returns at once.
  void Post(absl::AnyInvocable<void() &&> task);

  // Runs `fn` on the thread, after what is queued, and returns its result.
  // Never call it from a task (it would wait for itself).
  template <typename F>
  std::invoke_result_t<F&> Call(F fn) {
    using R = std::invoke_result_t<F&>;
    std::packaged_task<R()> task(std::move(fn));
    std::future<R> result = task.get_future();
    Post([task = std::move(task)]() mutable { task(); });
    return result.get();
  }

  // Returns once every task queued so far has run (and been destroyed).
  void Drain();

 private:
  struct State;
  // This process's state: a forked child makes its own on first use.
  State* Current();

  std::atomic<State*> state_;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_TASK_THREAD_H_
