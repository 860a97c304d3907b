#include "bench/tree_memory.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox::bench {
namespace {

// The parent of `pid` from /proc/<pid>/stat, or -1. The command name in
// field 2 may contain spaces and parentheses, so parse after the last ')'.
pid_t ParentOf(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"), 4096);
  if (!stat.ok()) return -1;
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close + 1), ' ', absl::SkipEmpty());
  int ppid = -1;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &ppid)) return -1;
  return ppid;
}

// Resident bytes from /proc/<pid>/statm (the cheapest source; the same
// figure as VmRSS); 0 if the process is gone.
int64_t RssBytes(pid_t pid) {
  absl::StatusOr<std::string> statm = ReadFile(absl::StrCat("/proc/", pid, "/statm"), 256);
  if (!statm.ok()) return 0;
  std::vector<absl::string_view> fields = absl::StrSplit(*statm, ' ', absl::SkipEmpty());
  int64_t pages = 0;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &pages)) return 0;
  return pages * ::sysconf(_SC_PAGESIZE);
}

// The "Pss:   123 kB" line of /proc/<pid>/smaps_rollup, in bytes.
int64_t PssBytes(pid_t pid) {
  absl::StatusOr<std::string> text = ReadFile(absl::StrCat("/proc/", pid, "/smaps_rollup"));
  if (!text.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::ConsumePrefix(&line, "Pss:")) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, " kB");
    int64_t kib = 0;
    return absl::SimpleAtoi(line, &kib) ? kib * 1024 : 0;
  }
  return 0;
}

std::vector<pid_t> LivePids() {
  std::vector<pid_t> pids;
  if (DIR* d = ::opendir("/proc")) {
    while (struct dirent* e = ::readdir(d)) {
      pid_t pid = 0;
      if (absl::SimpleAtoi(e->d_name, &pid)) pids.push_back(pid);
    }
    ::closedir(d);
  }
  return pids;
}

}  // namespace

bool ProcessTree::InTree(pid_t pid, int depth) {
  if (pid == root_) return true;
  if (auto it = in_tree_.find(pid); it != in_tree_.end()) return it->second;
  auto parent = parent_.find(pid);
  // Unknown parents and absurd depths (a parent loop from pid reuse) are
  // outside; not memoized in the latter case so a later pass can decide.
  if (parent == parent_.end() || parent->second <= 0 || depth > 64) return false;
  bool in = InTree(parent->second, depth + 1);
  in_tree_[pid] = in;
  return in;
}

std::vector<pid_t> ProcessTree::Refresh() {
  std::vector<pid_t> live = LivePids();
  absl::flat_hash_set<pid_t> live_set(live.begin(), live.end());
  // Forget the exited, so that a reused pid is looked at afresh.
  for (auto it = parent_.begin(); it != parent_.end();) {
    if (!live_set.contains(it->first)) {
      in_tree_.erase(it->first);
      parent_.erase(it++);
    } else {
      ++it;
    }
  }
  for (pid_t pid : live) {
    if (!parent_.contains(pid)) parent_[pid] = ParentOf(pid);
  }
  return live;
}

absl::flat_hash_set<pid_t> ProcessTree::Pids() {
  absl::flat_hash_set<pid_t> pids;
  for (pid_t pid : Refresh()) {
    if (InTree(pid, 0)) pids.insert(pid);
  }
  return pids;
}

TreeMemory ProcessTree::Measure(bool with_pss) {
  std::vector<pid_t> live = Refresh();
  TreeMemory m;
  for (pid_t pid : live) {
    if (!InTree(pid, 0)) continue;
    int64_t rss = RssBytes(pid);
    if (rss == 0) continue;  // exited meanwhile, a zombie, or a kernel thread
    m.rss_bytes += rss;
    if (with_pss) m.pss_bytes += PssBytes(pid);
    ++m.processes;
  }
  return m;
}

PeakTreeMemorySampler::PeakTreeMemorySampler(pid_t root, absl::Duration period,
                                             absl::Duration pss_period)
    : tree_(root), period_(period), pss_period_(pss_period) {
  thread_ = std::thread([this] { Loop(); });
}

PeakTreeMemorySampler::~PeakTreeMemorySampler() { Stop(); }

TreeMemory PeakTreeMemorySampler::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return peak_;
}

void PeakTreeMemorySampler::Loop() {
  absl::Time next_pss = absl::InfinitePast();
  int64_t peak_rss = 0;  // only this thread writes peak_
  int64_t first_rss = -1;
  do {
    TreeMemory m = tree_.Measure(/*with_pss=*/false);
    if (first_rss < 0) first_rss = m.rss_bytes;
    // PSS is read near the RSS peak, once the tree has grown (a fixed clock
    // can miss a short-lived sandbox entirely), at most once per pss_period_.
    const absl::Time now = absl::Now();
    if (pss_period_ > absl::ZeroDuration() && now >= next_pss && m.rss_bytes >= peak_rss * 9 / 10 &&
        m.rss_bytes > first_rss * 3 / 2) {
      next_pss = now + pss_period_;
      m.pss_bytes = tree_.Measure(/*with_pss=*/true).pss_bytes;
    }
    peak_rss = std::max(peak_rss, m.rss_bytes);
    absl::MutexLock lock(&mu_);
    peak_.rss_bytes = peak_rss;
    peak_.pss_bytes = std::max(peak_.pss_bytes, m.pss_bytes);
    peak_.processes = std::max(peak_.processes, m.processes);
  } while (!stop_.WaitForNotificationWithTimeout(period_));
}

}  // namespace libsandbox::bench
