#include "server/policy/policy.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fields/field_type.h"
#include "tests/unit/policy/policy_test_util.h"

namespace sandyq::policy {
namespace {

using fields::FieldType;
using fields::FieldTypeName;
using fields::kAllFieldTypes;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------
// The sample policy, cell by cell. This is the table of deploy/dev/
// policy.textproto written out independently; the tests compare every
// (identity, purpose, type) against it, so a grant added to or dropped from
// the file fails here.

constexpr Reveal kFull = Reveal::kFull;
constexpr Reveal kMasked = Reveal::kMasked;

using TypeLevels = std::map<FieldType, Reveal>;

TypeLevels AllTypes(Reveal level) {
  TypeLevels levels;
  for (FieldType type : kAllFieldTypes) levels[type] = level;
  return levels;
}

struct ExpectedIdentity {
  std::string name;
  std::string organisation;
  std::string country;
  bool tokenizes = false;                    // all types, else none
  std::map<std::string, TypeLevels> reveal;  // by purpose; absent = deny
  std::set<std::string> lookup_purposes;     // all types for each
  bool audit = false;
};

ExpectedIdentity Identity(std::string name, std::string organisation = "shop",
                          std::string country = "KZ") {
  ExpectedIdentity identity;
  identity.name = std::move(name);
  identity.organisation = std::move(organisation);
  identity.country = std::move(country);
  return identity;
}

const std::vector<ExpectedIdentity>& ExpectedIdentities() {
  static const auto* const kIdentities = [] {
    auto* identities = new std::vector<ExpectedIdentity>;

    ExpectedIdentity checkout = Identity("checkout");
    checkout.tokenizes = true;
    checkout.reveal["payment_processing"] = {{FieldType::kCardNumber, kFull},
                                             {FieldType::kCardExpiry, kFull}};
    checkout.reveal["order_fulfilment"] = {{FieldType::kFullName, kFull},
                                           {FieldType::kPhone, kFull},
                                           {FieldType::kAddress, kFull}};
    identities->push_back(checkout);

    ExpectedIdentity support = Identity("support");
    support.reveal["customer_support"] = {{FieldType::kFullName, kFull},
                                          {FieldType::kPhone, kMasked},
                                          {FieldType::kIin, kMasked},
                                          {FieldType::kCardNumber, kMasked},
                                          {FieldType::kEmail, kMasked}};
    support.lookup_purposes = {"customer_support"};
    identities->push_back(support);

    ExpectedIdentity marketing = Identity("marketing");
    marketing.reveal["marketing"] = {{FieldType::kPhone, kFull},
                                     {FieldType::kEmail, kFull}};
    identities->push_back(marketing);

    ExpectedIdentity analytics = Identity("analytics");
    analytics.tokenizes = true;
    identities->push_back(analytics);

    ExpectedIdentity partner = Identity("partner-de", "partner", "DE");
    partner.reveal["order_fulfilment"] = {{FieldType::kFullName, kFull},
                                          {FieldType::kEmail, kFull}};
    identities->push_back(partner);

    ExpectedIdentity legal = Identity("legal");
    legal.reveal["legal_request"] = AllTypes(kFull);
    identities->push_back(legal);

    ExpectedIdentity dpo = Identity("dpo");
    dpo.reveal["subject_access_request"] = AllTypes(kFull);
    dpo.lookup_purposes = {"subject_access_request"};
    identities->push_back(dpo);

    identities->push_back(Identity("keyadmin"));

    ExpectedIdentity auditor = Identity("auditor");
    auditor.audit = true;
    identities->push_back(auditor);
    return identities;
  }();
  return *kIdentities;
}

struct ExpectedPurpose {
  std::string name;
  LegalBasis legal_basis;
  bool requires_justification;
};

const std::vector<ExpectedPurpose>& ExpectedPurposes() {
  static const auto* const kPurposes = new std::vector<ExpectedPurpose>{
      {"payment_processing", LegalBasis::kContract, false},
      {"order_fulfilment", LegalBasis::kContract, false},
      {"customer_support", LegalBasis::kContract, false},
      {"marketing", LegalBasis::kConsent, false},
      {"legal_request", LegalBasis::kLegalObligation, true},
      {"subject_access_request", LegalBasis::kLegalObligation, false},
  };
  return *kPurposes;
}

// The expected level for one cell of the table.
Reveal ExpectedLevel(const ExpectedIdentity& identity,
                     const std::string& purpose, FieldType type) {
  const auto by_purpose = identity.reveal.find(purpose);
  if (by_purpose == identity.reveal.end()) return Reveal::kDeny;
  const auto by_type = by_purpose->second.find(type);
  return by_type == by_purpose->second.end() ? Reveal::kDeny : by_type->second;
}

class SamplePolicyTest : public SamplePolicyFixture {};

TEST_F(SamplePolicyTest, ListsIdentitiesInFileOrder) {
  EXPECT_THAT(policy_->IdentityNames(),
              ElementsAre("checkout", "support", "marketing", "analytics",
                          "partner-de", "legal", "dpo", "keyadmin", "auditor"));
}

TEST_F(SamplePolicyTest, EachIdentityHasItsOrganisationCountryAndOneRole) {
  for (const ExpectedIdentity& expected : ExpectedIdentities()) {
    SCOPED_TRACE(expected.name);
    const Principal& who = Who(expected.name);
    EXPECT_EQ(who.identity, expected.name);
    EXPECT_EQ(who.organisation, expected.organisation);
    EXPECT_EQ(who.country, expected.country);
    EXPECT_THAT(who.roles, ElementsAre(expected.name));
  }
}

TEST_F(SamplePolicyTest, PurposesHaveTheirLegalBases) {
  for (const ExpectedPurpose& expected : ExpectedPurposes()) {
    SCOPED_TRACE(expected.name);
    const Purpose* purpose = policy_->FindPurpose(expected.name);
    ASSERT_NE(purpose, nullptr);
    EXPECT_EQ(purpose->name, expected.name);
    EXPECT_EQ(purpose->legal_basis, expected.legal_basis);
    EXPECT_EQ(purpose->requires_justification, expected.requires_justification);
  }
}

TEST_F(SamplePolicyTest, RevealMatchesTheTableInEveryCell) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    for (const ExpectedPurpose& purpose : ExpectedPurposes()) {
      for (FieldType type : kAllFieldTypes) {
        SCOPED_TRACE(absl::StrCat(identity.name, " ", purpose.name, " ",
                                  FieldTypeName(type)));
        const Reveal expected = ExpectedLevel(identity, purpose.name, type);
        const Decision decision =
            policy_->Reveal(Who(identity.name), purpose.name, type,
                            /*has_justification=*/true);
        EXPECT_EQ(decision.reveal, expected);
        EXPECT_EQ(decision.allowed, expected != Reveal::kDeny);
        if (expected == Reveal::kFull) {
          EXPECT_EQ(decision.rule, absl::StrCat(identity.name, "/reveal/",
                                                purpose.name, "/full"));
          EXPECT_TRUE(decision.ToStatus().ok());
        } else if (expected == Reveal::kMasked) {
          EXPECT_EQ(decision.rule, absl::StrCat(identity.name, "/reveal/",
                                                purpose.name, "/masked"));
          EXPECT_TRUE(decision.ToStatus().ok());
        } else {
          EXPECT_EQ(decision.rule, "default-deny");
          EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
          EXPECT_EQ(
              decision.message,
              absl::StrCat(identity.name, " may not reveal ",
                           FieldTypeName(type), " for purpose ", purpose.name));
          EXPECT_EQ(decision.ToStatus(),
                    absl::PermissionDeniedError(decision.message));
        }
      }
    }
  }
}

TEST_F(SamplePolicyTest, WithoutJustificationOnlyLegalRequestChanges) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    for (const ExpectedPurpose& purpose : ExpectedPurposes()) {
      for (FieldType type : kAllFieldTypes) {
        SCOPED_TRACE(absl::StrCat(identity.name, " ", purpose.name, " ",
                                  FieldTypeName(type)));
        const Reveal granted = ExpectedLevel(identity, purpose.name, type);
        const Decision decision =
            policy_->Reveal(Who(identity.name), purpose.name, type,
                            /*has_justification=*/false);
        if (purpose.requires_justification && granted != Reveal::kDeny) {
          EXPECT_FALSE(decision.allowed);
          EXPECT_EQ(decision.reveal, Reveal::kDeny);
          EXPECT_EQ(decision.rule, "justification-required");
          EXPECT_EQ(decision.code, absl::StatusCode::kFailedPrecondition);
          EXPECT_EQ(decision.message,
                    "justification: required for purpose legal_request");
        } else {
          EXPECT_EQ(decision.reveal, granted);
          EXPECT_EQ(decision.allowed, granted != Reveal::kDeny);
        }
      }
    }
  }
}

TEST_F(SamplePolicyTest, RevealAnythingMatchesTheTable) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    for (const ExpectedPurpose& purpose : ExpectedPurposes()) {
      SCOPED_TRACE(absl::StrCat(identity.name, " ", purpose.name));
      const bool granted = identity.reveal.count(purpose.name) > 0;
      const Decision decision = policy_->RevealAnything(
          Who(identity.name), purpose.name, /*has_justification=*/true);
      EXPECT_EQ(decision.allowed, granted);
      if (granted) {
        // Every purpose granted in the sample grants at least one FULL type.
        EXPECT_EQ(decision.reveal, Reveal::kFull);
        EXPECT_EQ(decision.rule, absl::StrCat(identity.name, "/reveal/",
                                              purpose.name, "/full"));
      } else {
        EXPECT_EQ(decision.rule, "default-deny");
        EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
        EXPECT_EQ(
            decision.message,
            absl::StrCat(identity.name, " may not reveal anything for purpose ",
                         purpose.name));
      }
    }
  }
}

TEST_F(SamplePolicyTest, OnlyCheckoutAndAnalyticsTokenizeAndThenEveryType) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    for (FieldType type : kAllFieldTypes) {
      SCOPED_TRACE(absl::StrCat(identity.name, " ", FieldTypeName(type)));
      const Decision decision = policy_->Tokenize(Who(identity.name), type);
      EXPECT_EQ(decision.allowed, identity.tokenizes);
      if (identity.tokenizes) {
        EXPECT_EQ(decision.rule, absl::StrCat(identity.name, "/tokenize"));
      } else {
        EXPECT_EQ(decision.rule, "default-deny");
        EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
        EXPECT_EQ(decision.message,
                  absl::StrCat(identity.name, " may not tokenize ",
                               FieldTypeName(type)));
      }
    }
  }
}

TEST_F(SamplePolicyTest, LookupMatchesTheTable) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    for (const ExpectedPurpose& purpose : ExpectedPurposes()) {
      for (FieldType type : kAllFieldTypes) {
        SCOPED_TRACE(absl::StrCat(identity.name, " ", purpose.name, " ",
                                  FieldTypeName(type)));
        const bool expected = identity.lookup_purposes.count(purpose.name) > 0;
        const Decision decision =
            policy_->Lookup(Who(identity.name), purpose.name, type);
        EXPECT_EQ(decision.allowed, expected);
        if (expected) {
          EXPECT_EQ(decision.rule,
                    absl::StrCat(identity.name, "/lookup/", purpose.name));
        } else {
          EXPECT_EQ(decision.rule, "default-deny");
          EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
          EXPECT_EQ(
              decision.message,
              absl::StrCat(identity.name, " may not look up ",
                           FieldTypeName(type), " for purpose ", purpose.name));
        }
      }
    }
  }
}

TEST_F(SamplePolicyTest, OnlyAuditorAudits) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    SCOPED_TRACE(identity.name);
    const Decision decision = policy_->Audit(Who(identity.name));
    EXPECT_EQ(decision.allowed, identity.audit);
    if (identity.audit) {
      EXPECT_EQ(decision.rule, absl::StrCat(identity.name, "/audit"));
    } else {
      EXPECT_EQ(decision.rule, "default-deny");
      EXPECT_EQ(decision.message,
                absl::StrCat(identity.name, " may not read the access log"));
    }
  }
}

TEST_F(SamplePolicyTest, OnlyKeyadminAdministersKeys) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    SCOPED_TRACE(identity.name);
    const Decision decision = policy_->KeyAdmin(Who(identity.name));
    const bool expected = identity.name == "keyadmin";
    EXPECT_EQ(decision.allowed, expected);
    if (expected) {
      EXPECT_EQ(decision.rule, "keyadmin/key_admin");
    } else {
      EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
      EXPECT_EQ(decision.message,
                absl::StrCat(identity.name, " may not administer keys"));
    }
  }
}

TEST_F(SamplePolicyTest, OnlyKeyadminReloadsThePolicy) {
  for (const ExpectedIdentity& identity : ExpectedIdentities()) {
    SCOPED_TRACE(identity.name);
    const Decision decision = policy_->PolicyAdmin(Who(identity.name));
    const bool expected = identity.name == "keyadmin";
    EXPECT_EQ(decision.allowed, expected);
    if (expected) {
      EXPECT_EQ(decision.rule, "keyadmin/policy_admin");
    } else {
      EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
      EXPECT_EQ(decision.message,
                absl::StrCat(identity.name, " may not reload the policy"));
    }
  }
}

TEST(PolicyAdminTest, OnlyARoleWithPolicyAdminReloads) {
  absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(
      "roles { name: \"ops\" policy_admin: true }\n"
      "roles { name: \"keys\" key_admin: true backup: true }\n"
      "identities { name: \"ops\" organisation: \"o\" country: \"KZ\" "
      "roles: \"ops\" }\n"
      "identities { name: \"keys\" organisation: \"o\" country: \"KZ\" "
      "roles: \"keys\" }\n",
      "p.textproto");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ((*policy)->PolicyAdmin(*(*policy)->FindIdentity("ops")).rule,
            "ops/policy_admin");
  EXPECT_FALSE((*policy)->KeyAdmin(*(*policy)->FindIdentity("ops")).allowed);
  // Key and backup rights do not imply it.
  EXPECT_FALSE((*policy)->PolicyAdmin(*(*policy)->FindIdentity("keys")).allowed);
}

// The cells the issue names, spelled out.

TEST_F(SamplePolicyTest, SupportSeesPhoneMaskedAndNameInFull) {
  const Decision phone = policy_->Reveal(Who("support"), "customer_support",
                                         FieldType::kPhone, false);
  EXPECT_TRUE(phone.allowed);
  EXPECT_EQ(phone.reveal, Reveal::kMasked);
  EXPECT_EQ(phone.rule, "support/reveal/customer_support/masked");

  const Decision name = policy_->Reveal(Who("support"), "customer_support",
                                        FieldType::kFullName, false);
  EXPECT_EQ(name.reveal, Reveal::kFull);
  EXPECT_EQ(name.rule, "support/reveal/customer_support/full");
}

TEST_F(SamplePolicyTest, SupportCannotRevealAddressForCustomerSupport) {
  const Decision decision = policy_->Reveal(Who("support"), "customer_support",
                                            FieldType::kAddress, false);
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.ToStatus(),
            absl::PermissionDeniedError(
                "support may not reveal address for purpose customer_support"));
  EXPECT_EQ(decision.rule, "default-deny");
}

TEST_F(SamplePolicyTest, MarketingCannotRevealPhoneForCustomerSupport) {
  EXPECT_EQ(
      policy_->Reveal(Who("marketing"), "marketing", FieldType::kPhone, false)
          .reveal,
      Reveal::kFull);
  const Decision decision = policy_->Reveal(
      Who("marketing"), "customer_support", FieldType::kPhone, false);
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
}

TEST_F(SamplePolicyTest, PartnerGetsFullNameForOrderFulfilmentButNotPhone) {
  const Principal& partner = Who("partner-de");
  EXPECT_EQ(partner.country, "DE");
  EXPECT_EQ(
      policy_->Reveal(partner, "order_fulfilment", FieldType::kFullName, false)
          .reveal,
      Reveal::kFull);
  EXPECT_EQ(
      policy_->Reveal(partner, "order_fulfilment", FieldType::kPhone, false)
          .code,
      absl::StatusCode::kPermissionDenied);
}

TEST_F(SamplePolicyTest, LegalNeedsAJustification) {
  const Decision without =
      policy_->Reveal(Who("legal"), "legal_request", FieldType::kIin, false);
  EXPECT_EQ(without.ToStatus(),
            absl::FailedPreconditionError(
                "justification: required for purpose legal_request"));
  EXPECT_EQ(without.rule, "justification-required");
  EXPECT_EQ(policy_->RevealAnything(Who("legal"), "legal_request", false).code,
            absl::StatusCode::kFailedPrecondition);

  const Decision with =
      policy_->Reveal(Who("legal"), "legal_request", FieldType::kIin, true);
  EXPECT_EQ(with.reveal, Reveal::kFull);
  EXPECT_EQ(with.rule, "legal/reveal/legal_request/full");
}

TEST_F(SamplePolicyTest,
       CallerWithoutGrantIsDeniedBeforeJustificationIsChecked) {
  const Decision decision =
      policy_->Reveal(Who("support"), "legal_request", FieldType::kIin, false);
  EXPECT_EQ(decision.code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(decision.rule, "default-deny");
}

TEST_F(SamplePolicyTest, KeyadminAndAuditorRevealNothing) {
  for (const char* identity : {"keyadmin", "auditor"}) {
    for (const ExpectedPurpose& purpose : ExpectedPurposes()) {
      SCOPED_TRACE(absl::StrCat(identity, " ", purpose.name));
      EXPECT_FALSE(
          policy_->RevealAnything(Who(identity), purpose.name, true).allowed);
      for (FieldType type : kAllFieldTypes) {
        EXPECT_FALSE(
            policy_->Reveal(Who(identity), purpose.name, type, true).allowed);
      }
    }
  }
}

TEST_F(SamplePolicyTest, SupportLooksUpOnlyForCustomerSupport) {
  EXPECT_EQ(
      policy_->Lookup(Who("support"), "customer_support", FieldType::kPhone)
          .rule,
      "support/lookup/customer_support");
  EXPECT_FALSE(
      policy_
          ->Lookup(Who("support"), "subject_access_request", FieldType::kPhone)
          .allowed);
  EXPECT_EQ(
      policy_->Lookup(Who("dpo"), "subject_access_request", FieldType::kIin)
          .rule,
      "dpo/lookup/subject_access_request");
}

TEST_F(SamplePolicyTest, UnknownIdentityIsNotFound) {
  EXPECT_EQ(policy_->FindIdentity("mallory"), nullptr);
  EXPECT_EQ(policy_->FindIdentity(""), nullptr);
  EXPECT_EQ(policy_->FindIdentity("Checkout"), nullptr);
}

TEST_F(SamplePolicyTest, UnknownPurposeIsInvalidArgument) {
  EXPECT_EQ(policy_->FindPurpose("fraud_prevention"), nullptr);
  // Checked first: even for a caller with grants and no justification.
  const Decision reveal =
      policy_->Reveal(Who("legal"), "fraud_prevention", FieldType::kIin, false);
  EXPECT_EQ(reveal.ToStatus(), absl::InvalidArgumentError(
                                   "purpose: not registered in the policy"));
  EXPECT_EQ(reveal.rule, "unknown-purpose");
  EXPECT_EQ(reveal.reveal, Reveal::kDeny);

  const Decision anything = policy_->RevealAnything(Who("support"), "", true);
  EXPECT_EQ(anything.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(anything.rule, "unknown-purpose");

  const Decision lookup =
      policy_->Lookup(Who("support"), "Customer_Support", FieldType::kPhone);
  EXPECT_EQ(lookup.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lookup.rule, "unknown-purpose");
}

TEST_F(SamplePolicyTest, UnspecifiedTypeIsDenied) {
  EXPECT_FALSE(
      policy_->Tokenize(Who("checkout"), FieldType::kUnspecified).allowed);
  EXPECT_FALSE(
      policy_
          ->Reveal(Who("legal"), "legal_request", FieldType::kUnspecified, true)
          .allowed);
  EXPECT_FALSE(policy_
                   ->Lookup(Who("dpo"), "subject_access_request",
                            FieldType::kUnspecified)
                   .allowed);
}

TEST_F(SamplePolicyTest, PrincipalWithUndefinedRolesGetsNothing) {
  const Principal stranger{.identity = "stranger",
                           .organisation = "elsewhere",
                           .country = "KZ",
                           .roles = {"root", "admin"}, .reveal_limits = {}, .alarms = {}};
  EXPECT_FALSE(policy_->Tokenize(stranger, FieldType::kPhone).allowed);
  EXPECT_FALSE(policy_->RevealAnything(stranger, "marketing", true).allowed);
  EXPECT_FALSE(
      policy_->Lookup(stranger, "customer_support", FieldType::kPhone).allowed);
  EXPECT_FALSE(policy_->Audit(stranger).allowed);
}

// ---------------------------------------------------------------------------
// Decisions on small policies.

constexpr char kTwoRoles[] = R"pb(
  purposes { name: "p" legal_basis: LEGAL_BASIS_CONTRACT }
  roles {
    name: "weak"
    grants {
      purpose: "p"
      masked { types: [ FIELD_TYPE_PHONE, FIELD_TYPE_EMAIL ] }
    }
  }
  roles {
    name: "strong"
    grants {
      purpose: "p"
      full { types: FIELD_TYPE_PHONE }
    }
  }
  identities {
    name: "weak-first"
    organisation: "o"
    country: "KZ"
    roles: [ "weak", "strong" ]
  }
  identities {
    name: "strong-first"
    organisation: "o"
    country: "KZ"
    roles: [ "strong", "weak" ]
  }
)pb";

TEST(PolicyDecisionTest, StrongestGrantWinsAcrossRoles) {
  std::shared_ptr<const Policy> policy = ParseOrDie(kTwoRoles);
  ASSERT_NE(policy, nullptr);
  for (const char* identity : {"weak-first", "strong-first"}) {
    SCOPED_TRACE(identity);
    const Principal* who = policy->FindIdentity(identity);
    ASSERT_NE(who, nullptr);
    const Decision phone = policy->Reveal(*who, "p", FieldType::kPhone, false);
    EXPECT_EQ(phone.reveal, Reveal::kFull);
    EXPECT_EQ(phone.rule, "strong/reveal/p/full");
    const Decision email = policy->Reveal(*who, "p", FieldType::kEmail, false);
    EXPECT_EQ(email.reveal, Reveal::kMasked);
    EXPECT_EQ(email.rule, "weak/reveal/p/masked");
    const Decision any = policy->RevealAnything(*who, "p", false);
    EXPECT_EQ(any.reveal, Reveal::kFull);
    EXPECT_EQ(any.rule, "strong/reveal/p/full");
  }
}

TEST(PolicyDecisionTest, TypeInBothFullAndMaskedIsFull) {
  std::shared_ptr<const Policy> policy = ParseOrDie(R"pb(
    purposes { name: "p" legal_basis: LEGAL_BASIS_CONSENT }
    roles {
      name: "r"
      grants {
        purpose: "p"
        full { types: FIELD_TYPE_IIN }
        masked { all: true }
      }
    }
    identities { name: "a" organisation: "o" country: "KZ" roles: "r" }
  )pb");
  ASSERT_NE(policy, nullptr);
  const Principal& who = *policy->FindIdentity("a");
  EXPECT_EQ(policy->Reveal(who, "p", FieldType::kIin, false).reveal,
            Reveal::kFull);
  EXPECT_EQ(policy->Reveal(who, "p", FieldType::kIin, false).rule,
            "r/reveal/p/full");
  EXPECT_EQ(policy->Reveal(who, "p", FieldType::kPhone, false).reveal,
            Reveal::kMasked);
}

TEST(PolicyDecisionTest, OnlyMaskedGrantsRevealAnythingMasked) {
  std::shared_ptr<const Policy> policy = ParseOrDie(R"pb(
    purposes { name: "p" legal_basis: LEGAL_BASIS_CONSENT }
    roles {
      name: "r"
      grants {
        purpose: "p"
        masked { types: FIELD_TYPE_PHONE }
      }
    }
    identities { name: "a" organisation: "o" country: "KZ" roles: "r" }
  )pb");
  ASSERT_NE(policy, nullptr);
  const Decision decision =
      policy->RevealAnything(*policy->FindIdentity("a"), "p", false);
  EXPECT_TRUE(decision.allowed);
  EXPECT_EQ(decision.reveal, Reveal::kMasked);
  EXPECT_EQ(decision.rule, "r/reveal/p/masked");
}

TEST(PolicyDecisionTest, EmptyGrantGrantsNothing) {
  std::shared_ptr<const Policy> policy = ParseOrDie(R"pb(
    purposes { name: "p" legal_basis: LEGAL_BASIS_CONSENT }
    roles {
      name: "r"
      grants { purpose: "p" }
    }
    identities { name: "a" organisation: "o" country: "KZ" roles: "r" }
  )pb");
  ASSERT_NE(policy, nullptr);
  EXPECT_FALSE(
      policy->RevealAnything(*policy->FindIdentity("a"), "p", false).allowed);
}

TEST(PolicyDecisionTest, GrantsForOnePurposeAddUp) {
  std::shared_ptr<const Policy> policy = ParseOrDie(R"pb(
    purposes { name: "p" legal_basis: LEGAL_BASIS_CONSENT }
    roles {
      name: "r"
      grants {
        purpose: "p"
        full { types: FIELD_TYPE_PHONE }
      }
      grants {
        purpose: "p"
        masked { types: FIELD_TYPE_EMAIL }
      }
    }
    identities { name: "a" organisation: "o" country: "KZ" roles: "r" }
  )pb");
  ASSERT_NE(policy, nullptr);
  const Principal& who = *policy->FindIdentity("a");
  EXPECT_EQ(policy->Reveal(who, "p", FieldType::kPhone, false).reveal,
            Reveal::kFull);
  EXPECT_EQ(policy->Reveal(who, "p", FieldType::kEmail, false).reveal,
            Reveal::kMasked);
}

TEST(PolicyDecisionTest, LookupWithoutTypesCoversEveryType) {
  std::shared_ptr<const Policy> policy = ParseOrDie(R"pb(
    purposes { name: "p" legal_basis: LEGAL_BASIS_CONSENT }
    purposes { name: "q" legal_basis: LEGAL_BASIS_CONSENT }
    roles {
      name: "r"
      lookups { purpose: "p" }
      lookups {
        purpose: "q"
        types { types: FIELD_TYPE_EMAIL }
      }
    }
    identities { name: "a" organisation: "o" country: "KZ" roles: "r" }
  )pb");
  ASSERT_NE(policy, nullptr);
  const Principal& who = *policy->FindIdentity("a");
  for (FieldType type : kAllFieldTypes) {
    EXPECT_TRUE(policy->Lookup(who, "p", type).allowed) << FieldTypeName(type);
    EXPECT_EQ(policy->Lookup(who, "q", type).allowed, type == FieldType::kEmail)
        << FieldTypeName(type);
  }
}

TEST(PolicyDecisionTest, ParsesEveryLegalBasis) {
  std::shared_ptr<const Policy> policy = ParseOrDie(R"pb(
    purposes { name: "a" legal_basis: LEGAL_BASIS_CONSENT }
    purposes { name: "b" legal_basis: LEGAL_BASIS_CONTRACT }
    purposes { name: "c" legal_basis: LEGAL_BASIS_LEGAL_OBLIGATION }
    purposes { name: "d" legal_basis: LEGAL_BASIS_LEGITIMATE_INTEREST }
    identities { name: "x" organisation: "o" country: "KZ" }
  )pb");
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->FindPurpose("a")->legal_basis, LegalBasis::kConsent);
  EXPECT_EQ(policy->FindPurpose("b")->legal_basis, LegalBasis::kContract);
  EXPECT_EQ(policy->FindPurpose("c")->legal_basis,
            LegalBasis::kLegalObligation);
  EXPECT_EQ(policy->FindPurpose("d")->legal_basis,
            LegalBasis::kLegitimateInterest);
}

// ---------------------------------------------------------------------------
// Errors: each bad policy below has exactly one problem, reported with its
// location and field path. Line numbers count from the opening R"pb( line.

struct BadPolicy {
  std::string name;
  std::string text;
  std::string error;  // the one expected line
};

void PrintTo(const BadPolicy& bad, std::ostream* out) { *out << bad.name; }

class PolicyErrorTest : public ::testing::TestWithParam<BadPolicy> {};

TEST_P(PolicyErrorTest, ReportsTheProblemWithLocationAndFieldPath) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy =
      Policy::Parse(GetParam().text, "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Lines(policy.status()), ElementsAre(GetParam().error));
}

// A valid policy's lines, to build bad ones from.
constexpr char kPurpose[] =
    "purposes { name: \"p\" legal_basis: LEGAL_BASIS_CONTRACT }\n";
constexpr char kRole[] = "roles { name: \"r\" }\n";
constexpr char kIdentity[] =
    "identities { name: \"a\" organisation: \"o\" country: \"KZ\" roles: "
    "\"r\" }\n";

INSTANTIATE_TEST_SUITE_P(
    Semantic, PolicyErrorTest,
    ::testing::Values(
        BadPolicy{"UnknownRole",
                  absl::StrCat(kPurpose, kRole,
                               "identities {\n"
                               "  name: \"support\"\n"
                               "  organisation: \"shop\"\n"
                               "  country: \"KZ\"\n"
                               "  roles: [\"r\", \"suport\"]\n"
                               "}\n"),
                  "bad.textproto:7:16: identities[0].roles[1]: unknown role "
                  "\"suport\""},
        BadPolicy{
            "DuplicateIdentity",
            absl::StrCat(kPurpose, kRole, kIdentity, "\n", kIdentity),
            "bad.textproto:5:14: identities[1].name: duplicate identity \"a\" "
            "(first at identities[0])"},
        BadPolicy{
            "UnregisteredPurposeInGrant",
            absl::StrCat(
                kPurpose,
                "roles {\n"
                "  name: \"r\"\n"
                "  grants { purpose: \"p\" full { all: true } }\n"
                "  grants { purpose: \"marketting\" full { all: true } }\n"
                "}\n",
                kIdentity),
            "bad.textproto:5:12: roles[0].grants[1].purpose: purpose "
            "\"marketting\" is not registered in purposes"},
        BadPolicy{"GrantWithoutPurpose",
                  absl::StrCat(
                      kPurpose,
                      "roles { name: \"r\" grants { full { all: true } } }\n",
                      kIdentity),
                  "bad.textproto:2:19: roles[0].grants[0].purpose: required"},
        BadPolicy{
            "UnregisteredPurposeInLookup",
            absl::StrCat(kPurpose,
                         "roles { name: \"r\" lookups { purpose: \"q\" } }\n",
                         kIdentity),
            "bad.textproto:2:29: roles[0].lookups[0].purpose: purpose \"q\" "
            "is not registered in purposes"},
        BadPolicy{
            "LowerCaseCountry",
            absl::StrCat(kPurpose, kRole,
                         "identities {\n"
                         "  name: \"a\"\n"
                         "  organisation: \"o\"\n"
                         "  country: \"kz\"\n"
                         "}\n"),
            "bad.textproto:6:3: identities[0].country: want an ISO 3166-1 "
            "alpha-2 code (two upper-case letters, e.g. \"KZ\"), got \"kz\""},
        BadPolicy{
            "ThreeLetterCountry",
            absl::StrCat(kPurpose, kRole,
                         "identities { name: \"a\" organisation: \"o\" "
                         "country: \"KAZ\" }\n"),
            "bad.textproto:3:42: identities[0].country: want an ISO 3166-1 "
            "alpha-2 code (two upper-case letters, e.g. \"KZ\"), got \"KAZ\""},
        BadPolicy{
            "MissingCountry",
            absl::StrCat(kPurpose, kRole,
                         "identities { name: \"a\" organisation: \"o\" }\n"),
            "bad.textproto:3:1: identities[0].country: want an ISO 3166-1 "
            "alpha-2 code (two upper-case letters, e.g. \"KZ\"), got \"\""},
        BadPolicy{"EmptyOrganisation",
                  absl::StrCat(kPurpose, kRole,
                               "identities { name: \"a\" organisation: \" \" "
                               "country: \"KZ\" }\n"),
                  "bad.textproto:3:24: identities[0].organisation: required"},
        BadPolicy{
            "InvalidIdentityName",
            absl::StrCat(kPurpose, kRole,
                         "identities { name: \"Checkout\" organisation: \"o\" "
                         "country: \"KZ\" }\n"),
            "bad.textproto:3:14: identities[0].name: invalid identity name "
            "\"Checkout\" (want [a-z0-9_-]{1,64})"},
        BadPolicy{
            "TooLongRoleName",
            absl::StrCat(kPurpose, "roles { name: \"", std::string(65, 'r'),
                         "\" }\n", kRole, kIdentity),
            absl::StrCat("bad.textproto:2:9: roles[0].name: invalid role name "
                         "\"",
                         std::string(64, 'r'),
                         "...\" (want [a-z0-9_-]{1,64})")},
        BadPolicy{"PurposeNameWithHyphen",
                  absl::StrCat("purposes { name: \"p-1\" legal_basis: "
                               "LEGAL_BASIS_CONSENT }\n",
                               kRole, kIdentity),
                  "bad.textproto:1:12: purposes[0].name: invalid purpose name "
                  "\"p-1\" (want [a-z0-9_]{1,64})"},
        BadPolicy{
            "DuplicatePurpose",
            absl::StrCat(kPurpose, kPurpose, kRole, kIdentity),
            "bad.textproto:2:12: purposes[1].name: duplicate purpose \"p\" "
            "(first at purposes[0])"},
        BadPolicy{
            "DuplicateRole", absl::StrCat(kPurpose, kRole, kRole, kIdentity),
            "bad.textproto:3:9: roles[1].name: duplicate role \"r\" (first at "
            "roles[0])"},
        BadPolicy{
            "MissingLegalBasis",
            absl::StrCat("purposes { name: \"p\" }\n", kRole, kIdentity),
            "bad.textproto:1:1: purposes[0].legal_basis: required (consent, "
            "contract, legal obligation or legitimate interest)"},
        BadPolicy{
            "UnknownLegalBasisNumber",
            absl::StrCat("purposes { name: \"p\" legal_basis: 9 }\n", kRole,
                         kIdentity),
            "bad.textproto:1:22: purposes[0].legal_basis: unknown legal basis "
            "9"},
        BadPolicy{
            "UnspecifiedFieldType",
            absl::StrCat(kPurpose,
                         "roles {\n"
                         "  name: \"r\"\n"
                         "  tokenize { types: [FIELD_TYPE_PHONE,\n"
                         "                     FIELD_TYPE_UNSPECIFIED] }\n"
                         "}\n",
                         kIdentity),
            "bad.textproto:5:22: roles[0].tokenize.types[1]: "
            "FIELD_TYPE_UNSPECIFIED is not allowed"},
        BadPolicy{
            "UnknownFieldTypeNumber",
            absl::StrCat(kPurpose,
                         "roles { name: \"r\" grants { purpose: \"p\" masked "
                         "{ types: 42 } } }\n",
                         kIdentity),
            "bad.textproto:2:50: roles[0].grants[0].masked.types[0]: unknown "
            "field type 42"},
        BadPolicy{
            "AllWithTypes",
            absl::StrCat(kPurpose,
                         "roles {\n"
                         "  name: \"r\"\n"
                         "  grants {\n"
                         "    purpose: \"p\"\n"
                         "    full { all: true types: FIELD_TYPE_IIN }\n"
                         "  }\n"
                         "}\n",
                         kIdentity),
            "bad.textproto:6:22: roles[0].grants[0].full.types: must be empty "
            "when \"all: true\" is set"},
        BadPolicy{"NoIdentities", absl::StrCat(kPurpose, kRole),
                  "bad.textproto:1:1: identities: at least one identity is "
                  "required"}),
    [](const ::testing::TestParamInfo<BadPolicy>& info) {
      return info.param.name;
    });

TEST(PolicyErrorsTest, SyntaxErrorNamesLineAndColumn) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(
      absl::StrCat(kPurpose, "roles {\n  name: \"r\"\n  audit: maybe\n}\n"),
      "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Lines(policy.status()),
              ElementsAre(AllOf(StartsWith("bad.textproto:4:10: "),
                                HasSubstr("maybe"))));
}

TEST(PolicyErrorsTest, UnknownFieldNamesLineAndColumn) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(
      absl::StrCat(kPurpose, kRole, "identities {\n  rolse: \"r\"\n}\n"),
      "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Lines(policy.status()),
              ElementsAre(AllOf(StartsWith("bad.textproto:4:3: "),
                                HasSubstr("rolse"))));
}

TEST(PolicyErrorsTest, ReportsEveryProblem) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(
      "purposes { name: \"p\" }\n"  // 1
      "roles {\n"                   // 2
      "  name: \"r\"\n"             // 3
      "  grants { purpose: \"nope\" masked { types: FIELD_TYPE_UNSPECIFIED } "
      "}\n"  // 4
      "}\n"  // 5
      "identities { name: \"a\" organisation: \"o\" country: \"KZ\" roles: "
      "\"r\" }\n"  // 6
      "identities { name: \"a\" organisation: \"\" country: \"Kz\" roles: "
      "\"x\" }\n",  // 7
      "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      Lines(policy.status()),
      ElementsAre(
          StartsWith("bad.textproto:1:1: purposes[0].legal_basis: required"),
          StartsWith("bad.textproto:4:12: roles[0].grants[0].purpose: purpose "
                     "\"nope\" is not registered"),
          StartsWith("bad.textproto:4:37: roles[0].grants[0].masked.types[0]: "
                     "FIELD_TYPE_UNSPECIFIED"),
          StartsWith("bad.textproto:7:24: identities[1].organisation: "
                     "required"),
          StartsWith("bad.textproto:7:41: identities[1].country: "),
          StartsWith("bad.textproto:7:55: identities[1].roles[0]: unknown "
                     "role \"x\""),
          StartsWith("bad.textproto:7:14: identities[1].name: duplicate "
                     "identity \"a\"")));
}

TEST(PolicyErrorsTest, ErrorsNameTheFileAsGiven) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy =
      Policy::Parse("", "/etc/sandyq/policy.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().message(),
            "/etc/sandyq/policy.textproto:1:1: identities: at least one "
            "identity is required");
}

}  // namespace
}  // namespace sandyq::policy
