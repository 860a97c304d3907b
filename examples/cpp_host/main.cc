// A C++ host of libsandbox: runs a snippet with limits, prints what came
// back, and shows what a host should do with each status.
//
//   cpp_host_example [--language=python|bash] [--storage-dir=DIR] [CODE_FILE]
//
// Without CODE_FILE it runs a built-in Python snippet that prints and writes
// a file. Needs root (or the capabilities gVisor needs) and runsc on PATH.
// Exits 0 for OK, 1 when the code failed or was stopped, 2 for a bad
// request, 3 when the host cannot run sandboxes, 4 when too busy.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "libsandbox/sandbox.h"

namespace {

constexpr char kDefaultCode[] = R"(import platform
print("Hello from", platform.python_implementation(), platform.python_version())
with open("report.txt", "w") as f:
    f.write("made inside the sandbox\n")
)";

// Sandbox output is hostile: escape control bytes so that it cannot drive
// the terminal (escape sequences, carriage returns overwriting lines).
void PrintUntrusted(const std::string& text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      std::printf("\\x%02x", c);
    } else {
      std::putchar(c);
    }
  }
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Tells the caller what to do about a result; returns the exit status.
// `message` says what happened and what to change: show it to whoever can
// act on it (the user for code problems, the operator for host problems).
int Explain(const libsandbox::Result& result, const libsandbox::Config& config) {
  switch (result.status()) {
    case libsandbox::Result::OK:
      return 0;
    case libsandbox::Result::ERROR:
      // The code ran and failed (non-zero exit): stderr is the user's answer.
      std::printf("the code failed: %s\n", result.message().c_str());
      return 1;
    case libsandbox::Result::TIMEOUT:
      // Stopped at timeout_s; output printed until then is kept above.
      std::printf("timed out: %s\n", result.message().c_str());
      return 1;
    case libsandbox::Result::INTERRUPTED:
      // Stopped by a cap; `reason` names it (e.g. "memory").
      std::printf("interrupted (%s): %s\n", result.reason().c_str(), result.message().c_str());
      return 1;
    case libsandbox::Result::STORAGE_ERROR:
      // The code ran but its files broke a retention quota and were not kept.
      std::printf("files not kept: %s\n", result.message().c_str());
      return 1;
    case libsandbox::Result::INVALID_INPUT:
      // The request itself was wrong (language, limits, file names): fix it.
      std::printf("bad request: %s\n", result.message().c_str());
      return 2;
    case libsandbox::Result::SANDBOX_ERROR:
      std::printf("sandbox error: %s\n", result.message().c_str());
      // Too many runs at once (admission caps): worth retrying later.
      if (result.reason() == "busy") return 4;
      // Otherwise the host cannot run sandboxes as asked; Doctor() says why.
      for (const libsandbox::Check& check : libsandbox::Doctor(config)) {
        if (!check.ok()) {
          std::printf("  [%s] %s -> %s\n", check.name().c_str(), check.detail().c_str(),
                      check.remedy().c_str());
        }
      }
      return 3;
    default:
      std::printf("unexpected status\n");
      return 3;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string language = "python";
  std::string code = kDefaultCode;
  libsandbox::Config config;  // empty fields: runsc from PATH, default dirs
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (StartsWith(arg, "--language=")) {
      language = arg.substr(11);
    } else if (StartsWith(arg, "--storage-dir=")) {
      config.set_storage_dir(arg.substr(14));
    } else if (StartsWith(arg, "-")) {
      std::cerr << "usage: " << argv[0]
                << " [--language=python|bash] [--storage-dir=DIR] [CODE_FILE]\n";
      return 2;
    } else {
      std::ifstream in(arg, std::ios::binary);
      if (!in) {
        std::cerr << "cannot read " << arg << "\n";
        return 2;
      }
      std::stringstream buffer;
      buffer << in.rdbuf();
      code = buffer.str();
    }
  }

  libsandbox::RunRequest request;
  request.set_language(language);
  request.set_code(code);
  // Retained files are kept per user; use a stable id of the person or
  // tenant the code runs for, so one never sees another's files.
  request.set_user("example-user");
  // Start from the defaults and tighten what this host cares about. Inside
  // a set Limits, 0 means "no limit", so never start from an empty one.
  libsandbox::Limits* limits = request.mutable_limits();
  *limits = libsandbox::DefaultLimits();
  limits->set_timeout_s(10);
  limits->set_memory_mb(256);
  limits->set_max_output_bytes(64 << 10);
  // The network stays off unless request.set_network(true).

  const libsandbox::Result result = libsandbox::Run(request, config);

  std::printf("status:   %s\n", std::string(libsandbox::StatusName(result.status())).c_str());
  if (result.has_exit_code()) std::printf("exit:     %d\n", result.exit_code());
  std::printf("duration: %.3f s\n", result.duration_s());
  std::printf("--- stdout%s ---\n", result.stdout_truncated() ? " (truncated)" : "");
  PrintUntrusted(result.stdout());
  std::printf("--- stderr%s ---\n", result.stderr_truncated() ? " (truncated)" : "");
  PrintUntrusted(result.stderr());
  // Names come from the sandbox too; the content stays where it was kept.
  for (const libsandbox::File& f : result.files()) {
    std::printf("file: ");
    PrintUntrusted(f.path());
    std::printf(" (%lld bytes) kept at ", static_cast<long long>(f.size()));
    PrintUntrusted(f.host_path());
    std::printf("\n");
  }

  const int status = Explain(result, config);
  // Stops what Run keeps between runs (warm pools, if configured).
  libsandbox::Shutdown();
  return status;
}
