#include "server/vault/vault.h"

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/blocking_counter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/audit_log.h"
#include "server/fields/field_type.h"
#include "server/fields/token.h"
#include "server/policy/policy.h"
#include "server/storage/store.h"
#include "tests/fakes/fake_master_key.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/memory_store.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/vault_fixture.h"

namespace sandyq::vault {
namespace {

namespace pb = ::sandyq::internal::v1;
using audit::Decision;
using audit::StoredEvent;
using fields::FieldType;
using ::sandyq::testing::Await;
using ::sandyq::testing::ConstantRandom;
using ::sandyq::testing::ContainsRunOf;
using ::sandyq::testing::DevPolicy;
using ::sandyq::testing::FakeMasterKey;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::MemoryStore;
using ::sandyq::testing::StatusIs;
using ::sandyq::testing::VaultFixture;
using storage::Table;
using ::testing::Each;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

// Synthetic values only (domain/kazakhstan.md test vectors).
constexpr char kSubjectA[] = "crm:test-0001";
constexpr char kSubjectB[] = "crm:test-0002";
constexpr char kIin[] = "850315300019";
constexpr char kPhone[] = "+77012345678";
constexpr char kCard[] = "4111111111111111";
// Same BIN and last four as kCard, also Luhn-valid.
constexpr char kCardSameEnds[] = "4111110000091111";

constexpr char kSar[] = "subject_access_request";
constexpr char kSupport[] = "customer_support";

int Num(FieldType type) { return static_cast<int>(type); }

// One value of each type: as a caller writes it, and as the vault stores and
// reveals it.
struct Sample {
  FieldType type;
  std::string input;
  std::string normalized;
};
std::vector<Sample> OneOfEachType() {
  return {
      {FieldType::kFullName, "  Әлия   Тестова ", "Әлия Тестова"},
      {FieldType::kIin, kIin, kIin},
      {FieldType::kPassport, "n1234 5678", "N12345678"},
      {FieldType::kPhone, "8 (701) 234-56-78", kPhone},
      {FieldType::kCardNumber, "4111 1111 1111 1111", kCard},
      {FieldType::kCardExpiry, "03/29", "2029-03"},
      {FieldType::kEmail, "Test.User@Mail.KZ", "Test.User@mail.kz"},
      {FieldType::kDateOfBirth, "1985-03-15", "1985-03-15"},
      {FieldType::kAddress, "г. Алматы, ул. Тестовая, 1",
       "г. Алматы, ул. Тестовая, 1"},
  };
}

TokenizeInput Item(absl::string_view subject_id, int field_type,
                   absl::string_view value, absl::string_view source = "") {
  TokenizeInput input;
  input.subject_id = std::string(subject_id);
  input.field_type = field_type;
  input.value = std::string(value);
  input.source = std::string(source);
  return input;
}

DetokenizeInput Req(absl::string_view token, absl::string_view purpose,
                    absl::string_view justification = "") {
  DetokenizeInput input;
  input.token = std::string(token);
  input.purpose = std::string(purpose);
  input.justification = std::string(justification);
  return input;
}

AuditQueryInput SubjectQuery(absl::string_view subject_id) {
  AuditQueryInput input;
  input.subject_id = std::string(subject_id);
  return input;
}

class VaultTest : public VaultFixture {
 protected:
  VaultTest() : VaultFixture(/*random_seed=*/2026) {}

  void SetUp() override {
    policy_ = DevPolicy();
    ASSERT_NE(policy_, nullptr);
    ASSERT_NO_FATAL_FAILURE(Open());
    events_at_start_ = AllEvents().size();
  }

  // (Re)opens the log and the vault over store_.
  void Open(crypto::MasterKeyProvider* master = nullptr) {
    OpenLogAndVault({.master = master, .random = random()});
  }
  absl::StatusOr<std::unique_ptr<Vault>> OpenVault(
      crypto::MasterKeyProvider* master) {
    return NewVault({.master = master, .random = random()});
  }
  virtual platform::Random* random() { return &random_; }

  absl::StatusOr<std::string> Tokenize(absl::string_view identity,
                                       absl::string_view subject,
                                       FieldType type,
                                       absl::string_view value) {
    return Await<std::string>([&](Callback<std::string> done) {
      vault_->Tokenize(
          {std::string(identity)},
          Item(std::string(subject), Num(type), std::string(value)),
          std::move(done));
    });
  }
  // Tokenize by "checkout", which may tokenize every type.
  absl::StatusOr<std::string> Tokenize(absl::string_view subject,
                                       FieldType type,
                                       absl::string_view value) {
    return Tokenize("checkout", subject, type, value);
  }

  absl::StatusOr<Vault::TokenizeResults> TokenizeBatch(
      absl::string_view identity, std::vector<TokenizeInput> inputs) {
    return Await<Vault::TokenizeResults>(
        [&](Callback<Vault::TokenizeResults> done) {
          vault_->TokenizeBatch({std::string(identity)}, std::move(inputs),
                                std::move(done));
        });
  }

  absl::StatusOr<Revealed> Detokenize(absl::string_view identity,
                                      absl::string_view token,
                                      absl::string_view purpose,
                                      absl::string_view justification = "") {
    return Await<Revealed>([&](Callback<Revealed> done) {
      vault_->Detokenize({std::string(identity)},
                         Req(token, purpose, justification), std::move(done));
    });
  }
  // The value behind `token` as the data protection officer sees it (FULL
  // for every type).
  absl::StatusOr<std::string> Reveal(absl::string_view token) {
    absl::StatusOr<Revealed> revealed = Detokenize("dpo", token, kSar);
    if (!revealed.ok()) return revealed.status();
    EXPECT_FALSE(revealed->masked);
    return revealed->value;
  }

  absl::StatusOr<Vault::DetokenizeResults> DetokenizeBatch(
      absl::string_view identity, std::vector<DetokenizeInput> inputs) {
    return Await<Vault::DetokenizeResults>(
        [&](Callback<Vault::DetokenizeResults> done) {
          vault_->DetokenizeBatch({std::string(identity)}, std::move(inputs),
                                  std::move(done));
        });
  }

  absl::StatusOr<std::vector<std::string>> Lookup(absl::string_view identity,
                                                  FieldType type,
                                                  absl::string_view value,
                                                  absl::string_view purpose) {
    return Await<std::vector<std::string>>(
        [&](Callback<std::vector<std::string>> done) {
          vault_->Lookup({std::string(identity)},
                         {.field_type = Num(type),
                          .value = std::string(value),
                          .purpose = std::string(purpose)},
                         std::move(done));
        });
  }

  // The events written since SetUp.
  std::vector<StoredEvent> NewEvents() const {
    std::vector<StoredEvent> all = AllEvents();
    return std::vector<StoredEvent>(all.begin() + events_at_start_, all.end());
  }

  pb::FieldRecord FieldRecordOf(absl::string_view token) const {
    pb::FieldRecord record;
    absl::StatusOr<std::string> bytes =
        store_.Get(Table::kFields, std::string(token));
    EXPECT_THAT(bytes, IsOk());
    EXPECT_TRUE(record.ParseFromString(bytes.value_or("")));
    return record;
  }

  size_t events_at_start_ = 0;
};

// --- Tokenize and reveal ----------------------------------------------------

TEST_F(VaultTest, OpeningANewVaultRecordsOneEvent) {
  std::vector<StoredEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.rpc, "Vault.Create");
  EXPECT_EQ(events[0].event.decision, Decision::kAllowed);
}

TEST_F(VaultTest, TokenizesAndRevealsEveryFieldType) {
  for (const Sample& sample : OneOfEachType()) {
    SCOPED_TRACE(fields::FieldTypeName(sample.type));
    absl::StatusOr<std::string> token =
        Tokenize(kSubjectA, sample.type, sample.input);
    ASSERT_THAT(token, IsOk());
    EXPECT_TRUE(fields::LooksLikeToken(*token));
    EXPECT_NE(*token, sample.normalized);
    EXPECT_THAT(Reveal(*token), IsOkAndHolds(sample.normalized));

    absl::StatusOr<Revealed> legal =
        Detokenize("legal", *token, "legal_request", "court order 1/2026");
    ASSERT_THAT(legal, IsOk());
    EXPECT_EQ(legal->value, sample.normalized);
    EXPECT_EQ(legal->type, sample.type);
    EXPECT_FALSE(legal->masked);
  }
}

TEST_F(VaultTest, SameValueOfOneSubjectGetsTheSameToken) {
  absl::StatusOr<std::string> first =
      Tokenize(kSubjectA, FieldType::kPhone, "+7 701 234 5678");
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, "8 (701) 234-56-78"),
              IsOkAndHolds(*first));
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone),
              IsOkAndHolds(*first));
  EXPECT_EQ(store_.Count(Table::kFields), 1u);
}

TEST_F(VaultTest, SameValueOfAnotherSubjectGetsAnotherToken) {
  absl::StatusOr<std::string> a = Tokenize(kSubjectA, FieldType::kIin, kIin);
  absl::StatusOr<std::string> b = Tokenize(kSubjectB, FieldType::kIin, kIin);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a, *b);
  EXPECT_THAT(Reveal(*a), IsOkAndHolds(kIin));
  EXPECT_THAT(Reveal(*b), IsOkAndHolds(kIin));
  EXPECT_EQ(store_.Count(Table::kSubjects), 2u);
}

TEST_F(VaultTest, SameValueAsAnotherTypeGetsAnotherToken) {
  absl::StatusOr<std::string> passport =
      Tokenize(kSubjectA, FieldType::kPassport, "012345678");
  absl::StatusOr<std::string> address =
      Tokenize(kSubjectA, FieldType::kAddress, "012345678");
  ASSERT_THAT(passport, IsOk());
  ASSERT_THAT(address, IsOk());
  EXPECT_NE(*passport, *address);
}

TEST_F(VaultTest, BatchReturnsPerItemResultsInOrder) {
  absl::StatusOr<Vault::TokenizeResults> results = TokenizeBatch(
      "checkout", {Item(kSubjectA, Num(FieldType::kPhone), kPhone),
                   Item(kSubjectA, Num(FieldType::kIin),
                        "850315300018"),  // wrong check digit
                   Item(kSubjectB, Num(FieldType::kEmail), "test.user@mail.kz"),
                   Item("", Num(FieldType::kPhone), kPhone),  // missing subject
                   Item(kSubjectB, 99, "x"),                  // unknown type
                   Item(kSubjectB, Num(FieldType::kIin), kIin)});
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT(*results, SizeIs(6));
  EXPECT_THAT((*results)[0], IsOk());
  EXPECT_THAT((*results)[1], StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*results)[2], IsOk());
  EXPECT_THAT((*results)[3], StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*results)[4], StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*results)[5], IsOk());
  EXPECT_THAT(Reveal(*(*results)[0]), IsOkAndHolds(kPhone));
  EXPECT_THAT(Reveal(*(*results)[2]), IsOkAndHolds("test.user@mail.kz"));
  EXPECT_THAT(Reveal(*(*results)[5]), IsOkAndHolds(kIin));
  EXPECT_EQ(store_.Count(Table::kFields), 3u);
}

TEST_F(VaultTest, BatchGivesARepeatedValueOneToken) {
  absl::StatusOr<Vault::TokenizeResults> results = TokenizeBatch(
      "checkout",
      {Item(kSubjectA, Num(FieldType::kPhone), "87012345678"),
       Item(kSubjectA, Num(FieldType::kPhone), "+7 (701) 234-56-78")});
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT(*results, SizeIs(2));
  ASSERT_THAT((*results)[0], IsOk());
  EXPECT_THAT((*results)[1], IsOkAndHolds(*(*results)[0]));
  EXPECT_EQ(store_.Count(Table::kFields), 1u);
}

// Each item is logged, and stored, under its own subject however the
// subjects interleave in the batch (the subject hash is computed once per
// distinct subject id), and each event keeps what the item was given.
TEST_F(VaultTest, BatchLogsAndStoresEachItemUnderItsOwnSubject) {
  absl::StatusOr<std::string> alone =
      Tokenize(kSubjectB, FieldType::kEmail, "other.user@mail.kz");
  ASSERT_THAT(alone, IsOk());
  const std::string hash_b = NewEvents().back().event.subject_hash;
  const size_t before = AllEvents().size();

  absl::StatusOr<Vault::TokenizeResults> results = TokenizeBatch(
      "checkout",
      {Item(kSubjectA, Num(FieldType::kPhone), kPhone),
       Item(kSubjectB, Num(FieldType::kIin), kIin),
       Item(kSubjectA, Num(FieldType::kIin), "850315300018"),  // refused
       Item(kSubjectB, Num(FieldType::kEmail), "test.user@mail.kz"),
       Item(kSubjectA, Num(FieldType::kEmail), "test.user@mail.kz")});
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT(*results, SizeIs(5));
  std::vector<StoredEvent> all = AllEvents();
  std::vector<StoredEvent> events(all.begin() + before, all.end());
  ASSERT_THAT(events, SizeIs(5));
  // Events are written per group, not in item order: match them by token.
  ASSERT_THAT((*results)[0], IsOk());
  ASSERT_THAT((*results)[4], IsOk());
  const std::string hash_a = FieldRecordOf(*(*results)[0]).subject_hash();
  EXPECT_EQ(FieldRecordOf(*(*results)[4]).subject_hash(), hash_a);
  EXPECT_NE(hash_a, hash_b);
  for (size_t i : {1u, 3u}) {
    ASSERT_THAT((*results)[i], IsOk());
    EXPECT_EQ(FieldRecordOf(*(*results)[i]).subject_hash(), hash_b);
  }
  int refused = 0;
  for (const StoredEvent& e : events) {
    EXPECT_EQ(e.event.identity, "checkout");
    EXPECT_EQ(e.event.rpc, "Tokenizer.TokenizeBatch");
    if (e.event.decision != Decision::kAllowed) {
      ++refused;
      EXPECT_EQ(e.event.subject_hash, hash_a);
      EXPECT_EQ(e.event.rule, "validate:iin");
      EXPECT_TRUE(e.event.token.empty());
      continue;
    }
    ASSERT_FALSE(e.event.token.empty());
    EXPECT_EQ(e.event.subject_hash,
              FieldRecordOf(e.event.token).subject_hash());
    EXPECT_EQ(e.event.field_type, FieldRecordOf(e.event.token).field_type());
  }
  EXPECT_EQ(refused, 1);
}

TEST_F(VaultTest, BatchSizeIsChecked) {
  EXPECT_THAT(TokenizeBatch("checkout", {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<TokenizeInput> too_many(
      1001, Item(kSubjectA, Num(FieldType::kIin), kIin));
  EXPECT_THAT(TokenizeBatch("checkout", std::move(too_many)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store_.Count(Table::kFields), 0u);
  EXPECT_THAT(NewEvents(), SizeIs(2));
}

TEST_F(VaultTest, InvalidValueIsRefusedWithoutEchoingIt) {
  const std::string bad_iin = "850315300018";  // wrong check digit
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, bad_iin);
  ASSERT_THAT(token, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(ContainsRunOf(token.status().message(), bad_iin))
      << token.status();
  EXPECT_EQ(store_.Count(Table::kFields), 0u);
  EXPECT_EQ(store_.Count(Table::kSubjects), 0u);
  EXPECT_EQ(store_.Count(Table::kIndex), 0u);

  std::vector<StoredEvent> events = NewEvents();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.decision, Decision::kInvalid);
  EXPECT_EQ(events[0].event.code,
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(events[0].event.rule, "validate:iin");
  EXPECT_EQ(events[0].event.field_type, Num(FieldType::kIin));
  EXPECT_EQ(events[0].event.subject_hash.size(), 32u);
  EXPECT_FALSE(ContainsRunOf(AllStoredBytes(), bad_iin));
}

TEST_F(VaultTest, InvalidValueOfAnyTypeIsRefusedWithoutEchoingIt) {
  const std::vector<std::pair<FieldType, std::string>> bad = {
      {FieldType::kFullName, "Zxqv9 Wyrmsk"},
      {FieldType::kIin, "850315300018"},
      {FieldType::kPassport, "N1234#5678"},
      {FieldType::kPhone, "+7 701 234"},
      {FieldType::kCardNumber, "4111111111111112"},
      {FieldType::kCardExpiry, "13/29"},
      {FieldType::kEmail, "zxqv.wyrm@@qrst.kz"},
      {FieldType::kDateOfBirth, "2099-01-01"},
      {FieldType::kAddress, "Zxqv street \x01 9"},
  };
  for (const auto& [type, value] : bad) {
    SCOPED_TRACE(fields::FieldTypeName(type));
    absl::StatusOr<std::string> token = Tokenize(kSubjectA, type, value);
    ASSERT_THAT(token, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_FALSE(ContainsRunOf(token.status().message(), value));
    EXPECT_EQ(LastEvent().event.decision, Decision::kInvalid);
    EXPECT_EQ(LastEvent().event.rule,
              absl::StrCat("validate:", fields::FieldTypeName(type)));
  }
  EXPECT_EQ(store_.Count(Table::kFields), 0u);
  EXPECT_EQ(store_.Count(Table::kSubjects), 0u);
  EXPECT_THAT(NewEvents(), SizeIs(bad.size()));
  const std::string stored = AllStoredBytes();
  for (const auto& [type, value] : bad) {
    EXPECT_FALSE(ContainsRunOf(stored, value, 6))
        << fields::FieldTypeName(type);
  }
}

TEST_F(VaultTest, InvalidInputOfEveryKindIsRefused) {
  const std::string long_subject(300, 's');
  const std::string control = "crm:\x01";
  for (const TokenizeInput& input : std::vector<TokenizeInput>{
           Item("", Num(FieldType::kIin), kIin),
           Item(long_subject, Num(FieldType::kIin), kIin),
           Item(control, Num(FieldType::kIin), kIin), Item(kSubjectA, 0, kIin),
           Item(kSubjectA, Num(FieldType::kIin), kIin, "bad\nsource"),
           Item(kSubjectA, Num(FieldType::kCardNumber),
                "4111111111111112"),  // fails Luhn
       }) {
    absl::StatusOr<Vault::TokenizeResults> results =
        TokenizeBatch("checkout", {input});
    ASSERT_THAT(results, IsOk());
    EXPECT_THAT((*results)[0], StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(LastEvent().event.decision, Decision::kInvalid);
  }
  EXPECT_EQ(store_.Count(Table::kFields), 0u);
  EXPECT_THAT(NewEvents(), SizeIs(6));
}

// --- Policy
// -------------------------------------------------------------------

TEST_F(VaultTest, UnknownIdentityIsRefusedEverywhere) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(token, IsOk());
  const size_t before = AllEvents().size();

  EXPECT_THAT(Tokenize("stranger", kSubjectA, FieldType::kPhone, kPhone),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Detokenize("stranger", *token, kSar),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Lookup("stranger", FieldType::kPhone, kPhone, kSar),
              StatusIs(absl::StatusCode::kPermissionDenied));
  std::vector<StoredEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(before + 3));
  for (size_t i = before; i < events.size(); ++i) {
    EXPECT_EQ(events[i].event.decision, Decision::kDenied);
    EXPECT_EQ(events[i].event.identity, "stranger");
    EXPECT_EQ(events[i].event.rule, "unknown-identity");
  }
}

TEST_F(VaultTest, RoleWithoutATokenizeGrantIsRefused) {
  EXPECT_THAT(Tokenize("support", kSubjectA, FieldType::kPhone, kPhone),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(store_.Count(Table::kFields), 0u);
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
  // Analytics may tokenize but never reveal.
  absl::StatusOr<std::string> token =
      Tokenize("analytics", kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(Detokenize("analytics", *token, kSar),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(VaultTest, SupportMayNotRevealAnAddress) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kAddress, "г. Алматы, ул. Тестовая, 1");
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(Detokenize("support", *token, kSupport),
              StatusIs(absl::StatusCode::kPermissionDenied));
  const StoredEvent last = LastEvent();
  EXPECT_EQ(last.event.decision, Decision::kDenied);
  EXPECT_EQ(last.event.token, *token);
  EXPECT_EQ(last.event.field_type, Num(FieldType::kAddress));
}

TEST_F(VaultTest, MarketingMayNotRevealACardNumber) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kCardNumber, kCard);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(Detokenize("marketing", *token, "marketing"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
}

TEST_F(VaultTest, LegalRequestNeedsAJustification) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(Detokenize("legal", *token, "legal_request"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Detokenize("legal", *token, "legal_request", "   "),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);

  ASSERT_THAT(Detokenize("legal", *token, "legal_request", "court order 7"),
              IsOk());
  const StoredEvent last = LastEvent();
  EXPECT_EQ(last.event.decision, Decision::kRevealedFull);
  EXPECT_EQ(last.event.justification, "court order 7");
  EXPECT_EQ(last.event.purpose, "legal_request");
}

TEST_F(VaultTest, UnregisteredPurposeIsInvalid) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(Detokenize("dpo", *token, "curiosity"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Detokenize("dpo", *token, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(VaultTest, RevealsMaskedWhereThePolicySaysMasked) {
  struct Case {
    FieldType type;
    std::string value;
    std::string shown;
    bool masked;
  };
  for (const Case& c : std::vector<Case>{
           {FieldType::kPhone, kPhone, "+7 701 *** ** 78", true},
           {FieldType::kIin, kIin, "85********19", true},
           {FieldType::kCardNumber, kCard, "411111******1111", true},
           {FieldType::kEmail, "test.user@mail.kz", "t***@mail.kz", true},
           {FieldType::kFullName, "Әлия Тестова", "Әлия Тестова", false},
       }) {
    SCOPED_TRACE(fields::FieldTypeName(c.type));
    absl::StatusOr<std::string> token = Tokenize(kSubjectA, c.type, c.value);
    ASSERT_THAT(token, IsOk());
    absl::StatusOr<Revealed> revealed = Detokenize("support", *token, kSupport);
    ASSERT_THAT(revealed, IsOk());
    EXPECT_EQ(revealed->value, c.shown);
    EXPECT_EQ(revealed->masked, c.masked);
    EXPECT_EQ(revealed->type, c.type);
    EXPECT_EQ(LastEvent().event.decision,
              c.masked ? Decision::kRevealedMasked : Decision::kRevealedFull);
  }
}

// --- Tokens
// -------------------------------------------------------------------

TEST_F(VaultTest, UnknownTokenIsNotFound) {
  const std::string unknown = "sq_AAAAAAAAAAAAAAAAAAAAAAAA";
  ASSERT_TRUE(fields::LooksLikeToken(unknown));
  EXPECT_THAT(Detokenize("dpo", unknown, kSar),
              StatusIs(absl::StatusCode::kNotFound));
  const StoredEvent last = LastEvent();
  EXPECT_EQ(last.event.decision, Decision::kNotFound);
  EXPECT_EQ(last.event.token, unknown);
}

TEST_F(VaultTest, CallerWithoutAnyGrantLearnsNothingAboutTokens) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  // Existing and unknown tokens are refused alike.
  EXPECT_THAT(Detokenize("checkout", *token, kSar),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Detokenize("checkout", "sq_AAAAAAAAAAAAAAAAAAAAAAAA", kSar),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(VaultTest, RawValuePassedAsATokenIsRefusedAndNotLogged) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kCardNumber, kCard), IsOk());
  const std::vector<std::string> raw_values = {
      kPhone, "87012345678",         kIin,
      kCard,  "4111 1111 1111 1111", "test.user@mail.kz"};
  for (size_t i = 0; i < raw_values.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("raw value #", i));  // never the value itself
    EXPECT_THAT(Detokenize("dpo", raw_values[i], kSar),
                StatusIs(absl::StatusCode::kInvalidArgument));
    const StoredEvent last = LastEvent();
    EXPECT_EQ(last.event.decision, Decision::kInvalid);
    EXPECT_EQ(last.event.rule, "input:token");
    EXPECT_THAT(last.event.token, IsEmpty());
  }
  for (const StoredEvent& e : AllEvents()) {
    const std::string text =
        absl::StrCat(e.event.token, "|", e.event.rule, "|", e.event.purpose,
                     "|", e.event.justification, "|", e.event.identity);
    for (absl::string_view raw :
         {absl::string_view("7012345678"), absl::string_view(kIin),
          absl::string_view(kCard), absl::string_view("test.user")}) {
      EXPECT_FALSE(absl::StrContains(text, raw)) << "event " << e.seq;
    }
  }
}

TEST_F(VaultTest, DetokenizeBatchReturnsPerItemResults) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  absl::StatusOr<std::string> address =
      Tokenize(kSubjectA, FieldType::kAddress, "г. Алматы, ул. Тестовая, 1");
  ASSERT_THAT(iin, IsOk());
  ASSERT_THAT(address, IsOk());
  const size_t before = AllEvents().size();
  absl::StatusOr<Vault::DetokenizeResults> results = DetokenizeBatch(
      "support", {Req(*iin, kSupport), Req(*address, kSupport),
                  Req("not a token", kSupport),
                  Req("sq_AAAAAAAAAAAAAAAAAAAAAAAA", kSupport)});
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT(*results, SizeIs(4));
  ASSERT_THAT((*results)[0], IsOk());
  EXPECT_EQ((*results)[0]->value, "85********19");
  EXPECT_THAT((*results)[1], StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT((*results)[2], StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*results)[3], StatusIs(absl::StatusCode::kNotFound));

  std::vector<StoredEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(before + 4));
  EXPECT_EQ(events[before].event.decision, Decision::kRevealedMasked);
  EXPECT_EQ(events[before + 1].event.decision, Decision::kDenied);
  EXPECT_EQ(events[before + 2].event.decision, Decision::kInvalid);
  EXPECT_EQ(events[before + 3].event.decision, Decision::kNotFound);
  for (size_t i = before; i < events.size(); ++i) {
    EXPECT_EQ(events[i].event.rpc, "Tokenizer.DetokenizeBatch");
  }
}

// A Detokenize reads first from the store's memory; one whose record or
// subject is only in a table file (its read may wait for the disk) moves to
// the vault's readers instead of blocking the caller's (gRPC's) thread.
TEST_F(VaultTest, DetokenizeReadsOnTheCallersThreadWhatMemoryHolds) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(iin, IsOk());
  EXPECT_THAT(Reveal(*iin), IsOkAndHolds(kIin));
  EXPECT_EQ(store_.LastGetThread(Table::kFields), std::this_thread::get_id());
  EXPECT_EQ(store_.LastGetThread(Table::kSubjects), std::this_thread::get_id());
}

TEST_F(VaultTest, DetokenizeByAnUnknownIdentityReadsNothing) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(iin, IsOk());
  EXPECT_THAT(Detokenize("stranger", *iin, kSar),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(LastEvent().event.rule, "unknown-identity");
  EXPECT_EQ(store_.LastGetThread(Table::kFields), std::thread::id());
}

TEST_F(VaultTest, DetokenizeOfARecordOnlyOnDiskRunsOnAReader) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(iin, IsOk());
  store_.SetOnDisk(Table::kFields, true);
  EXPECT_THAT(Reveal(*iin), IsOkAndHolds(kIin));
  EXPECT_NE(store_.LastGetThread(Table::kFields), std::this_thread::get_id());
  EXPECT_EQ(LastEvent().event.decision, Decision::kRevealedFull);
  EXPECT_EQ(LastEvent().event.token, *iin);
}

TEST_F(VaultTest, DetokenizeWhoseSubjectIsOnlyOnDiskRunsOnAReader) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(iin, IsOk());
  store_.SetOnDisk(Table::kSubjects, true);
  EXPECT_THAT(Reveal(*iin), IsOkAndHolds(kIin));
  EXPECT_NE(store_.LastGetThread(Table::kSubjects), std::this_thread::get_id());
  EXPECT_EQ(LastEvent().event.decision, Decision::kRevealedFull);
}

TEST_F(VaultTest, DetokenizeBatchWithOneRecordOnDiskAnswersEveryItemFromAReader) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(iin, IsOk());
  store_.SetOnDisk(Table::kFields, true);
  const size_t before = AllEvents().size();
  absl::StatusOr<Vault::DetokenizeResults> results = DetokenizeBatch(
      "support", {Req(*iin, kSupport), Req("sq_AAAAAAAAAAAAAAAAAAAAAAAA", kSupport)});
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT(*results, SizeIs(2));
  EXPECT_THAT((*results)[0], IsOk());
  EXPECT_THAT((*results)[1], StatusIs(absl::StatusCode::kNotFound));
  EXPECT_NE(store_.LastGetThread(Table::kFields), std::this_thread::get_id());
  EXPECT_THAT(AllEvents(), SizeIs(before + 2));  // once each, not twice
}

TEST_F(VaultTest, TokenizeReadsOnTheCallersThreadWhatMemoryHolds) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone), IsOk());
  EXPECT_EQ(store_.LastGetThread(Table::kSubjects), std::this_thread::get_id());
  EXPECT_EQ(store_.LastGetThread(Table::kIndex), std::this_thread::get_id());
}

TEST_F(VaultTest, TokenizeOfANewSubjectAndValueStaysOnTheCallersThread) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  // Stored keys are only on disk; a new subject's keys are not stored, and
  // the store's memory (RocksDB's bloom filters) says so.
  store_.SetOnDisk(Table::kSubjects, true);
  store_.SetOnDisk(Table::kIndex, true);
  ASSERT_THAT(Tokenize(kSubjectB, FieldType::kPhone, kPhone), IsOk());
  EXPECT_EQ(store_.LastGetThread(Table::kSubjects), std::this_thread::get_id());
  EXPECT_EQ(store_.LastGetThread(Table::kIndex), std::this_thread::get_id());
}

TEST_F(VaultTest, TokenizeForASubjectOnlyOnDiskRunsOnAReader) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(iin, IsOk());
  store_.SetOnDisk(Table::kSubjects, true);
  absl::StatusOr<std::string> phone =
      Tokenize(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(phone, IsOk());
  EXPECT_NE(store_.LastGetThread(Table::kSubjects), std::this_thread::get_id());
  EXPECT_EQ(LastEvent().event.decision, Decision::kAllowed);
  EXPECT_EQ(LastEvent().event.token, *phone);
  // The reader used the subject's stored data key: both values reveal.
  store_.SetOnDisk(Table::kSubjects, false);
  EXPECT_THAT(Reveal(*iin), IsOkAndHolds(kIin));
  EXPECT_THAT(Reveal(*phone), IsOkAndHolds(kPhone));
}

TEST_F(VaultTest, TokenizeOfAStoredValueWhoseEntryIsOnlyOnDiskRunsOnAReader) {
  absl::StatusOr<std::string> iin = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(iin, IsOk());
  store_.SetOnDisk(Table::kIndex, true);
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOkAndHolds(*iin));
  EXPECT_NE(store_.LastGetThread(Table::kIndex), std::this_thread::get_id());
}

TEST_F(VaultTest, WritesOneEventPerItem) {
  absl::StatusOr<Vault::TokenizeResults> tokens = TokenizeBatch(
      "checkout", {Item(kSubjectA, Num(FieldType::kIin), kIin),
                   Item(kSubjectB, Num(FieldType::kPhone), kPhone),
                   Item(kSubjectB, Num(FieldType::kPhone), "bad")});
  ASSERT_THAT(tokens, IsOk());
  std::vector<StoredEvent> events = NewEvents();
  ASSERT_THAT(events, SizeIs(3));
  EXPECT_THAT(
      events,
      Each(Field(&StoredEvent::event,
                 Field(&audit::Event::rpc, Eq("Tokenizer.TokenizeBatch")))));

  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  EXPECT_THAT(NewEvents(), SizeIs(4));
  EXPECT_EQ(LastEvent().event.rpc, "Tokenizer.Tokenize");
  EXPECT_EQ(LastEvent().event.token, *(*tokens)[0]);

  ASSERT_THAT(DetokenizeBatch(
                  "dpo", {Req(*(*tokens)[0], kSar), Req(*(*tokens)[1], kSar)}),
              IsOk());
  EXPECT_THAT(NewEvents(), SizeIs(6));
  ASSERT_THAT(Reveal(*(*tokens)[0]), IsOk());
  EXPECT_THAT(NewEvents(), SizeIs(7));
  EXPECT_EQ(LastEvent().event.rpc, "Tokenizer.Detokenize");
  ASSERT_THAT(Lookup("dpo", FieldType::kIin, kIin, kSar), IsOk());
  EXPECT_THAT(NewEvents(), SizeIs(8));
  EXPECT_EQ(LastEvent().event.rpc, "Tokenizer.Lookup");
}

TEST_F(VaultTest, EventsNameTheSubjectByItsHashOnly) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  ASSERT_THAT(Reveal(*token), IsOk());
  std::vector<StoredEvent> events = NewEvents();
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].event.subject_hash.size(), 32u);
  EXPECT_EQ(events[0].event.subject_hash, events[1].event.subject_hash);
  EXPECT_EQ(events[1].event.token, *token);
  EXPECT_EQ(events[1].event.organisation, "shop");
  EXPECT_EQ(events[1].event.country, "KZ");
}

// --- Storage
// ------------------------------------------------------------------

TEST_F(VaultTest, CiphertextMovedToAnotherRecordDoesNotDecrypt) {
  absl::StatusOr<std::string> first =
      Tokenize(kSubjectA, FieldType::kPhone, kPhone);
  absl::StatusOr<std::string> second =
      Tokenize(kSubjectA, FieldType::kPhone, "+77172123456");
  absl::StatusOr<std::string> other_subject =
      Tokenize(kSubjectB, FieldType::kPhone, "+77272501234");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(other_subject, IsOk());

  // Same subject, same type: only the token tells the records apart.
  pb::FieldRecord record = FieldRecordOf(*second);
  record.set_ciphertext(FieldRecordOf(*first).ciphertext());
  store_.Poke(Table::kFields, *second, record.SerializeAsString());
  absl::StatusOr<Revealed> moved = Detokenize("dpo", *second, kSar);
  EXPECT_THAT(moved, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(LastEvent().event.decision, Decision::kFailed);

  // A whole record copied under another subject's token.
  store_.Poke(Table::kFields, *other_subject,
              FieldRecordOf(*first).SerializeAsString());
  EXPECT_THAT(Detokenize("dpo", *other_subject, kSar),
              StatusIs(absl::StatusCode::kDataLoss));

  // Another type claimed for the same ciphertext.
  pb::FieldRecord retyped = FieldRecordOf(*first);
  retyped.set_field_type(Num(FieldType::kFullName));
  store_.Poke(Table::kFields, *first, retyped.SerializeAsString());
  EXPECT_THAT(Detokenize("dpo", *first, kSar),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(VaultTest, DamagedRecordIsDataLoss) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  store_.Poke(Table::kFields, *token, "\xff\xff\xff");
  EXPECT_THAT(Reveal(*token), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(VaultTest, TokenOfASubjectWithoutAKeyIsNotFound) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  ASSERT_EQ(store_.Count(Table::kSubjects), 1u);
  store_.Erase(Table::kSubjects, FieldRecordOf(*token).subject_hash());
  EXPECT_THAT(Reveal(*token), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(VaultTest, FailedWriteStoresNothingAndTheVaultRecovers) {
  store_.FailWrites(absl::ResourceExhaustedError("disk full"));
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  EXPECT_THAT(token, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("disk full")));
  EXPECT_EQ(store_.Count(Table::kFields), 0u);
  EXPECT_EQ(store_.Count(Table::kSubjects), 0u);
  EXPECT_EQ(store_.Count(Table::kIndex), 0u);
  EXPECT_THAT(NewEvents(), IsEmpty());

  store_.FailWrites(absl::UnavailableError("i/o error"));
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin),
              StatusIs(absl::StatusCode::kUnavailable));

  store_.FailWrites(absl::OkStatus());
  EXPECT_THAT(Lookup("dpo", FieldType::kIin, kIin, kSar),
              IsOkAndHolds(IsEmpty()));
  token = Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(Reveal(*token), IsOkAndHolds(kIin));
  EXPECT_EQ(store_.Count(Table::kSubjects), 1u);
  absl::StatusOr<audit::AuditLog::VerifyResult> verified = log_->Verify();
  ASSERT_THAT(verified, IsOk());
  EXPECT_TRUE(verified->ok) << verified->reason;
}

TEST_F(VaultTest, FailedEventWriteRevealsNothing) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  store_.FailWrites(absl::UnavailableError("i/o error"));
  EXPECT_THAT(Reveal(*token), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Lookup("dpo", FieldType::kIin, kIin, kSar),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Detokenize("stranger", *token, kSar),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(VaultTest, NoValueOrSubjectIdIsStoredInPlaintext) {
  const std::vector<Sample> samples = OneOfEachType();
  for (const Sample& sample : samples) {
    ASSERT_THAT(Tokenize(kSubjectA, sample.type, sample.input), IsOk());
    ASSERT_THAT(Tokenize(kSubjectB, sample.type, sample.input), IsOk());
  }
  for (const Sample& sample : samples) {
    ASSERT_THAT(Lookup("dpo", sample.type, sample.input, kSar),
                IsOkAndHolds(SizeIs(2)));
  }
  const std::string stored = AllStoredBytes();
  for (const Sample& sample : samples) {
    EXPECT_FALSE(absl::StrContains(stored, sample.normalized))
        << fields::FieldTypeName(sample.type);
    EXPECT_FALSE(absl::StrContains(stored, sample.input))
        << fields::FieldTypeName(sample.type);
  }
  EXPECT_FALSE(absl::StrContains(stored, "Тестова"));
  EXPECT_FALSE(absl::StrContains(stored, "7012345678"));
  EXPECT_FALSE(absl::StrContains(stored, kSubjectA));
  EXPECT_FALSE(absl::StrContains(stored, kSubjectB));
  EXPECT_FALSE(absl::StrContains(stored, "test-000"));
}

// --- Lookup
// -------------------------------------------------------------------

TEST_F(VaultTest, LookupFindsTokensByAnyWrittenForm) {
  absl::StatusOr<std::string> a =
      Tokenize(kSubjectA, FieldType::kPhone, kPhone);
  absl::StatusOr<std::string> b =
      Tokenize(kSubjectB, FieldType::kPhone, "8 701 234 56 78");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kPhone, "+77172123456"), IsOk());
  for (absl::string_view form :
       {"+7 (701) 234-56-78", "87012345678", "7012345678"}) {
    EXPECT_THAT(Lookup("support", FieldType::kPhone, form, kSupport),
                IsOkAndHolds(UnorderedElementsAre(*a, *b)));
  }
  EXPECT_THAT(Lookup("dpo", FieldType::kPhone, "+77272501234", kSar),
              IsOkAndHolds(IsEmpty()));
  // A value of another type is not found.
  EXPECT_THAT(Lookup("dpo", FieldType::kAddress, kPhone, kSar),
              IsOkAndHolds(IsEmpty()));
}

TEST_F(VaultTest, LookupFoldsNameCaseAndKazakhLetters) {
  absl::StatusOr<std::string> kazakh =
      Tokenize(kSubjectA, FieldType::kFullName, "Қайрат Тестов");
  absl::StatusOr<std::string> russian =
      Tokenize(kSubjectB, FieldType::kFullName, "Кайрат Тестов");
  ASSERT_THAT(kazakh, IsOk());
  ASSERT_THAT(russian, IsOk());
  EXPECT_NE(*kazakh, *russian);
  for (absl::string_view form :
       {"Қайрат Тестов", "ҚАЙРАТ ТЕСТОВ", "кайрат   тестов"}) {
    EXPECT_THAT(Lookup("dpo", FieldType::kFullName, form, kSar),
                IsOkAndHolds(UnorderedElementsAre(*kazakh, *russian)));
  }
  // Each token still reveals the name as it was written.
  EXPECT_THAT(Reveal(*kazakh), IsOkAndHolds("Қайрат Тестов"));
  EXPECT_THAT(Reveal(*russian), IsOkAndHolds("Кайрат Тестов"));
}

TEST_F(VaultTest, LookupNeedsALookupGrant) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone), IsOk());
  EXPECT_THAT(Lookup("checkout", FieldType::kPhone, kPhone, "order_fulfilment"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Lookup("marketing", FieldType::kPhone, kPhone, "marketing"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Lookup("support", FieldType::kPhone, kPhone, kSar),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
}

TEST_F(VaultTest, LookupRefusesAnInvalidValueWithoutEchoingIt) {
  const std::string bad_iin = "850315300018";
  absl::StatusOr<std::vector<std::string>> found =
      Lookup("dpo", FieldType::kIin, bad_iin, kSar);
  EXPECT_THAT(found, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(ContainsRunOf(found.status().message(), bad_iin));
  EXPECT_EQ(LastEvent().event.decision, Decision::kInvalid);
  EXPECT_FALSE(ContainsRunOf(AllStoredBytes(), bad_iin));
}

// --- Concurrency
// --------------------------------------------------------------

TEST_F(VaultTest, ConcurrentTokenizeForOneNewSubjectCreatesOneKey) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  struct Call {
    std::string phone;
    absl::StatusOr<std::string> token = absl::UnknownError("not called");
  };
  std::vector<Call> calls(kThreads * kPerThread);
  for (size_t i = 0; i < calls.size(); ++i) {
    // Every value twice (threads t and t+1 share values), so dedup races too.
    calls[i].phone = absl::StrCat("+7701", 1000000 + (i / 2));
  }
  absl::BlockingCounter remaining(static_cast<int>(calls.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Call& call = calls[t * kPerThread + i];
        vault_->Tokenize({"checkout"},
                         Item(kSubjectA, Num(FieldType::kPhone), call.phone),
                         [&](absl::StatusOr<std::string> token) {
                           call.token = std::move(token);
                           remaining.DecrementCount();
                         });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  remaining.Wait();

  EXPECT_EQ(store_.Count(Table::kSubjects), 1u);
  EXPECT_EQ(store_.Count(Table::kFields), calls.size() / 2);
  std::set<std::string> distinct;
  for (size_t i = 0; i < calls.size(); ++i) {
    ASSERT_THAT(calls[i].token, IsOk()) << i;
    EXPECT_THAT(Reveal(*calls[i].token), IsOkAndHolds(calls[i].phone));
    distinct.insert(*calls[i].token);
    if (i % 2 == 1) {
      EXPECT_EQ(*calls[i].token, *calls[i - 1].token) << i;
    }
  }
  EXPECT_EQ(distinct.size(), calls.size() / 2);
}

// Writes for one subject run one at a time, but the next starts as soon as
// the last is written, not once it is durable: the dedup and the subject's
// key are read from the written batch, and nothing is acknowledged before
// the sync.
TEST_F(VaultTest, NextWriteForASubjectStartsOnceTheLastIsWrittenNotSynced) {
  constexpr char kPhone2[] = "+77011234567";
  struct Call {
    absl::Notification done;
    absl::StatusOr<std::string> token = absl::UnknownError("not called");
  };
  Call first, second, repeat;
  auto start = [&](absl::string_view value, Call& call) {
    vault_->Tokenize({"checkout"}, Item(kSubjectA, Num(FieldType::kPhone), value),
                     [&call](absl::StatusOr<std::string> token) {
                       call.token = std::move(token);
                       call.done.Notify();
                     });
  };
  store_.HoldSyncs();
  start(kPhone, first);
  store_.AwaitHeldSync();  // the first call's batch is written, not synced
  start(kPhone2, second);
  start(kPhone, repeat);
  if (!store_.AwaitUnsyncedWrites(3, absl::Seconds(30))) {
    store_.ReleaseSyncs();
    for (Call* call : {&first, &second, &repeat}) call->done.WaitForNotification();
    FAIL() << "the later calls waited for the first one's sync";
  }
  EXPECT_FALSE(first.done.HasBeenNotified());
  EXPECT_FALSE(second.done.HasBeenNotified());
  EXPECT_FALSE(repeat.done.HasBeenNotified());
  EXPECT_EQ(store_.Count(Table::kSubjects), 1u);
  EXPECT_EQ(store_.Count(Table::kFields), 2u);
  store_.ReleaseSyncs();
  first.done.WaitForNotification();
  second.done.WaitForNotification();
  repeat.done.WaitForNotification();
  ASSERT_THAT(first.token, IsOk());
  ASSERT_THAT(second.token, IsOk());
  EXPECT_THAT(repeat.token, IsOkAndHolds(*first.token));
  EXPECT_NE(*second.token, *first.token);
  EXPECT_THAT(Reveal(*second.token), IsOkAndHolds(kPhone2));
}

// --- Card tokens
// --------------------------------------------------------------

TEST_F(VaultTest, CardTokenKeepsFirstSixAndLastFourAndFailsLuhn) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kCardNumber, kCard);
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->size(), std::string(kCard).size());
  EXPECT_EQ(token->substr(0, 6), "411111");
  EXPECT_EQ(token->substr(12), "1111");
  EXPECT_NE(*token, kCard);
  EXPECT_FALSE(fields::LuhnValid(*token));
  EXPECT_THAT(Reveal(*token), IsOkAndHolds(kCard));
}

TEST_F(VaultTest, CardsWithTheSameEndsGetDifferentTokens) {
  absl::StatusOr<std::string> first =
      Tokenize(kSubjectA, FieldType::kCardNumber, kCard);
  absl::StatusOr<std::string> second =
      Tokenize(kSubjectA, FieldType::kCardNumber, kCardSameEnds);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(*first, *second);
  EXPECT_EQ(second->substr(0, 6), "411111");
  EXPECT_EQ(second->substr(12), "1111");
  EXPECT_THAT(Reveal(*first), IsOkAndHolds(kCard));
  EXPECT_THAT(Reveal(*second), IsOkAndHolds(kCardSameEnds));
}

// A random source that always returns the same bytes, so that every new
// token for a given BIN and last four is the same candidate.
class CollidingVaultTest : public VaultTest {
 protected:
  platform::Random* random() override { return &constant_; }
  ConstantRandom constant_{0x11};
};

TEST_F(CollidingVaultTest, ExhaustedTokenSpaceFailsAndStoresNothing) {
  absl::StatusOr<std::string> first =
      Tokenize(kSubjectA, FieldType::kCardNumber, kCard);
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(fields::LuhnValid(*first));
  const size_t index_entries = store_.Count(Table::kIndex);

  // Every candidate for the second card is the first card's token.
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kCardNumber, kCardSameEnds),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(LastEvent().event.decision, Decision::kFailed);
  // Also for a subject the vault has not seen: no key is kept for it.
  EXPECT_THAT(Tokenize(kSubjectB, FieldType::kCardNumber, kCardSameEnds),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(store_.Count(Table::kFields), 1u);
  EXPECT_EQ(store_.Count(Table::kIndex), index_entries);
  EXPECT_EQ(store_.Count(Table::kSubjects), 1u);

  // The first card is untouched and still tokenizes to its token.
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kCardNumber, kCard),
              IsOkAndHolds(*first));
  EXPECT_THAT(Reveal(*first), IsOkAndHolds(kCard));
}

TEST_F(CollidingVaultTest, TwoCollidingCardsInOneBatch) {
  absl::StatusOr<Vault::TokenizeResults> results = TokenizeBatch(
      "checkout",
      {Item(kSubjectA, Num(FieldType::kCardNumber), kCard),
       Item(kSubjectA, Num(FieldType::kCardNumber), kCardSameEnds)});
  ASSERT_THAT(results, IsOk());
  ASSERT_THAT((*results)[0], IsOk());
  EXPECT_THAT((*results)[1], StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(store_.Count(Table::kFields), 1u);
  EXPECT_THAT(Reveal(*(*results)[0]), IsOkAndHolds(kCard));
}

// --- Keys
// ---------------------------------------------------------------------

TEST_F(VaultTest, ReopenedVaultReadsItsTokens) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(token, IsOk());
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_THAT(Reveal(*token), IsOkAndHolds(kIin));
  EXPECT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOkAndHolds(*token));
  // One Vault.Create only; closing the log sealed it with a checkpoint.
  int creates = 0, checkpoints = 0;
  for (const audit::StoredEvent& e : AllEvents()) {
    creates += e.event.rpc == "Vault.Create";
    checkpoints += e.event.rpc == "Audit.Checkpoint";
  }
  EXPECT_EQ(creates, 1);
  EXPECT_EQ(checkpoints, 1);
  EXPECT_THAT(AllEvents(), SizeIs(5));
}

TEST_F(VaultTest, AnotherMasterKeyDoesNotOpenTheVault) {
  FakeMasterKey other(0x21);
  EXPECT_THAT(OpenVault(&other),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(VaultTest, UnreachableMasterKeyFailsTheFirstOpen) {
  MemoryStore empty;
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
      audit::AuditLog::Open(&empty, &clock_, {});
  ASSERT_THAT(log, IsOk());
  FakeMasterKey down;
  down.SetUnavailable(true);
  EXPECT_FALSE(Vault::Open({.store = &empty,
                            .log = log->get(),
                            .master = &down,
                            .clock = &clock_,
                            .random = &random_,
                            .policy = policy_},
                           {})
                   .ok());
  EXPECT_EQ(empty.Count(Table::kMeta), 0u);
}

// --- Audit calls
// --------------------------------------------------------------

TEST_F(VaultTest, AuditorVerifiesAndQueriesTheLog) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  ASSERT_THAT(Tokenize(kSubjectB, FieldType::kIin, kIin), IsOk());

  absl::StatusOr<audit::AuditLog::VerifyResult> verified =
      Await<audit::AuditLog::VerifyResult>(
          [&](Callback<audit::AuditLog::VerifyResult> done) {
            vault_->VerifyAudit({"auditor"}, std::move(done));
          });
  ASSERT_THAT(verified, IsOk());
  EXPECT_TRUE(verified->ok);

  absl::StatusOr<audit::AuditLog::Filter> filter =
      Await<audit::AuditLog::Filter>(
          [&](Callback<audit::AuditLog::Filter> done) {
            vault_->StartAuditQuery({"auditor"}, SubjectQuery(kSubjectA),
                                    std::move(done));
          });
  ASSERT_THAT(filter, IsOk());
  std::vector<StoredEvent> found;
  ASSERT_THAT(vault_->ReadAudit(*filter,
                                [&](const StoredEvent& e) {
                                  found.push_back(e);
                                  return true;
                                }),
              IsOk());
  // The tokenize of subject A, then the query about subject A.
  ASSERT_THAT(found, SizeIs(2));
  EXPECT_EQ(found[0].event.rpc, "Tokenizer.Tokenize");
  EXPECT_EQ(found[1].event.rpc, "Audit.Query");
}

TEST_F(VaultTest, OnlyAuditorsReadTheLog) {
  EXPECT_THAT(Await<audit::AuditLog::VerifyResult>(
                  [&](Callback<audit::AuditLog::VerifyResult> done) {
                    vault_->VerifyAudit({"support"}, std::move(done));
                  }),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Await<audit::AuditLog::Filter>(
                  [&](Callback<audit::AuditLog::Filter> done) {
                    vault_->StartAuditQuery({"dpo"}, {}, std::move(done));
                  }),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(NewEvents(), SizeIs(2));
}

}  // namespace
}  // namespace sandyq::vault
