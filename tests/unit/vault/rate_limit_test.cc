// Rate limits and bulk-extraction alarms through the Vault's reveal paths
// (Detokenize, DetokenizeBatch, Lookup), driven by the fake clock.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/fields/field_type.h"
#include "server/policy/policy.h"
#include "server/vault/vault.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/vault_fixture.h"

namespace sandyq::vault {
namespace {

using audit::Decision;
using audit::StoredEvent;
using fields::FieldType;
using ::sandyq::testing::Await;
using ::sandyq::testing::DevPolicyText;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::ParsePolicy;
using ::sandyq::testing::StatusIs;
using ::sandyq::testing::VaultFixture;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

// Synthetic values only (domain/kazakhstan.md test vectors).
constexpr char kSubject[] = "crm:test-0001";
constexpr char kPhone[] = "+77012345678";
constexpr char kMaskedPhone[] = "+7 701 *** ** 78";
constexpr char kAddress[] = "г. Алматы, ул. Тестовая, 1";
constexpr char kSupport[] = "customer_support";
constexpr char kFulfilment[] = "order_fulfilment";

int Num(FieldType type) { return static_cast<int>(type); }

// The sample policy plus identities that share the support role (masked
// phone for customer_support, lookups) and differ in their limits.
constexpr char kLimitedIdentities[] = R"pb(
  identities {
    name: "support-burst"
    organisation: "shop"
    country: "KZ"
    roles: ["support"]
    reveal_limits { per_second: 1 burst: 2 }
  }
  identities {
    name: "support-daily"
    organisation: "shop"
    country: "KZ"
    roles: ["support"]
    reveal_limits { per_day: 3 }
  }
  identities {
    name: "courier"
    organisation: "shop"
    country: "KZ"
    roles: ["support", "checkout"]
    reveal_limits { purpose: "customer_support" per_day: 1 }
  }
  identities {
    name: "watched"
    organisation: "shop"
    country: "KZ"
    roles: ["support"]
    alarms {
      denials: 3
      denials_window: "1m"
      subjects: 3
      subjects_window: "1h"
    }
  }
)pb";

DetokenizeInput Req(absl::string_view token, absl::string_view purpose) {
  DetokenizeInput input;
  input.token = std::string(token);
  input.purpose = std::string(purpose);
  return input;
}

class RateLimitTest : public VaultFixture {
 protected:
  RateLimitTest() : VaultFixture(/*random_seed=*/2026) {
    // Half past the hour, so per-day tests can cross an hour boundary.
    clock_.Set(absl::FromUnixSeconds(1767225600) + absl::Minutes(30));
  }

  void SetUp() override {
    std::shared_ptr<const policy::Policy> policy =
        ParsePolicy(absl::StrCat(DevPolicyText(), kLimitedIdentities));
    ASSERT_NE(policy, nullptr);
    ASSERT_NO_FATAL_FAILURE(OpenLogAndVault({.policy = policy}));
    phone_ = TokenizeOrDie(kSubject, FieldType::kPhone, kPhone);
    address_ = TokenizeOrDie(kSubject, FieldType::kAddress, kAddress);
  }

  std::string TokenizeOrDie(absl::string_view subject, FieldType type,
                            absl::string_view value) {
    TokenizeInput input;
    input.subject_id = std::string(subject);
    input.field_type = Num(type);
    input.value = std::string(value);
    absl::StatusOr<std::string> token =
        Await<std::string>([&](Callback<std::string> done) {
          vault_->Tokenize({"checkout"}, std::move(input), std::move(done));
        });
    EXPECT_THAT(token, IsOk());
    return token.value_or("");
  }

  absl::StatusOr<Revealed> Detokenize(absl::string_view identity,
                                      absl::string_view token,
                                      absl::string_view purpose = kSupport) {
    return Await<Revealed>([&](Callback<Revealed> done) {
      vault_->Detokenize({std::string(identity)}, Req(token, purpose),
                         std::move(done));
    });
  }
  absl::StatusOr<Vault::DetokenizeResults> DetokenizeBatch(
      absl::string_view identity, const std::vector<std::string>& tokens) {
    std::vector<DetokenizeInput> inputs;
    for (const std::string& token : tokens) {
      inputs.push_back(Req(token, kSupport));
    }
    return Await<Vault::DetokenizeResults>(
        [&](Callback<Vault::DetokenizeResults> done) {
          vault_->DetokenizeBatch({std::string(identity)}, std::move(inputs),
                                  std::move(done));
        });
  }
  absl::StatusOr<std::vector<std::string>> Lookup(absl::string_view identity) {
    return Await<std::vector<std::string>>(
        [&](Callback<std::vector<std::string>> done) {
          vault_->Lookup({std::string(identity)},
                         {.field_type = Num(FieldType::kPhone),
                          .value = kPhone,
                          .purpose = kSupport},
                         std::move(done));
        });
  }

  // How many Detokenize calls of the phone in a row `identity` is served
  // right now (up to `max`).
  int Served(absl::string_view identity, int max = 20) {
    for (int i = 0; i < max; ++i) {
      if (!Detokenize(identity, phone_).ok()) return i;
    }
    return max;
  }

  RevealLimiter::IdentityStats StatsOf(absl::string_view identity) const {
    for (const RevealLimiter::IdentityStats& s : vault_->RevealStats()) {
      if (s.identity == identity) return s;
    }
    return {};
  }

  std::string phone_;
  std::string address_;
};

// --- Limits -------------------------------------------------------------------

TEST_F(RateLimitTest, OverTheLimitIsResourceExhaustedRevealsNothingAndIsLogged) {
  ASSERT_EQ(Served("support-burst"), 2);
  absl::StatusOr<Revealed> refused = Detokenize("support-burst", phone_);
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "rate limit: identity support-burst is over its limit "
                       "of 1 reveals per second (burst 2); retry later"));
  const StoredEvent event = LastEvent();
  EXPECT_EQ(event.event.identity, "support-burst");
  EXPECT_EQ(event.event.rpc, "Tokenizer.Detokenize");
  EXPECT_EQ(event.event.decision, Decision::kDenied);
  EXPECT_EQ(event.event.code,
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(event.event.rule,
            "support/reveal/customer_support/masked; rate-limited:per_second");
  // Attributed to the person and the token, like every refusal.
  EXPECT_EQ(event.event.token, phone_);
  EXPECT_THAT(event.event.subject_hash, SizeIs(32));
  EXPECT_EQ(event.event.purpose, kSupport);
  // Served() stopped at the first refusal; this was the second.
  EXPECT_EQ(StatsOf("support-burst").rate_limited, 2u);
  // Other identities with the same role are not affected.
  EXPECT_EQ(Served("support"), 20);
}

TEST_F(RateLimitTest, BudgetRefillsAsTimePasses) {
  ASSERT_EQ(Served("support-burst"), 2);
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_EQ(Served("support-burst"), 0);
  clock_.Advance(absl::Milliseconds(1));
  absl::StatusOr<Revealed> revealed = Detokenize("support-burst", phone_);
  ASSERT_THAT(revealed, IsOk());
  EXPECT_EQ(revealed->value, kMaskedPhone);
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Served("support-burst"), 2);
}

TEST_F(RateLimitTest, DailyLimitLastsTwentyFourHours) {
  ASSERT_EQ(Served("support-daily"), 3);
  clock_.Advance(absl::Hours(24));
  EXPECT_THAT(Detokenize("support-daily", phone_),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "rate limit: identity support-daily is over its limit "
                       "of 3 reveals in 24 hours; retry later"));
  EXPECT_EQ(LastEvent().event.rule,
            "support/reveal/customer_support/masked; rate-limited:per_day");
  clock_.Advance(absl::Minutes(30));  // the hour of the first three is over
  EXPECT_EQ(Served("support-daily"), 3);
}

TEST_F(RateLimitTest, PurposeLimitLeavesOtherPurposesAlone) {
  EXPECT_EQ(Served("courier"), 1);
  EXPECT_THAT(Detokenize("courier", phone_),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(LastEvent().event.rule,
            "support/reveal/customer_support/masked; "
            "rate-limited:per_day:customer_support");
  // The checkout role's order_fulfilment grant has no limit.
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<Revealed> full = Detokenize("courier", phone_, kFulfilment);
    ASSERT_THAT(full, IsOk());
    EXPECT_EQ(full->value, kPhone);
  }
}

TEST_F(RateLimitTest, RefusedAndMissingItemsUseNoBudget) {
  for (int i = 0; i < 5; ++i) {
    // support may not see addresses; the token does not exist.
    EXPECT_THAT(Detokenize("support-daily", address_),
                StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(Detokenize("support-daily", absl::StrCat(phone_, "x")),
                Not(IsOk()));
  }
  EXPECT_EQ(Served("support-daily"), 3);
}

TEST_F(RateLimitTest, BatchCountsEachRevealedItem) {
  // Item 0 is refused by the policy and uses nothing; items 1 and 2 use the
  // burst; items 3 and 4 are over it.
  absl::StatusOr<Vault::DetokenizeResults> results = DetokenizeBatch(
      "support-burst", {address_, phone_, phone_, phone_, phone_});
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT(*results, SizeIs(5));
  EXPECT_THAT((*results)[0], StatusIs(absl::StatusCode::kPermissionDenied));
  for (int i : {1, 2}) {
    ASSERT_THAT((*results)[i], IsOk()) << i;
    EXPECT_EQ((*results)[i]->value, kMaskedPhone);
  }
  for (int i : {3, 4}) {
    EXPECT_THAT((*results)[i], StatusIs(absl::StatusCode::kResourceExhausted))
        << i;
  }
  std::vector<StoredEvent> events = AllEvents();
  ASSERT_GE(events.size(), 5u);
  std::vector<StoredEvent> batch(events.end() - 5, events.end());
  EXPECT_THAT(batch,
              ElementsAre(Field(&StoredEvent::event,
                                Field(&audit::Event::decision, Decision::kDenied)),
                          Field(&StoredEvent::event,
                                Field(&audit::Event::decision,
                                      Decision::kRevealedMasked)),
                          Field(&StoredEvent::event,
                                Field(&audit::Event::decision,
                                      Decision::kRevealedMasked)),
                          Field(&StoredEvent::event,
                                Field(&audit::Event::rule,
                                      HasSubstr("rate-limited:per_second"))),
                          Field(&StoredEvent::event,
                                Field(&audit::Event::rule,
                                      HasSubstr("rate-limited:per_second")))));
  EXPECT_EQ(StatsOf("support-burst").rate_limited, 2u);
}

TEST_F(RateLimitTest, LookupCountsOnePerCall) {
  // Three lookups use the daily budget of three reveals.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::vector<std::string>> found = Lookup("support-daily");
    ASSERT_THAT(found, IsOk());
    EXPECT_THAT(*found, ElementsAre(phone_));
  }
  EXPECT_THAT(Lookup("support-daily"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  const StoredEvent event = LastEvent();
  EXPECT_EQ(event.event.rpc, "Tokenizer.Lookup");
  EXPECT_EQ(event.event.decision, Decision::kDenied);
  EXPECT_EQ(event.event.code,
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(event.event.rule,
            "support/lookup/customer_support; rate-limited:per_day");
  EXPECT_EQ(event.event.token, "");  // nothing was looked up
  EXPECT_EQ(Served("support-daily"), 0);
}

TEST_F(RateLimitTest, ReloadedPolicyAppliesNewLimitsAtOnce) {
  // support has no limit, until a reload gives it one.
  ASSERT_EQ(Served("support", 5), 5);
  vault_->SetPolicy(ParsePolicy(absl::StrReplaceAll(
      DevPolicyText(),
      {{"roles: [\"support\"]\n",
        "roles: [\"support\"]\n  reveal_limits { per_second: 1 burst: 1 }\n"}})));
  EXPECT_EQ(Served("support"), 1);
  EXPECT_THAT(Detokenize("support", phone_),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // A reload without it lifts it.
  vault_->SetPolicy(ParsePolicy(DevPolicyText()));
  EXPECT_EQ(Served("support"), 20);
}

// --- Alarms -------------------------------------------------------------------

// Lines of `text` that are alarm lines.
std::vector<std::string> AlarmLines(absl::string_view text) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, "bulk-extraction alarm")) {
      lines.emplace_back(line);
    }
  }
  return lines;
}

TEST_F(RateLimitTest, DenialBurstRaisesOneAlarmLineWithoutPersonalData) {
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 10; ++i) {
    EXPECT_THAT(Detokenize("watched", address_),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(AlarmLines(logged),
              ElementsAre(HasSubstr(" WARN bulk-extraction alarm: "
                                    "identity=watched kind=denials count=3 "
                                    "window=1m")));
  const std::string subject_hash = LastEvent().event.subject_hash;
  ASSERT_THAT(subject_hash, SizeIs(32));
  for (const std::string& secret :
       {std::string(kSubject), std::string(kAddress), address_, phone_,
        std::string(kPhone), absl::BytesToHexString(subject_hash),
        subject_hash}) {
    EXPECT_THAT(logged, Not(HasSubstr(secret)));
  }
  EXPECT_EQ(StatsOf("watched").denial_alarms, 1u);
  // The next window may raise it again.
  clock_.Advance(absl::Minutes(1));
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i) (void)Detokenize("watched", address_);
  EXPECT_THAT(AlarmLines(::testing::internal::GetCapturedStderr()), SizeIs(1));
  EXPECT_EQ(StatsOf("watched").denial_alarms, 2u);
}

TEST_F(RateLimitTest, RevealsAcrossManySubjectsRaiseOneAlarmPerWindow) {
  std::vector<std::string> phones;
  for (int i = 2; i <= 5; ++i) {
    phones.push_back(TokenizeOrDie(absl::StrCat("crm:test-000", i),
                                   FieldType::kPhone, kPhone));
  }
  ::testing::internal::CaptureStderr();
  // One person, many times: no alarm.
  for (int i = 0; i < 10; ++i) ASSERT_THAT(Detokenize("watched", phone_), IsOk());
  EXPECT_EQ(StatsOf("watched").subject_alarms, 0u);
  // Two more people make three in the window (a batch counts each item).
  ASSERT_THAT(DetokenizeBatch("watched", {phones[0], phones[1]}), IsOk());
  // A fourth in the same window raises nothing more.
  ASSERT_THAT(Detokenize("watched", phones[2]), IsOk());
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(AlarmLines(logged),
              ElementsAre(HasSubstr("bulk-extraction alarm: identity=watched "
                                    "kind=subjects count=3 window=1h")));
  for (const std::string& token : phones) {
    EXPECT_THAT(logged, Not(HasSubstr(token)));
  }
  EXPECT_THAT(logged, Not(HasSubstr("crm:")));
  EXPECT_EQ(StatsOf("watched").subject_alarms, 1u);
  clock_.Advance(absl::Hours(1));
  ::testing::internal::CaptureStderr();
  ASSERT_THAT(DetokenizeBatch("watched", {phone_, phones[0], phones[1]}),
              IsOk());
  EXPECT_THAT(AlarmLines(::testing::internal::GetCapturedStderr()), SizeIs(1));
  EXPECT_EQ(StatsOf("watched").subject_alarms, 2u);
}

TEST_F(RateLimitTest, LookupsFeedTheAlarms) {
  for (int i = 2; i <= 3; ++i) {
    TokenizeOrDie(absl::StrCat("crm:test-000", i), FieldType::kPhone, kPhone);
  }
  // One lookup finds the phone of three people.
  absl::StatusOr<std::vector<std::string>> found = Lookup("watched");
  ASSERT_THAT(found, IsOk());
  EXPECT_THAT(*found, SizeIs(3));
  EXPECT_EQ(StatsOf("watched").subject_alarms, 1u);
}

TEST_F(RateLimitTest, RateLimitedRevealsCountAsDenials) {
  // support-burst has the default alarms (50 denials a minute).
  ASSERT_EQ(Served("support-burst"), 2);
  // Served() was refused once; 48 more make 49 denials.
  for (int i = 0; i < 48; ++i) (void)Detokenize("support-burst", phone_);
  EXPECT_EQ(StatsOf("support-burst").denial_alarms, 0u);
  (void)Detokenize("support-burst", phone_);
  EXPECT_THAT(StatsOf("support-burst"),
              AllOf(Field(&RevealLimiter::IdentityStats::rate_limited, 50u),
                    Field(&RevealLimiter::IdentityStats::denial_alarms, 1u)));
}

}  // namespace
}  // namespace sandyq::vault
