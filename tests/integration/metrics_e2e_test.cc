// Metrics end to end: a real sandyqd (--dev, whose metrics listener is on
// 127.0.0.1 port 0) serves /metrics while real calls go through it over
// mTLS; every series family of docs/operations.md is checked against the
// calls made, Debian's promtool lints the whole scrape, and a real
// Prometheus server (Debian's `prometheus`) scrapes sandyqd and answers a
// query for a series through its HTTP API.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/platform/memory_limit.h"
#include "tests/fakes/http_get.h"
#include "tests/fakes/prometheus_text.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Calls(absl::string_view rpc, absl::string_view code,
                  absl::string_view identity, absl::string_view purpose) {
  return absl::StrCat("sandyq_calls_total{rpc=\"", rpc, "\",code=\"", code,
                      "\",identity=\"", identity, "\",purpose=\"", purpose,
                      "\"}");
}

std::string Reveals(absl::string_view identity, absl::string_view purpose,
                    absl::string_view decision) {
  return absl::StrCat("sandyq_reveal_decisions_total{identity=\"", identity,
                      "\",purpose=\"", purpose, "\",decision=\"", decision,
                      "\"}");
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  // No assertions here: a failure in SetUpTestSuite makes gtest skip the
  // tests, which ctest counts as passed. SetUp fails each test instead.
  static void SetUpTestSuite() {
    auto server = ServerProcess::StartDev(NewTempDir("metrics"));
    if (server.ok()) server_ = server->release();
    setup_error_ =
        new std::string(server.ok() ? "" : server.status().ToString());
  }
  void SetUp() override {
    ASSERT_EQ(*setup_error_, "");
    ASSERT_NE(server_->metrics_address(), "") << "no metrics line printed";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete setup_error_;
  }

  std::unique_ptr<client::Client> As(const std::string& identity) {
    auto c = server_->ClientFor(identity);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }

  static std::string Scrape() {
    absl::StatusOr<HttpResponse> r =
        HttpGet(server_->metrics_address(), "/metrics");
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 200);
    return r->body;
  }

  // How much `series` grew between two scrapes (absent counts as 0).
  static double Delta(const std::string& before, const std::string& after,
                      absl::string_view series) {
    return Sample(after, series).value_or(0) -
           Sample(before, series).value_or(0);
  }

  static ServerProcess* server_;
  static std::string* setup_error_;
};
ServerProcess* MetricsE2eTest::server_ = nullptr;
std::string* MetricsE2eTest::setup_error_ = nullptr;

TEST_F(MetricsE2eTest, DevServerServesMetricsOnLoopback) {
  EXPECT_TRUE(absl::StartsWith(server_->metrics_address(), "127.0.0.1:"));
  EXPECT_NE(server_->metrics_address(), server_->address());
  const std::string scrape = Scrape();
  EXPECT_THAT(scrape, HasSubstr("# TYPE sandyq_calls_total counter\n"));
  EXPECT_THAT(scrape,
              HasSubstr("# TYPE sandyq_call_duration_seconds histogram\n"));
}

TEST_F(MetricsE2eTest, CallsAreCountedByRpcCodeIdentityAndPurpose) {
  auto checkout = As("checkout");
  const std::string before = Scrape();
  ASSERT_THAT(checkout->Tokenize("e2e:metrics-1", v1::FIELD_TYPE_PHONE,
                                 "+77012345678", "", "order_fulfilment"),
              StatusIs(absl::StatusCode::kOk));
  ASSERT_THAT(checkout->Tokenize("e2e:metrics-2", v1::FIELD_TYPE_PHONE,
                                 "+77012345679", "", "order_fulfilment"),
              StatusIs(absl::StatusCode::kOk));
  // A purpose the policy does not register is not a label of its own.
  EXPECT_THAT(checkout->Tokenize("e2e:metrics-3", v1::FIELD_TYPE_PHONE,
                                 "+77012345670", "", "made-up-purpose-42"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(checkout->Tokenize("e2e:metrics-3", v1::FIELD_TYPE_PHONE,
                                 "not a phone"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // No grant: the auditor may not tokenize.
  EXPECT_THAT(As("auditor")->Tokenize("e2e:metrics-4", v1::FIELD_TYPE_PHONE,
                                      "+77012345671"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  const std::string after = Scrape();

  const absl::string_view rpc = "Tokenizer.Tokenize";
  EXPECT_EQ(Delta(before, after, Calls(rpc, "OK", "checkout", "order_fulfilment")), 2);
  EXPECT_EQ(Delta(before, after, Calls(rpc, "INVALID_ARGUMENT", "checkout", "(other)")), 1);
  EXPECT_EQ(Delta(before, after, Calls(rpc, "INVALID_ARGUMENT", "checkout", "")), 1);
  EXPECT_EQ(Delta(before, after, Calls(rpc, "PERMISSION_DENIED", "auditor", "")), 1);
  EXPECT_THAT(after, Not(HasSubstr("made-up-purpose-42")));
  EXPECT_THAT(after, Not(HasSubstr("+7701")));
  EXPECT_THAT(after, Not(HasSubstr("e2e:metrics")));
}

TEST_F(MetricsE2eTest, LatencyHistogramCountsEveryCall) {
  auto checkout = As("checkout");
  const std::string before = Scrape();
  for (int i = 0; i < 3; ++i) {
    // Allowed or not, each call is timed.
    (void)checkout->Lookup(v1::FIELD_TYPE_PHONE, "+77012345678",
                           "order_fulfilment");
  }
  const std::string after = Scrape();
  const std::string count =
      "sandyq_call_duration_seconds_count{rpc=\"Tokenizer.Lookup\"}";
  EXPECT_EQ(Delta(before, after, count), 3);
  EXPECT_EQ(Delta(before, after,
                  "sandyq_call_duration_seconds_bucket{rpc=\"Tokenizer.Lookup\","
                  "le=\"+Inf\"}"),
            3);
  EXPECT_EQ(Sample(after, count),
            Sample(after, "sandyq_call_duration_seconds_bucket{rpc=\"Tokenizer."
                          "Lookup\",le=\"+Inf\"}"));
  EXPECT_GT(Delta(before, after,
                  "sandyq_call_duration_seconds_sum{rpc=\"Tokenizer.Lookup\"}"),
            0);
  // Every call has finished.
  EXPECT_EQ(Sample(after, "sandyq_calls_in_flight"), 0);
}

TEST_F(MetricsE2eTest, RevealDecisionsAreCountedFullMaskedAndDenied) {
  auto checkout = As("checkout");
  absl::StatusOr<std::string> token = checkout->Tokenize(
      "e2e:metrics-reveal", v1::FIELD_TYPE_PHONE, "+77015550101");
  ASSERT_TRUE(token.ok()) << token.status();
  const std::string before = Scrape();
  // checkout: order_fulfilment phone FULL; support: customer_support phone
  // MASKED; marketing: no grant for customer_support.
  EXPECT_THAT(checkout->Detokenize(*token, "order_fulfilment"),
              StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(As("support")->Detokenize(*token, "customer_support"),
              StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(As("marketing")->Detokenize(*token, "customer_support"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::DetokenizeBatchRequest batch;
  for (int i = 0; i < 3; ++i) {
    auto* item = batch.add_items();
    item->set_token(*token);
    item->set_purpose("customer_support");
  }
  ASSERT_THAT(As("support")->DetokenizeBatch(batch),
              StatusIs(absl::StatusCode::kOk));
  const std::string after = Scrape();

  EXPECT_EQ(Delta(before, after, Reveals("checkout", "order_fulfilment", "full")), 1);
  EXPECT_EQ(Delta(before, after, Reveals("support", "customer_support", "masked")), 4);
  EXPECT_EQ(Delta(before, after, Reveals("marketing", "customer_support", "denied")), 1);
  EXPECT_EQ(Delta(before, after, Calls("Tokenizer.DetokenizeBatch", "OK",
                                       "support", "customer_support")),
            1);
}

TEST_F(MetricsE2eTest, AuditGroupsSyncsAndChainLength) {
  auto checkout = As("checkout");
  const std::string before = Scrape();
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(checkout->Tokenize(absl::StrCat("e2e:metrics-audit-", i),
                                   v1::FIELD_TYPE_IIN, "850315300019"),
                StatusIs(absl::StatusCode::kOk));
  }
  const std::string after = Scrape();
  // One event per call (and perhaps a checkpoint).
  EXPECT_GE(Delta(before, after, "sandyq_audit_chain_length"), 4);
  EXPECT_GE(Delta(before, after, "sandyq_audit_group_commits_count"), 1);
  EXPECT_GE(Delta(before, after, "sandyq_audit_group_commits_sum"), 4);
  EXPECT_GE(Delta(before, after, "sandyq_audit_group_events_sum"), 4);
  EXPECT_GE(Delta(before, after, "sandyq_audit_wal_sync_seconds_count"), 1);
  EXPECT_GT(Delta(before, after, "sandyq_audit_wal_sync_seconds_sum"), 0);
  EXPECT_EQ(Sample(after, "sandyq_audit_wal_sync_failures_total"), 0);

  // The chain length is what Audit.Verify checks.
  absl::StatusOr<v1::AuditVerifyResponse> verified = As("auditor")->VerifyAudit();
  ASSERT_TRUE(verified.ok()) << verified.status();
  const std::optional<double> length =
      Sample(Scrape(), "sandyq_audit_chain_length");
  ASSERT_TRUE(length.has_value());
  EXPECT_GE(*length, static_cast<double>(verified->events_checked()));
}

TEST_F(MetricsE2eTest, RocksDbStatisticsForEveryTable) {
  const std::string scrape = Scrape();
  for (const char* table : {"meta", "keys", "subjects", "fields", "index",
                            "audit", "audit_index", "consents"}) {
    for (const char* family :
         {"sandyq_rocksdb_estimated_keys", "sandyq_rocksdb_live_sst_bytes",
          "sandyq_rocksdb_memtable_bytes",
          "sandyq_rocksdb_pending_compaction_bytes"}) {
      EXPECT_TRUE(Sample(scrape, absl::StrCat(family, "{table=\"", table, "\"}"))
                      .has_value())
          << family << " " << table;
    }
  }
  EXPECT_GT(*Sample(scrape, "sandyq_rocksdb_estimated_keys{table=\"audit\"}"), 0);
  EXPECT_GT(*Sample(scrape, "sandyq_rocksdb_memtable_bytes{table=\"audit\"}"), 0);
  EXPECT_EQ(Sample(scrape, "sandyq_rocksdb_background_errors"), 0);
  EXPECT_TRUE(Sample(scrape, "sandyq_rocksdb_running_compactions").has_value());
  // storage.block_cache_mb is unset in the dev config: 256 MiB.
  EXPECT_EQ(Sample(scrape, "sandyq_rocksdb_block_cache_bytes{kind=\"capacity\"}"),
            256.0 * 1024 * 1024);
  EXPECT_TRUE(
      Sample(scrape, "sandyq_rocksdb_block_cache_bytes{kind=\"usage\"}").has_value());
  // So is storage.row_cache_mb.
  EXPECT_EQ(Sample(scrape, "sandyq_rocksdb_row_cache_bytes{kind=\"capacity\"}"),
            256.0 * 1024 * 1024);
  EXPECT_TRUE(
      Sample(scrape, "sandyq_rocksdb_row_cache_bytes{kind=\"usage\"}").has_value());
}

TEST_F(MetricsE2eTest, KeyRewrapProgressAfterARotation) {
  auto checkout = As("checkout");
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(checkout->Tokenize(absl::StrCat("e2e:metrics-keys-", i),
                                   v1::FIELD_TYPE_IIN, "850315300019"),
                StatusIs(absl::StatusCode::kOk));
  }
  const std::string before = Scrape();
  const std::optional<double> version =
      Sample(before, "sandyq_key_primary_version");
  ASSERT_TRUE(version.has_value());
  absl::StatusOr<uint32_t> rotated = As("keyadmin")->RotateKeys();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(*rotated, *version + 1);

  // The re-wrap runs in the background: poll until it is done. (A chunk's
  // keys leave "pending" once written, and count as re-wrapped once durable
  // a moment later.)
  std::string after;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (absl::Duration backoff = absl::Milliseconds(20);;
       backoff = std::min(backoff * 2, absl::Milliseconds(500))) {
    after = Scrape();
    if (Sample(after, "sandyq_key_rewrap_pending") == 0 &&
        Sample(after, "sandyq_key_primary_version") == *rotated &&
        Delta(before, after, "sandyq_key_rewrapped_total") >= 5) {
      break;
    }
    ASSERT_LT(absl::Now(), deadline) << after;
    absl::SleepFor(backoff);  // polling the server's progress, not timing
  }
}

TEST_F(MetricsE2eTest, PromtoolFindsNothingToComplainAbout) {
  auto checkout = As("checkout");
  ASSERT_THAT(checkout->Tokenize("e2e:metrics-lint", v1::FIELD_TYPE_PHONE,
                                 "+77012345672"),
              StatusIs(absl::StatusCode::kOk));
  const std::string dir = NewTempDir("promtool");
  const std::string scrape_file = dir + "/scrape.txt";
  std::ofstream(scrape_file) << Scrape();
  const std::string out_file = dir + "/promtool.out";
  const int rc = std::system(
      absl::StrCat("promtool check metrics < '", scrape_file, "' > '",
                   out_file, "' 2>&1")
          .c_str());
  EXPECT_EQ(rc, 0) << "promtool (Debian package prometheus) says:\n"
                   << ReadFile(out_file);
}

TEST_F(MetricsE2eTest, UnknownPathsAreNotFound) {
  absl::StatusOr<HttpResponse> r = HttpGet(server_->metrics_address(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
}

// --- Startup --------------------------------------------------------------------

TEST(MetricsStartupE2eTest, CacheFlagsSetTheirSizes) {
  auto server = ServerProcess::StartDev(NewTempDir("metrics-cache"),
                                        {"--block_cache_mb=32", "--row_cache_mb=48"});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<HttpResponse> r =
      HttpGet((*server)->metrics_address(), "/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Sample(r->body, "sandyq_rocksdb_block_cache_bytes{kind=\"capacity\"}"),
            32.0 * 1024 * 1024);
  EXPECT_EQ(Sample(r->body, "sandyq_rocksdb_row_cache_bytes{kind=\"capacity\"}"),
            48.0 * 1024 * 1024);
}

// Each cache alone fits in the memory the process may use; together they do
// not.
TEST(MetricsStartupE2eTest, CachesLargerTogetherThanTheProcessMayUseAreRefused) {
  const uint64_t memory_mb = platform::MemoryLimitBytes() >> 20;
  ASSERT_GT(memory_mb, 2u);
  const std::string half = absl::StrCat(memory_mb / 2 + 1);
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit(
                {"--dev", "--data_dir", NewTempDir("metrics-caches-huge"),
                 "--listen", "127.0.0.1:0", absl::StrCat("--block_cache_mb=", half),
                 absl::StrCat("--row_cache_mb=", half)},
                &output),
            1);
  EXPECT_THAT(output, HasSubstr("storage.row_cache_mb"));
  EXPECT_THAT(output, HasSubstr("is more than the memory this process may use"));
}

TEST(MetricsStartupE2eTest, ABlockCacheLargerThanTheProcessMayUseIsRefused) {
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit(
                {"--dev", "--data_dir", NewTempDir("metrics-cache-huge"),
                 "--listen", "127.0.0.1:0", "--block_cache_mb=4000000000"},
                &output),
            1);
  EXPECT_THAT(output, HasSubstr("storage.block_cache_mb"));
  EXPECT_THAT(output, HasSubstr("is more than the memory this process may use"));
}

TEST(MetricsStartupE2eTest, OffWhenTurnedOff) {
  auto server = ServerProcess::StartDev(NewTempDir("metrics-off"),
                                        {"--metrics_listen=off"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_address(), "");
}

TEST(MetricsStartupE2eTest, AnAddressInUseStopsTheServerFromStarting) {
  auto first = ServerProcess::StartDev(NewTempDir("metrics-busy-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit(
                {"--dev", "--data_dir", NewTempDir("metrics-busy-2"),
                 "--listen", "127.0.0.1:0", "--metrics_listen",
                 (*first)->metrics_address()},
                &output),
            1);
  EXPECT_THAT(output, HasSubstr("metrics: cannot listen on " +
                                (*first)->metrics_address()));
  EXPECT_THAT(output, HasSubstr("not started"));
}

TEST(MetricsStartupE2eTest, ABadConfiguredAddressIsAConfigError) {
  // A dev vault's config with metrics.listen broken: the server names the
  // field and refuses to start.
  const std::string dir = NewTempDir("metrics-config");
  {
    auto dev = ServerProcess::StartDev(dir, {"--metrics_listen=off"});
    ASSERT_TRUE(dev.ok()) << dev.status();
  }
  std::string config = ReadFile(dir + "/sandyqd.textproto");
  ASSERT_THAT(config, HasSubstr("metrics {"));
  config = std::regex_replace(config, std::regex("metrics \\{[^}]*\\}"),
                              "metrics { listen: \"127.0.0.1\" }");
  std::ofstream(dir + "/bad.textproto") << config;
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit({"--config", dir + "/bad.textproto"},
                                     &output),
            1);
  EXPECT_THAT(output, HasSubstr("metrics.listen: must be host:port"));
}

// --- A real Prometheus --------------------------------------------------------------

std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// A port on 127.0.0.1 that was free a moment ago (the kernel's pick).
int PickPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return 0;
  }
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// Debian's prometheus server on loopback, scraping one target every
// second, with its storage in a fresh directory. Stopped (SIGTERM, then
// waited for) when destroyed.
class PrometheusProcess {
 public:
  // The port is picked by binding port 0 and closing; another process may
  // take it before Prometheus binds it, so a start that fails is retried on
  // a new port.
  static absl::StatusOr<std::unique_ptr<PrometheusProcess>> Start(
      const std::string& target) {
    std::string errors;
    for (int attempt = 0; attempt < 5; ++attempt) {
      const int port = PickPort();
      if (port == 0) return absl::InternalError("no free port");
      std::unique_ptr<PrometheusProcess> p(new PrometheusProcess);
      p->dir_ = NewTempDir("prometheus");
      p->address_ = absl::StrCat("127.0.0.1:", port);
      std::ofstream(p->dir_ + "/prometheus.yml")
          << "global:\n"
             "  scrape_interval: 1s\n"
             "  scrape_timeout: 1s\n"
             "  evaluation_interval: 1s\n"
             "scrape_configs:\n"
             "  - job_name: sandyq\n"
             "    static_configs:\n"
             "      - targets: ['" << target << "']\n";
      absl::Status up = p->Spawn();
      if (up.ok()) return p;
      absl::StrAppend(&errors, "attempt ", attempt + 1, ": ", up.message(), "\n");
    }
    return absl::UnavailableError(absl::StrCat("prometheus did not start:\n", errors));
  }

  ~PrometheusProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }

  const std::string& address() const { return address_; }
  std::string Log() const { return ReadFile(dir_ + "/prometheus.log"); }

  // The value of the instant query `promql`'s single sample, or an error.
  absl::StatusOr<std::string> Query(absl::string_view promql) const {
    absl::StatusOr<HttpResponse> r =
        HttpGet(address_, absl::StrCat("/api/v1/query?query=", UrlEncode(promql)));
    if (!r.ok()) return r.status();
    if (r->status != 200) {
      return absl::InternalError(absl::StrCat("HTTP ", r->status, ": ", r->body));
    }
    static const std::regex kValue(
        R"re("value":\[[0-9.eE+-]+,"([^"]*)"\])re");
    std::smatch m;
    if (!std::regex_search(r->body, m, kValue)) {
      return absl::NotFoundError(absl::StrCat("no sample yet: ", r->body));
    }
    return m[1].str();
  }

  // Polls `promql` until its sample equals `want` (the scrape interval is
  // 1 s), at most 120 s; returns the last answer.
  absl::StatusOr<std::string> WaitFor(absl::string_view promql,
                                      absl::string_view want) const {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    absl::StatusOr<std::string> got;
    for (;;) {
      got = Query(promql);
      if ((got.ok() && *got == want) || absl::Now() > deadline) return got;
      absl::SleepFor(absl::Milliseconds(200));  // polling Prometheus, not timing
    }
  }

 private:
  PrometheusProcess() = default;

  absl::Status Spawn() {
    const std::string log = dir_ + "/prometheus.log";
    const int log_fd =
        open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) return absl::InternalError("cannot open the log");
    std::vector<std::string> args = {
        "prometheus",
        absl::StrCat("--config.file=", dir_, "/prometheus.yml"),
        absl::StrCat("--storage.tsdb.path=", dir_, "/data"),
        absl::StrCat("--web.listen-address=", address_),
        "--log.level=info"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(log_fd);
    // Ready once /-/ready answers 200; gone if the process exits first.
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::UnavailableError(absl::StrCat(
            WIFEXITED(status) && WEXITSTATUS(status) == 127
                ? "the prometheus binary is missing (Debian package "
                  "prometheus; deploy/dev/test installs it)\n"
                : "exited:\n",
            Log()));
      }
      absl::StatusOr<HttpResponse> ready = HttpGet(address_, "/-/ready");
      if (ready.ok() && ready->status == 200) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(100));  // polling readiness
    }
    return absl::DeadlineExceededError(absl::StrCat("not ready:\n", Log()));
  }

  std::string dir_;
  std::string address_;
  pid_t pid_ = -1;
};

TEST(PrometheusE2eTest, PrometheusScrapesSandyqAndAnswersForItsSeries) {
  auto server = ServerProcess::StartDev(NewTempDir("metrics-prometheus"));
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NE((*server)->metrics_address(), "");
  auto checkout = (*server)->ClientFor("checkout");
  ASSERT_TRUE(checkout.ok()) << checkout.status();
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT((*checkout)->Tokenize(absl::StrCat("e2e:prometheus-", i),
                                      v1::FIELD_TYPE_PHONE,
                                      absl::StrCat("+7701234567", i)),
                StatusIs(absl::StatusCode::kOk));
  }

  auto prometheus = PrometheusProcess::Start((*server)->metrics_address());
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  absl::StatusOr<std::string> calls = (*prometheus)->WaitFor(
      R"(sandyq_calls_total{rpc="Tokenizer.Tokenize",code="OK",identity="checkout"})",
      "3");
  ASSERT_TRUE(calls.ok()) << calls.status() << "\n" << (*prometheus)->Log();
  EXPECT_EQ(*calls, "3");
  // The scrape parsed whole (a malformed exposition would mark it down).
  absl::StatusOr<std::string> up = (*prometheus)->Query(R"(up{job="sandyq"})");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up, "1");
  absl::StatusOr<std::string> timed = (*prometheus)->Query(
      R"(sandyq_call_duration_seconds_count{rpc="Tokenizer.Tokenize"})");
  ASSERT_TRUE(timed.ok()) << timed.status();
  EXPECT_EQ(*timed, "3");

  // A later call shows up in a later scrape.
  ASSERT_THAT((*checkout)->Tokenize("e2e:prometheus-4", v1::FIELD_TYPE_PHONE,
                                    "+77012345674"),
              StatusIs(absl::StatusCode::kOk));
  calls = (*prometheus)->WaitFor(
      R"(sum(sandyq_calls_total{rpc="Tokenizer.Tokenize",code="OK"}))", "4");
  ASSERT_TRUE(calls.ok()) << calls.status();
  EXPECT_EQ(*calls, "4");
}

}  // namespace
}  // namespace sandyq::testing
