#include "libsandbox/base/defaults.h"

namespace libsandbox {

Limits DefaultLimits() {
  Limits l;
  l.set_timeout_s(30);
  l.set_memory_mb(128);
  l.set_cpus(1.0);
  l.set_max_pids(128);
  l.set_max_output_bytes(1 << 20);
  l.set_workspace_mb(64);
  return l;
}

Limits DefaultSessionLimits() {
  Limits l = DefaultLimits();
  l.set_workspace_mb(512);
  l.set_tmp_mb(64);
  return l;
}

StorageQuota DefaultQuota() {
  StorageQuota q;
  q.set_max_files_per_execution(32);
  q.set_max_files_per_user(4096);
  q.set_max_bytes_per_user(int64_t{256} << 20);
  q.set_min_free_bytes(int64_t{256} << 20);
  return q;
}

Config ResolvedConfig(const Config& config) {
  Config c = config;
  if (c.state_dir().empty()) c.set_state_dir(kDefaultStateDir);
  if (c.storage_dir().empty()) c.set_storage_dir(kDefaultStorageDir);
  if (!c.has_quota()) *c.mutable_quota() = DefaultQuota();
  return c;
}

}  // namespace libsandbox
