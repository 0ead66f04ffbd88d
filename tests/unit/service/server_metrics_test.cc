// ServerMetrics: bounded labels, the series fed by calls, by the access log
// as its observer, and by the collector at scrape time, over a vault on the
// in-memory store and the development policy.

#include "server/service/server_metrics.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/metrics/registry.h"
#include "server/vault/vault.h"
#include "tests/fakes/prometheus_text.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/vault_fixture.h"

namespace sandyq::service {
namespace {

using audit::Decision;
using ::sandyq::testing::Await;
using ::sandyq::testing::DevPolicy;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::Sample;
using ::sandyq::testing::VaultFixture;
using ::testing::HasSubstr;
using ::testing::Not;

audit::Event RevealEvent(absl::string_view identity, absl::string_view purpose,
                         Decision decision,
                         absl::string_view rpc = "Tokenizer.Detokenize") {
  audit::Event e;
  e.identity = std::string(identity);
  e.purpose = std::string(purpose);
  e.rpc = std::string(rpc);
  e.decision = decision;
  return e;
}

class ServerMetricsTest : public VaultFixture {
 protected:
  ServerMetricsTest() : VaultFixture(/*random_seed=*/7) {}

  void SetUp() override {
    policy_ = DevPolicy();
    ASSERT_NE(policy_, nullptr);
    ASSERT_NO_FATAL_FAILURE(OpenLogAndVault({}));
    metrics_ = std::make_unique<ServerMetrics>(&registry_, vault_.get(),
                                               &store_, log_.get());
  }
  void TearDown() override {
    if (log_ != nullptr) log_->SetObserver(nullptr);
  }

  metrics::Registry registry_;
  std::unique_ptr<ServerMetrics> metrics_;  // last: goes first
};

TEST_F(ServerMetricsTest, IdentityLabelsAreIdentitiesThePolicyKnows) {
  EXPECT_EQ(ServerMetrics::IdentityLabel(*policy_, "checkout"), "checkout");
  EXPECT_EQ(ServerMetrics::IdentityLabel(*policy_, "stranger"), "(unknown)");
  EXPECT_EQ(ServerMetrics::IdentityLabel(*policy_, ""), "(unknown)");
}

TEST_F(ServerMetricsTest, PurposeLabelsArePurposesThePolicyRegisters) {
  EXPECT_EQ(ServerMetrics::PurposeLabel(*policy_, ""), "");
  EXPECT_EQ(ServerMetrics::PurposeLabel(*policy_, "customer_support"),
            "customer_support");
  EXPECT_EQ(ServerMetrics::PurposeLabel(*policy_, "850315300019"), "(other)");
}

TEST_F(ServerMetricsTest, CodeLabelsAreGrpcCodeNames) {
  EXPECT_EQ(ServerMetrics::CodeLabel(0), "OK");
  EXPECT_EQ(ServerMetrics::CodeLabel(3), "INVALID_ARGUMENT");
  EXPECT_EQ(ServerMetrics::CodeLabel(7), "PERMISSION_DENIED");
  EXPECT_EQ(ServerMetrics::CodeLabel(8), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(ServerMetrics::CodeLabel(16), "UNAUTHENTICATED");
  EXPECT_EQ(ServerMetrics::CodeLabel(17), "UNKNOWN");
  EXPECT_EQ(ServerMetrics::CodeLabel(-1), "UNKNOWN");
}

TEST_F(ServerMetricsTest, FinishedCallsAreCountedAndTimed) {
  metrics_->CallStarted();
  metrics_->CallStarted();
  EXPECT_EQ(Sample(registry_.Render(), "sandyq_calls_in_flight"), 2);
  metrics_->CallFinished("Tokenizer.Tokenize", 0, "checkout", "",
                         absl::Milliseconds(3));
  metrics_->CallFinished("Tokenizer.Tokenize", 7, "(unknown)", "",
                         absl::Milliseconds(20));
  const std::string out = registry_.Render();
  EXPECT_EQ(Sample(out, "sandyq_calls_in_flight"), 0);
  EXPECT_EQ(Sample(out, "sandyq_calls_total{rpc=\"Tokenizer.Tokenize\","
                        "code=\"OK\",identity=\"checkout\",purpose=\"\"}"),
            1);
  EXPECT_EQ(Sample(out, "sandyq_calls_total{rpc=\"Tokenizer.Tokenize\","
                        "code=\"PERMISSION_DENIED\",identity=\"(unknown)\","
                        "purpose=\"\"}"),
            1);
  EXPECT_EQ(Sample(out, "sandyq_call_duration_seconds_bucket{rpc=\"Tokenizer."
                        "Tokenize\",le=\"0.005\"}"),
            1);
  EXPECT_EQ(Sample(out, "sandyq_call_duration_seconds_count{rpc=\"Tokenizer."
                        "Tokenize\"}"),
            2);
  EXPECT_DOUBLE_EQ(*Sample(out, "sandyq_call_duration_seconds_sum{rpc="
                                "\"Tokenizer.Tokenize\"}"),
                   0.023);
}

TEST_F(ServerMetricsTest, RevealDecisionsAreCountedFromLoggedEvents) {
  metrics_->OnCommit({
      RevealEvent("support", "customer_support", Decision::kRevealedMasked),
      RevealEvent("support", "customer_support", Decision::kRevealedMasked,
                  "Tokenizer.DetokenizeBatch"),
      RevealEvent("checkout", "order_fulfilment", Decision::kRevealedFull),
      RevealEvent("marketing", "customer_support", Decision::kDenied),
      RevealEvent("stranger", "customer_support", Decision::kDenied),
      RevealEvent("support", "not-a-purpose", Decision::kInvalid),
      RevealEvent("support", "customer_support", Decision::kNotFound),
      RevealEvent("support", "customer_support", Decision::kFailed),
      // Not reveals: ignored.
      RevealEvent("checkout", "", Decision::kAllowed, "Tokenizer.Tokenize"),
      RevealEvent("support", "customer_support", Decision::kAllowed,
                  "Tokenizer.Lookup"),
  });
  const std::string out = registry_.Render();
  auto reveals = [&](absl::string_view identity, absl::string_view purpose,
                     absl::string_view decision) {
    return Sample(out, absl::StrCat("sandyq_reveal_decisions_total{identity=\"",
                                    identity, "\",purpose=\"", purpose,
                                    "\",decision=\"", decision, "\"}"));
  };
  EXPECT_EQ(reveals("support", "customer_support", "masked"), 2);
  EXPECT_EQ(reveals("checkout", "order_fulfilment", "full"), 1);
  EXPECT_EQ(reveals("marketing", "customer_support", "denied"), 1);
  EXPECT_EQ(reveals("(unknown)", "customer_support", "denied"), 1);
  EXPECT_EQ(reveals("support", "(other)", "invalid"), 1);
  EXPECT_EQ(reveals("support", "customer_support", "not_found"), 1);
  EXPECT_EQ(reveals("support", "customer_support", "failed"), 1);
  EXPECT_THAT(out, Not(HasSubstr("stranger")));
  EXPECT_THAT(out, Not(HasSubstr("not-a-purpose")));
  EXPECT_THAT(out, Not(HasSubstr("Tokenizer.Lookup")));
}

TEST_F(ServerMetricsTest, RealRevealsReachTheCounterThroughTheLog) {
  log_->SetObserver(metrics_.get());
  absl::StatusOr<std::string> token =
      Await<std::string>([&](vault::Callback<std::string> done) {
        vault_->Tokenize({"checkout"},
                         {.subject_id = "crm:test-0001",
                          .field_type = 4,  // phone
                          .value = "+77012345678",
                          .source = "",
                          .purpose = ""},
                         std::move(done));
      });
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<vault::Revealed> revealed =
      Await<vault::Revealed>([&](vault::Callback<vault::Revealed> done) {
        vault_->Detokenize({"support"},
                           {.token = *token,
                            .purpose = "customer_support",
                            .justification = ""},
                           std::move(done));
      });
  ASSERT_THAT(revealed, IsOk());
  EXPECT_TRUE(revealed->masked);
  EXPECT_EQ(Sample(registry_.Render(),
                   "sandyq_reveal_decisions_total{identity=\"support\","
                   "purpose=\"customer_support\",decision=\"masked\"}"),
            1);
}

TEST_F(ServerMetricsTest, GroupsAndSyncsFillTheirHistograms) {
  metrics_->OnGroupWritten(3, 5);
  metrics_->OnGroupWritten(100, 1000);
  metrics_->OnSynced(absl::Microseconds(800), true);
  metrics_->OnSynced(absl::Milliseconds(30), false);
  const std::string out = registry_.Render();
  EXPECT_EQ(Sample(out, "sandyq_audit_group_commits_bucket{le=\"4\"}"), 1);
  EXPECT_EQ(Sample(out, "sandyq_audit_group_commits_bucket{le=\"128\"}"), 2);
  EXPECT_EQ(Sample(out, "sandyq_audit_group_commits_sum"), 103);
  EXPECT_EQ(Sample(out, "sandyq_audit_group_events_sum"), 1005);
  EXPECT_EQ(Sample(out, "sandyq_audit_wal_sync_seconds_bucket{le=\"0.001\"}"), 1);
  EXPECT_EQ(Sample(out, "sandyq_audit_wal_sync_seconds_count"), 2);
  EXPECT_EQ(Sample(out, "sandyq_audit_wal_sync_failures_total"), 1);
}

TEST_F(ServerMetricsTest, ScrapesReadTheChainLengthAndKeyProgress) {
  const std::string out = registry_.Render();
  EXPECT_EQ(Sample(out, "sandyq_audit_chain_length"),
            static_cast<double>(log_->last_seq()));
  EXPECT_GT(log_->last_seq(), 0u);  // opening the vault logged events
  EXPECT_EQ(Sample(out, "sandyq_key_primary_version"), 1);
  EXPECT_EQ(Sample(out, "sandyq_key_rewrap_pending"), 0);
  EXPECT_EQ(Sample(out, "sandyq_key_rewrapped_total"), 0);
  // The in-memory store keeps no statistics: no RocksDB series, no error.
  EXPECT_THAT(out, Not(HasSubstr("sandyq_rocksdb_estimated_keys{")));
}

}  // namespace
}  // namespace sandyq::service
