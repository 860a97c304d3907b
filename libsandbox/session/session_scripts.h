// The fixed scripts a session runs inside its sandbox (scripts/, embedded at
// build time): its pid 1, and the wrappers an exec's code runs under, which
// carry the current directory from one exec to the next through a file in
// the sandbox's /tmp/.libsandbox-session. Only the session's own code reads
// or writes it, so it is trusted no further than being a directory under
// /home/user or /tmp.
#ifndef LIBSANDBOX_SESSION_SESSION_SCRIPTS_H_
#define LIBSANDBOX_SESSION_SESSION_SCRIPTS_H_

#include <string>
#include <vector>

#include "libsandbox/rules/languages.h"

namespace libsandbox {

// The sandbox's pid 1: says it is ready, then reaps orphans (background
// processes outlive their exec and are reparented to it).
std::vector<std::string> SessionInitArgv();

// The sandbox-side argv that runs `code_path` for `language`: restores the
// cwd of the last exec, runs the code (its cd counts), records the cwd.
std::vector<std::string> WrapperArgv(const Language& language, const std::string& code_path);

// The same for a background process, which restores the cwd like an exec
// but never records its own.
std::vector<std::string> BackgroundWrapperArgv(const Language& language,
                                               const std::string& code_path);

}  // namespace libsandbox

#endif  // LIBSANDBOX_SESSION_SESSION_SCRIPTS_H_
