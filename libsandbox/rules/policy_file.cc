#include "libsandbox/rules/policy_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/message_file.h"
#include "libsandbox/rules/policy.h"

namespace libsandbox {
namespace {

absl::StatusOr<std::string> Serialize(const std::string& path, const PolicySet& set) {
  std::string out;
  if (MessageFormatOf(path, "policy file").value_or(MessageFormat::kTextproto) ==
      MessageFormat::kJson) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    auto status = google::protobuf::util::MessageToJsonString(set, &out, options);
    if (!status.ok()) return absl::InternalError(std::string(status.message()));
    return out;
  }
  if (!google::protobuf::TextFormat::PrintToString(set, &out)) {
    return absl::InternalError("cannot print the policy set");
  }
  return absl::StrCat("# Written by libsandbox; edits through the API rewrite this file.\n", out);
}

// Written beside the file and renamed over it: never half a file.
absl::Status ReplaceFile(const std::string& path, const std::string& content) {
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  const unsigned mode = exists ? (st.st_mode & 0777) : 0644;
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  if (absl::Status s = WriteFile(tmp, content, mode); !s.ok()) return s;
  UniqueFd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(absl::StrCat("write ", path), err);
  }
  return absl::OkStatus();
}

// Changes to one policy build on the rest of the set, so the set as it is
// must be sound; replacing the whole set (SetPolicies) does not need that.
absl::Status RequireValid(const std::string& path, const PolicySet& set) {
  if (absl::Status s = ValidatePolicySet(set); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy file ", path, ": ", s.message(), "; fix the file before changing it"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EditPolicyFile(const std::string& path,
                            const std::function<absl::Status(PolicySet&)>& change) {
  if (path.empty()) {
    return absl::FailedPreconditionError("the config has no policy_file to change");
  }
  // The lock file outlives each writer; flock is dropped with the fd, also
  // when a writer dies.
  UniqueFd lock(::open(absl::StrCat(path, ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return ErrnoStatus(absl::StrCat("open ", path, ".lock"), errno);
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoStatus(absl::StrCat("lock ", path), errno);
  }
  PolicySet set;
  if (::access(path.c_str(), F_OK) == 0) {
    absl::StatusOr<PolicySet> current = ReadPolicyFile(path);
    // A broken file is the admin's to mend by hand: never overwrite it.
    if (!current.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(current.status().message(), "; fix the file before changing it"));
    }
    set = *std::move(current);
  } else if (absl::StatusOr<MessageFormat> format = MessageFormatOf(path, "policy file");
             !format.ok()) {
    return format.status();
  }
  if (absl::Status s = change(set); !s.ok()) return s;
  if (absl::Status s = ValidatePolicySet(set); !s.ok()) return s;
  absl::StatusOr<std::string> text = Serialize(path, set);
  if (!text.ok()) return text.status();
  return ReplaceFile(path, *text);
}

absl::Status UpsertPolicyInFile(const std::string& path, const Policy& policy) {
  return EditPolicyFile(path, [&](PolicySet& set) {
    if (absl::Status s = RequireValid(path, set); !s.ok()) return s;
    UpsertPolicyInSet(set, policy);
    return absl::OkStatus();
  });
}

absl::Status RemovePolicyFromFile(const std::string& path, const std::string& name) {
  return EditPolicyFile(path, [&](PolicySet& set) {
    if (absl::Status s = RequireValid(path, set); !s.ok()) return s;
    return RemovePolicyFromSet(set, name);
  });
}

}  // namespace libsandbox
