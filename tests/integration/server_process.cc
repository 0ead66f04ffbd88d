#include "tests/integration/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sandyq::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(60);

// Temporary directories and files this test process made. They are removed
// when it exits, unless a test failed (then they are kept to look at): each
// vault preallocates tens of megabytes, and thousands of runs fill a disk.
absl::Mutex temp_mu;
std::vector<std::string>* temp_paths ABSL_GUARDED_BY(temp_mu) = nullptr;

void RemoveTempPaths() {
  if (::testing::UnitTest::GetInstance()->Failed()) return;
  absl::MutexLock lock(&temp_mu);
  if (temp_paths == nullptr) return;
  for (const std::string& path : *temp_paths) {
    std::string cmd = absl::StrCat("rm -rf '", path, "'");
    (void)std::system(cmd.c_str());
  }
  temp_paths->clear();
}

void RemoveAtExit(const std::string& path) {
  absl::MutexLock lock(&temp_mu);
  if (temp_paths == nullptr) {
    temp_paths = new std::vector<std::string>();
    std::atexit(RemoveTempPaths);
  }
  temp_paths->push_back(path);
}
constexpr absl::string_view kServingPrefix = "sandyqd: serving on ";
constexpr absl::string_view kMetricsPrefix = "sandyqd: metrics on http://";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts `command` (argv[0] a path, or a name searched in PATH) with the
// given stdout and stderr; returns its pid.
pid_t ForkExec(std::vector<std::string> command, int stdout_fd, int stderr_fd) {
  std::vector<char*> argv;
  for (auto& a : command) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(stdout_fd, STDOUT_FILENO);
    dup2(stderr_fd, STDERR_FILENO);
    // Children must not inherit a blocked-signal mask from the test.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

pid_t Spawn(const std::vector<std::string>& args, int stdout_fd,
            int stderr_fd, const SpawnOptions& options) {
  std::vector<std::string> copy = options.prefix;
  copy.push_back(SandyqdPath());
  copy.insert(copy.end(), args.begin(), args.end());
  if (options.allow_root_when_root && geteuid() == 0 &&
      std::find(args.begin(), args.end(), "--dev") == args.end()) {
    copy.push_back("--allow_root");
  }
  return ForkExec(std::move(copy), stdout_fd, stderr_fd);
}

}  // namespace

const char* SandyqdPath() { return SANDYQD_PATH; }

int RunProgram(const std::string& binary, const std::vector<std::string>& args,
               std::string* out, std::string* err) {
  static std::atomic<int> counter{0};
  const std::string base = absl::StrCat(::testing::TempDir(), "sandyq-run-",
                                        getpid(), "-", counter++);
  const std::string out_path = base + ".out", err_path = base + ".err";
  const int out_fd =
      open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd =
      err == nullptr ? out_fd
                     : open(err_path.c_str(),
                            O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::vector<std::string> command = {binary};
  command.insert(command.end(), args.begin(), args.end());
  const pid_t pid = ForkExec(std::move(command), out_fd, err_fd);
  close(out_fd);
  if (err != nullptr) close(err_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  *out = ReadAll(out_path);
  std::remove(out_path.c_str());
  if (err != nullptr) {
    *err = ReadAll(err_path);
    std::remove(err_path.c_str());
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string NewTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  std::string dir = absl::StrCat(::testing::TempDir(), "sandyq-", getpid(), "-",
                                 name, "-", counter++);
  std::string cmd = absl::StrCat("rm -rf '", dir, "'");
  (void)std::system(cmd.c_str());
  mkdir(dir.c_str(), 0700);
  RemoveAtExit(dir);
  return dir;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartDev(
    const std::string& data_dir, std::vector<std::string> extra_args) {
  std::vector<std::string> args = {"--dev", "--data_dir", data_dir, "--listen",
                                   "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto server = Start(std::move(args));
  if (server.ok()) (*server)->data_dir_ = data_dir;
  return server;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::vector<std::string> args, const SpawnOptions& options) {
  static std::atomic<int> counter{0};
  std::unique_ptr<ServerProcess> p(new ServerProcess);
  p->stderr_path_ = absl::StrCat(::testing::TempDir(), "sandyqd-", getpid(),
                                 "-", counter++, ".stderr");
  RemoveAtExit(p->stderr_path_);
  int err_fd = open(p->stderr_path_.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int out[2];
  if (err_fd < 0 || pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError("cannot create pipes");
  }
  p->pid_ = Spawn(args, out[1], err_fd, options);
  close(out[1]);
  close(err_fd);

  // Wait for the serving line (or for the process to exit).
  std::string buffer;
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (true) {
    size_t nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (absl::StartsWith(line, kServingPrefix)) {
        p->address_ = std::string(absl::StripPrefix(line, kServingPrefix));
        break;
      }
      if (absl::StartsWith(line, kMetricsPrefix)) {
        p->metrics_address_ = std::string(absl::StripSuffix(
            absl::StripPrefix(line, kMetricsPrefix), "/metrics"));
      }
      continue;
    }
    const int wait_ms = static_cast<int>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    pollfd pfd{out[0], POLLIN, 0};
    int ready = poll(&pfd, 1, wait_ms);
    if (ready <= 0) {
      close(out[0]);
      return absl::DeadlineExceededError(
          absl::StrCat("sandyqd did not start:\n", p->Stderr()));
    }
    char chunk[512];
    ssize_t n = read(out[0], chunk, sizeof(chunk));
    if (n <= 0) {
      close(out[0]);
      int status = 0;
      waitpid(p->pid_, &status, 0);
      p->pid_ = -1;
      return absl::FailedPreconditionError(
          absl::StrCat("sandyqd exited before serving:\n", p->Stderr()));
    }
    buffer.append(chunk, static_cast<size_t>(n));
  }
  // Keep draining stdout so the server never blocks on a full pipe.
  std::thread([fd = out[0]] {
    char sink[512];
    while (read(fd, sink, sizeof(sink)) > 0) {
    }
    close(fd);
  }).detach();
  return p;
}

int ServerProcess::RunToExit(std::vector<std::string> args,
                             std::string* output, const SpawnOptions& options) {
  std::string path = absl::StrCat(::testing::TempDir(), "sandyqd-run-",
                                   getpid(), ".out");
  RemoveAtExit(path);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t pid = Spawn(args, fd, fd, options);
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  if (output != nullptr) *output = ReadAll(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

int ServerProcess::Stop(int signal) {
  Signal(signal);
  return Wait();
}

void ServerProcess::Signal(int signal) const {
  if (pid_ > 0) kill(pid_, signal);
}

int ServerProcess::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

absl::StatusOr<std::unique_ptr<client::Client>> ServerProcess::ClientFor(
    const std::string& identity, const std::string& pki_dir) const {
  return client::Client::Connect(
      {.address = address_,
       .pki_dir = pki_dir.empty() ? data_dir_ + "/pki" : pki_dir,
       .identity = identity,
       .timeout = absl::Seconds(30)});
}

std::string ServerProcess::Stderr() const { return ReadAll(stderr_path_); }

}  // namespace sandyq::testing
