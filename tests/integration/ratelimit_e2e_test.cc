// Rate limits and bulk-extraction alarms through the real server: an
// identity over its reveal limit gets RESOURCE_EXHAUSTED over gRPC, the
// refusal is in the access log, the alarm is in the operational log without
// personal data, and SIGHUP applies new limits to open connections.

#include <signal.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/http_get.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;
using ::testing::Not;

// Synthetic values only (domain/kazakhstan.md test vectors).
constexpr char kPerson[] = "e2e:ratelimit-0001";
constexpr char kPhone[] = "+77012345678";
constexpr char kSupport[] = "customer_support";

// The sample policy's support role under another identity, with three
// reveals to spend (the bucket refills one every 1000 s) and an alarm after
// two denials.
constexpr char kLimitedIdentity[] = R"pb(
  identities {
    name: "support-limited"
    organisation: "shop"
    country: "KZ"
    roles: ["support"]
    reveal_limits { per_second: 0.001 burst: 3 }
    alarms { denials: 2 denials_window: "1h" }
  }
)pb";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Count(absl::string_view text, absl::string_view needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != absl::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

class RateLimitE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir("ratelimit");
    // The dev vault keeps a policy it finds in its directory.
    WritePolicy(absl::StrCat(Slurp("deploy/dev/policy.textproto"),
                             kLimitedIdentity));
    auto server = ServerProcess::StartDev(dir_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto token = As("checkout")->Tokenize(kPerson, v1::FIELD_TYPE_PHONE, kPhone);
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = *token;
  }

  void WritePolicy(const std::string& text) {
    const std::string path = dir_ + "/policy.textproto";
    std::ofstream(path + ".new") << text;
    ASSERT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0);
  }

  // Sends SIGHUP and waits until the server has logged the reload.
  void ReloadPolicy() {
    const int before = Count(server_->Stderr(), "policy reloaded");
    ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
    // The deadline only guards against a hang.
    for (absl::Time deadline = absl::Now() + absl::Seconds(30);
         Count(server_->Stderr(), "policy reloaded") == before;) {
      ASSERT_LT(absl::Now(), deadline) << server_->Stderr();
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  std::unique_ptr<client::Client> As(const std::string& identity) {
    auto c = server_->ClientFor(identity);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }

  // How many Detokenize calls in a row `c` is served (up to `max`).
  int Served(client::Client& c, int max = 10) {
    for (int i = 0; i < max; ++i) {
      if (!c.Detokenize(token_, kSupport).ok()) return i;
    }
    return max;
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string token_;
};

TEST_F(RateLimitE2eTest, OverTheLimitIsResourceExhaustedAndAudited) {
  auto limited = As("support-limited");
  for (int i = 0; i < 3; ++i) {
    auto revealed = limited->Detokenize(token_, kSupport);
    ASSERT_TRUE(revealed.ok()) << revealed.status();
    EXPECT_EQ(revealed->value(), "+7 701 *** ** 78");
  }
  auto refused = limited->Detokenize(token_, kSupport);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(refused.status().message(),
            "rate limit: identity support-limited is over its limit of 0.001 "
            "reveals per second (burst 3); retry later");

  // A batch: each item is refused on its own.
  v1::DetokenizeBatchRequest batch;
  for (int i = 0; i < 2; ++i) {
    v1::DetokenizeRequest* item = batch.add_items();
    item->set_token(token_);
    item->set_purpose(kSupport);
  }
  auto results = limited->DetokenizeBatch(batch);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->results_size(), 2);
  for (const v1::DetokenizeResult& r : results->results()) {
    EXPECT_EQ(r.error().code(),
              static_cast<int>(absl::StatusCode::kResourceExhausted));
    EXPECT_EQ(r.value(), "");
  }

  // The access log has every refusal, as DENIED with the limit's rule.
  v1::AuditQueryRequest query;
  query.set_identity("support-limited");
  std::vector<v1::AuditEvent> events;
  ASSERT_TRUE(As("auditor")
                  ->QueryAudit(query,
                               [&](const v1::AuditEvent& e) {
                                 events.push_back(e);
                                 return true;
                               })
                  .ok());
  ASSERT_EQ(events.size(), 6u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].decision(), v1::DECISION_REVEALED_MASKED);
  }
  for (int i = 3; i < 6; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].decision(), v1::DECISION_DENIED);
    EXPECT_EQ(events[i].code(),
              static_cast<int>(absl::StatusCode::kResourceExhausted));
    EXPECT_EQ(events[i].rule(),
              "support/reveal/customer_support/masked; "
              "rate-limited:per_second");
    EXPECT_EQ(events[i].token(), token_);
    EXPECT_EQ(events[i].purpose(), kSupport);
  }
  EXPECT_EQ(events[3].rpc(), "Tokenizer.Detokenize");
  EXPECT_EQ(events[4].rpc(), "Tokenizer.DetokenizeBatch");

  // The alarm (two denials) was raised once, when the batch brought the
  // count to three; the log names no one's data.
  const std::string log = server_->Stderr();
  EXPECT_EQ(Count(log, "bulk-extraction alarm"), 1) << log;
  EXPECT_THAT(log, HasSubstr("WARN bulk-extraction alarm: "
                             "identity=support-limited kind=denials count=3 "
                             "window=1h"));
  EXPECT_THAT(log, Not(HasSubstr(token_)));
  EXPECT_THAT(log, Not(HasSubstr(kPerson)));
  EXPECT_THAT(log, Not(HasSubstr("7012345678")));

  // The refusals and the alarm are metrics too, labelled by identity only.
  auto scraped = ::sandyq::testing::HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(scraped.ok()) << scraped.status();
  EXPECT_THAT(scraped->body,
              HasSubstr("sandyq_access_alarms_total{identity=\"support-limited\","
                        "kind=\"denials\"} 1\n"));
  EXPECT_THAT(scraped->body,
              HasSubstr("sandyq_reveals_rate_limited_total{identity=\"support-limited\"} "));
  EXPECT_THAT(scraped->body,
              Not(HasSubstr("sandyq_reveals_rate_limited_total{identity=\"support-limited\"} 0\n")));

  // The same role under an identity without limits is served.
  EXPECT_EQ(Served(*As("support")), 10);
}

TEST_F(RateLimitE2eTest, ReloadAppliesNewLimitsOnOpenConnections) {
  auto support = As("support");
  ASSERT_EQ(Served(*support), 10);
  // support gets a limit: one reveal, then one every 1000 s.
  WritePolicy(absl::StrReplaceAll(
      Slurp(dir_ + "/policy.textproto"),
      {{"roles: [\"support\"]\n}",
        "roles: [\"support\"]\n  reveal_limits { per_second: 0.001 }\n}"}}));
  ASSERT_NO_FATAL_FAILURE(ReloadPolicy());
  EXPECT_EQ(Served(*support), 1);
  EXPECT_THAT(support->Detokenize(token_, kSupport),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // A reload without it lifts it.
  WritePolicy(absl::StrCat(Slurp("deploy/dev/policy.textproto"),
                           kLimitedIdentity));
  ASSERT_NO_FATAL_FAILURE(ReloadPolicy());
  EXPECT_EQ(Served(*support), 10);
}

TEST_F(RateLimitE2eTest, InvalidLimitIsRefusedAtReloadAndTheOldOneStays) {
  auto limited = As("support-limited");
  WritePolicy(absl::StrReplaceAll(
      Slurp(dir_ + "/policy.textproto"),
      {{"per_second: 0.001 burst: 3", "per_second: -5 burst: 3"}}));
  const int reloaded = Count(server_->Stderr(), "policy reloaded");
  const int refused = Count(server_->Stderr(), "policy not reloaded");
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  for (absl::Time deadline = absl::Now() + absl::Seconds(30);
       Count(server_->Stderr(), "policy not reloaded") == refused;) {
    ASSERT_LT(absl::Now(), deadline) << server_->Stderr();
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Count(server_->Stderr(), "policy reloaded"), reloaded);
  EXPECT_THAT(server_->Stderr(),
              HasSubstr("reveal_limits[0].per_second: want reveals per second "
                        "from 0 to 1000000, got -5"));
  // The old limit is still in force.
  EXPECT_EQ(Served(*limited), 3);
}

}  // namespace
}  // namespace sandyq::testing
