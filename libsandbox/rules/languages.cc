#include "libsandbox/rules/languages.h"

namespace libsandbox {
namespace {

const std::vector<Language>& Table() {
  static const auto* table = new std::vector<Language>{
      {"python", "main.py", {"/usr/bin/python3"}, /*in_process_python=*/true},
      {"bash", "main.sh", {"/bin/bash"}},
      {"sh", "main.sh", {"/bin/sh"}},
  };
  return *table;
}

struct Alias {
  const char* alias;
  const char* name;
};
constexpr Alias kAliases[] = {{"python3", "python"}, {"py", "python"}, {"shell", "bash"}};

}  // namespace

const Language* FindLanguage(absl::string_view name) {
  for (const Alias& a : kAliases) {
    if (name == a.alias) name = a.name;
  }
  for (const Language& l : Table()) {
    if (name == l.name) return &l;
  }
  return nullptr;
}

std::vector<std::string> LanguageNames() {
  std::vector<std::string> names;
  for (const Language& l : Table()) names.push_back(l.name);
  return names;
}

}  // namespace libsandbox
