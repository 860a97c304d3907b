// Helpers shared by the test suites.
#ifndef LIBSANDBOX_TESTS_TEST_UTIL_H_
#define LIBSANDBOX_TESTS_TEST_UTIL_H_

#include <string>

namespace libsandbox::testing {

// A fresh directory under the system temp dir, for one test.
std::string MakeTestDir(const std::string& name);

}  // namespace libsandbox::testing

#endif  // LIBSANDBOX_TESTS_TEST_UTIL_H_
