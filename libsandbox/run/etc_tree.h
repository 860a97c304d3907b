// The sandbox's /etc when it runs on the host's system directories: the
// generated identity files (passwd, group, hosts, ...) and the few host
// entries programs need that hold no secrets (certificates, fonts,
// ld.so.cache, ...). Shown entry by entry, that is seven more bind mounts
// at every boot, each costing runsc a few ms; so the host entries are
// copied, with the generated files, into one tree per state dir that every
// sandbox shows read-only with one mount. The copy is made again when the
// host's entries change.
#ifndef LIBSANDBOX_RUN_ETC_TREE_H_
#define LIBSANDBOX_RUN_ETC_TREE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace libsandbox {

// Host /etc entries every sandbox sees (Debian's matplotlib fails to import
// without its /etc/matplotlibrc; text rendering wants the font
// configuration). Missing ones are skipped.
inline constexpr const char* kEtcShared[] = {
    "/etc/ssl/certs",       "/etc/mime.types",   "/etc/alternatives", "/etc/ld.so.cache",
    "/etc/ca-certificates", "/etc/matplotlibrc", "/etc/fonts"};

// Where the /etc entry `shared` (one of kEtcShared) is in a /etc made at
// `dir`: "/etc/ssl/certs" -> dir + "/ssl/certs".
std::string SharedEntryIn(const std::string& dir, absl::string_view shared);

// Writes the generated files (passwd, group, hostname, hosts, nsswitch.conf,
// resolv.conf with `resolv_conf`, localtime) into `dir`, creating it.
absl::Status WriteGeneratedEtc(const std::string& dir, const std::string& resolv_conf);

// One state dir's shared /etc tree: <state_dir>/etc/<signature>, where the
// signature covers every copied host entry (path, type, size, mtime), so
// processes sharing a state dir share the tree, and a host change (new
// certificates, a package installed) makes a new one. Its resolv.conf is
// empty: a run with network shows its own over it.
class SharedEtc {
 public:
  struct Options {
    std::string host_root;  // where kEtcShared is read ("" is the host's /)
    // How long a look at the host's entries stands: runs in between cost
    // no walk; a change on the host is seen within this.
    absl::Duration look_every = absl::Seconds(5);
    // A host whose shared entries hold more is not one to copy.
    uint64_t max_bytes = uint64_t{64} << 20;
    size_t max_entries = 20000;
    // Trees this much older than the newest are removed when a new one is
    // made (a session booted before may still show one).
    absl::Duration keep_old = absl::Hours(24 * 30);
  };

  explicit SharedEtc(std::string state_dir) : SharedEtc(std::move(state_dir), Options()) {}
  SharedEtc(std::string state_dir, Options options)
      : state_dir_(std::move(state_dir)), options_(std::move(options)) {}

  // The tree's directory, copied first if the host's entries changed since
  // the last look. Errors when they cannot be read or copied, or are more
  // than a /etc should hold.
  absl::StatusOr<std::string> Current();

 private:
  absl::StatusOr<uint64_t> Signature() const;
  absl::Status Fill(const std::string& dir) const;
  absl::StatusOr<std::string> BuildLocked(uint64_t signature) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string state_dir_;
  const Options options_;
  absl::Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);  // empty: failure_
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  uint64_t signature_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time checked_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_ETC_TREE_H_
