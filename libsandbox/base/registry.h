// Process-wide objects, one per key (a Config's serialized bytes), made on
// first use. Decided here for every such registry:
//  - A forked child must not use its parent's objects (their threads do not
//    exist there, their sandboxes' runsc processes are the parent's
//    children): it forgets them, leaking them on purpose, and starts afresh.
//    (Not pthread_atfork: objects are made, and runsc forked, while the
//    registry's lock is held.)
//  - With a cap, the least recently used object is forgotten to make room,
//    and destroyed after the lock is released (that may take a while).
//  - Objects are made under the lock, so a key never has two at once.
#ifndef LIBSANDBOX_BASE_REGISTRY_H_
#define LIBSANDBOX_BASE_REGISTRY_H_

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace libsandbox {

template <typename T>
class Registry {
 public:
  static constexpr size_t kNoCap = 0;

  // Meant to live as long as the process (e.g. a function-local static).
  explicit Registry(size_t max_entries) : max_entries_(max_entries) {}
  // Frees this process's objects; a parent's, seen after fork(), stay leaked.
  ~Registry() {
    absl::MutexLock lock(&mu_);
    if (pid_ == ::getpid()) delete entries_;
  }
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The object of `key`, made by `make` (under the lock) on first use.
  absl::StatusOr<std::shared_ptr<T>> Get(
      const std::string& key, absl::FunctionRef<absl::StatusOr<std::shared_ptr<T>>()> make) {
    std::shared_ptr<T> evicted;  // destroyed after the lock
    absl::MutexLock lock(&mu_);
    std::map<std::string, Entry>& entries = EntriesLocked();
    if (auto it = entries.find(key); it != entries.end()) {
      it->second.last_used = ++clock_;
      return it->second.object;
    }
    absl::StatusOr<std::shared_ptr<T>> made = make();
    if (!made.ok()) return made.status();
    if (max_entries_ != kNoCap && entries.size() >= max_entries_) {
      auto lru = std::min_element(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return a.second.last_used < b.second.last_used;
      });
      evicted = std::move(lru->second.object);
      entries.erase(lru);
    }
    entries[key] = Entry{*made, ++clock_};
    mu_.Unlock();
    evicted.reset();
    mu_.Lock();
    return made;
  }

  // The object of `key` if there is one (it then counts as used), or null.
  std::shared_ptr<T> Find(const std::string& key) {
    absl::MutexLock lock(&mu_);
    std::map<std::string, Entry>& entries = EntriesLocked();
    auto it = entries.find(key);
    if (it == entries.end()) return nullptr;
    it->second.last_used = ++clock_;
    return it->second.object;
  }

  // Forgets every object of this process and hands them to the caller, to
  // be destroyed outside the lock.
  std::vector<std::shared_ptr<T>> TakeAll() {
    std::vector<std::shared_ptr<T>> out;
    absl::MutexLock lock(&mu_);
    std::map<std::string, Entry>& entries = EntriesLocked();
    for (auto& [key, entry] : entries) out.push_back(std::move(entry.object));
    entries.clear();
    return out;
  }

 private:
  struct Entry {
    std::shared_ptr<T> object;
    uint64_t last_used = 0;
  };

  std::map<std::string, Entry>& EntriesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (entries_ == nullptr || pid_ != ::getpid()) {
      entries_ = new std::map<std::string, Entry>();  // a parent's are leaked
      pid_ = ::getpid();
    }
    return *entries_;
  }

  const size_t max_entries_;
  absl::Mutex mu_;
  std::map<std::string, Entry>* entries_ ABSL_GUARDED_BY(mu_) = nullptr;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_BASE_REGISTRY_H_
