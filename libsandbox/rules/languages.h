// The languages a sandbox can run. Adding one is one line in languages.cc.
#ifndef LIBSANDBOX_RULES_LANGUAGES_H_
#define LIBSANDBOX_RULES_LANGUAGES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace libsandbox {

struct Language {
  const char* name;       // as callers spell it
  const char* file_name;  // the code file inside the sandbox's code dir
  // The interpreter command; the code file's sandbox path is appended.
  std::vector<const char*> argv;
  // The warm executor (a Python process) runs the code in its own, already
  // loaded interpreter instead of exec'ing argv.
  bool in_process_python = false;
};

// Looks up a language or alias; nullptr if unknown.
const Language* FindLanguage(absl::string_view name);

// Canonical names, for messages and listings.
std::vector<std::string> LanguageNames();

}  // namespace libsandbox

#endif  // LIBSANDBOX_RULES_LANGUAGES_H_
