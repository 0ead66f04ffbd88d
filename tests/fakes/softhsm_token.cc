#include "tests/fakes/softhsm_token.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

extern char** environ;

namespace sandyq::testing {
namespace {

constexpr char kConfVariable[] = "SOFTHSM2_CONF";
constexpr char kUtil[] = "softhsm2-util";

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// `name` found in $PATH (or a default path), or empty.
std::string FindExecutable(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs =
      path != nullptr && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream stream(dirs);
  std::string dir;
  while (std::getline(stream, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0 && IsRegularFile(candidate)) {
      return candidate;
    }
  }
  return "";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

std::string SoftHsmToken::FindModule() {
  if (const char* env = std::getenv("SANDYQ_SOFTHSM2_MODULE");
      env != nullptr && *env != '\0') {
    return IsRegularFile(env) ? env : "";
  }
  for (const char* candidate : {
           "/usr/lib/softhsm/libsofthsm2.so",
           "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
           "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
           "/usr/lib64/pkcs11/libsofthsm2.so",
           "/usr/lib64/softhsm/libsofthsm2.so",
           "/usr/lib/pkcs11/libsofthsm2.so",
           "/usr/local/lib/softhsm/libsofthsm2.so",
       }) {
    if (IsRegularFile(candidate)) return candidate;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<SoftHsmToken>> SoftHsmToken::Create(
    absl::string_view label, absl::string_view pin, absl::string_view so_pin) {
  std::unique_ptr<SoftHsmToken> token(new SoftHsmToken);
  token->module_path_ = FindModule();
  if (token->module_path_.empty()) {
    return absl::FailedPreconditionError(
        "SoftHSM2 is not installed (apt-get install softhsm2), or set "
        "SANDYQ_SOFTHSM2_MODULE");
  }
  if (FindExecutable(kUtil).empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kUtil, " not found in PATH (apt-get install softhsm2)"));
  }

  if (const char* previous = std::getenv(kConfVariable); previous != nullptr) {
    token->had_previous_conf_ = true;
    token->previous_conf_ = previous;
  }

  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr || *tmp == '\0') tmp = std::getenv("TMPDIR");
  if (tmp == nullptr || *tmp == '\0') tmp = "/tmp";
  std::string dir = absl::StrCat(tmp, "/sandyq-softhsm-XXXXXX");
  if (::mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", dir, ": ", std::strerror(errno)));
  }
  token->dir_ = dir;  // from here on the destructor removes it
  const std::string tokens = absl::StrCat(dir, "/tokens");
  if (::mkdir(tokens.c_str(), 0700) != 0) {
    return absl::InternalError(
        absl::StrCat("mkdir ", tokens, ": ", std::strerror(errno)));
  }
  {
    std::ofstream conf(token->conf_path());
    conf << "# Written by tests/fakes/softhsm_token.cc\n"
         << "directories.tokendir = " << tokens << "/\n"
         << "objectstore.backend = file\n"
         << "log.level = ERROR\n"
         << "slots.removable = false\n";
    if (!conf.good()) {
      return absl::InternalError(
          absl::StrCat("cannot write ", token->conf_path()));
    }
  }
  ::setenv(kConfVariable, token->conf_path().c_str(), 1);

  token->label_ = std::string(label);
  token->pin_ = std::string(pin);
  if (absl::Status s = token->AddToken(label, pin, so_pin); !s.ok()) return s;
  return token;
}

absl::Status SoftHsmToken::AddToken(absl::string_view label,
                                    absl::string_view pin,
                                    absl::string_view so_pin) {
  const std::string log = absl::StrCat(dir_, "/softhsm2-util.log");
  std::vector<std::string> args = {kUtil,
                                   "--init-token",
                                   "--free",
                                   "--label",
                                   std::string(label),
                                   "--pin",
                                   std::string(pin),
                                   "--so-pin",
                                   std::string(so_pin)};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int rc =
      ::posix_spawnp(&pid, kUtil, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("cannot run ", kUtil, ": ", std::strerror(rc)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return absl::InternalError(
          absl::StrCat("waitpid ", kUtil, ": ", std::strerror(errno)));
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // softhsm2-util does not print PINs, but make sure.
    const std::string output = absl::StrReplaceAll(
        ReadAll(log),
        {{std::string(pin), "<pin>"}, {std::string(so_pin), "<so-pin>"}});
    return absl::InternalError(absl::StrCat(kUtil, " --init-token --label ",
                                            label, " failed: ", output));
  }
  return absl::OkStatus();
}

SoftHsmToken::~SoftHsmToken() {
  if (had_previous_conf_) {
    ::setenv(kConfVariable, previous_conf_.c_str(), 1);
  } else {
    ::unsetenv(kConfVariable);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

}  // namespace sandyq::testing
