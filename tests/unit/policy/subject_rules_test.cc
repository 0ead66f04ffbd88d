// The policy's data-subject rules (Law 94-V): the Subjects and Backup roles,
// conditions on the subject for a reveal (blocking, consent, cross-border
// transfer), collection while blocked, and retention rules.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fields/field_type.h"
#include "server/policy/policy.h"
#include "tests/unit/policy/policy_test_util.h"

namespace sandyq::policy {
namespace {

using fields::FieldType;
using fields::kAllFieldTypes;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

ConsentState Granted(bool cross_border = false) {
  return ConsentState{.granted = true, .cross_border = cross_border};
}
ConsentState Withdrawn() {
  return ConsentState{.granted = false, .cross_border = false};
}

SubjectContext Subject(std::optional<ConsentState> consent = std::nullopt,
                       bool blocked = false) {
  return SubjectContext{
      .blocked = blocked, .consent = consent, .residency_country = "KZ"};
}
SubjectContext Blocked(std::optional<ConsentState> consent = std::nullopt) {
  return Subject(consent, /*blocked=*/true);
}

class SampleSubjectRulesTest : public SamplePolicyFixture {};

// --- Purposes and roles -----------------------------------------------------

TEST_F(SampleSubjectRulesTest, PurposesCarryTheirSubjectFlags) {
  struct Flags {
    const char* purpose;
    bool allowed_while_blocked;
    bool cross_border;
  };
  for (const Flags& expected : std::vector<Flags>{
           {"payment_processing", false, false},
           {"order_fulfilment", false, true},
           {"customer_support", false, false},
           {"marketing", false, false},
           {"legal_request", true, false},
           // A person may see their own data while it is blocked.
           {"subject_access_request", true, false},
       }) {
    SCOPED_TRACE(expected.purpose);
    const Purpose* purpose = policy_->FindPurpose(expected.purpose);
    ASSERT_NE(purpose, nullptr);
    EXPECT_EQ(purpose->allowed_while_blocked, expected.allowed_while_blocked);
    EXPECT_EQ(purpose->cross_border, expected.cross_border);
  }
  EXPECT_EQ(policy_->FindPurpose("marketing")->legal_basis,
            LegalBasis::kConsent);
}

TEST_F(SampleSubjectRulesTest, OnlyDpoManagesSubjects) {
  for (const std::string& identity : policy_->IdentityNames()) {
    SCOPED_TRACE(identity);
    const Decision decision = policy_->SubjectAdmin(Who(identity));
    if (identity == "dpo") {
      EXPECT_TRUE(decision.allowed);
      EXPECT_EQ(decision.rule, "dpo/subject_admin");
      EXPECT_TRUE(decision.ToStatus().ok());
    } else {
      EXPECT_FALSE(decision.allowed);
      EXPECT_EQ(decision.rule, "default-deny");
      EXPECT_EQ(decision.ToStatus(),
                absl::PermissionDeniedError(absl::StrCat(
                    identity, " may not manage data subjects' rights")));
    }
  }
}

TEST_F(SampleSubjectRulesTest, OnlyKeyadminMakesBackups) {
  for (const std::string& identity : policy_->IdentityNames()) {
    SCOPED_TRACE(identity);
    const Decision decision = policy_->Backup(Who(identity));
    if (identity == "keyadmin") {
      EXPECT_TRUE(decision.allowed);
      EXPECT_EQ(decision.rule, "keyadmin/backup");
    } else {
      EXPECT_FALSE(decision.allowed);
      EXPECT_EQ(decision.rule, "default-deny");
      EXPECT_EQ(decision.ToStatus(), absl::PermissionDeniedError(absl::StrCat(
                                         identity, " may not make backups")));
    }
  }
}

TEST_F(SampleSubjectRulesTest, PrincipalWithUndefinedRolesManagesNothing) {
  const Principal stranger{.identity = "stranger",
                           .organisation = "elsewhere",
                           .country = "KZ",
                           .roles = {"dpo-typo"}, .reveal_limits = {}, .alarms = {}};
  EXPECT_FALSE(policy_->SubjectAdmin(stranger).allowed);
  EXPECT_FALSE(policy_->Backup(stranger).allowed);
}

// --- ConsentMatters ---------------------------------------------------------

TEST_F(SampleSubjectRulesTest,
       ConsentMattersForConsentPurposesAndCallersAbroad) {
  EXPECT_TRUE(policy_->ConsentMatters(Who("marketing"), "marketing", "KZ"));
  EXPECT_FALSE(
      policy_->ConsentMatters(Who("checkout"), "order_fulfilment", "KZ"));
  EXPECT_FALSE(
      policy_->ConsentMatters(Who("support"), "customer_support", "KZ"));
  EXPECT_FALSE(policy_->ConsentMatters(Who("legal"), "legal_request", "KZ"));
  // partner-de is in DE: every purpose needs the subject's consent.
  EXPECT_TRUE(
      policy_->ConsentMatters(Who("partner-de"), "order_fulfilment", "KZ"));
  EXPECT_TRUE(
      policy_->ConsentMatters(Who("partner-de"), "customer_support", "KZ"));
  // Measured against the vault's residency country, not "KZ" as such.
  EXPECT_FALSE(
      policy_->ConsentMatters(Who("partner-de"), "order_fulfilment", "DE"));
  EXPECT_TRUE(
      policy_->ConsentMatters(Who("checkout"), "order_fulfilment", "DE"));
}

TEST_F(SampleSubjectRulesTest, ConsentDoesNotMatterForAnUnknownPurpose) {
  EXPECT_FALSE(policy_->ConsentMatters(Who("partner-de"), "newsletter", "KZ"));
  EXPECT_FALSE(policy_->ConsentMatters(Who("marketing"), "", "KZ"));
}

// --- SubjectConditions ------------------------------------------------------

TEST_F(SampleSubjectRulesTest, NoConditionsForAContractPurposeAtHome) {
  const Decision decision =
      policy_->SubjectConditions(Who("support"), "customer_support", Subject());
  EXPECT_TRUE(decision.allowed);
  EXPECT_EQ(decision.rule, "");
  EXPECT_TRUE(decision.ToStatus().ok());
}

TEST_F(SampleSubjectRulesTest, GrantedConsentIsNamedInTheRule) {
  const Decision decision = policy_->SubjectConditions(
      Who("checkout"), "order_fulfilment", Subject(Granted()));
  EXPECT_TRUE(decision.allowed);
  EXPECT_EQ(decision.rule, "consent/order_fulfilment");
}

TEST_F(SampleSubjectRulesTest, BlockedSubjectIsRefusedForOrdinaryPurposes) {
  for (const auto& [identity, purpose] :
       std::vector<std::pair<std::string, std::string>>{
           {"support", "customer_support"},
           {"checkout", "payment_processing"},
           {"checkout", "order_fulfilment"},
           {"marketing", "marketing"}}) {
    SCOPED_TRACE(purpose);
    // Even with every consent given.
    const Decision decision = policy_->SubjectConditions(
        Who(identity), purpose, Blocked(Granted(/*cross_border=*/true)));
    EXPECT_FALSE(decision.allowed);
    EXPECT_EQ(decision.rule, "subject-blocked");
    EXPECT_EQ(decision.ToStatus(),
              absl::FailedPreconditionError(
                  absl::StrCat("subject: processing is blocked; purpose ",
                               purpose, " is not allowed while blocked")));
  }
}

TEST_F(SampleSubjectRulesTest,
       BlockedSubjectIsServedForLegalAndAccessRequests) {
  const Decision legal =
      policy_->SubjectConditions(Who("legal"), "legal_request", Blocked());
  EXPECT_TRUE(legal.allowed);
  EXPECT_TRUE(legal.ToStatus().ok());
  const Decision access = policy_->SubjectConditions(
      Who("dpo"), "subject_access_request", Blocked());
  EXPECT_TRUE(access.allowed);
}

TEST_F(SampleSubjectRulesTest, ConsentPurposeNeedsActiveConsent) {
  for (const std::optional<ConsentState>& consent :
       {std::optional<ConsentState>(), std::optional<ConsentState>(Withdrawn()),
        // A cross-border flag alone is no consent.
        std::optional<ConsentState>(
            ConsentState{.granted = false, .cross_border = true})}) {
    const Decision decision = policy_->SubjectConditions(
        Who("marketing"), "marketing", Subject(consent));
    EXPECT_FALSE(decision.allowed);
    EXPECT_EQ(decision.rule, "no-consent");
    EXPECT_EQ(decision.ToStatus(),
              absl::FailedPreconditionError(
                  "consent: the subject has not consented to marketing (or "
                  "has withdrawn it)"));
  }
  const Decision granted = policy_->SubjectConditions(
      Who("marketing"), "marketing", Subject(Granted()));
  EXPECT_TRUE(granted.allowed);
  EXPECT_EQ(granted.rule, "consent/marketing");
}

TEST_F(SampleSubjectRulesTest, BlockIsCheckedBeforeConsent) {
  const Decision decision =
      policy_->SubjectConditions(Who("marketing"), "marketing", Blocked());
  EXPECT_EQ(decision.rule, "subject-blocked");
}

TEST_F(SampleSubjectRulesTest, CallerAbroadNeedsCrossBorderConsent) {
  const Principal& partner = Who("partner-de");
  for (const std::optional<ConsentState>& consent :
       {std::optional<ConsentState>(), std::optional<ConsentState>(Withdrawn()),
        std::optional<ConsentState>(Granted(/*cross_border=*/false)),
        std::optional<ConsentState>(
            ConsentState{.granted = false, .cross_border = true})}) {
    const Decision decision = policy_->SubjectConditions(
        partner, "order_fulfilment", Subject(consent));
    EXPECT_FALSE(decision.allowed);
    EXPECT_EQ(decision.rule, "no-cross-border-consent");
    EXPECT_EQ(decision.ToStatus(),
              absl::FailedPreconditionError(
                  "consent: the subject has not consented to cross-border "
                  "transfer for order_fulfilment"));
  }
  const Decision allowed = policy_->SubjectConditions(
      partner, "order_fulfilment", Subject(Granted(/*cross_border=*/true)));
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.rule, "cross-border/order_fulfilment/DE");
}

TEST_F(SampleSubjectRulesTest, CallerAbroadIsDeniedPurposesWithoutCrossBorder) {
  const Principal abroad{.identity = "support-de",
                         .organisation = "partner",
                         .country = "DE",
                         .roles = {"support"}, .reveal_limits = {}, .alarms = {}};
  for (const char* purpose :
       {"customer_support", "payment_processing", "subject_access_request"}) {
    SCOPED_TRACE(purpose);
    const Decision decision = policy_->SubjectConditions(
        abroad, purpose, Subject(Granted(/*cross_border=*/true)));
    EXPECT_FALSE(decision.allowed);
    EXPECT_EQ(decision.rule, "cross-border-not-allowed");
    EXPECT_EQ(decision.ToStatus(),
              absl::PermissionDeniedError(absl::StrCat(
                  "purpose ", purpose, " does not allow transfer to DE")));
  }
}

TEST_F(SampleSubjectRulesTest, LegalRequestFromAbroadIsDeniedEvenWhileBlocked) {
  const Principal abroad{.identity = "legal-de",
                         .organisation = "partner",
                         .country = "DE",
                         .roles = {"legal"}, .reveal_limits = {}, .alarms = {}};
  const Decision decision =
      policy_->SubjectConditions(abroad, "legal_request", Blocked());
  EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(decision.rule, "cross-border-not-allowed");
}

TEST_F(SampleSubjectRulesTest, CrossBorderIsMeasuredFromTheResidencyCountry) {
  SubjectContext in_de = Subject();
  in_de.residency_country = "DE";
  // partner-de is at home in a vault resident in DE...
  EXPECT_TRUE(
      policy_->SubjectConditions(Who("partner-de"), "order_fulfilment", in_de)
          .allowed);
  // ...and checkout (KZ) is the one abroad.
  const Decision checkout =
      policy_->SubjectConditions(Who("checkout"), "payment_processing", in_de);
  EXPECT_EQ(checkout.code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(checkout.rule, "cross-border-not-allowed");
}

TEST_F(SampleSubjectRulesTest, SubjectConditionsForAnUnknownPurpose) {
  const Decision decision =
      policy_->SubjectConditions(Who("dpo"), "newsletter", Subject());
  EXPECT_EQ(decision.ToStatus(), absl::InvalidArgumentError(
                                     "purpose: not registered in the policy"));
  EXPECT_EQ(decision.rule, "unknown-purpose");
}

// --- TokenizeForSubject -----------------------------------------------------

TEST_F(SampleSubjectRulesTest, AnythingIsStoredForAnUnblockedSubject) {
  for (const char* purpose : {"", "marketing", "legal_request", "unknown"}) {
    SCOPED_TRACE(purpose);
    const Decision decision =
        policy_->TokenizeForSubject(Who("checkout"), purpose, false);
    EXPECT_TRUE(decision.allowed);
    EXPECT_EQ(decision.rule, "");
  }
}

TEST_F(SampleSubjectRulesTest, NothingNewIsStoredForABlockedSubject) {
  for (const char* purpose :
       {"", "marketing", "order_fulfilment", "customer_support",
        "payment_processing", "unknown"}) {
    for (const char* identity : {"checkout", "legal", "dpo"}) {
      SCOPED_TRACE(absl::StrCat(identity, " ", purpose));
      const Decision decision =
          policy_->TokenizeForSubject(Who(identity), purpose, true);
      EXPECT_FALSE(decision.allowed);
      EXPECT_EQ(decision.rule, "subject-blocked");
      EXPECT_EQ(decision.ToStatus(),
                absl::FailedPreconditionError(
                    "subject: processing is blocked; no new data is stored"));
    }
  }
}

TEST_F(SampleSubjectRulesTest, BlockedSubjectGetsDataOnlyFromAGrantedCaller) {
  // For a purpose allowed while blocked, by a caller that works for it.
  const Decision legal =
      policy_->TokenizeForSubject(Who("legal"), "legal_request", true);
  EXPECT_TRUE(legal.allowed);
  EXPECT_EQ(legal.rule, "blocked/allowed-for/legal_request");
  const Decision access =
      policy_->TokenizeForSubject(Who("dpo"), "subject_access_request", true);
  EXPECT_TRUE(access.allowed);
  EXPECT_EQ(access.rule, "blocked/allowed-for/subject_access_request");

  // Naming such a purpose is not enough without a grant for it.
  for (const auto& [identity, purpose] :
       std::vector<std::pair<std::string, std::string>>{
           {"checkout", "legal_request"},
           {"analytics", "subject_access_request"},
           {"dpo", "legal_request"},
           {"legal", "subject_access_request"}}) {
    SCOPED_TRACE(absl::StrCat(identity, " ", purpose));
    EXPECT_EQ(policy_->TokenizeForSubject(Who(identity), purpose, true).rule,
              "subject-blocked");
  }
}

// --- Retention --------------------------------------------------------------

TEST_F(SampleSubjectRulesTest, CardDataIsDepersonalizedAfterThreeYears) {
  for (FieldType type : {FieldType::kCardNumber, FieldType::kCardExpiry}) {
    for (const char* purpose : {"", "payment_processing", "order_fulfilment"}) {
      SCOPED_TRACE(absl::StrCat(fields::FieldTypeName(type), " ", purpose));
      const RetentionRule* rule = policy_->RetentionFor(type, purpose);
      ASSERT_NE(rule, nullptr);
      EXPECT_EQ(rule->period, absl::Hours(24 * 1095));
      EXPECT_EQ(rule->action, RetentionAction::kDepersonalize);
      EXPECT_EQ(rule->type, type);
    }
  }
}

TEST_F(SampleSubjectRulesTest,
       ValuesCollectedForMarketingAreDestroyedAfterAYear) {
  for (FieldType type : kAllFieldTypes) {
    SCOPED_TRACE(fields::FieldTypeName(type));
    const RetentionRule* rule = policy_->RetentionFor(type, "marketing");
    ASSERT_NE(rule, nullptr);
    // The purpose rule wins over the card rules too.
    EXPECT_EQ(rule->purpose, "marketing");
    EXPECT_EQ(rule->period, absl::Hours(24 * 365));
    EXPECT_EQ(rule->action, RetentionAction::kDestroy);
  }
}

TEST_F(SampleSubjectRulesTest, OtherValuesHaveNoRetentionRule) {
  for (FieldType type : kAllFieldTypes) {
    if (type == FieldType::kCardNumber || type == FieldType::kCardExpiry) {
      continue;
    }
    for (const char* purpose :
         {"", "order_fulfilment", "customer_support", "not_registered"}) {
      SCOPED_TRACE(absl::StrCat(fields::FieldTypeName(type), " ", purpose));
      EXPECT_EQ(policy_->RetentionFor(type, purpose), nullptr);
    }
  }
  EXPECT_EQ(policy_->RetentionFor(FieldType::kUnspecified, ""), nullptr);
}

// --- Small policies ---------------------------------------------------------

constexpr char kBase[] =
    "purposes { name: \"p\" legal_basis: LEGAL_BASIS_CONTRACT }\n"
    "purposes { name: \"q\" legal_basis: LEGAL_BASIS_CONSENT }\n"
    "roles { name: \"r\" }\n"
    "identities { name: \"a\" organisation: \"o\" country: \"KZ\" roles: "
    "\"r\" }\n";

TEST(RetentionRuleTest, APolicyTellsWhetherItHasAnyRetentionRule) {
  std::shared_ptr<const Policy> none = ParseOrDie(kBase);
  ASSERT_NE(none, nullptr);
  EXPECT_FALSE(none->HasRetentionRules());
  std::shared_ptr<const Policy> one = ParseOrDie(absl::StrCat(
      kBase, "retention { purpose: \"q\" period: \"12h\" action: "
             "RETENTION_ACTION_DESTROY }\n"));
  ASSERT_NE(one, nullptr);
  EXPECT_TRUE(one->HasRetentionRules());
}

TEST(RetentionRuleTest, PurposeRuleWinsWhicheverComesFirst) {
  const std::string type_rule =
      "retention { field_type: FIELD_TYPE_PHONE period: \"30d\" action: "
      "RETENTION_ACTION_DEPERSONALIZE }\n";
  const std::string purpose_rule =
      "retention { purpose: \"q\" period: \"12h\" action: "
      "RETENTION_ACTION_DESTROY }\n";
  for (const std::string& rules : {absl::StrCat(type_rule, purpose_rule),
                                   absl::StrCat(purpose_rule, type_rule)}) {
    SCOPED_TRACE(rules);
    std::shared_ptr<const Policy> policy =
        ParseOrDie(absl::StrCat(kBase, rules));
    ASSERT_NE(policy, nullptr);
    const RetentionRule* by_purpose =
        policy->RetentionFor(FieldType::kPhone, "q");
    ASSERT_NE(by_purpose, nullptr);
    EXPECT_EQ(by_purpose->period, absl::Hours(12));
    EXPECT_EQ(by_purpose->action, RetentionAction::kDestroy);
    EXPECT_EQ(by_purpose->type, std::nullopt);

    for (const char* purpose : {"", "p"}) {
      const RetentionRule* by_type =
          policy->RetentionFor(FieldType::kPhone, purpose);
      ASSERT_NE(by_type, nullptr);
      EXPECT_EQ(by_type->period, absl::Hours(24 * 30));
      EXPECT_EQ(by_type->action, RetentionAction::kDepersonalize);
    }
    EXPECT_EQ(policy->RetentionFor(FieldType::kEmail, "p"), nullptr);
    EXPECT_NE(policy->RetentionFor(FieldType::kEmail, "q"), nullptr);
  }
}

TEST(RetentionRuleTest, NoRulesMeansKeptIndefinitely) {
  std::shared_ptr<const Policy> policy = ParseOrDie(kBase);
  ASSERT_NE(policy, nullptr);
  for (FieldType type : kAllFieldTypes) {
    EXPECT_EQ(policy->RetentionFor(type, ""), nullptr);
    EXPECT_EQ(policy->RetentionFor(type, "q"), nullptr);
  }
}

TEST(SubjectRoleTest, RoleFlagsAddUpAcrossRoles) {
  std::shared_ptr<const Policy> policy = ParseOrDie(
      "roles { name: \"officer\" subject_admin: true }\n"
      "roles { name: \"ops\" backup: true }\n"
      "identities { name: \"both\" organisation: \"o\" country: \"KZ\" "
      "roles: [\"ops\", \"officer\"] }\n"
      "identities { name: \"ops-only\" organisation: \"o\" country: \"KZ\" "
      "roles: \"ops\" }\n");
  ASSERT_NE(policy, nullptr);
  const Principal& both = *policy->FindIdentity("both");
  EXPECT_EQ(policy->SubjectAdmin(both).rule, "officer/subject_admin");
  EXPECT_EQ(policy->Backup(both).rule, "ops/backup");
  EXPECT_FALSE(policy->KeyAdmin(both).allowed);
  const Principal& ops = *policy->FindIdentity("ops-only");
  EXPECT_FALSE(policy->SubjectAdmin(ops).allowed);
  EXPECT_TRUE(policy->Backup(ops).allowed);
}

// --- Errors in retention rules: line-numbered, one line per problem ---------

struct BadRetention {
  std::string name;
  std::string rules;  // appended to kBase, so line 5 is the first rule line
  std::vector<std::string> errors;
};

void PrintTo(const BadRetention& bad, std::ostream* out) { *out << bad.name; }

class RetentionErrorTest : public ::testing::TestWithParam<BadRetention> {};

TEST_P(RetentionErrorTest, ReportsEveryProblemWithItsLine) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy =
      Policy::Parse(absl::StrCat(kBase, GetParam().rules), "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Lines(policy.status()), GetParam().errors);
}

constexpr char kGoodTypeRule[] =
    "retention { field_type: FIELD_TYPE_CARD_NUMBER period: \"1095d\" action: "
    "RETENTION_ACTION_DEPERSONALIZE }\n";

INSTANTIATE_TEST_SUITE_P(
    Retention, RetentionErrorTest,
    ::testing::Values(
        BadRetention{"NeitherTypeNorPurpose",
                     "retention {\n"
                     "  period: \"30d\"\n"
                     "  action: RETENTION_ACTION_DESTROY\n"
                     "}\n",
                     {"bad.textproto:5:1: retention[0]: give field_type or "
                      "purpose"}},
        BadRetention{"PeriodNotADuration",
                     absl::StrCat(kGoodTypeRule,
                                  "retention {\n"
                                  "  field_type: FIELD_TYPE_PHONE\n"
                                  "  period: \"3 years\"\n"
                                  "  action: RETENTION_ACTION_DESTROY\n"
                                  "}\n"),
                     {"bad.textproto:8:3: retention[1].period: want a "
                      "positive duration like \"1095d\""}},
        BadRetention{"ZeroPeriod",
                     "retention { purpose: \"q\" period: \"0d\" action: "
                     "RETENTION_ACTION_DESTROY }\n",
                     {"bad.textproto:5:26: retention[0].period: want a "
                      "positive duration like \"1095d\""}},
        BadRetention{"NegativePeriod",
                     "retention { purpose: \"q\" period: \"-30d\" action: "
                     "RETENTION_ACTION_DESTROY }\n",
                     {"bad.textproto:5:26: retention[0].period: want a "
                      "positive duration like \"1095d\""}},
        BadRetention{"MissingPeriod",
                     "\nretention { purpose: \"q\" action: "
                     "RETENTION_ACTION_DESTROY }\n",
                     {"bad.textproto:6:1: retention[0].period: want a "
                      "positive duration like \"1095d\""}},
        BadRetention{"MissingAction",
                     "retention {\n"
                     "  field_type: FIELD_TYPE_EMAIL\n"
                     "  period: \"30d\"\n"
                     "}\n",
                     {"bad.textproto:5:1: retention[0].action: want "
                      "RETENTION_ACTION_DESTROY or "
                      "RETENTION_ACTION_DEPERSONALIZE"}},
        BadRetention{"UnknownActionNumber",
                     "retention { purpose: \"q\" period: \"1d\" action: 7 }\n",
                     {"bad.textproto:5:39: retention[0].action: want "
                      "RETENTION_ACTION_DESTROY or "
                      "RETENTION_ACTION_DEPERSONALIZE"}},
        BadRetention{"UnspecifiedFieldType",
                     "retention { field_type: FIELD_TYPE_UNSPECIFIED period: "
                     "\"1d\" action: RETENTION_ACTION_DESTROY }\n",
                     {"bad.textproto:5:13: retention[0].field_type: not a "
                      "known field type"}},
        BadRetention{"UnknownFieldTypeNumber",
                     "retention { field_type: 42 period: \"1d\" action: "
                     "RETENTION_ACTION_DESTROY }\n",
                     {"bad.textproto:5:13: retention[0].field_type: not a "
                      "known field type"}},
        BadRetention{"TwoRulesForOneType",
                     absl::StrCat(kGoodTypeRule, "\n", kGoodTypeRule),
                     {"bad.textproto:7:13: retention[1].field_type: a second "
                      "rule for card_number"}},
        BadRetention{"TwoRulesForOnePurpose",
                     "retention { purpose: \"q\" period: \"1d\" action: "
                     "RETENTION_ACTION_DESTROY }\n"
                     "retention { purpose: \"q\" period: \"2d\" action: "
                     "RETENTION_ACTION_DEPERSONALIZE }\n",
                     {"bad.textproto:6:13: retention[1].purpose: a second "
                      "rule for purpose \"q\""}},
        BadRetention{"UnregisteredPurpose",
                     "retention { purpose: \"newsletter\" period: \"1d\" "
                     "action: RETENTION_ACTION_DESTROY }\n",
                     {"bad.textproto:5:13: retention[0].purpose: purpose "
                      "\"newsletter\" is not registered in purposes"}},
        BadRetention{"EmptyPurpose",
                     "retention { purpose: \"\" period: \"1d\" action: "
                     "RETENTION_ACTION_DESTROY }\n",
                     {"bad.textproto:5:13: retention[0].purpose: required"}},
        BadRetention{
            "EveryProblemOfOneRule",
            "retention {\n"
            "  purpose: \"nope\"\n"
            "  period: \"soon\"\n"
            "}\n",
            {"bad.textproto:6:3: retention[0].purpose: purpose \"nope\" is "
             "not registered in purposes",
             "bad.textproto:7:3: retention[0].period: want a positive "
             "duration like \"1095d\"",
             "bad.textproto:5:1: retention[0].action: want "
             "RETENTION_ACTION_DESTROY or RETENTION_ACTION_DEPERSONALIZE"}}),
    [](const ::testing::TestParamInfo<BadRetention>& info) {
      return info.param.name;
    });

TEST(RetentionErrorsTest, TypeAndPurposeInOneRuleIsASyntaxError) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy =
      Policy::Parse(absl::StrCat(kBase,
                                 "retention {\n"
                                 "  field_type: FIELD_TYPE_PHONE\n"
                                 "  purpose: \"q\"\n"
                                 "  period: \"1d\"\n"
                                 "  action: RETENTION_ACTION_DESTROY\n"
                                 "}\n"),
                    "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      Lines(policy.status()),
      ElementsAre(AllOf(StartsWith("bad.textproto:7:"), HasSubstr("oneof"))));
}

TEST(RetentionErrorsTest, RetentionErrorsComeWithTheOtherProblems) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(
      "purposes { name: \"p\" }\n"
      "identities { name: \"a\" organisation: \"o\" country: \"KZ\" }\n"
      "retention { purpose: \"p\" period: \"1w\" action: "
      "RETENTION_ACTION_DESTROY }\n",
      "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Lines(policy.status()),
              ElementsAre(StartsWith("bad.textproto:1:1: purposes[0]."
                                     "legal_basis: required"),
                          StartsWith("bad.textproto:3:26: retention[0]."
                                     "period: want a positive duration")));
}

}  // namespace
}  // namespace sandyq::policy
