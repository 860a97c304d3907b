#include "libsandbox/base/task_thread.h"

#include <unistd.h>

#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace libsandbox {

struct TaskThread::State {
  State() : pid(::getpid()), thread([this] { Loop(); }) {}
  ~State() {
    {
      absl::MutexLock lock(&mu);
      stop = true;
    }
    thread.join();
  }

  void Loop() {
    while (true) {
      absl::AnyInvocable<void() &&> task;
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(
            +[](State* s)
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) { return s->stop || !s->tasks.empty(); },
            this));
        if (tasks.empty()) return;  // stopping, and nothing is left to run
        task = std::move(tasks.front());
        tasks.pop_front();
        busy = true;
      }
      std::move(task)();
      task = nullptr;  // destroys what the task held, off the lock
      absl::MutexLock lock(&mu);
      busy = false;
    }
  }

  const pid_t pid;
  absl::Mutex mu;
  std::deque<absl::AnyInvocable<void() &&>> tasks ABSL_GUARDED_BY(mu);
  bool busy ABSL_GUARDED_BY(mu) = false;
  bool stop ABSL_GUARDED_BY(mu) = false;
  std::thread thread;  // last: started once the rest is ready
};

TaskThread::TaskThread() : state_(new State()) {}

TaskThread::~TaskThread() {
  State* s = state_.load(std::memory_order_acquire);
  if (s->pid != ::getpid()) return;  // the parent's: not ours to touch
  delete s;
}

TaskThread::State* TaskThread::Current() {
  State* s = state_.load(std::memory_order_acquire);
  if (s->pid == ::getpid()) return s;
  auto fresh = std::make_unique<State>();
  if (state_.compare_exchange_strong(s, fresh.get(), std::memory_order_acq_rel)) {
    return fresh.release();
  }
  return s;  // another thread of this process got there first; `fresh` stops
}

void TaskThread::Post(absl::AnyInvocable<void() &&> task) {
  State* s = Current();
  absl::MutexLock lock(&s->mu);
  s->tasks.push_back(std::move(task));
}

void TaskThread::Drain() {
  State* s = state_.load(std::memory_order_acquire);
  if (s->pid != ::getpid()) return;  // nothing of this process was queued
  absl::MutexLock lock(&s->mu);
  s->mu.Await(absl::Condition(
      +[](State* st)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(st->mu) { return st->tasks.empty() && !st->busy; },
      s));
}

}  // namespace libsandbox
