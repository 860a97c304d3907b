#include "bench/raw_runsc.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libsandbox/base/fs_util.h"

namespace libsandbox::bench {
namespace {

// Where the code file appears, as in the library's bundles.
constexpr char kCodeDir[] = "/.libsandbox";

std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string QuoteList(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& i : items) quoted.push_back(Quote(i));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

std::string BindRo(const std::string& source, const std::string& destination) {
  return absl::StrCat(R"({"destination":)", Quote(destination), R"(,"type":"bind","source":)",
                      Quote(source), R"(,"options":["rbind","ro","nosuid","nodev"]})");
}

bool StateLeft(const std::string& root, const std::string& id) {
  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (struct dirent* e = ::readdir(d)) found |= absl::StrContains(e->d_name, id);
  ::closedir(d);
  return found;
}

}  // namespace

absl::StatusOr<std::string> WriteRawBundle(const std::string& dir, const RawBundleOptions& o) {
  const std::string bundle = dir + "/bundle";
  for (const std::string& d : {bundle, dir + "/rootfs", dir + "/code"}) {
    if (absl::Status s = MakeDirs(d, 0755); !s.ok()) return s;
  }
  if (absl::Status s = WriteFile(absl::StrCat(dir, "/code/", o.code_file), o.code, 0644,
                                 /*overwrite=*/true);
      !s.ok()) {
    return s;
  }
  std::vector<std::string> args = o.interpreter;
  args.push_back(absl::StrCat(kCodeDir, "/", o.code_file));

  std::vector<std::string> mounts = {
      R"({"destination":"/proc","type":"proc","source":"proc"})",
      R"({"destination":"/tmp","type":"tmpfs","source":"tmpfs",)"
      R"("options":["nosuid","nodev","mode=1777","size=64m"]})",
  };
  for (const char* system_dir : {"/usr", "/bin", "/lib", "/lib64", "/sbin"}) {
    struct stat st;
    if (::stat(system_dir, &st) == 0) mounts.push_back(BindRo(system_dir, system_dir));
  }
  mounts.push_back(BindRo(dir + "/code", kCodeDir));

  const std::string json =
      absl::StrCat(R"({"ociVersion":"1.0.2","hostname":"sandbox",)",                           //
                   R"("root":{"path":)", Quote(dir + "/rootfs"), R"(,"readonly":true},)",      //
                   R"("process":{"terminal":false,"user":{"uid":1000,"gid":1000},)",           //
                   R"("args":)", QuoteList(args), ",",                                         //
                   R"("env":["PATH=/usr/bin:/bin","HOME=/tmp","LANG=C.UTF-8"],"cwd":"/tmp",)"  //
                   R"("noNewPrivileges":true,"capabilities":{}},)",                            //
                   R"("mounts":[)", absl::StrJoin(mounts, ","), "],",                          //
                   R"("linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},)"   //
                   R"({"type":"mount"},{"type":"network"}]}})");
  if (absl::Status s = WriteFile(bundle + "/config.json", json, 0600, /*overwrite=*/true);
      !s.ok()) {
    return s;
  }
  return bundle;
}

absl::StatusOr<ProcessResult> RunRawRunsc(const std::string& runsc, const std::string& root,
                                          const std::string& bundle, const std::string& id) {
  SpawnOptions spawn;
  spawn.argv = {runsc, "--root", root, "--network=none", "run", "--bundle", bundle, id};
  absl::StatusOr<Subprocess> child = Subprocess::Start(spawn);
  if (!child.ok()) return child.status();
  absl::StatusOr<ProcessResult> result =
      child->Communicate(1 << 20, absl::Now() + absl::Seconds(60));
  if (StateLeft(root, id)) {
    (void)RunCommand({runsc, "--root", root, "delete", "--force", id}, absl::Seconds(10));
  }
  return result;
}

absl::StatusOr<RawRunningSandbox> RawRunningSandbox::Start(const std::string& runsc,
                                                           const std::string& root,
                                                           const std::string& bundle,
                                                           const std::string& id) {
  RawRunningSandbox sandbox;
  sandbox.runsc_ = runsc;
  sandbox.root_ = root;
  sandbox.id_ = id;
  SpawnOptions spawn;
  spawn.argv = {runsc, "--root", root, "--network=none", "run", "--bundle", bundle, id};
  // Nobody reads the init's output; a pipe nobody drains could block it.
  spawn.capture_output = false;
  absl::StatusOr<Subprocess> run = Subprocess::Start(spawn);
  if (!run.ok()) return run.status();
  sandbox.run_ = std::move(*run);
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    if (sandbox.run_.HasExited()) return absl::InternalError("raw runsc run exited early");
    absl::StatusOr<ProcessResult> state =
        RunCommand({runsc, "--root", root, "state", id}, absl::Seconds(10));
    if (state.ok() && state->exit_code == 0 &&
        absl::StrContains(state->out.data, R"("status": "running")")) {
      return sandbox;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("raw sandbox did not reach running in 30 s");
}

RawRunningSandbox::RawRunningSandbox(RawRunningSandbox&& o) noexcept
    : runsc_(std::move(o.runsc_)),
      root_(std::move(o.root_)),
      id_(std::exchange(o.id_, "")),
      run_(std::move(o.run_)) {}

RawRunningSandbox& RawRunningSandbox::operator=(RawRunningSandbox&& o) noexcept {
  if (this != &o) {
    Delete();
    runsc_ = std::move(o.runsc_);
    root_ = std::move(o.root_);
    id_ = std::exchange(o.id_, "");
    run_ = std::move(o.run_);
  }
  return *this;
}

RawRunningSandbox::~RawRunningSandbox() { Delete(); }

void RawRunningSandbox::Delete() {
  if (id_.empty()) return;
  (void)RunCommand({runsc_, "--root", root_, "delete", "--force", id_}, absl::Seconds(10));
  id_.clear();
  // The foreground runsc run ends with its container; if it lingers, kill it
  // rather than hang the benchmark.
  if (!run_.running()) return;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!run_.HasExited() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  if (!run_.HasExited()) run_.KillGroup(SIGKILL);
  (void)run_.Wait();
}

absl::StatusOr<ProcessResult> RawRunningSandbox::Exec(const std::vector<std::string>& argv) const {
  std::vector<std::string> cmd = {runsc_,      "--root", root_,  "exec", "--user",
                                  "1000:1000", "--cwd",  "/tmp", id_};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  return RunCommand(cmd, absl::Seconds(60));
}

}  // namespace libsandbox::bench
