// sandbox-run: run code in a gVisor sandbox and print the result as JSON.
//
//   echo 'print(1)' | sandbox-run --memory-mb=256
//   sandbox-run --language=bash --file=data.csv=./data.csv script.sh
//   sandbox-run --request=job.textproto --config=host.json --timeout-s=5
//
// The request and the configuration are the schema's messages (RunRequest
// and Config of config.proto), read from --request and --config files
// (text format or JSON) and then overridden by the flags given explicitly.
// Every default comes from base/defaults (DefaultLimits, ...).
//
// Exits 0 whenever it produced a result (whatever the status), 2 on usage errors.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/marshalling.h"
#include "absl/flags/reflection.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "libsandbox/base/defaults.h"
#include "libsandbox/base/fs_util.h"
#include "libsandbox/base/message_file.h"
#include "libsandbox/rules/validate.h"
#include "libsandbox/sandbox.h"

namespace {

// The help of a flag whose unset value falls back to `fallback`.
std::string WithDefault(absl::string_view help, absl::string_view fallback) {
  return absl::StrCat(help, " (default: ", fallback, ")");
}
std::string WithDefault(absl::string_view help, double fallback) {
  return WithDefault(help, absl::StrCat(fallback));
}
std::string WithDefault(absl::string_view help, int64_t fallback) {
  return WithDefault(help, absl::StrCat(fallback));
}

}  // namespace

// Unset flags leave the request file's field, or the library default, alone.
ABSL_FLAG(std::string, language, "",
          WithDefault("python or bash (or another known language)", libsandbox::kDefaultLanguage));
ABSL_FLAG(std::optional<double>, timeout_s, std::nullopt,
          WithDefault("wall-clock limit in seconds (0: none)",
                      libsandbox::DefaultLimits().timeout_s()));
ABSL_FLAG(std::optional<int64_t>, memory_mb, std::nullopt,
          WithDefault("memory limit in MiB (0: none)", libsandbox::DefaultLimits().memory_mb()));
ABSL_FLAG(std::optional<double>, cpus, std::nullopt,
          WithDefault("CPU limit in cores (0: none)", libsandbox::DefaultLimits().cpus()));
ABSL_FLAG(std::optional<int64_t>, max_pids, std::nullopt,
          WithDefault("process/thread limit (0: none)", libsandbox::DefaultLimits().max_pids()));
ABSL_FLAG(std::optional<int64_t>, max_output_bytes, std::nullopt,
          WithDefault("per-stream output cap (0: none)",
                      libsandbox::DefaultLimits().max_output_bytes()));
ABSL_FLAG(std::optional<int64_t>, workspace_mb, std::nullopt,
          WithDefault("size of /home/user in MiB (0: unlimited)",
                      libsandbox::DefaultLimits().workspace_mb()));
ABSL_FLAG(std::optional<int64_t>, tmp_mb, std::nullopt,
          WithDefault("size of /tmp in MiB (0: same as --workspace-mb)",
                      libsandbox::DefaultLimits().tmp_mb()));
ABSL_FLAG(std::string, network, "",
          WithDefault("off, or on (outbound only; host and private ranges blocked)", "off"));
ABSL_FLAG(std::string, user, "", "user id for file retention and quotas");
ABSL_FLAG(std::string, storage_dir, "",
          WithDefault("where generated files are kept", libsandbox::kDefaultStorageDir));
ABSL_FLAG(std::string, state_dir, "",
          WithDefault("where run state lives", libsandbox::kDefaultStateDir));
ABSL_FLAG(std::string, runsc, "", "path of runsc (default: search PATH)");
ABSL_FLAG(std::vector<std::string>, file, {},
          "NAME=PATH: copy PATH into the workspace as NAME (repeatable; replaces a file of "
          "the request file with the same NAME)");
ABSL_FLAG(bool, allow_unenforced_limits, false, "run even when a cap cannot be enforced");
ABSL_FLAG(bool, debug, false, "keep runsc debug logs");
ABSL_FLAG(std::string, request, "",
          "a RunRequest (config.proto) to start from, as .textproto/.txtpb/.pbtxt or .json; "
          "its code is used unless CODE_FILE is given (then stdin is not read)");
ABSL_FLAG(std::string, config, "",
          "a Config (config.proto) to start from, as .textproto/.txtpb/.pbtxt or .json");

namespace {

constexpr int kUsageError = 2;
// A request carries code, stdin and input files; a config is small.
constexpr size_t kMaxRequestFileBytes = size_t{128} << 20;
constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;

// The flags in the order --help lists them.
constexpr const char* kFlagOrder[] = {"request",
                                      "config",
                                      "language",
                                      "timeout_s",
                                      "memory_mb",
                                      "cpus",
                                      "max_pids",
                                      "max_output_bytes",
                                      "workspace_mb",
                                      "tmp_mb",
                                      "network",
                                      "user",
                                      "storage_dir",
                                      "state_dir",
                                      "runsc",
                                      "file",
                                      "allow_unenforced_limits",
                                      "debug"};

void PrintUsage() {
  std::cerr << "usage: sandbox-run [--language=python|bash] [--timeout-s=S] [--memory-mb=M] "
               "[--cpus=C] [--max-pids=N] [--max-output-bytes=B] [--network=off|on] "
               "[--user=ID] [--storage-dir=DIR] [--runsc=PATH] [--file=NAME=PATH]... "
               "[CODE_FILE]\n"
               "       sandbox-run [--request=FILE] [--config=FILE] [FLAG]... [CODE_FILE]\n";
}

int Usage(const std::string& error) {
  std::cerr << "sandbox-run: " << error << "\n";
  PrintUsage();
  return kUsageError;
}

void PrintHelp() {
  std::cerr << "sandbox-run: run code in a gVisor sandbox; prints one JSON result\n";
  PrintUsage();
  std::cerr << "\nThe code comes from CODE_FILE, else from the request file's code, else from "
               "stdin (CODE_FILE \"-\": stdin).\nFlags given override the request and config "
               "files' fields; unset ones keep the file's value or the default.\n\nflags:\n";
  for (const char* name : kFlagOrder) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::cerr << "  --" << absl::StrReplaceAll(name, {{"_", "-"}}) << "  " << flag->Help() << "\n";
  }
}

// Sets flags through abseil's own parsers; accepts --foo-bar for --foo_bar
// and repeated --file. Records in `given` the flags set explicitly.
bool ParseArgs(int argc, char** argv, std::vector<std::string>& files,
               std::vector<std::string>& positional, std::set<std::string>& given,
               std::string& error) {
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
    given.insert(name);
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

std::string ReadStdin() {
  std::string code;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) {
    code.append(buf, n);
    if (code.size() > libsandbox::kMaxCodeBytes) break;  // reported by validation
  }
  return code;
}

template <typename T, typename Setter>
void Override(const absl::Flag<std::optional<T>>& flag, Setter set) {
  if (std::optional<T> v = absl::GetFlag(flag)) set(*v);
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

// The contract's JSON shape: status by name, files and outputs as lists of
// objects.
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
  // Figures and images, their bytes as base64 (as the Python to_dict).
  auto* outputs = f["outputs"].mutable_list_value();
  for (const libsandbox::Output& out : r.outputs()) {
    google::protobuf::Struct o;
    (*o.mutable_fields())["mime_type"] = Str(out.mime_type());
    (*o.mutable_fields())["data"] = Str(absl::Base64Escape(out.data()));
    (*o.mutable_fields())["name"] = Str(out.name());
    *outputs->add_values()->mutable_struct_value() = std::move(o);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> file_args, positional;
  std::set<std::string> given;
  std::string error;
  if (!ParseArgs(argc, argv, file_args, positional, given, error)) {
    if (error == "help") {
      PrintHelp();
      return 0;
    }
    return Usage(error);
  }
  if (positional.size() > 1) return Usage("at most one CODE_FILE");
  std::string network = absl::GetFlag(FLAGS_network);
  if (given.contains("network") && network != "on" && network != "off") {
    return Usage("--network must be on or off");
  }

  // The files first, then the flags given over them.
  libsandbox::RunRequest req;
  if (given.contains("request")) {
    absl::Status s = libsandbox::ReadMessageFile(absl::GetFlag(FLAGS_request), "request file",
                                                 kMaxRequestFileBytes, req);
    if (!s.ok()) return Usage(std::string(s.message()));
  }
  libsandbox::Config config;
  if (given.contains("config")) {
    absl::Status s = libsandbox::ReadMessageFile(absl::GetFlag(FLAGS_config), "config file",
                                                 kMaxConfigFileBytes, config);
    if (!s.ok()) return Usage(std::string(s.message()));
  }

  // CODE_FILE wins; without one, a request file's code; else stdin.
  if (!positional.empty() && positional[0] != "-") {
    absl::StatusOr<std::string> code =
        libsandbox::ReadFile(positional[0], libsandbox::kMaxCodeBytes + 1);
    if (!code.ok()) return Usage(std::string(code.status().message()));
    req.set_code(*std::move(code));
  } else if (!positional.empty() || req.code().empty()) {
    req.set_code(ReadStdin());
  }
  for (const std::string& spec : file_args) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) return Usage("--file must be NAME=PATH");
    absl::StatusOr<std::string> content = libsandbox::ReadFile(spec.substr(eq + 1), 1 << 30);
    if (!content.ok()) return Usage(std::string(content.status().message()));
    const std::string name = spec.substr(0, eq);
    libsandbox::InputFile* f = nullptr;
    for (libsandbox::InputFile& existing : *req.mutable_files()) {
      if (existing.path() == name) f = &existing;
    }
    if (f == nullptr) f = req.add_files();
    f->set_path(name);
    f->set_content(*std::move(content));
  }
  if (given.contains("language")) req.set_language(absl::GetFlag(FLAGS_language));
  if (given.contains("user")) req.set_user(absl::GetFlag(FLAGS_user));
  if (given.contains("network")) req.set_network(network == "on");
  // As in the library: a request without limits gets DefaultLimits(); one
  // with limits has exactly those (0: none). Flags replace single caps.
  if (!req.has_limits()) *req.mutable_limits() = libsandbox::DefaultLimits();
  libsandbox::Limits* l = req.mutable_limits();
  Override(FLAGS_timeout_s, [&](double v) { l->set_timeout_s(v); });
  Override(FLAGS_memory_mb, [&](int64_t v) { l->set_memory_mb(v); });
  Override(FLAGS_cpus, [&](double v) { l->set_cpus(v); });
  Override(FLAGS_max_pids, [&](int64_t v) { l->set_max_pids(v); });
  Override(FLAGS_max_output_bytes, [&](int64_t v) { l->set_max_output_bytes(v); });
  Override(FLAGS_workspace_mb, [&](int64_t v) { l->set_workspace_mb(v); });
  Override(FLAGS_tmp_mb, [&](int64_t v) { l->set_tmp_mb(v); });

  if (given.contains("runsc")) config.set_runsc_path(absl::GetFlag(FLAGS_runsc));
  if (given.contains("storage_dir")) config.set_storage_dir(absl::GetFlag(FLAGS_storage_dir));
  if (given.contains("state_dir")) config.set_state_dir(absl::GetFlag(FLAGS_state_dir));
  if (given.contains("allow_unenforced_limits")) {
    config.set_allow_unenforced_limits(absl::GetFlag(FLAGS_allow_unenforced_limits));
  }
  if (given.contains("debug")) config.set_debug(absl::GetFlag(FLAGS_debug));

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
