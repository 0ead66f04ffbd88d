// The load generator end to end: sandyq-bench against a real sandyqd over
// mTLS, checking the figures its JSON line reports, which tests/bench/run
// and BENCHMARKS.md rely on.

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

struct BenchRun {
  int exit_code = -1;
  std::string json;      // the last line of stdout starting with '{'
  std::string err_text;  // stderr: the readable table and warnings
};

// Runs sandyq-bench to completion.
BenchRun RunBench(const std::vector<std::string>& args) {
  BenchRun run;
  std::string out;
  run.exit_code = RunProgram(SANDYQ_BENCH_PATH, args, &out, &run.err_text);
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (!line.empty() && line.front() == '{') run.json = std::string(line);
  }
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
