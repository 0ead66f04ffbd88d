// Process hardening of the real sandyqd: no core dumps and not dumpable,
// key memory locked in RAM, owner-only data directory and key files, and no
// root outside --dev.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uid_t kNobody = 65534;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The user sandyqd runs as in these tests: never root. When the tests run as
// root (CI) that is nobody, through setpriv (util-linux).
uid_t UnprivilegedUid() { return geteuid() == 0 ? kNobody : geteuid(); }
std::vector<std::string> AsUnprivileged() {
  if (geteuid() != 0) return {};
  return {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
}
// A directory the unprivileged user owns.
std::string UnprivilegedDir(const std::string& name) {
  const std::string dir = NewTempDir(name);
  if (geteuid() == 0) {
    EXPECT_EQ(chown(dir.c_str(), kNobody, kNobody), 0);
  }
  return dir;
}

// The words after `field` in /proc/<pid>/status, e.g. "Uid:" or "VmLck:".
std::vector<std::string> StatusField(pid_t pid, absl::string_view field) {
  for (absl::string_view line :
       absl::StrSplit(Slurp(absl::StrCat("/proc/", pid, "/status")), '\n')) {
    if (absl::ConsumePrefix(&line, field)) {
      return absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    }
  }
  return {};
}

// Owner of /proc/<pid>: the process's user while it is dumpable, root once
// it made itself non-dumpable (proc(5)).
uid_t ProcOwner(pid_t pid) {
  struct stat st;
  if (stat(absl::StrCat("/proc/", pid, "/status").c_str(), &st) != 0) return -1;
  return st.st_uid;
}

TEST(HardeningE2eTest, ServerIsNotDumpableHasNoCoreFilesAndLocksKeys) {
  const std::string dir = UnprivilegedDir("dumpable");
  auto server = ServerProcess::Start(
      {"--dev", "--data_dir", dir, "--listen", "127.0.0.1:0"},
      {.prefix = AsUnprivileged()});
  ASSERT_TRUE(server.ok()) << server.status();
  const pid_t pid = (*server)->pid();

  // It runs as the unprivileged user and serves.
  const std::vector<std::string> uids = StatusField(pid, "Uid:");
  ASSERT_EQ(uids.size(), 4u);
  EXPECT_EQ(uids[1], absl::StrCat(UnprivilegedUid()));  // effective
  auto client = (*server)->ClientFor("checkout", dir + "/pki");
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->CheckHealth().ok());
  auto token = (*client)->Tokenize("e2e:hardening", v1::FIELD_TYPE_EMAIL,
                                   "hardening@example.kz");
  ASSERT_TRUE(token.ok()) << token.status();

  // Not dumpable: /proc/<pid> belongs to root, not to its user.
  EXPECT_EQ(ProcOwner(pid), 0u);
  // No core files, whatever the limit it was started with.
  bool core_line = false;
  for (absl::string_view line :
       absl::StrSplit(Slurp(absl::StrCat("/proc/", pid, "/limits")), '\n')) {
    if (!absl::StartsWith(line, "Max core file size")) continue;
    core_line = true;
    const std::vector<std::string> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    ASSERT_GE(words.size(), 6u) << line;
    EXPECT_EQ(words[4], "0") << line;  // soft
    EXPECT_EQ(words[5], "0") << line;  // hard
  }
  EXPECT_TRUE(core_line);
  // Key memory (the master key, KEKs, subject keys) is locked in RAM.
  const std::vector<std::string> locked = StatusField(pid, "VmLck:");
  ASSERT_EQ(locked.size(), 2u);
  int64_t locked_kb = 0;
  ASSERT_TRUE(absl::SimpleAtoi(locked[0], &locked_kb));
  EXPECT_GT(locked_kb, 0);
  EXPECT_THAT((*server)->Stderr(), Not(HasSubstr("cannot be locked")));

  EXPECT_EQ((*server)->Stop(SIGTERM), 0);
}

// The check above can tell: a process that did not make itself
// non-dumpable, run the same way, owns its /proc entry.
TEST(HardeningE2eTest, ProcOwnerShowsADumpableProcess) {
  std::vector<std::string> args = AsUnprivileged();
  args.insert(args.end(), {"sleep", "60"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    execvp(argv[0], argv.data());
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  // setpriv execs sleep in the same process; wait until it has.
  for (int i = 0; i < 6000 && Slurp(absl::StrCat("/proc/", pid, "/comm")) != "sleep\n";
       ++i) {
    usleep(10000);
  }
  EXPECT_EQ(Slurp(absl::StrCat("/proc/", pid, "/comm")), "sleep\n");
  EXPECT_EQ(ProcOwner(pid), UnprivilegedUid());
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// A dev vault to run with --config: the config, PKI and keys it made.
std::string PreparedVault(const std::string& name) {
  const std::string dir = NewTempDir(name);
  auto server = ServerProcess::StartDev(dir);
  EXPECT_TRUE(server.ok()) << server.status();
  if (server.ok()) {
    EXPECT_EQ((*server)->Stop(SIGTERM), 0);
  }
  return dir;
}

TEST(HardeningE2eTest, RefusesGroupOrWorldAccessibleDataAndKeys) {
  const std::string dir = PreparedVault("modes");
  const std::string config = dir + "/sandyqd.textproto";
  struct Case {
    std::string path;
    mode_t bad;
    mode_t good;
  };
  for (const Case& c : {Case{dir + "/db", 0750, 0700},
                        Case{dir + "/db", 0705, 0700},
                        Case{dir + "/pki/server.key", 0640, 0600},
                        Case{dir + "/pki/server.key", 0604, 0600},
                        Case{dir + "/master.key", 0640, 0600},
                        Case{dir + "/master.key.keks", 0604, 0600},
                        Case{dir + "/erasures.ledger", 0644, 0600}}) {
    SCOPED_TRACE(absl::StrCat(c.path, " ", c.bad));
    ASSERT_EQ(chmod(c.path.c_str(), c.bad), 0);
    std::string output;
    EXPECT_EQ(ServerProcess::RunToExit({"--config", config}, &output), 1);
    EXPECT_THAT(output, HasSubstr(c.path));
    EXPECT_THAT(output, HasSubstr("not started"));
    EXPECT_THAT(output, Not(HasSubstr("serving on")));
    ASSERT_EQ(chmod(c.path.c_str(), c.good), 0);
  }
  // With the modes restored it starts.
  auto server = ServerProcess::Start({"--config", config});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->Stop(SIGTERM), 0);
}

// What the server creates (RocksDB files, backups) is for its user only,
// even when it is started with a permissive umask.
TEST(HardeningE2eTest, CreatesOwnerOnlyFilesWhateverTheUmask) {
  const std::string dir = NewTempDir("umask");
  const mode_t old = umask(0);  // inherited by the server
  auto server = ServerProcess::StartDev(dir);
  umask(old);
  ASSERT_TRUE(server.ok()) << server.status();
  auto keyadmin = (*server)->ClientFor("keyadmin");
  ASSERT_TRUE(keyadmin.ok());
  auto backup = (*keyadmin)->Backup(dir + "/backups");
  ASSERT_TRUE(backup.ok()) << backup.status();
  EXPECT_EQ((*server)->Stop(SIGTERM), 0);
  int checked = 0;
  for (const std::string& sub : {std::string("/db"), std::string("/backups")}) {
    const std::string cmd = absl::StrCat("find '", dir, sub,
                                         "' -perm /077 -printf '%m %p\\n'");
    FILE* find = popen(cmd.c_str(), "r");
    ASSERT_NE(find, nullptr);
    char line[4096];
    std::string loose;
    while (fgets(line, sizeof(line), find) != nullptr) loose += line;
    EXPECT_EQ(pclose(find), 0);
    EXPECT_EQ(loose, "") << "group/world accessible under " << sub;
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

// Outside --dev sandyqd refuses to run as root unless --allow_root. When the
// tests are not root, a user namespace makes sandyqd root in its own eyes.
TEST(HardeningE2eTest, RefusesRootOutsideDevMode) {
  const std::string dir = PreparedVault("root");
  SpawnOptions as_root;
  as_root.allow_root_when_root = false;
  if (geteuid() != 0) as_root.prefix = {"unshare", "--map-root-user", "--"};

  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit({"--config", dir + "/sandyqd.textproto"},
                                     &output, as_root),
            1);
  EXPECT_THAT(output, HasSubstr("refusing to run as root"));
  EXPECT_THAT(output, HasSubstr("not started"));

  // Offline commands too, before they touch anything.
  const std::string key = dir + "/new-master.key";
  EXPECT_EQ(ServerProcess::RunToExit({"--init_master_key", key}, &output, as_root),
            1);
  EXPECT_THAT(output, HasSubstr("refusing to run as root"));
  struct stat st;
  EXPECT_NE(stat(key.c_str(), &st), 0);

  // --allow_root: it runs, and says so.
  std::vector<std::string> args = {"--config", dir + "/sandyqd.textproto",
                                   "--allow_root"};
  auto server = ServerProcess::Start(args, as_root);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT((*server)->Stderr(), HasSubstr("running as root (--allow_root)"));
  EXPECT_EQ((*server)->Stop(SIGTERM), 0);

  // --dev runs as root without it (development containers).
  auto dev = ServerProcess::Start(
      {"--dev", "--data_dir", dir, "--listen", "127.0.0.1:0"}, as_root);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ((*dev)->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace sandyq::testing
