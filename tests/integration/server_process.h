#ifndef SANDYQ_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define SANDYQ_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/client.h"

namespace sandyq::testing {

// How a test runs sandyqd beyond its arguments.
struct SpawnOptions {
  // sandyqd refuses to run as root outside --dev. When the tests run as root
  // (CI containers), pass --allow_root to every run without --dev.
  bool allow_root_when_root = true;
  // A command that runs sandyqd, e.g. {"setpriv", "--reuid=65534", ...}:
  // executed (searched in PATH) with sandyqd's path and arguments appended.
  std::vector<std::string> prefix;
};

// A real sandyqd process for end-to-end tests: started on 127.0.0.1 port 0,
// considered up once it prints "sandyqd: serving on <address>" on stdout.
// Killed (SIGKILL) when destroyed if still running.
class ServerProcess {
 public:
  // `sandyqd --dev --data_dir DIR --listen 127.0.0.1:0` plus `extra_args`.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartDev(
      const std::string& data_dir, std::vector<std::string> extra_args = {});
  // `sandyqd` with exactly `args`; waits for the serving line. On failure
  // the status message carries what the server printed on stderr.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      std::vector<std::string> args, const SpawnOptions& options = {});
  // Runs sandyqd with `args` to completion and returns its exit code;
  // `output` receives stdout and stderr.
  static int RunToExit(std::vector<std::string> args, std::string* output,
                       const SpawnOptions& options = {});

  ~ServerProcess();

  const std::string& address() const { return address_; }
  // The Prometheus listener's host:port, from the line "sandyqd: metrics on
  // http://<address>/metrics" printed before the serving line; empty if the
  // server runs none.
  const std::string& metrics_address() const { return metrics_address_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for the process; returns its exit status as
  // from waitpid (use WIFEXITED etc.).
  int Stop(int signal);
  // Sends `signal` and returns at once (SIGHUP; SIGTERM under load).
  void Signal(int signal) const;
  // Waits for the process to exit; its status as from waitpid.
  int Wait();

  // A client for `identity` using `pki_dir` (default: <data_dir>/pki).
  absl::StatusOr<std::unique_ptr<client::Client>> ClientFor(
      const std::string& identity, const std::string& pki_dir = "") const;

  // Everything the server wrote to stderr so far.
  std::string Stderr() const;

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  std::string address_;
  std::string metrics_address_;
  std::string data_dir_;
  std::string stderr_path_;
};

// A fresh empty directory for one test.
std::string NewTempDir(const std::string& name);

// Runs `binary` (a path) with `args` to completion and returns its exit code
// (-1 if it did not exit normally). `out` receives what it wrote on stdout
// and, when `err` is null, on stderr too; otherwise `err` receives stderr.
int RunProgram(const std::string& binary, const std::vector<std::string>& args,
               std::string* out, std::string* err = nullptr);

// Path of the sandyqd binary under test.
const char* SandyqdPath();

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_INTEGRATION_SERVER_PROCESS_H_
