// The load generator end to end: sandyq-bench against a real sandyqd over
// mTLS, checking the figures its JSON line reports, which tests/bench/run
// and BENCHMARKS.md rely on.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct BenchRun {
  int exit_code = -1;
  std::string json;    // the last line of stdout starting with '{'
  std::string err_text;  // stderr: the readable table and warnings
};

// Runs sandyq-bench to completion.
BenchRun RunBench(const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  const std::string base = absl::StrCat(::testing::TempDir(), "sandyq-bench-",
                                        getpid(), "-", counter++);
  const int out = open((base + ".out").c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err = open((base + ".err").c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::vector<std::string> copy = args;
  std::string binary = SANDYQ_BENCH_PATH;
  std::vector<char*> argv = {binary.data()};
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out);
  close(err);
  int status = 0;
  waitpid(pid, &status, 0);
  BenchRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  for (absl::string_view line :
       absl::StrSplit(ReadFile(base + ".out"), '\n')) {
    if (!line.empty() && line.front() == '{') run.json = std::string(line);
  }
  run.err_text = ReadFile(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return run;
}

// The number after "key": in a flat JSON line; NaN if it is not there.
double Number(const std::string& json, const std::string& key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(needle);
  if (at == std::string::npos) return std::nan("");
  const size_t start = at + needle.size();
  const size_t end = json.find_first_of(",}", start);
  double value = 0;
  if (!absl::SimpleAtod(json.substr(start, end - start), &value)) {
    return std::nan("");
  }
  return value;
}

class BenchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir("bench");
    auto server = ServerProcess::StartDev(dir_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::vector<std::string> Common() const {
    return {"--addr", server_->address(), "--pki", dir_ + "/pki",
            "--server_pid", absl::StrCat(server_->pid())};
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(BenchE2eTest, LookupReportsTokensPerCallAndBothProcessesCpu) {
  const std::string tokens = dir_ + "/tokens.tsv";
  std::vector<std::string> preload = Common();
  for (const char* a : {"--preload", "300", "--save_tokens", tokens.c_str(),
                        "--batch", "100", "--concurrency", "2",
                        "--duration", "1s", "--warmup", "0s"}) {
    preload.push_back(a);
  }
  preload.insert(preload.begin(), "tokenize-batch");
  const BenchRun filled = RunBench(preload);
  ASSERT_EQ(filled.exit_code, 0) << filled.err_text;
  EXPECT_EQ(Number(filled.json, "errors"), 0) << filled.json;

  std::vector<std::string> lookup = Common();
  for (const char* a : {"--load_tokens", tokens.c_str(), "--concurrency", "4",
                        "--duration", "1s", "--warmup", "0s"}) {
    lookup.push_back(a);
  }
  lookup.insert(lookup.begin(), "lookup");
  const BenchRun run = RunBench(lookup);
  ASSERT_EQ(run.exit_code, 0) << run.err_text;
  ASSERT_FALSE(run.json.empty()) << run.err_text;
  EXPECT_GT(Number(run.json, "calls"), 0) << run.json;
  EXPECT_EQ(Number(run.json, "errors"), 0) << run.json;
  EXPECT_EQ(Number(run.json, "lookup_empty"), 0) << run.json;
  // Every value looked up was stored, so every lookup finds its own token
  // at least; shared values (a card expiry) find more.
  EXPECT_GE(Number(run.json, "lookup_tokens_per_call"), 1.0) << run.json;
  EXPECT_LE(Number(run.json, "lookup_tokens_per_call"), 300.0) << run.json;
  // The suite divides these by the calls answered (CPU per call).
  EXPECT_GT(Number(run.json, "client_cpu_pct"), 0) << run.json;
  EXPECT_GT(Number(run.json, "server_cpu_pct"), 0) << run.json;
}

}  // namespace
}  // namespace sandyq::testing
