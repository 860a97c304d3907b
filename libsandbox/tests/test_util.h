// Helpers shared by the test suites.
#ifndef LIBSANDBOX_TESTS_TEST_UTIL_H_
#define LIBSANDBOX_TESTS_TEST_UTIL_H_

#include <string>

namespace libsandbox::testing {

// A fresh directory under the system temp dir, for one test.
std::string MakeTestDir(const std::string& name);

// The runsc the suites test against: $LIBSANDBOX_TEST_RUNSC, or empty for the
// one on PATH.
std::string TestRunscPath();

}  // namespace libsandbox::testing

#endif  // LIBSANDBOX_TESTS_TEST_UTIL_H_
