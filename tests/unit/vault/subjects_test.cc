// Data subjects' rights through the Vault's API (Law 94-V): consent and its
// effect on reveals, cross-border release, blocking, holds, erasure,
// rectification, reports and retention.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/audit_log.h"
#include "server/fields/field_type.h"
#include "server/fields/token.h"
#include "server/policy/policy.h"
#include "server/storage/store.h"
#include "server/vault/erasure_ledger.h"
#include "server/vault/records.h"
#include "server/vault/vault.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/vault_fixture.h"
#include "tests/unit/vault/key_test_util.h"  // PrintTo(StoredEvent)
#include "tests/unit/vault/subject_test_util.h"

namespace sandyq::vault {
namespace {

namespace pb = ::sandyq::internal::v1;
using audit::Decision;
using audit::StoredEvent;
using fields::FieldType;
using ::sandyq::testing::Await;
using ::sandyq::testing::ContainsRunOf;
using ::sandyq::testing::DevPolicyText;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::ParsePolicy;
using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;
using ::sandyq::testing::VaultFixture;
using storage::Table;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// Synthetic values only (domain/kazakhstan.md test vectors).
constexpr char kSubjectA[] = "crm:test-0001";
constexpr char kSubjectB[] = "crm:test-0002";
constexpr char kIin[] = "850315300019";
constexpr char kPhone[] = "+77012345678";
constexpr char kOtherPhone[] = "+77012345679";
constexpr char kThirdPhone[] = "+77012345670";
constexpr char kCard[] = "4111111111111111";
// Same first six and last four as kCard, also Luhn-valid.
constexpr char kCardSameEnds[] = "4111110000091111";
// Another card (other BIN and last four), Luhn-valid.
constexpr char kOtherCard[] = "5555555555554444";
constexpr char kEmail[] = "person.test@example.kz";
constexpr char kName[] = "Әлия Тестова";

constexpr char kSar[] = "subject_access_request";
constexpr char kSupport[] = "customer_support";
constexpr char kMarketing[] = "marketing";
constexpr char kFulfilment[] = "order_fulfilment";
constexpr char kLegal[] = "legal_request";

constexpr absl::Duration kDay = absl::Hours(24);

int Num(FieldType type) { return static_cast<int>(type); }

bool IsCheckpoint(const StoredEvent& e) {
  return e.event.rpc == "Audit.Checkpoint";
}

// The entries of `index` that name `token`: its subject entry (a value entry,
// whose value is the token, or a token entry) and its blind-index entry
// (whose keys end with the token).
std::map<std::string, std::string> EntriesNaming(
    const std::map<std::string, std::string>& index, absl::string_view token) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : index) {
    if (value == token || absl::EndsWith(key, token)) out.emplace(key, value);
  }
  return out;
}

// `index` without the entries of `gone`.
std::map<std::string, std::string> Without(
    std::map<std::string, std::string> index,
    const std::map<std::string, std::string>& gone) {
  for (const auto& [key, value] : gone) index.erase(key);
  return index;
}

class SubjectsTest : public VaultFixture {
 protected:
  SubjectsTest() : VaultFixture(/*random_seed=*/94) {}
  // The vault and the log go before the ledger and its directory.
  ~SubjectsTest() override { CloseVault(); }

  void SetUp() override {
    policy_ = ParsePolicy(DevPolicyText());
    ASSERT_NE(policy_, nullptr);
    absl::StatusOr<std::unique_ptr<ErasureLedger>> ledger =
        ErasureLedger::Open(dir_.File("erasures"));
    ASSERT_THAT(ledger, IsOk());
    ledger_ = std::move(*ledger);
    ASSERT_NO_FATAL_FAILURE(Open(ledger_.get()));
  }

  // (Re)opens the log and the vault over store_.
  void Open(ErasureLedger* ledger) { OpenLogAndVault({.ledger = ledger}); }

  // The vault record as stored, and a way to replace it (store_ only; with
  // the vault closed).
  internal::v1::VaultRecord StoredVaultRecord() const {
    internal::v1::VaultRecord record;
    EXPECT_TRUE(record.ParseFromString(
        store_.Get(Table::kMeta, keys::kVaultRecord).value_or("")));
    return record;
  }
  void StoreVaultRecord(const internal::v1::VaultRecord& record) {
    store_.Poke(Table::kMeta, std::string(keys::kVaultRecord),
                record.SerializeAsString());
  }

  // --- Tokenizer ---

  absl::StatusOr<std::string> Tokenize(absl::string_view subject,
                                       FieldType type, absl::string_view value,
                                       absl::string_view purpose = "",
                                       absl::string_view source = "") {
    return TokenizeAs("checkout", subject, type, value, purpose, source);
  }
  absl::StatusOr<std::string> TokenizeAs(absl::string_view identity,
                                         absl::string_view subject,
                                         FieldType type,
                                         absl::string_view value,
                                         absl::string_view purpose = "",
                                         absl::string_view source = "") {
    TokenizeInput input;
    input.subject_id = std::string(subject);
    input.field_type = Num(type);
    input.value = std::string(value);
    input.source = std::string(source);
    input.purpose = std::string(purpose);
    return Await<std::string>([&](Callback<std::string> done) {
      vault_->Tokenize({std::string(identity)}, std::move(input),
                       std::move(done));
    });
  }
  std::string TokenizeOrDie(absl::string_view subject, FieldType type,
                            absl::string_view value,
                            absl::string_view purpose = "",
                            absl::string_view source = "") {
    absl::StatusOr<std::string> token =
        Tokenize(subject, type, value, purpose, source);
    EXPECT_THAT(token, IsOk());
    return token.value_or("");
  }

  absl::StatusOr<Revealed> Detokenize(absl::string_view identity,
                                      absl::string_view token,
                                      absl::string_view purpose,
                                      absl::string_view justification = "") {
    DetokenizeInput input;
    input.token = std::string(token);
    input.purpose = std::string(purpose);
    input.justification = std::string(justification);
    return Await<Revealed>([&](Callback<Revealed> done) {
      vault_->Detokenize({std::string(identity)}, std::move(input),
                         std::move(done));
    });
  }
  // The value as the data protection officer sees it (FULL for every type).
  absl::StatusOr<std::string> Reveal(absl::string_view token) {
    absl::StatusOr<Revealed> revealed = Detokenize("dpo", token, kSar);
    if (!revealed.ok()) return revealed.status();
    return revealed->value;
  }

  absl::StatusOr<std::vector<std::string>> Lookup(
      FieldType type, absl::string_view value,
      absl::string_view identity = "support",
      absl::string_view purpose = kSupport) {
    return Await<std::vector<std::string>>(
        [&](Callback<std::vector<std::string>> done) {
          vault_->Lookup({std::string(identity)},
                         {.field_type = Num(type),
                          .value = std::string(value),
                          .purpose = std::string(purpose)},
                         std::move(done));
        });
  }

  // --- Subjects ---

  absl::StatusOr<absl::Time> Consent(
      absl::string_view subject, absl::string_view purpose, bool granted,
      bool cross_border = false, absl::string_view identity = "dpo",
      absl::string_view policy_version = "2024-01-24",
      absl::string_view channel = "web form") {
    ConsentInput input;
    input.subject_id = std::string(subject);
    input.purpose = std::string(purpose);
    input.granted = granted;
    input.cross_border = cross_border;
    input.policy_version = std::string(policy_version);
    input.channel = std::string(channel);
    return Await<absl::Time>([&](Callback<absl::Time> done) {
      vault_->RecordConsent({std::string(identity)}, std::move(input),
                            std::move(done));
    });
  }

  absl::StatusOr<bool> Block(absl::string_view subject, bool block = true,
                             absl::string_view reason = "request 17/2026",
                             absl::string_view identity = "dpo") {
    return Await<bool>([&](Callback<bool> done) {
      vault_->SetBlocked({std::string(identity)}, std::string(subject),
                         std::string(reason), block, std::move(done));
    });
  }

  absl::StatusOr<std::string> SetHold(absl::string_view subject,
                                      absl::string_view reason = "accounting",
                                      absl::string_view identity = "dpo") {
    return Await<std::string>([&](Callback<std::string> done) {
      vault_->SetHold({std::string(identity)}, std::string(subject),
                      std::string(reason), std::move(done));
    });
  }

  absl::StatusOr<bool> ReleaseHold(absl::string_view subject,
                                   absl::string_view hold_id = "",
                                   absl::string_view reason = "settled",
                                   absl::string_view identity = "dpo") {
    return Await<bool>([&](Callback<bool> done) {
      vault_->ReleaseHold({std::string(identity)}, std::string(subject),
                          std::string(reason), std::string(hold_id),
                          std::move(done));
    });
  }

  absl::StatusOr<EraseResult> Erase(absl::string_view subject,
                                    absl::string_view reason = "request 18",
                                    absl::string_view identity = "dpo") {
    return Await<EraseResult>([&](Callback<EraseResult> done) {
      vault_->Erase({std::string(identity)}, std::string(subject),
                    std::string(reason), std::move(done));
    });
  }

  absl::StatusOr<bool> Rectify(absl::string_view token, absl::string_view value,
                               absl::string_view reason = "request 19",
                               absl::string_view identity = "dpo") {
    return Await<bool>([&](Callback<bool> done) {
      vault_->Rectify({std::string(identity)}, std::string(token),
                      std::string(value), std::string(reason), std::move(done));
    });
  }

  absl::StatusOr<SubjectReport> Report(absl::string_view subject,
                                       absl::string_view identity = "dpo") {
    return Await<SubjectReport>([&](Callback<SubjectReport> done) {
      vault_->Report({std::string(identity)}, std::string(subject),
                     std::move(done));
    });
  }

  absl::StatusOr<RetentionResult> ApplyRetention(
      absl::string_view identity = "dpo") {
    return Await<RetentionResult>([&](Callback<RetentionResult> done) {
      vault_->ApplyRetention({std::string(identity)}, std::move(done));
    });
  }

  // The subject's keyed hash, as the vault names it in its events.
  std::string HashOf(absl::string_view subject) {
    absl::StatusOr<SubjectReport> report = Report(subject);
    EXPECT_THAT(report, IsOk());
    return report.ok() ? report->subject_hash : "";
  }

  // --- Store and log ---

  // Every stored event but the checkpoints, in order.
  std::vector<StoredEvent> AllEvents() const override {
    std::vector<StoredEvent> events;
    for (StoredEvent& e : VaultFixture::AllEvents()) {
      if (!IsCheckpoint(e)) events.push_back(std::move(e));
    }
    return events;
  }
  // Events (checkpoints left out) after the first `n`.
  // Puts `bytes` as the recorded time of the last retention pass.
  void StoreRetentionPass(const std::string& bytes) {
    storage::WriteBatch batch;
    batch.Put(Table::kMeta, keys::kRetentionPass, bytes);
    ASSERT_THAT(store_.Write(batch, {}), IsOk());
  }

  // The rules of the Vault.Migrate events, in order.
  std::vector<std::string> Migrations() const {
    std::vector<std::string> rules;
    for (const StoredEvent& e : AllEvents()) {
      if (e.event.rpc == "Vault.Migrate") rules.push_back(e.event.rule);
    }
    return rules;
  }

  std::vector<StoredEvent> EventsAfter(size_t n) const {
    std::vector<StoredEvent> all = AllEvents();
    return n >= all.size()
               ? std::vector<StoredEvent>{}
               : std::vector<StoredEvent>(all.begin() + n, all.end());
  }
  std::vector<StoredEvent> EventsAbout(const std::string& hash) const {
    std::vector<StoredEvent> out;
    for (const StoredEvent& e : AllEvents()) {
      if (e.event.subject_hash == hash) out.push_back(e);
    }
    return out;
  }

  std::map<std::string, std::string> Index() const {
    return subject_test::TableContents(store_, Table::kIndex);
  }

  // The field record of `token` as stored, and a way to replace it.
  pb::FieldRecord StoredFieldRecord(const std::string& token) const {
    pb::FieldRecord record;
    EXPECT_TRUE(
        record.ParseFromString(store_.Get(Table::kFields, token).value_or("")));
    return record;
  }
  void StoreFieldRecord(const std::string& token, const pb::FieldRecord& record) {
    store_.Poke(Table::kFields, token, record.SerializeAsString());
  }
  // Gives `token`'s field record the dedup key of its subject's value entry,
  // as builds before 2026-11-22 stored it.
  void StoreDedupKeyAsOlderBuildsDid(const std::string& token) {
    std::string dedup;
    for (const auto& [key, value] : Index()) {
      if (key[0] == keys::kSubjectTokensTag && value == token) {
        dedup = key.substr(1 + 32);
      }
    }
    ASSERT_EQ(dedup.size(), 32u) << "no value entry of " << token;
    pb::FieldRecord record = StoredFieldRecord(token);
    record.set_dedup_key(dedup);
    StoreFieldRecord(token, record);
  }

  std::optional<pb::SubjectRecord> SubjectRecordOf(
      const std::string& hash) const {
    absl::StatusOr<std::string> bytes = store_.Get(Table::kSubjects, hash);
    if (!bytes.ok()) return std::nullopt;
    pb::SubjectRecord record;
    EXPECT_TRUE(record.ParseFromString(*bytes));
    return record;
  }

  ScopedTempDir dir_;
  std::unique_ptr<ErasureLedger> ledger_;
};

// --- Consent ----------------------------------------------------------------

TEST_F(SubjectsTest, RecordConsentIsForTheDataProtectionOfficerOnly) {
  for (const char* identity :
       {"marketing", "checkout", "keyadmin", "auditor"}) {
    SCOPED_TRACE(identity);
    EXPECT_THAT(
        Consent(kSubjectA, kMarketing, true, false, identity),
        StatusIs(
            absl::StatusCode::kPermissionDenied,
            absl::StrCat(identity, " may not manage data subjects' rights")));
    const StoredEvent last = LastEvent();
    EXPECT_EQ(last.event.rpc, "Subjects.RecordConsent");
    EXPECT_EQ(last.event.identity, identity);
    EXPECT_EQ(last.event.decision, Decision::kDenied);
    EXPECT_EQ(last.event.rule, "default-deny");
    // Refused, it still shows in the person's report.
    EXPECT_EQ(last.event.subject_hash, HashOf(kSubjectA));
  }
  EXPECT_THAT(Consent(kSubjectA, kMarketing, true, false, "stranger"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "identity: not known to the policy"));
  EXPECT_EQ(LastEvent().event.rule, "unknown-identity");
  EXPECT_EQ(store_.Count(Table::kConsents), 0u);
}

TEST_F(SubjectsTest, RecordConsentRefusesAnUnregisteredPurpose) {
  EXPECT_THAT(Consent(kSubjectA, "newsletter", true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "purpose: not registered in the policy"));
  const StoredEvent last = LastEvent();
  EXPECT_EQ(last.event.decision, Decision::kInvalid);
  EXPECT_EQ(last.event.rule, "unknown-purpose");
  EXPECT_EQ(last.event.purpose, "newsletter");

  EXPECT_THAT(
      Consent(kSubjectA, "", true),
      StatusIs(absl::StatusCode::kInvalidArgument, "purpose: required"));
  EXPECT_THAT(
      Consent("", kMarketing, true),
      StatusIs(absl::StatusCode::kInvalidArgument, "subject_id: required"));
  EXPECT_EQ(store_.Count(Table::kConsents), 0u);
}

TEST_F(SubjectsTest, RecordConsentNeedsItsEvidence) {
  EXPECT_THAT(
      Consent(kSubjectA, kMarketing, true, false, "dpo", "", "app"),
      StatusIs(absl::StatusCode::kInvalidArgument, "policy_version: required"));
  EXPECT_EQ(LastEvent().event.rule, "input:policy_version");
  EXPECT_THAT(
      Consent(kSubjectA, kMarketing, true, false, "dpo", "v1", ""),
      StatusIs(absl::StatusCode::kInvalidArgument, "channel: required"));
  EXPECT_THAT(Consent(kSubjectA, kMarketing, false, false, "dpo", "v1",
                      std::string(129, 'c')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "channel: longer than 128 bytes"));
  EXPECT_EQ(store_.Count(Table::kConsents), 0u);
}

TEST_F(SubjectsTest, CrossBorderConsentOnlyForPurposesThatGoAbroad) {
  EXPECT_THAT(Consent(kSubjectA, kSupport, true, /*cross_border=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "cross_border: purpose customer_support does not allow "
                       "transfer abroad"));
  EXPECT_EQ(LastEvent().event.decision, Decision::kInvalid);
  EXPECT_EQ(LastEvent().event.rule, "cross-border-not-allowed");
  EXPECT_EQ(store_.Count(Table::kConsents), 0u);
  EXPECT_THAT(Consent(kSubjectA, kFulfilment, true, /*cross_border=*/true),
              IsOk());
  EXPECT_EQ(LastEvent().event.rule,
            "dpo/subject_admin; consent granted (cross-border) via web form; "
            "policy 2024-01-24");
}

TEST_F(SubjectsTest, RecordConsentReturnsWhenItWasRecorded) {
  clock_.Advance(absl::Minutes(5));
  EXPECT_THAT(Consent(kSubjectA, kMarketing, true), IsOkAndHolds(clock_.Now()));
  const StoredEvent last = LastEvent();
  EXPECT_EQ(last.event.decision, Decision::kAllowed);
  EXPECT_EQ(last.event.purpose, kMarketing);
  EXPECT_EQ(last.event.subject_hash.size(), 32u);
  EXPECT_EQ(last.event.rule,
            "dpo/subject_admin; consent granted via web form; policy "
            "2024-01-24");
  // The subject id is never stored, only its keyed hash.
  EXPECT_FALSE(absl::StrContains(AllStoredBytes(), kSubjectA));
}

TEST_F(SubjectsTest, MarketingRevealNeedsConsentAndWithdrawalStopsIt) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);

  EXPECT_THAT(Detokenize("marketing", phone, kMarketing),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "consent: the subject has not consented to marketing "
                       "(or has withdrawn it)"));
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
  EXPECT_EQ(LastEvent().event.rule,
            "marketing/reveal/marketing/full; no-consent");

  ASSERT_THAT(Consent(kSubjectA, kMarketing, true), IsOk());
  absl::StatusOr<Revealed> revealed =
      Detokenize("marketing", phone, kMarketing);
  ASSERT_THAT(revealed, IsOk());
  EXPECT_EQ(revealed->value, kPhone);
  EXPECT_FALSE(revealed->masked);
  EXPECT_EQ(LastEvent().event.decision, Decision::kRevealedFull);
  EXPECT_EQ(LastEvent().event.rule,
            "marketing/reveal/marketing/full; consent/marketing");

  clock_.Advance(absl::Minutes(1));
  ASSERT_THAT(Consent(kSubjectA, kMarketing, false), IsOk());
  EXPECT_THAT(Detokenize("marketing", phone, kMarketing),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // Purposes that do not rest on consent are not affected.
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));
}

TEST_F(SubjectsTest, ConsentOfOneSubjectDoesNotCoverAnother) {
  const std::string a = TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail);
  const std::string b = TokenizeOrDie(kSubjectB, FieldType::kEmail, kEmail);
  ASSERT_THAT(Consent(kSubjectA, kMarketing, true), IsOk());
  EXPECT_THAT(Detokenize("marketing", a, kMarketing), IsOk());
  EXPECT_THAT(Detokenize("marketing", b, kMarketing),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(SubjectsTest, ConsentHistoryIsKeptInOrder) {
  const absl::Time t1 = clock_.Now();
  ASSERT_THAT(Consent(kSubjectA, kMarketing, true, false, "dpo", "2024-01-24",
                      "web form"),
              IsOk());
  clock_.Advance(kDay);
  const absl::Time t2 = clock_.Now();
  ASSERT_THAT(Consent(kSubjectA, kFulfilment, true, /*cross_border=*/true,
                      "dpo", "2024-01-24", "app"),
              IsOk());
  clock_.Advance(kDay);
  const absl::Time t3 = clock_.Now();
  // A withdrawal never keeps a cross-border flag.
  ASSERT_THAT(Consent(kSubjectA, kMarketing, false, /*cross_border=*/true,
                      "dpo", "2024-01-24", "e-mail"),
              IsOk());

  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  ASSERT_THAT(report->consents, SizeIs(3));
  const SubjectReport::Consent& first = report->consents[0];
  EXPECT_EQ(first.purpose, kMarketing);
  EXPECT_TRUE(first.granted);
  EXPECT_FALSE(first.cross_border);
  EXPECT_EQ(first.policy_version, "2024-01-24");
  EXPECT_EQ(first.channel, "web form");
  EXPECT_EQ(first.recorded, t1);
  const SubjectReport::Consent& second = report->consents[1];
  EXPECT_EQ(second.purpose, kFulfilment);
  EXPECT_TRUE(second.granted);
  EXPECT_TRUE(second.cross_border);
  EXPECT_EQ(second.recorded, t2);
  const SubjectReport::Consent& third = report->consents[2];
  EXPECT_EQ(third.purpose, kMarketing);
  EXPECT_FALSE(third.granted);
  EXPECT_FALSE(third.cross_border);
  EXPECT_EQ(third.channel, "e-mail");
  EXPECT_EQ(third.recorded, t3);
}

// --- Cross-border release ---------------------------------------------------

TEST_F(SubjectsTest, PartnerAbroadNeedsCrossBorderConsent) {
  const std::string name =
      TokenizeOrDie(kSubjectA, FieldType::kFullName, kName);

  EXPECT_THAT(Detokenize("partner-de", name, kFulfilment),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "consent: the subject has not consented to "
                       "cross-border transfer for order_fulfilment"));
  // A consent without the cross-border flag is not enough.
  ASSERT_THAT(Consent(kSubjectA, kFulfilment, true, /*cross_border=*/false),
              IsOk());
  EXPECT_THAT(Detokenize("partner-de", name, kFulfilment),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  const StoredEvent refused = LastEvent();
  EXPECT_EQ(refused.event.decision, Decision::kDenied);
  EXPECT_EQ(refused.event.country, "DE");
  EXPECT_THAT(refused.event.rule, EndsWith("no-cross-border-consent"));

  ASSERT_THAT(Consent(kSubjectA, kFulfilment, true, /*cross_border=*/true),
              IsOk());
  absl::StatusOr<Revealed> revealed =
      Detokenize("partner-de", name, kFulfilment);
  ASSERT_THAT(revealed, IsOk());
  EXPECT_EQ(revealed->value, kName);

  // The release names where the value went.
  const StoredEvent released = LastEvent();
  EXPECT_EQ(released.event.identity, "partner-de");
  EXPECT_EQ(released.event.organisation, "partner");
  EXPECT_EQ(released.event.country, "DE");
  EXPECT_EQ(released.event.purpose, kFulfilment);
  EXPECT_EQ(released.event.decision, Decision::kRevealedFull);
  EXPECT_EQ(released.event.rule,
            "partner-de/reveal/order_fulfilment/full; "
            "cross-border/order_fulfilment/DE");

  // Withdrawing the consent stops the transfer again.
  ASSERT_THAT(Consent(kSubjectA, kFulfilment, false), IsOk());
  EXPECT_THAT(Detokenize("partner-de", name, kFulfilment),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(SubjectsTest, CallerAtHomeNeedsNoConsentForAContractPurpose) {
  const std::string name =
      TokenizeOrDie(kSubjectA, FieldType::kFullName, kName);
  EXPECT_THAT(Detokenize("checkout", name, kFulfilment), IsOk());
  EXPECT_EQ(LastEvent().event.country, "KZ");
  EXPECT_EQ(LastEvent().event.rule, "checkout/reveal/order_fulfilment/full");
}

TEST_F(SubjectsTest, CallerAbroadIsDeniedAPurposeWithoutCrossBorder) {
  vault_->SetPolicy(ParsePolicy(absl::StrCat(
      DevPolicyText(),
      "\nidentities { name: \"support-de\" organisation: \"partner\" "
      "country: \"DE\" roles: [\"support\"] }\n")));
  const std::string name =
      TokenizeOrDie(kSubjectA, FieldType::kFullName, kName);
  // Even with the subject's consent for it (a cross-border one cannot be
  // recorded for this purpose).
  ASSERT_THAT(Consent(kSubjectA, kSupport, true), IsOk());
  EXPECT_THAT(Detokenize("support-de", name, kSupport),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "purpose customer_support does not allow transfer to "
                       "DE"));
  const StoredEvent refused = LastEvent();
  EXPECT_EQ(refused.event.decision, Decision::kDenied);
  EXPECT_EQ(refused.event.country, "DE");
  EXPECT_EQ(refused.event.rule,
            "support/reveal/customer_support/full; cross-border-not-allowed");
  // The same grant at home is served.
  EXPECT_THAT(Detokenize("support", name, kSupport), IsOk());
}

// --- Blocking ---------------------------------------------------------------

TEST_F(SubjectsTest, BlockedSubjectIsRevealedOnlyForLegalAndAccessRequests) {
  const std::string name =
      TokenizeOrDie(kSubjectA, FieldType::kFullName, kName);
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(Block(kSubjectA), IsOkAndHolds(true));
  EXPECT_EQ(LastEvent().event.rpc, "Subjects.Block");
  EXPECT_EQ(LastEvent().event.justification, "request 17/2026");
  EXPECT_EQ(LastEvent().event.rule, "dpo/subject_admin; blocked");

  EXPECT_THAT(Detokenize("support", name, kSupport),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "subject: processing is blocked; purpose "
                       "customer_support is not allowed while blocked"));
  EXPECT_THAT(LastEvent().event.rule, EndsWith("; subject-blocked"));
  EXPECT_THAT(Detokenize("support", phone, kSupport),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Detokenize("checkout", phone, kFulfilment),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The person may still see their own data.
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));

  absl::StatusOr<Revealed> legal =
      Detokenize("legal", phone, kLegal, "court order 1/2026");
  ASSERT_THAT(legal, IsOk());
  EXPECT_EQ(legal->value, kPhone);
  EXPECT_EQ(LastEvent().event.justification, "court order 1/2026");
  // Still only with a justification.
  EXPECT_THAT(Detokenize("legal", phone, kLegal),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "justification: required for purpose legal_request"));

  ASSERT_THAT(Block(kSubjectA, /*block=*/false), IsOkAndHolds(true));
  EXPECT_EQ(LastEvent().event.rpc, "Subjects.Unblock");
  EXPECT_EQ(LastEvent().event.rule, "dpo/subject_admin; unblocked");
  EXPECT_THAT(Detokenize("support", name, kSupport), IsOk());
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));
}

TEST_F(SubjectsTest, BlockedSubjectGetsNoNewData) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(Block(kSubjectA), IsOk());
  const size_t fields = store_.Count(Table::kFields);

  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "subject: processing is blocked; no new data is "
                       "stored"));
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
  EXPECT_EQ(LastEvent().event.rule, "subject-blocked");
  // Not even a value it already holds.
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kEmail, kEmail, kMarketing),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_.Count(Table::kFields), fields);

  // Other subjects are not affected.
  EXPECT_THAT(Tokenize(kSubjectB, FieldType::kIin, kIin), IsOk());
  // Naming a purpose allowed while blocked is not enough...
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin, kLegal),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // ...the caller must work for it.
  vault_->SetPolicy(ParsePolicy(absl::StrCat(
      DevPolicyText(),
      "\nroles { name: \"court-clerk\" tokenize { all: true } grants { "
      "purpose: \"legal_request\" full { all: true } } }\n"
      "identities { name: \"court-clerk\" organisation: \"shop\" "
      "country: \"KZ\" roles: [\"court-clerk\"] }\n")));
  EXPECT_THAT(TokenizeAs("court-clerk", kSubjectA, FieldType::kIin, kIin),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  absl::StatusOr<std::string> for_court =
      TokenizeAs("court-clerk", kSubjectA, FieldType::kIin, kIin, kLegal);
  ASSERT_THAT(for_court, IsOk());
  EXPECT_EQ(LastEvent().event.rule, "court-clerk/tokenize");
  EXPECT_THAT(Detokenize("legal", *for_court, kLegal, "court order 2/2026"),
              IsOkAndHolds(Field(&Revealed::value, kIin)));

  ASSERT_THAT(Block(kSubjectA, /*block=*/false), IsOk());
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone),
              IsOkAndHolds(phone));
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kEmail, kEmail), IsOk());
}

TEST_F(SubjectsTest, BatchRefusesOnlyTheBlockedSubjectsItems) {
  ASSERT_THAT(Block(kSubjectA), IsOk());
  auto item = [](absl::string_view subject, FieldType type,
                 absl::string_view value) {
    TokenizeInput input;
    input.subject_id = std::string(subject);
    input.field_type = Num(type);
    input.value = std::string(value);
    return input;
  };
  absl::StatusOr<Vault::TokenizeResults> results =
      Await<Vault::TokenizeResults>([&](Callback<Vault::TokenizeResults> done) {
        vault_->TokenizeBatch({"checkout"},
                              {item(kSubjectA, FieldType::kPhone, kPhone),
                               item(kSubjectB, FieldType::kPhone, kPhone),
                               item(kSubjectA, FieldType::kIin, kIin)},
                              std::move(done));
      });
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT(*results, SizeIs(3));
  EXPECT_THAT((*results)[0], StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*results)[1], IsOk());
  EXPECT_THAT((*results)[2], StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(SubjectsTest, LookupLeavesBlockedSubjectsOut) {
  const std::string a = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::string b = TokenizeOrDie(kSubjectB, FieldType::kPhone, kPhone);
  ASSERT_THAT(Block(kSubjectA), IsOk());
  const std::string hash_a = HashOf(kSubjectA);
  const std::string hash_b = HashOf(kSubjectB);

  const size_t before = AllEvents().size();
  EXPECT_THAT(Lookup(FieldType::kPhone, kPhone), IsOkAndHolds(ElementsAre(b)));
  // One event per person found, so the refusal shows in A's report too.
  std::vector<StoredEvent> events = EventsAfter(before);
  ASSERT_THAT(events, SizeIs(2));
  for (const StoredEvent& e : events) {
    EXPECT_EQ(e.event.rpc, "Tokenizer.Lookup");
    if (e.event.subject_hash == hash_a) {
      EXPECT_EQ(e.event.token, a);
      EXPECT_EQ(e.event.decision, Decision::kDenied);
      EXPECT_THAT(e.event.rule, EndsWith("; subject-blocked (left out)"));
    } else {
      EXPECT_EQ(e.event.subject_hash, hash_b);
      EXPECT_EQ(e.event.token, b);
      EXPECT_EQ(e.event.decision, Decision::kAllowed);
    }
  }
  // For a purpose allowed while blocked, both are found.
  EXPECT_THAT(Lookup(FieldType::kPhone, kPhone, "dpo", kSar),
              IsOkAndHolds(UnorderedElementsAre(a, b)));
  ASSERT_THAT(Block(kSubjectA, /*block=*/false), IsOk());
  EXPECT_THAT(Lookup(FieldType::kPhone, kPhone),
              IsOkAndHolds(UnorderedElementsAre(a, b)));
}

TEST_F(SubjectsTest, BlockBeforeAnyDataStopsCollectionAndUnblockAllowsIt) {
  ASSERT_THAT(Block(kSubjectA), IsOk());
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(Block(kSubjectA, /*block=*/false), IsOk());
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));
}

TEST_F(SubjectsTest, BlockNeedsAReasonAndTheOfficer) {
  EXPECT_THAT(Block(kSubjectA, true, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "reason: required"));
  EXPECT_EQ(LastEvent().event.rule, "input:reason");
  EXPECT_THAT(Block(kSubjectA, true, "why", "support"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Block("", true), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "subject_id: required"));
  EXPECT_EQ(store_.Count(Table::kSubjects), 0u);
}

// --- Holds ------------------------------------------------------------------

TEST_F(SubjectsTest, SetHoldReturnsAnIdAndReleaseHoldWithoutItTakesTheOne) {
  absl::StatusOr<std::string> hold = SetHold(kSubjectA, "accounting law");
  ASSERT_THAT(hold, IsOk());
  EXPECT_THAT(*hold, MatchesRegex("hold_[0-9a-f]{32}"));
  EXPECT_EQ(LastEvent().event.rpc, "Subjects.SetHold");
  EXPECT_EQ(LastEvent().event.justification, "accounting law");
  EXPECT_EQ(LastEvent().event.rule,
            absl::StrCat("dpo/subject_admin; hold ", *hold, " set"));

  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  ASSERT_THAT(report->holds, SizeIs(1));
  EXPECT_EQ(report->holds[0].id, *hold);
  EXPECT_EQ(report->holds[0].reason, "accounting law");
  EXPECT_EQ(report->holds[0].set, clock_.Now());

  EXPECT_THAT(ReleaseHold(kSubjectA), IsOkAndHolds(true));
  EXPECT_EQ(LastEvent().event.rpc, "Subjects.ReleaseHold");
  EXPECT_EQ(LastEvent().event.rule,
            absl::StrCat("dpo/subject_admin; hold ", *hold, " released"));
  EXPECT_THAT(ReleaseHold(kSubjectA),
              StatusIs(absl::StatusCode::kNotFound, "hold_id: no such hold"));
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
  report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(report->holds, IsEmpty());
}

TEST_F(SubjectsTest, SeveralHoldsAreReleasedByTheirIds) {
  absl::StatusOr<std::string> first = SetHold(kSubjectA, "dispute");
  absl::StatusOr<std::string> second = SetHold(kSubjectA, "fraud check");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(*first, *second);

  EXPECT_THAT(ReleaseHold(kSubjectA),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "hold_id: required, the subject has several holds"));
  EXPECT_THAT(ReleaseHold(kSubjectA, "hold_00000000000000000000000000000000"),
              StatusIs(absl::StatusCode::kNotFound));
  // Another subject's hold is not this one's.
  absl::StatusOr<std::string> other = SetHold(kSubjectB, "dispute");
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(ReleaseHold(kSubjectA, *other),
              StatusIs(absl::StatusCode::kNotFound));

  EXPECT_THAT(ReleaseHold(kSubjectA, *first), IsOkAndHolds(true));
  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(report->holds,
              ElementsAre(Field(&SubjectReport::Hold::id, *second)));
  EXPECT_THAT(ReleaseHold(kSubjectA), IsOkAndHolds(true));
}

// --- Erasure ----------------------------------------------------------------

TEST_F(SubjectsTest, EraseIsRefusedUnderAHoldAndAllowedOnceReleased) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(SetHold(kSubjectA, "accounting law"), IsOk());

  EXPECT_THAT(Erase(kSubjectA),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "subject: under 1 legal hold(s); release them before "
                       "erasure"));
  const StoredEvent refused = LastEvent();
  EXPECT_EQ(refused.event.rpc, "Subjects.Erase");
  EXPECT_EQ(refused.event.decision, Decision::kDenied);
  EXPECT_THAT(refused.event.rule, EndsWith("; legal-hold"));
  EXPECT_EQ(ledger_->last_seq(), 0u);
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));

  ASSERT_THAT(ReleaseHold(kSubjectA), IsOk());
  EXPECT_THAT(Erase(kSubjectA), IsOk());
  EXPECT_THAT(Reveal(phone), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SubjectsTest, EraseShredsEverythingOfTheSubject) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::string card =
      TokenizeOrDie(kSubjectA, FieldType::kCardNumber, kCard);
  const std::string email = TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail);
  const std::string other = TokenizeOrDie(kSubjectB, FieldType::kPhone, kPhone);
  ASSERT_THAT(Consent(kSubjectA, kMarketing, true), IsOk());
  ASSERT_THAT(Detokenize("support", phone, kSupport), IsOk());
  const std::string hash = HashOf(kSubjectA);
  const std::optional<pb::SubjectRecord> subject = SubjectRecordOf(hash);
  ASSERT_TRUE(subject.has_value());
  const uint32_t kek = subject->kek_version();
  const int64_t deks = subject_test::DekCount(store_, kek);
  ASSERT_EQ(deks, 2);
  const std::vector<StoredEvent> about_before = EventsAbout(hash);
  clock_.Advance(absl::Hours(3));

  absl::StatusOr<EraseResult> erased = Erase(kSubjectA, "request 18/2026");
  ASSERT_THAT(erased, IsOk());
  EXPECT_THAT(erased->receipt_id, MatchesRegex("er_[0-9a-f]{32}"));
  EXPECT_EQ(erased->erased, clock_.Now());
  EXPECT_EQ(erased->tokens, 3);

  const StoredEvent event = LastEvent();
  EXPECT_EQ(event.event.rpc, "Subjects.Erase");
  EXPECT_EQ(event.event.decision, Decision::kAllowed);
  EXPECT_EQ(event.event.subject_hash, hash);
  EXPECT_EQ(event.event.justification, "request 18/2026");
  EXPECT_EQ(event.event.rule,
            absl::StrCat("dpo/subject_admin; receipt ", erased->receipt_id,
                         "; 3 tokens erased with the subject's key"));

  // The ledger has it, kept apart from the data.
  std::vector<Erasure> entries = ledger_->Since(0);
  ASSERT_THAT(entries, SizeIs(1));
  EXPECT_EQ(entries[0].seq, 1u);
  EXPECT_EQ(entries[0].subject_hash, hash);
  EXPECT_EQ(entries[0].receipt_id, erased->receipt_id);
  EXPECT_EQ(entries[0].time, erased->erased);

  // Key, values, index entries and consents are gone; one DEK fewer.
  EXPECT_FALSE(SubjectRecordOf(hash).has_value());
  EXPECT_EQ(subject_test::DekCount(store_, kek), deks - 1);
  for (const std::string& token : {phone, card, email}) {
    EXPECT_THAT(Reveal(token),
                StatusIs(absl::StatusCode::kNotFound, "token: not found"));
    EXPECT_FALSE(store_.Get(Table::kFields, token).ok());
  }
  EXPECT_THAT(Lookup(FieldType::kPhone, kPhone),
              IsOkAndHolds(ElementsAre(other)));
  EXPECT_THAT(Lookup(FieldType::kEmail, kEmail), IsOkAndHolds(IsEmpty()));
  EXPECT_EQ(store_.Count(Table::kConsents), 0u);
  EXPECT_THAT(Reveal(other), IsOkAndHolds(kPhone));

  // The log is not rewritten: every event about them is still there.
  std::vector<StoredEvent> about_after = EventsAbout(hash);
  ASSERT_GE(about_after.size(), about_before.size() + 1);
  for (size_t i = 0; i < about_before.size(); ++i) {
    EXPECT_EQ(about_after[i].seq, about_before[i].seq);
    EXPECT_EQ(about_after[i].hash, about_before[i].hash);
  }
  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(report->fields, IsEmpty());
  EXPECT_THAT(report->consents, IsEmpty());
  EXPECT_THAT(report->accesses, SizeIs(about_after.size() + 1));
  // The report says the person was erased, and when.
  ASSERT_THAT(report->erasures, SizeIs(1));
  EXPECT_EQ(report->erasures[0].receipt_id, erased->receipt_id);
  EXPECT_EQ(report->erasures[0].time, erased->erased);
  EXPECT_THAT(Report(kSubjectB),
              IsOkAndHolds(Field(&SubjectReport::erasures, IsEmpty())));
}

TEST_F(SubjectsTest, ErasingAnUnknownSubjectIsNotFound) {
  ASSERT_THAT(Tokenize(kSubjectB, FieldType::kPhone, kPhone), IsOk());
  EXPECT_THAT(Erase(kSubjectA),
              StatusIs(absl::StatusCode::kNotFound,
                       "subject: nothing is held about them"));
  EXPECT_EQ(LastEvent().event.decision, Decision::kNotFound);
  EXPECT_THAT(LastEvent().event.rule, EndsWith("; nothing-held"));
  EXPECT_EQ(ledger_->last_seq(), 0u);

  // Nor is a subject erased already.
  ASSERT_THAT(Erase(kSubjectB), IsOk());
  EXPECT_THAT(Erase(kSubjectB), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ledger_->last_seq(), 1u);
}

TEST_F(SubjectsTest, EraseWithoutALedgerIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Open(/*ledger=*/nullptr));
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  EXPECT_THAT(Erase(kSubjectA),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "erasure: no erasure ledger is configured"));
  EXPECT_EQ(LastEvent().event.rule, "no-ledger");
  EXPECT_EQ(LastEvent().event.decision, Decision::kFailed);
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));
}

TEST_F(SubjectsTest, EraseIsForTheDataProtectionOfficerOnly) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  for (const char* identity : {"checkout", "legal", "keyadmin"}) {
    SCOPED_TRACE(identity);
    EXPECT_THAT(Erase(kSubjectA, "request", identity),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
  EXPECT_THAT(Erase(kSubjectA, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "reason: required"));
  EXPECT_EQ(ledger_->last_seq(), 0u);
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));
}

TEST_F(SubjectsTest, ErasedSubjectMayBeCollectedAgainUnderANewKey) {
  const std::string old_phone =
      TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::string hash = HashOf(kSubjectA);
  const std::string old_key = SubjectRecordOf(hash)->wrapped_dek();
  ASSERT_THAT(Erase(kSubjectA), IsOk());

  const std::string new_phone =
      TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  EXPECT_NE(new_phone, old_phone);
  EXPECT_THAT(Reveal(new_phone), IsOkAndHolds(kPhone));
  EXPECT_THAT(Reveal(old_phone), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_TRUE(SubjectRecordOf(hash).has_value());
  EXPECT_NE(SubjectRecordOf(hash)->wrapped_dek(), old_key);

  // Reopening does not apply the old erasure to the new data.
  ASSERT_NO_FATAL_FAILURE(Open(ledger_.get()));
  EXPECT_THAT(Reveal(new_phone), IsOkAndHolds(kPhone));
}

TEST_F(SubjectsTest, ReopeningAppliesAnErasureTheStoreMissed) {
  // A crash after the ledger entry and before the data write: the store
  // still holds the subject; opening the vault finishes the erasure.
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::string other = TokenizeOrDie(kSubjectB, FieldType::kPhone, kPhone);
  ASSERT_THAT(ledger_->Append(HashOf(kSubjectA), clock_.Now(), "er_crash"),
              IsOk());
  ASSERT_NO_FATAL_FAILURE(Open(ledger_.get()));
  EXPECT_THAT(Reveal(phone), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reveal(other), IsOkAndHolds(kPhone));
  std::vector<StoredEvent> reapplied;
  for (const StoredEvent& e : AllEvents()) {
    if (e.event.identity == "sandyqd" && e.event.rpc == "Subjects.Erase") {
      reapplied.push_back(e);
    }
  }
  ASSERT_THAT(reapplied, SizeIs(1));
  EXPECT_THAT(reapplied[0].event.rule, HasSubstr("receipt er_crash"));
}

// --- Rectification ----------------------------------------------------------

TEST_F(SubjectsTest, RectifyKeepsTheTokenAndRevealsTheNewValue) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  clock_.Advance(kDay);
  EXPECT_THAT(Rectify(phone, "8 701 234 56 79", "request 19/2026"),
              IsOkAndHolds(true));
  const StoredEvent event = LastEvent();
  EXPECT_EQ(event.event.rpc, "Subjects.Rectify");
  EXPECT_EQ(event.event.token, phone);
  EXPECT_EQ(event.event.field_type, Num(FieldType::kPhone));
  EXPECT_EQ(event.event.justification, "request 19/2026");
  EXPECT_EQ(event.event.decision, Decision::kAllowed);
  EXPECT_EQ(event.event.rule, "dpo/subject_admin; value replaced");

  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kOtherPhone));
  // Tokenizing the new value finds the same token.
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kOtherPhone),
              IsOkAndHolds(phone));
  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  ASSERT_THAT(report->fields, SizeIs(1));
  EXPECT_EQ(report->fields[0].updated, clock_.Now());
  EXPECT_EQ(report->fields[0].created, clock_.Now() - kDay);
}

TEST_F(SubjectsTest, LookupFindsTheNewValueAndNotTheOld) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(Rectify(phone, kOtherPhone), IsOk());
  EXPECT_THAT(Lookup(FieldType::kPhone, kPhone), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(Lookup(FieldType::kPhone, kOtherPhone),
              IsOkAndHolds(ElementsAre(phone)));
}

TEST_F(SubjectsTest, RectifyRefusesAnInvalidValueWithoutEchoingIt) {
  const std::string iin = TokenizeOrDie(kSubjectA, FieldType::kIin, kIin);
  const std::string bad = "850315300018";  // wrong check digit
  absl::StatusOr<bool> rectified = Rectify(iin, bad);
  ASSERT_THAT(rectified, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(ContainsRunOf(rectified.status().message(), bad, 6))
      << rectified.status();
  const StoredEvent event = LastEvent();
  EXPECT_EQ(event.event.decision, Decision::kInvalid);
  EXPECT_EQ(event.event.rule, "validate:iin");
  EXPECT_FALSE(ContainsRunOf(AllStoredBytes(), bad, 8));
  EXPECT_THAT(Reveal(iin), IsOkAndHolds(kIin));
}

TEST_F(SubjectsTest, RectifyRefusesAValueHeldUnderAnotherToken) {
  const std::string first = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::string second =
      TokenizeOrDie(kSubjectA, FieldType::kPhone, kOtherPhone);
  EXPECT_THAT(Rectify(second, kPhone),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       "value: the subject already holds it under another "
                       "token"));
  EXPECT_EQ(LastEvent().event.rule, "already-held");
  EXPECT_THAT(Reveal(second), IsOkAndHolds(kOtherPhone));
  // Rectifying to the value it already holds is fine.
  EXPECT_THAT(Rectify(first, "+7 701 234 56 78"), IsOkAndHolds(true));
  // What another subject holds does not count.
  const std::string b =
      TokenizeOrDie(kSubjectB, FieldType::kPhone, kThirdPhone);
  EXPECT_THAT(Rectify(first, kThirdPhone), IsOkAndHolds(true));
  EXPECT_THAT(Reveal(first), IsOkAndHolds(kThirdPhone));
  EXPECT_THAT(Reveal(b), IsOkAndHolds(kThirdPhone));
}

// A read error is not "nobody holds the value": Rectify would then put the
// new value's entry over another token's.
TEST_F(SubjectsTest, RectifyRefusesWhenTheIndexCannotBeRead) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::map<std::string, std::string> index =
      subject_test::TableContents(store_, Table::kIndex);
  store_.FailGets(Table::kIndex, absl::UnavailableError("disk"));
  EXPECT_THAT(Rectify(phone, kOtherPhone),
              StatusIs(absl::StatusCode::kUnavailable,
                       "storage: the index cannot be read"));
  EXPECT_EQ(LastEvent().event.rule, "storage");
  store_.FailGets(Table::kIndex, absl::OkStatus());
  EXPECT_EQ(subject_test::TableContents(store_, Table::kIndex), index);
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));
}

TEST_F(SubjectsTest, RectifiedCardKeepsItsFirstSixAndLastFour) {
  const std::string card =
      TokenizeOrDie(kSubjectA, FieldType::kCardNumber, kCard);
  EXPECT_THAT(Rectify(card, kOtherCard),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "value: a card number with other first 6 or last 4 "
                       "digits is another card; tokenize it"));
  EXPECT_EQ(LastEvent().event.rule, "card-token-format");
  EXPECT_THAT(Reveal(card), IsOkAndHolds(kCard));

  EXPECT_THAT(Rectify(card, kCardSameEnds), IsOkAndHolds(true));
  EXPECT_THAT(Reveal(card), IsOkAndHolds(kCardSameEnds));
}

TEST_F(SubjectsTest, RectifyChecksItsInput) {
  EXPECT_THAT(Rectify("not-a-token", kPhone),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "token: not a sandyq token"));
  EXPECT_THAT(Rectify(kPhone, kPhone),  // a raw value as the token
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(LastEvent().event.token.empty());
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  EXPECT_THAT(Rectify(phone, kOtherPhone, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "reason: required"));
  EXPECT_THAT(Rectify(phone, kOtherPhone, "r", "support"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Reveal(phone), IsOkAndHolds(kPhone));

  ASSERT_THAT(Erase(kSubjectA), IsOk());
  EXPECT_THAT(Rectify(phone, kOtherPhone),
              StatusIs(absl::StatusCode::kNotFound, "token: not found"));
}

// --- Report -----------------------------------------------------------------

TEST_F(SubjectsTest, ReportTellsWhatIsHeldWhereFromAndForHowLong) {
  const absl::Time t0 = clock_.Now();
  const std::string card = TokenizeOrDie(kSubjectA, FieldType::kCardNumber,
                                         kCard, "", "checkout page");
  clock_.Advance(kDay);
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone,
                                          kMarketing, "newsletter form");
  const std::string iin = TokenizeOrDie(kSubjectA, FieldType::kIin, kIin,
                                        kFulfilment, "partner:courier-7");
  TokenizeOrDie(kSubjectB, FieldType::kPhone, kPhone);
  // Accesses: one refused (no consent yet), one masked, one full.
  ASSERT_THAT(Detokenize("marketing", phone, kMarketing),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(Detokenize("support", card, kSupport), IsOk());
  ASSERT_THAT(Consent(kSubjectA, kMarketing, true, false, "dpo", "2024-01-24",
                      "web form"),
              IsOk());
  ASSERT_THAT(Detokenize("marketing", phone, kMarketing), IsOk());
  ASSERT_THAT(Block(kSubjectA, true, "accuracy disputed"), IsOk());
  absl::StatusOr<std::string> hold = SetHold(kSubjectA, "dispute");
  ASSERT_THAT(hold, IsOk());
  const size_t events_before = AllEvents().size();

  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->subject_hash.size(), 32u);
  EXPECT_EQ(report->residency_country, "KZ");
  EXPECT_TRUE(report->blocked);
  EXPECT_EQ(report->block_reason, "accuracy disputed");
  EXPECT_THAT(report->holds,
              ElementsAre(Field(&SubjectReport::Hold::id, *hold)));

  ASSERT_THAT(report->fields, SizeIs(3));
  auto field_of = [&](const std::string& token) -> const SubjectReport::Field* {
    for (const SubjectReport::Field& f : report->fields) {
      if (f.token == token) return &f;
    }
    ADD_FAILURE() << "no field " << token;
    return nullptr;
  };
  const SubjectReport::Field* c = field_of(card);
  const SubjectReport::Field* p = field_of(phone);
  const SubjectReport::Field* i = field_of(iin);
  ASSERT_TRUE(c != nullptr && p != nullptr && i != nullptr);
  EXPECT_EQ(c->type, FieldType::kCardNumber);
  EXPECT_EQ(c->source, "checkout page");
  EXPECT_EQ(c->collection_purpose, "");
  EXPECT_EQ(c->created, t0);
  // Never changed since it was stored: updated when created.
  EXPECT_EQ(c->updated, t0);
  EXPECT_FALSE(c->depersonalized);
  EXPECT_EQ(c->retention_deadline, t0 + 1095 * kDay);
  EXPECT_EQ(c->retention_action, "depersonalize");

  EXPECT_EQ(p->type, FieldType::kPhone);
  EXPECT_EQ(p->source, "newsletter form");
  EXPECT_EQ(p->collection_purpose, kMarketing);
  EXPECT_EQ(p->created, t0 + kDay);
  EXPECT_EQ(p->updated, t0 + kDay);
  EXPECT_EQ(p->retention_deadline, t0 + kDay + 365 * kDay);
  EXPECT_EQ(p->retention_action, "destroy");

  EXPECT_EQ(i->type, FieldType::kIin);
  EXPECT_EQ(i->source, "partner:courier-7");
  EXPECT_EQ(i->collection_purpose, kFulfilment);
  EXPECT_EQ(i->retention_deadline, std::nullopt);
  EXPECT_EQ(i->retention_action, "");

  ASSERT_THAT(report->consents, SizeIs(1));
  EXPECT_EQ(report->consents[0].purpose, kMarketing);
  EXPECT_TRUE(report->consents[0].granted);
  EXPECT_EQ(report->consents[0].policy_version, "2024-01-24");

  // Every event about them, refused ones too, with who, where and why; the
  // report's own event last. None about the other subject.
  std::vector<std::string> rpcs;
  for (const StoredEvent& e : report->accesses) {
    EXPECT_EQ(e.event.subject_hash, report->subject_hash);
    rpcs.push_back(e.event.rpc);
  }
  EXPECT_THAT(rpcs,
              ElementsAre("Tokenizer.Tokenize", "Tokenizer.Tokenize",
                          "Tokenizer.Tokenize", "Tokenizer.Detokenize",
                          "Tokenizer.Detokenize", "Subjects.RecordConsent",
                          "Tokenizer.Detokenize", "Subjects.Block",
                          "Subjects.SetHold", "Subjects.Report"));
  const audit::Event& refused = report->accesses[3].event;
  EXPECT_EQ(refused.identity, "marketing");
  EXPECT_EQ(refused.organisation, "shop");
  EXPECT_EQ(refused.country, "KZ");
  EXPECT_EQ(refused.purpose, kMarketing);
  EXPECT_EQ(refused.token, phone);
  EXPECT_EQ(refused.decision, Decision::kDenied);
  const audit::Event& masked = report->accesses[4].event;
  EXPECT_EQ(masked.identity, "support");
  EXPECT_EQ(masked.purpose, kSupport);
  EXPECT_EQ(masked.decision, Decision::kRevealedMasked);
  EXPECT_EQ(report->accesses[6].event.decision, Decision::kRevealedFull);
  EXPECT_EQ(report->accesses.back().event.identity, "dpo");

  // Reporting is itself one logged access.
  EXPECT_THAT(AllEvents(), SizeIs(events_before + 1));
}

TEST_F(SubjectsTest, ReportOfAnUnknownSubjectHoldsNothing) {
  TokenizeOrDie(kSubjectB, FieldType::kPhone, kPhone);
  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(report->fields, IsEmpty());
  EXPECT_THAT(report->consents, IsEmpty());
  EXPECT_THAT(report->holds, IsEmpty());
  EXPECT_FALSE(report->blocked);
  EXPECT_EQ(report->residency_country, "KZ");
  ASSERT_THAT(report->accesses, SizeIs(1));
  EXPECT_EQ(report->accesses[0].event.rpc, "Subjects.Report");
}

TEST_F(SubjectsTest, ReportIsForTheDataProtectionOfficerOnly) {
  TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  for (const char* identity : {"support", "auditor", "legal"}) {
    SCOPED_TRACE(identity);
    EXPECT_THAT(Report(kSubjectA, identity),
                StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_EQ(LastEvent().event.rpc, "Subjects.Report");
    EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
  }
  EXPECT_THAT(Report(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                   "subject_id: required"));
}

// --- The index ---------------------------------------------------------------

TEST_F(SubjectsTest, ANewValueAddsOneBlindAndOneSubjectEntry) {
  const size_t before = subject_test::TableContents(store_, Table::kIndex).size();
  const std::string token = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  std::map<std::string, std::string> index =
      subject_test::TableContents(store_, Table::kIndex);
  EXPECT_EQ(index.size(), before + 2);
  size_t subject_entries = 0;
  for (const auto& [key, value] : index) {
    if (absl::StartsWith(key, keys::SubjectTokensPrefix(HashOf(kSubjectA)))) {
      ++subject_entries;
      EXPECT_EQ(value, token);  // s <subject> <dedup> -> token
    }
  }
  EXPECT_EQ(subject_entries, 1u);
  // The same value again finds that entry and adds nothing.
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone), IsOkAndHolds(token));
  EXPECT_EQ(subject_test::TableContents(store_, Table::kIndex), index);
}

TEST_F(SubjectsTest, AFieldRecordKeepsNoDedupKey) {
  const std::string token = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  pb::FieldRecord record = StoredFieldRecord(token);
  EXPECT_EQ(record.subject_hash(), HashOf(kSubjectA));
  EXPECT_THAT(record.blind_index(), SizeIs(32));
  EXPECT_THAT(record.dedup_key(), IsEmpty());
  ASSERT_THAT(Rectify(token, kOtherPhone), IsOkAndHolds(true));
  EXPECT_THAT(StoredFieldRecord(token).dedup_key(), IsEmpty());
}

// Rectify finds the token's subject entry whether the record names it (a
// dedup key stored by an older build) or not.
TEST_F(SubjectsTest, RectifyMovesTheSubjectEntryOfRecordsWithAndWithoutADedupKey) {
  for (const bool old_records : {true, false}) {
    SCOPED_TRACE(old_records ? "records with a dedup key" : "records without");
    const std::string subject = old_records ? kSubjectA : kSubjectB;
    const std::string phone = TokenizeOrDie(subject, FieldType::kPhone, kPhone);
    const std::string third =
        TokenizeOrDie(subject, FieldType::kPhone, kThirdPhone);
    TokenizeOrDie(subject, FieldType::kEmail, kEmail);
    if (old_records) {
      StoreDedupKeyAsOlderBuildsDid(phone);
      StoreDedupKeyAsOlderBuildsDid(third);
    }
    const std::map<std::string, std::string> before = Index();

    // The value it holds: nothing moves.
    ASSERT_THAT(Rectify(phone, "+7 701 234 56 78"), IsOkAndHolds(true));
    EXPECT_EQ(Index(), before);
    EXPECT_THAT(StoredFieldRecord(phone).dedup_key(), IsEmpty());
    if (old_records) StoreDedupKeyAsOlderBuildsDid(phone);
    // A value another of its tokens holds: refused, nothing moves.
    EXPECT_THAT(Rectify(third, kPhone),
                StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_EQ(Index(), before);

    // A new value: the old value's entries go, the new value's come.
    const std::map<std::string, std::string> old_entries =
        EntriesNaming(before, phone);
    ASSERT_THAT(old_entries, SizeIs(2));  // blind index, subject
    ASSERT_THAT(Rectify(phone, kOtherPhone), IsOkAndHolds(true));
    const std::map<std::string, std::string> after = Index();
    const std::map<std::string, std::string> new_entries =
        EntriesNaming(after, phone);
    ASSERT_THAT(new_entries, SizeIs(2));
    for (const auto& [key, value] : old_entries) {
      EXPECT_FALSE(new_entries.contains(key));
    }
    EXPECT_EQ(Without(after, new_entries), Without(before, old_entries));
    EXPECT_EQ(new_entries.count(keys::SubjectTokenKey(HashOf(subject), phone)),
              0u);
    EXPECT_THAT(StoredFieldRecord(phone).dedup_key(), IsEmpty());
    // The new entry is the one Tokenize finds; the old value is free.
    EXPECT_THAT(Tokenize(subject, FieldType::kPhone, kOtherPhone),
                IsOkAndHolds(phone));
    EXPECT_EQ(Index(), after);
    EXPECT_THAT(Rectify(third, kPhone), IsOkAndHolds(true));
    EXPECT_THAT(Reveal(phone), IsOkAndHolds(kOtherPhone));
    EXPECT_THAT(Reveal(third), IsOkAndHolds(kPhone));
  }
}

TEST_F(SubjectsTest, AVaultOfFormat1IsRewrittenWhenItOpens) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::string email = TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail);
  const std::string iin = TokenizeOrDie(kSubjectB, FieldType::kIin, kIin);
  const std::map<std::string, std::string> format2 =
      subject_test::TableContents(store_, Table::kIndex);
  CloseVault();
  // Back to how a format-1 vault stored the same data.
  subject_test::RewriteIndexToFormat1(store_);
  internal::v1::VaultRecord record = StoredVaultRecord();
  ASSERT_EQ(record.format_version(), 3u);
  record.set_format_version(1);
  StoreVaultRecord(record);

  ASSERT_NO_FATAL_FAILURE(Open(ledger_.get()));
  EXPECT_EQ(subject_test::TableContents(store_, Table::kIndex), format2);
  record = StoredVaultRecord();
  EXPECT_EQ(record.format_version(), 3u);
  EXPECT_FALSE(record.index_migration_pending());
  EXPECT_THAT(Migrations(),
              ElementsAre("format 1 to 2: 6 index entries rewritten",
                          "format 2 to 3: new field records omit the dedup key"));
  // And it works as before: the same values find their tokens.
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone), IsOkAndHolds(phone));
  EXPECT_THAT(Tokenize(kSubjectB, FieldType::kIin, kIin), IsOkAndHolds(iin));
  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  std::vector<std::string> tokens;
  for (const SubjectReport::Field& f : report->fields) tokens.push_back(f.token);
  EXPECT_THAT(tokens, UnorderedElementsAre(phone, email));
}

// Format 3 changed no stored entry: field records written from then on
// lack the dedup key, which builds of format 2 would need. The record says
// 3 before this build writes anything, so that those builds refuse it.
TEST_F(SubjectsTest, AVaultOfFormat2IsMarkedFormat3WhenItOpens) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  const std::map<std::string, std::string> index =
      subject_test::TableContents(store_, Table::kIndex);
  CloseVault();
  internal::v1::VaultRecord record = StoredVaultRecord();
  record.set_format_version(2);
  StoreVaultRecord(record);

  ASSERT_NO_FATAL_FAILURE(Open(ledger_.get()));
  EXPECT_EQ(StoredVaultRecord().format_version(), 3u);
  EXPECT_EQ(subject_test::TableContents(store_, Table::kIndex), index);
  EXPECT_THAT(Migrations(),
              ElementsAre("format 2 to 3: new field records omit the dedup key"));
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone), IsOkAndHolds(phone));

  // Opened again, it is left as it is.
  CloseVault();
  ASSERT_NO_FATAL_FAILURE(Open(ledger_.get()));
  EXPECT_THAT(Migrations(), SizeIs(1));
}

TEST_F(SubjectsTest, AVaultOfALaterFormatIsRefused) {
  CloseVault();
  internal::v1::VaultRecord record = StoredVaultRecord();
  record.set_format_version(4);
  StoreVaultRecord(record);
  OpenLog();
  EXPECT_THAT(NewVault({.ledger = ledger_.get()}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "vault format version 4 is not supported"));
  EXPECT_EQ(StoredVaultRecord().format_version(), 4u);
}

TEST_F(SubjectsTest, AnInterruptedMigrationIsFinishedAtTheNextStart) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  TokenizeOrDie(kSubjectB, FieldType::kIin, kIin);
  const std::map<std::string, std::string> format2 =
      subject_test::TableContents(store_, Table::kIndex);
  const std::string subject_b = HashOf(kSubjectB);
  CloseVault();
  // Stopped after the record was marked and A's entries were rewritten.
  subject_test::RewriteIndexToFormat1(store_, subject_b);
  internal::v1::VaultRecord record = StoredVaultRecord();
  record.set_index_migration_pending(true);
  StoreVaultRecord(record);

  ASSERT_NO_FATAL_FAILURE(Open(ledger_.get()));
  EXPECT_EQ(subject_test::TableContents(store_, Table::kIndex), format2);
  EXPECT_FALSE(StoredVaultRecord().index_migration_pending());
  EXPECT_THAT(Migrations(), SizeIs(1));
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone), IsOkAndHolds(phone));
}

TEST_F(SubjectsTest, AVaultTheMasterKeyDoesNotOpenIsNotRewritten) {
  TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  CloseVault();
  subject_test::RewriteIndexToFormat1(store_);
  internal::v1::VaultRecord record = StoredVaultRecord();
  record.set_format_version(1);
  StoreVaultRecord(record);
  const std::map<std::string, std::string> format1 =
      subject_test::TableContents(store_, Table::kIndex);

  OpenLog();
  ::sandyq::testing::FakeMasterKey other(0x11);
  EXPECT_THAT(NewVault({.master = &other, .ledger = ledger_.get()}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(subject_test::TableContents(store_, Table::kIndex), format1);
  EXPECT_EQ(StoredVaultRecord().format_version(), 1u);
}

TEST_F(SubjectsTest, ARectifiedDepersonalizedTokenIsListedOnce) {
  const std::string card =
      TokenizeOrDie(kSubjectA, FieldType::kCardNumber, kCard);
  clock_.Advance(1095 * kDay);
  ASSERT_THAT(vault_->RunRetention(), IsOkAndHolds(Field(
                                          &RetentionResult::depersonalized, 1)));
  ASSERT_THAT(Rectify(card, kCardSameEnds), IsOk());
  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  ASSERT_THAT(report->fields, SizeIs(1));
  EXPECT_EQ(report->fields[0].token, card);
  EXPECT_FALSE(report->fields[0].depersonalized);
  EXPECT_THAT(Reveal(card), IsOkAndHolds(kCardSameEnds));
}

TEST_F(SubjectsTest, ErasingASubjectWithADepersonalizedTokenLeavesNoIndexEntry) {
  const std::string card =
      TokenizeOrDie(kSubjectA, FieldType::kCardNumber, kCard);
  const std::string iin = TokenizeOrDie(kSubjectA, FieldType::kIin, kIin);
  clock_.Advance(1095 * kDay);
  ASSERT_THAT(vault_->RunRetention(), IsOk());
  ASSERT_THAT(Erase(kSubjectA), IsOk());
  for (const auto& [key, value] :
       subject_test::TableContents(store_, Table::kIndex)) {
    EXPECT_FALSE(absl::StartsWith(key, keys::SubjectTokensPrefix(HashOf(kSubjectA))));
    EXPECT_NE(value, card);
    EXPECT_NE(value, iin);
  }
  EXPECT_FALSE(store_.Get(Table::kFields, card).ok());
  EXPECT_FALSE(store_.Get(Table::kFields, iin).ok());
}

// --- Retention --------------------------------------------------------------

TEST_F(SubjectsTest, RetentionDestroysAndDepersonalizesOnTime) {
  const std::string card =
      TokenizeOrDie(kSubjectA, FieldType::kCardNumber, kCard);
  const std::string expiry =
      TokenizeOrDie(kSubjectA, FieldType::kCardExpiry, "03/29");
  const std::string promo =
      TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail, kMarketing);
  const std::string iin = TokenizeOrDie(kSubjectA, FieldType::kIin, kIin);
  const std::string held_card =
      TokenizeOrDie(kSubjectB, FieldType::kCardNumber, kCard);
  ASSERT_THAT(SetHold(kSubjectB, "chargeback dispute"), IsOk());

  // Nothing is due yet.
  clock_.Advance(364 * kDay);
  size_t mark = AllEvents().size();
  absl::StatusOr<RetentionResult> result = vault_->RunRetention();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->destroyed, 0);
  EXPECT_EQ(result->depersonalized, 0);
  EXPECT_EQ(result->skipped_for_holds, 0);
  EXPECT_THAT(EventsAfter(mark), IsEmpty());

  // A year: what was collected for marketing is destroyed.
  clock_.Advance(kDay);
  mark = AllEvents().size();
  result = vault_->RunRetention();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->destroyed, 1);
  EXPECT_EQ(result->depersonalized, 0);
  std::vector<StoredEvent> events = EventsAfter(mark);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.identity, "sandyqd");
  EXPECT_EQ(events[0].event.rpc, "Subjects.Retention");
  EXPECT_EQ(events[0].event.token, promo);
  EXPECT_EQ(events[0].event.purpose, kMarketing);
  EXPECT_EQ(events[0].event.field_type, Num(FieldType::kEmail));
  EXPECT_EQ(events[0].event.rule, "retention: destroyed");
  EXPECT_THAT(Reveal(promo), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Lookup(FieldType::kEmail, kEmail), IsOkAndHolds(IsEmpty()));

  // Three years: card data is depersonalized, except under a hold.
  clock_.Advance((1095 - 365) * kDay);
  mark = AllEvents().size();
  result = vault_->RunRetention();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->destroyed, 0);
  EXPECT_EQ(result->depersonalized, 2);
  EXPECT_EQ(result->skipped_for_holds, 1);
  events = EventsAfter(mark);
  ASSERT_THAT(events, SizeIs(2));
  std::vector<std::string> tokens;
  for (const StoredEvent& e : events) {
    EXPECT_EQ(e.event.rpc, "Subjects.Retention");
    EXPECT_EQ(e.event.rule,
              "retention: depersonalized (value destroyed, token kept)");
    tokens.push_back(e.event.token);
  }
  EXPECT_THAT(tokens, UnorderedElementsAre(card, expiry));

  EXPECT_THAT(Reveal(card),
              StatusIs(absl::StatusCode::kNotFound,
                       "token: the value was destroyed after its retention "
                       "period"));
  EXPECT_THAT(Detokenize("checkout", card, "payment_processing"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reveal(expiry), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Lookup(FieldType::kCardNumber, kCard),
              IsOkAndHolds(ElementsAre(held_card)));
  EXPECT_THAT(Reveal(held_card), IsOkAndHolds(kCard));
  EXPECT_THAT(Reveal(iin), IsOkAndHolds(kIin));

  absl::StatusOr<SubjectReport> report = Report(kSubjectA);
  ASSERT_THAT(report, IsOk());
  std::vector<std::string> depersonalized;
  for (const SubjectReport::Field& f : report->fields) {
    EXPECT_NE(f.token, promo);
    if (f.depersonalized) depersonalized.push_back(f.token);
  }
  EXPECT_THAT(report->fields, SizeIs(3));  // card, expiry, IIN
  EXPECT_THAT(depersonalized, UnorderedElementsAre(card, expiry));

  // Done once: a later run only skips the held card again.
  mark = AllEvents().size();
  result = vault_->RunRetention();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->destroyed + result->depersonalized, 0);
  EXPECT_EQ(result->skipped_for_holds, 1);
  EXPECT_THAT(EventsAfter(mark), IsEmpty());

  // Released, the held card goes too.
  ASSERT_THAT(ReleaseHold(kSubjectB), IsOk());
  result = vault_->RunRetention();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->depersonalized, 1);
  EXPECT_THAT(Reveal(held_card), StatusIs(absl::StatusCode::kNotFound));
}

// The background job sweeps when a pass is due, not at every start: the
// time of the last pass is stored, so a restart minutes after a sweep of
// millions of records does not sweep them again.
TEST_F(SubjectsTest, RetentionRunsWhenAPassIsDueAndNotBefore) {
  const std::string promo =
      TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail, kMarketing);
  clock_.Advance(365 * kDay - absl::Minutes(10));
  // No pass recorded yet: one runs now (nothing is due) and the next is an
  // hour away.
  EXPECT_THAT(vault_->RunRetentionIfDue(), IsOkAndHolds(absl::Hours(1)));

  // The value is due ten minutes later, but the next pass is not, even
  // after a restart.
  clock_.Advance(absl::Minutes(20));
  CloseVault();
  OpenLogAndVault({});
  size_t mark = AllEvents().size();
  EXPECT_THAT(vault_->RunRetentionIfDue(), IsOkAndHolds(absl::Minutes(40)));
  EXPECT_THAT(EventsAfter(mark), IsEmpty());
  EXPECT_THAT(Reveal(promo), IsOkAndHolds(kEmail));

  // An hour after the last pass the next one runs.
  clock_.Advance(absl::Minutes(40));
  mark = AllEvents().size();
  EXPECT_THAT(vault_->RunRetentionIfDue(), IsOkAndHolds(absl::Hours(1)));
  std::vector<StoredEvent> events = EventsAfter(mark);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.rpc, "Subjects.Retention");
  EXPECT_EQ(events[0].event.token, promo);
  EXPECT_THAT(Reveal(promo), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SubjectsTest, RetentionPassRecordedInTheFutureDoesNotDelayTheNext) {
  const std::string promo =
      TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail, kMarketing);
  clock_.Advance(365 * kDay);
  // Recorded by a clock that ran a day ahead and was then set back.
  StoreRetentionPass(storage::EncodeU64(static_cast<uint64_t>(
      absl::ToUnixMicros(clock_.Now() + absl::Hours(24)))));
  EXPECT_THAT(vault_->RunRetentionIfDue(), IsOkAndHolds(absl::Hours(1)));
  EXPECT_THAT(Reveal(promo), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SubjectsTest, AMalformedRetentionPassRecordDoesNotStopRetention) {
  const std::string promo =
      TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail, kMarketing);
  clock_.Advance(365 * kDay);
  StoreRetentionPass("short");
  EXPECT_THAT(vault_->RunRetentionIfDue(), IsOkAndHolds(absl::Hours(1)));
  EXPECT_THAT(Reveal(promo), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<std::string> saved = store_.Get(Table::kMeta, keys::kRetentionPass);
  ASSERT_THAT(saved, IsOk());
  EXPECT_EQ(storage::DecodeU64(*saved),
            static_cast<uint64_t>(absl::ToUnixMicros(clock_.Now())));
}

// A policy without retention rules records no pass: when a reload adds
// rules, the next start sweeps at once rather than an hour later.
TEST_F(SubjectsTest, APolicyWithoutRetentionRulesRecordsNoPass) {
  const std::string promo =
      TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail, kMarketing);
  clock_.Advance(365 * kDay);
  const std::string rules = DevPolicyText();
  std::string without = std::regex_replace(
      rules, std::regex(R"(retention \{[^}]*\})"), "");
  ASSERT_NE(without, rules);
  vault_->SetPolicy(ParsePolicy(without));
  EXPECT_THAT(vault_->RunRetentionIfDue(), IsOkAndHolds(absl::Hours(1)));
  EXPECT_TRUE(absl::IsNotFound(store_.Get(Table::kMeta, keys::kRetentionPass).status()));
  EXPECT_THAT(Reveal(promo), IsOkAndHolds(kEmail));

  vault_->SetPolicy(ParsePolicy(rules));
  EXPECT_THAT(vault_->RunRetentionIfDue(), IsOkAndHolds(absl::Hours(1)));
  EXPECT_THAT(Reveal(promo), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SubjectsTest, DepersonalizedCardMayBeCollectedAgain) {
  const std::string card =
      TokenizeOrDie(kSubjectA, FieldType::kCardNumber, kCard);
  clock_.Advance(1095 * kDay);
  ASSERT_THAT(vault_->RunRetention(), IsOk());
  absl::StatusOr<std::string> again =
      Tokenize(kSubjectA, FieldType::kCardNumber, kCard);
  ASSERT_THAT(again, IsOk());
  EXPECT_NE(*again, card);
  EXPECT_THAT(Reveal(*again), IsOkAndHolds(kCard));
}

TEST_F(SubjectsTest, ApplyRetentionRunsTheRulesForTheOfficer) {
  TokenizeOrDie(kSubjectA, FieldType::kEmail, kEmail, kMarketing);
  clock_.Advance(365 * kDay);
  EXPECT_THAT(ApplyRetention("support"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(LastEvent().event.rpc, "Subjects.ApplyRetention");
  absl::StatusOr<RetentionResult> result = ApplyRetention();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->destroyed, 1);
}

// --- Every Subjects call is logged once -------------------------------------

TEST_F(SubjectsTest, EverySubjectsCallWritesExactlyOneEvent) {
  const std::string phone = TokenizeOrDie(kSubjectA, FieldType::kPhone, kPhone);
  TokenizeOrDie(kSubjectB, FieldType::kPhone, kPhone);
  struct Call {
    std::string name;
    std::string rpc;
    std::function<absl::Status()> run;
  };
  auto status = [](const auto& result) { return result.status(); };
  std::string hold;
  const std::vector<Call> calls = {
      {"consent", "Subjects.RecordConsent",
       [&] { return status(Consent(kSubjectA, kMarketing, true)); }},
      {"consent by support", "Subjects.RecordConsent",
       [&] {
         return status(Consent(kSubjectA, kMarketing, true, false, "support"));
       }},
      {"consent for an unknown purpose", "Subjects.RecordConsent",
       [&] { return status(Consent(kSubjectA, "newsletter", true)); }},
      {"report", "Subjects.Report", [&] { return status(Report(kSubjectA)); }},
      {"report by support", "Subjects.Report",
       [&] { return status(Report(kSubjectA, "support")); }},
      {"block", "Subjects.Block", [&] { return status(Block(kSubjectA)); }},
      {"block without reason", "Subjects.Block",
       [&] { return status(Block(kSubjectA, true, "")); }},
      {"unblock", "Subjects.Unblock",
       [&] { return status(Block(kSubjectA, false)); }},
      {"unblock by stranger", "Subjects.Unblock",
       [&] { return status(Block(kSubjectA, false, "r", "stranger")); }},
      {"rectify", "Subjects.Rectify",
       [&] { return status(Rectify(phone, kOtherPhone)); }},
      {"rectify invalid", "Subjects.Rectify",
       [&] { return status(Rectify(phone, "+7 701")); }},
      {"set hold", "Subjects.SetHold",
       [&] {
         absl::StatusOr<std::string> id = SetHold(kSubjectA);
         hold = id.value_or("");
         return id.status();
       }},
      {"erase under hold", "Subjects.Erase",
       [&] { return status(Erase(kSubjectA)); }},
      {"release unknown hold", "Subjects.ReleaseHold",
       [&] { return status(ReleaseHold(kSubjectA, "hold_x")); }},
      {"release hold", "Subjects.ReleaseHold",
       [&] { return status(ReleaseHold(kSubjectA, hold)); }},
      {"apply retention", "Subjects.ApplyRetention",
       [&] { return status(ApplyRetention()); }},
      {"erase", "Subjects.Erase", [&] { return status(Erase(kSubjectA)); }},
      {"erase again", "Subjects.Erase",
       [&] { return status(Erase(kSubjectA)); }},
      {"erase by keyadmin", "Subjects.Erase",
       [&] { return status(Erase(kSubjectB, "r", "keyadmin")); }},
  };
  for (const Call& call : calls) {
    SCOPED_TRACE(call.name);
    const size_t before = AllEvents().size();
    const absl::Status result = call.run();
    std::vector<StoredEvent> events = EventsAfter(before);
    ASSERT_THAT(events, SizeIs(1)) << result;
    EXPECT_EQ(events[0].event.rpc, call.rpc);
    EXPECT_EQ(events[0].event.code, static_cast<int>(result.code()));
    EXPECT_EQ(events[0].event.decision == Decision::kAllowed, result.ok());
  }
}

TEST_F(SubjectsTest, BackupIsForKeyCustodiansAndStaysInATarget) {
  EXPECT_THAT(Await<BackupInfo>([&](Callback<BackupInfo> done) {
                vault_->Backup({"dpo"}, dir_.path(), std::move(done));
              }),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "dpo may not make backups"));
  EXPECT_EQ(LastEvent().event.rpc, "Admin.Backup");
  // No targets configured: nowhere is a backup target.
  EXPECT_THAT(Await<BackupInfo>([&](Callback<BackupInfo> done) {
                vault_->Backup({"keyadmin"}, dir_.path(), std::move(done));
              }),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(LastEvent().event.rpc, "Admin.Backup");
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
  EXPECT_EQ(LastEvent().event.rule, "keyadmin/backup; refused");
}

}  // namespace
}  // namespace sandyq::vault
