#include "libsandbox/tests/test_util.h"

#include <cstdlib>

#include "libsandbox/fs_util.h"

namespace libsandbox::testing {

std::string MakeTestDir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  auto dir = TempDir::Create(tmp != nullptr ? tmp : "/tmp", "libsandbox-test-" + name + "-");
  if (!dir.ok()) std::abort();
  return dir->release();
}

std::string TestRunscPath() {
  const char* path = std::getenv("LIBSANDBOX_TEST_RUNSC");
  return path != nullptr ? path : "";
}

}  // namespace libsandbox::testing
