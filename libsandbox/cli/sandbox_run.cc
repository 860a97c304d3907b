// sandbox-run: run code in a gVisor sandbox and print the result as JSON.
//
//   echo 'print(1)' | sandbox-run --memory-mb=256
//   sandbox-run --language=bash --file=data.csv=./data.csv script.sh
//
// Exits 0 whenever it produced a result (whatever the status), 2 on usage errors.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/sandbox.h"

ABSL_FLAG(std::string, language, "python", "python or bash (or another known language)");
ABSL_FLAG(double, timeout_s, 30, "wall-clock limit in seconds (0: none)");
ABSL_FLAG(int64_t, memory_mb, 128, "memory limit in MiB (0: none)");
ABSL_FLAG(double, cpus, 1.0, "CPU limit in cores (0: none)");
ABSL_FLAG(int64_t, max_pids, 128, "process/thread limit (0: none)");
ABSL_FLAG(int64_t, max_output_bytes, 1 << 20, "per-stream output cap (0: none)");
ABSL_FLAG(int64_t, workspace_mb, 64, "size of /home/user in MiB (0: unlimited)");
ABSL_FLAG(std::string, network, "off",
          "off, or on (outbound only; host and private ranges blocked)");
ABSL_FLAG(std::string, user, "", "user id for file retention and quotas");
ABSL_FLAG(std::string, storage_dir, "", "where generated files are kept");
ABSL_FLAG(std::string, state_dir, "", "where run state lives");
ABSL_FLAG(std::string, runsc, "", "path of runsc (default: search PATH)");
ABSL_FLAG(std::vector<std::string>, file, {},
          "NAME=PATH: copy PATH into the workspace as NAME (repeatable)");
ABSL_FLAG(bool, allow_unenforced_limits, false, "run even when a cap cannot be enforced");
ABSL_FLAG(bool, debug, false, "keep runsc debug logs");

namespace {

constexpr int kUsageError = 2;

int Usage(const std::string& error) {
  std::cerr << "sandbox-run: " << error << "\n"
            << "usage: sandbox-run [--language=python|bash] [--timeout-s=S] [--memory-mb=M] "
               "[--cpus=C] [--max-pids=N] [--max-output-bytes=B] [--network=off|on] "
               "[--user=ID] [--storage-dir=DIR] [--runsc=PATH] [--file=NAME=PATH]... "
               "[CODE_FILE]\n";
  return kUsageError;
}

// Sets flags through abseil's own parsers; accepts --foo-bar for --foo_bar
// and repeated --file.
bool ParseArgs(int argc, char** argv, std::vector<std::string>& files,
               std::vector<std::string>& positional, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional.push_back(argv[i]);
      break;
    }
    if (!absl::StartsWith(arg, "-") || arg == "-") {
      positional.push_back(arg);
      continue;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    size_t eq = body.find('=');
    std::string name = absl::StrReplaceAll(body.substr(0, eq), {{"-", "_"}});
    std::string value = eq == std::string::npos ? "" : body.substr(eq + 1);
    if (name == "help") {
      error = "help";
      return false;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) {
      error = absl::StrCat("unknown flag --", body.substr(0, eq));
      return false;
    }
    if (eq == std::string::npos) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        error = absl::StrCat("--", name, " needs a value");
        return false;
      }
    }
    if (name == "file") {
      files.push_back(value);
      continue;
    }
    std::string parse_error;
    if (!flag->ParseFrom(value, &parse_error)) {
      error = absl::StrCat("--", name, ": ", parse_error);
      return false;
    }
  }
  return true;
}

google::protobuf::Value Str(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}
google::protobuf::Value Num(double d) {
  google::protobuf::Value v;
  v.set_number_value(d);
  return v;
}
google::protobuf::Value Bool(bool b) {
  google::protobuf::Value v;
  v.set_bool_value(b);
  return v;
}

// The contract's JSON shape: status by name, files as a list of objects.
google::protobuf::Struct ToJson(const libsandbox::Result& r) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["status"] = Str(std::string(libsandbox::StatusName(r.status())));
  f["reason"] = Str(r.reason());
  if (r.has_exit_code()) {
    f["exit_code"] = Num(r.exit_code());
  } else {
    f["exit_code"].set_null_value(google::protobuf::NULL_VALUE);
  }
  f["stdout"] = Str(r.stdout());
  f["stderr"] = Str(r.stderr());
  f["stdout_truncated"] = Bool(r.stdout_truncated());
  f["stderr_truncated"] = Bool(r.stderr_truncated());
  f["duration_s"] = Num(r.duration_s());
  f["message"] = Str(r.message());
  auto* files = f["files"].mutable_list_value();
  for (const libsandbox::File& file : r.files()) {
    google::protobuf::Struct o;
    (*o.mutable_fields())["path"] = Str(file.path());
    (*o.mutable_fields())["size"] = Num(static_cast<double>(file.size()));
    (*o.mutable_fields())["host_path"] = Str(file.host_path());
    *files->add_values()->mutable_struct_value() = std::move(o);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> file_args, positional;
  std::string error;
  if (!ParseArgs(argc, argv, file_args, positional, error)) {
    if (error == "help") {
      Usage("run code in a gVisor sandbox; prints one JSON result");
      return 0;
    }
    return Usage(error);
  }
  if (positional.size() > 1) return Usage("at most one CODE_FILE");
  std::string network = absl::GetFlag(FLAGS_network);
  if (network != "on" && network != "off") return Usage("--network must be on or off");

  libsandbox::RunRequest req;
  if (positional.empty() || positional[0] == "-") {
    std::string code;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) {
      code.append(buf, n);
      if (code.size() > libsandbox::kMaxCodeBytes) break;  // reported by validation
    }
    req.set_code(std::move(code));
  } else {
    absl::StatusOr<std::string> code =
        libsandbox::ReadFile(positional[0], libsandbox::kMaxCodeBytes + 1);
    if (!code.ok()) return Usage(std::string(code.status().message()));
    req.set_code(*std::move(code));
  }
  for (const std::string& spec : file_args) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) return Usage("--file must be NAME=PATH");
    absl::StatusOr<std::string> content = libsandbox::ReadFile(spec.substr(eq + 1), 1 << 30);
    if (!content.ok()) return Usage(std::string(content.status().message()));
    libsandbox::InputFile* f = req.add_files();
    f->set_path(spec.substr(0, eq));
    f->set_content(*std::move(content));
  }
  req.set_language(absl::GetFlag(FLAGS_language));
  req.set_user(absl::GetFlag(FLAGS_user));
  req.set_network(network == "on");
  libsandbox::Limits* l = req.mutable_limits();
  *l = libsandbox::DefaultLimits();
  l->set_timeout_s(absl::GetFlag(FLAGS_timeout_s));
  l->set_memory_mb(absl::GetFlag(FLAGS_memory_mb));
  l->set_cpus(absl::GetFlag(FLAGS_cpus));
  l->set_max_pids(absl::GetFlag(FLAGS_max_pids));
  l->set_max_output_bytes(absl::GetFlag(FLAGS_max_output_bytes));
  l->set_workspace_mb(absl::GetFlag(FLAGS_workspace_mb));

  libsandbox::Config config;
  config.set_runsc_path(absl::GetFlag(FLAGS_runsc));
  config.set_storage_dir(absl::GetFlag(FLAGS_storage_dir));
  config.set_state_dir(absl::GetFlag(FLAGS_state_dir));
  config.set_allow_unenforced_limits(absl::GetFlag(FLAGS_allow_unenforced_limits));
  config.set_debug(absl::GetFlag(FLAGS_debug));

  libsandbox::Result result = libsandbox::Run(req, config);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  if (!google::protobuf::util::MessageToJsonString(ToJson(result), &json, options).ok()) {
    std::cerr << "sandbox-run: cannot print the result\n";
    return 1;
  }
  std::cout << json << "\n";
  return 0;
}
