// Vault::RotateKeys, ListKeys, DestroyKey, SigningKey and RunKeyMaintenance,
// through the asynchronous API and the development policy.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/audit_log.h"
#include "server/audit/chain.h"
#include "server/crypto/signer.h"
#include "server/fields/field_type.h"
#include "server/policy/policy.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "server/vault/records.h"
#include "server/vault/vault.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/vault_fixture.h"
#include "tests/unit/vault/key_test_util.h"

namespace sandyq::vault {
namespace {

namespace pb = ::sandyq::internal::v1;
using audit::Decision;
using audit::StoredEvent;
using fields::FieldType;
using ::sandyq::testing::Await;
using ::sandyq::testing::DevPolicy;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::StatusIs;
using ::sandyq::testing::VaultFixture;
using storage::Table;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Synthetic values only.
constexpr char kSubjectA[] = "crm:test-0001";
constexpr char kSubjectB[] = "crm:test-0002";
constexpr char kIin[] = "850315300019";
constexpr char kPhone[] = "+77012345678";

// Identities of deploy/dev/policy.textproto without the key_admin role, and
// one the policy does not know.
constexpr const char* kNotKeyAdmins[] = {"checkout", "support", "auditor",
                                         "dpo", "stranger"};

class KeyAdminTest : public VaultFixture {
 protected:
  KeyAdminTest() : VaultFixture(/*random_seed=*/2026) {}

  void SetUp() override {
    policy_ = DevPolicy();
    ASSERT_NE(policy_, nullptr);
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  // (Re)opens the log and the vault over store_.
  void Open() { OpenLogAndVault({}); }

  absl::StatusOr<uint32_t> RotateKeys(absl::string_view identity) {
    return Await<uint32_t>([&](Callback<uint32_t> done) {
      vault_->RotateKeys({std::string(identity)}, std::move(done));
    });
  }
  absl::StatusOr<Vault::KeyListing> ListKeys(absl::string_view identity) {
    return Await<Vault::KeyListing>([&](Callback<Vault::KeyListing> done) {
      vault_->ListKeys({std::string(identity)}, std::move(done));
    });
  }
  absl::StatusOr<bool> DestroyKey(absl::string_view identity,
                                  uint32_t version) {
    return Await<bool>([&](Callback<bool> done) {
      vault_->DestroyKey({std::string(identity)}, version, std::move(done));
    });
  }
  absl::StatusOr<std::string> SigningKey(absl::string_view identity) {
    return Await<std::string>([&](Callback<std::string> done) {
      vault_->SigningKey({std::string(identity)}, std::move(done));
    });
  }
  absl::StatusOr<std::string> Tokenize(absl::string_view subject,
                                       FieldType type,
                                       absl::string_view value) {
    return Await<std::string>([&](Callback<std::string> done) {
      TokenizeInput input;
      input.subject_id = std::string(subject);
      input.field_type = static_cast<int>(type);
      input.value = std::string(value);
      vault_->Tokenize({"checkout"}, std::move(input), std::move(done));
    });
  }
  // The value behind `token` as the data protection officer sees it.
  absl::StatusOr<std::string> Reveal(absl::string_view token) {
    absl::StatusOr<Revealed> revealed =
        Await<Revealed>([&](Callback<Revealed> done) {
          DetokenizeInput input;
          input.token = std::string(token);
          input.purpose = "subject_access_request";
          vault_->Detokenize({"dpo"}, std::move(input), std::move(done));
        });
    if (!revealed.ok()) return revealed.status();
    return revealed->value;
  }

  // Runs `call` and returns the events it wrote.
  std::vector<StoredEvent> EventsOf(const std::function<void()>& call) {
    const size_t before = AllEvents().size();
    call();
    std::vector<StoredEvent> all = AllEvents();
    return std::vector<StoredEvent>(all.begin() + before, all.end());
  }

  // The DEK counter of `version` as stored (0 if absent).
  int64_t Counter(uint32_t version) const {
    return StoredDekCounter(store_, version);
  }

  std::vector<KeyInfo> Keys() {
    absl::StatusOr<Vault::KeyListing> listing = ListKeys("keyadmin");
    EXPECT_THAT(listing, IsOk());
    return listing.ok() ? listing->keys : std::vector<KeyInfo>{};
  }
};

// --- Authorization and the access log ----------------------------------------

TEST_F(KeyAdminTest, OnlyKeyadminAdministersKeysAndEveryRefusalIsLogged) {
  for (const char* identity : kNotKeyAdmins) {
    SCOPED_TRACE(identity);
    std::vector<StoredEvent> events = EventsOf([&] {
      EXPECT_THAT(RotateKeys(identity),
                  StatusIs(absl::StatusCode::kPermissionDenied));
      EXPECT_THAT(ListKeys(identity),
                  StatusIs(absl::StatusCode::kPermissionDenied));
      EXPECT_THAT(DestroyKey(identity, 1),
                  StatusIs(absl::StatusCode::kPermissionDenied));
    });
    ASSERT_THAT(events, SizeIs(3));
    EXPECT_EQ(events[0].event.rpc, "KeyAdmin.RotateKeys");
    EXPECT_EQ(events[1].event.rpc, "KeyAdmin.ListKeys");
    EXPECT_EQ(events[2].event.rpc, "KeyAdmin.DestroyKey");
    for (const StoredEvent& e : events) {
      EXPECT_EQ(e.event.identity, identity);
      EXPECT_EQ(e.event.decision, Decision::kDenied);
      EXPECT_EQ(e.event.code,
                static_cast<int>(absl::StatusCode::kPermissionDenied));
    }
  }
  // Nothing changed.
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kPrimary, 0)));
  EXPECT_THAT(master_.ListKeks(), IsOkAndHolds(ElementsAre(1u)));
}

TEST_F(KeyAdminTest, RotateKeysMakesANewPrimaryWithOneEvent) {
  std::vector<StoredEvent> events =
      EventsOf([&] { EXPECT_THAT(RotateKeys("keyadmin"), IsOkAndHolds(2u)); });
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.rpc, "KeyAdmin.RotateKeys");
  EXPECT_EQ(events[0].event.identity, "keyadmin");
  EXPECT_EQ(events[0].event.organisation, "shop");
  EXPECT_EQ(events[0].event.decision, Decision::kAllowed);
  EXPECT_EQ(events[0].event.rule,
            "keyadmin/key_admin; KEK 2 primary; KEK 1 active");
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 0),
                                  IsKey(2, KeyState::kPrimary, 0)));
}

TEST_F(KeyAdminTest, FailedRotationIsLoggedAsFailed) {
  master_.SetUnavailable(true);
  std::vector<StoredEvent> events = EventsOf([&] {
    EXPECT_THAT(RotateKeys("keyadmin"),
                StatusIs(absl::StatusCode::kUnavailable));
  });
  master_.SetUnavailable(false);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.decision, Decision::kFailed);
  EXPECT_THAT(events[0].event.rule, HasSubstr("rotation failed"));
  EXPECT_THAT(Keys(), SizeIs(1));
}

TEST_F(KeyAdminTest, ListKeysShowsVersionsCountsAndTheProvider) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  ASSERT_THAT(Tokenize(kSubjectB, FieldType::kIin, kIin), IsOk());
  ASSERT_THAT(RotateKeys("keyadmin"), IsOk());
  absl::StatusOr<Vault::KeyListing> listing;
  std::vector<StoredEvent> events =
      EventsOf([&] { listing = ListKeys("keyadmin"); });
  ASSERT_THAT(listing, IsOk());
  EXPECT_THAT(listing->keys, ElementsAre(IsKey(1, KeyState::kActive, 2),
                                         IsKey(2, KeyState::kPrimary, 0)));
  EXPECT_EQ(listing->rewrap_pending, 2);
  EXPECT_EQ(listing->master_key, master_.Describe());
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.rpc, "KeyAdmin.ListKeys");
  EXPECT_EQ(events[0].event.decision, Decision::kAllowed);
}

TEST_F(KeyAdminTest, KeyProgressShowsTheRewrapWithoutLoggingAnything) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  ASSERT_THAT(Tokenize(kSubjectB, FieldType::kIin, kIin), IsOk());
  absl::StatusOr<Vault::KeyProgress> progress;
  std::vector<StoredEvent> events =
      EventsOf([&] { progress = vault_->KeyProgressForMetrics(); });
  ASSERT_THAT(progress, IsOk());
  EXPECT_EQ(progress->rewrap_pending, 0);
  EXPECT_EQ(progress->rewrapped, 0);
  EXPECT_EQ(progress->primary_version, 1u);
  EXPECT_THAT(events, ::testing::IsEmpty());

  ASSERT_THAT(RotateKeys("keyadmin"), IsOk());
  progress = vault_->KeyProgressForMetrics();
  ASSERT_THAT(progress, IsOk());
  EXPECT_EQ(progress->rewrap_pending, 2);
  EXPECT_EQ(progress->primary_version, 2u);

  ASSERT_THAT(vault_->RunKeyMaintenance(), IsOkAndHolds(2));
  progress = vault_->KeyProgressForMetrics();
  ASSERT_THAT(progress, IsOk());
  EXPECT_EQ(progress->rewrap_pending, 0);
  EXPECT_EQ(progress->rewrapped, 2);
}

TEST_F(KeyAdminTest, DestroyKeyRefusalsAreLoggedAsDenied) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  struct Case {
    uint32_t version;
    absl::StatusCode code;
  };
  // KEK 1 is primary; after the rotation it still wraps a data key; 9 does
  // not exist.
  std::vector<StoredEvent> events = EventsOf([&] {
    EXPECT_THAT(DestroyKey("keyadmin", 1),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(DestroyKey("keyadmin", 9),
                StatusIs(absl::StatusCode::kNotFound));
  });
  ASSERT_THAT(RotateKeys("keyadmin"), IsOk());
  std::vector<StoredEvent> more = EventsOf([&] {
    EXPECT_THAT(DestroyKey("keyadmin", 1),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  });
  events.insert(events.end(), more.begin(), more.end());

  ASSERT_THAT(events, SizeIs(3));
  const Case cases[] = {{1, absl::StatusCode::kFailedPrecondition},
                        {9, absl::StatusCode::kNotFound},
                        {1, absl::StatusCode::kFailedPrecondition}};
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].event.rpc, "KeyAdmin.DestroyKey");
    EXPECT_EQ(events[i].event.identity, "keyadmin");
    EXPECT_EQ(events[i].event.decision, Decision::kDenied);
    EXPECT_EQ(events[i].event.code, static_cast<int>(cases[i].code));
    EXPECT_THAT(
        events[i].event.rule,
        HasSubstr(absl::StrCat("KEK ", cases[i].version, " not destroyed")));
  }
  EXPECT_THAT(master_.GetKek(1), IsOk());
}

TEST_F(KeyAdminTest, DestroyKeyAfterTheRewrap) {
  absl::StatusOr<std::string> token =
      Tokenize(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(token, IsOk());
  ASSERT_THAT(RotateKeys("keyadmin"), IsOkAndHolds(2u));
  EXPECT_THAT(vault_->RunKeyMaintenance(), IsOkAndHolds(1));
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kRetired, 0),
                                  IsKey(2, KeyState::kPrimary, 1)));

  std::vector<StoredEvent> events = EventsOf(
      [&] { EXPECT_THAT(DestroyKey("keyadmin", 1), IsOkAndHolds(true)); });
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.decision, Decision::kAllowed);
  EXPECT_EQ(events[0].event.rule, "keyadmin/key_admin; KEK 1 destroyed");
  EXPECT_THAT(master_.GetKek(1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reveal(*token), IsOkAndHolds(kPhone));

  // Asking again is answered, and recorded, too.
  events = EventsOf(
      [&] { EXPECT_THAT(DestroyKey("keyadmin", 1), IsOkAndHolds(true)); });
  EXPECT_THAT(events, SizeIs(1));

  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_THAT(Reveal(*token), IsOkAndHolds(kPhone));
  EXPECT_THAT(Keys()[0], IsKey(1, KeyState::kDestroyed, 0));
}

TEST_F(KeyAdminTest, SigningKeyIsForAuditors) {
  absl::StatusOr<std::string> pem;
  std::vector<StoredEvent> events =
      EventsOf([&] { pem = SigningKey("auditor"); });
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(crypto::Ed25519PublicKeyFromPem(*pem),
              IsOkAndHolds(log_->signer()->public_key()));
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.rpc, "Audit.SigningKey");
  EXPECT_EQ(events[0].event.decision, Decision::kAllowed);

  // Audit.* (proto/sandyq/v1/policy.proto): not the key administrator's.
  for (const char* identity : {"keyadmin", "support", "stranger"}) {
    SCOPED_TRACE(identity);
    events = EventsOf([&] {
      EXPECT_THAT(SigningKey(identity),
                  StatusIs(absl::StatusCode::kPermissionDenied));
    });
    ASSERT_THAT(events, SizeIs(1));
    EXPECT_EQ(events[0].event.decision, Decision::kDenied);
  }
}

TEST_F(KeyAdminTest, CheckpointsVerifyUnderThePublishedKey) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  ASSERT_THAT(log_->Checkpoint(), IsOk());
  absl::StatusOr<std::string> pem = SigningKey("auditor");
  ASSERT_THAT(pem, IsOk());
  absl::StatusOr<std::string> public_key =
      crypto::Ed25519PublicKeyFromPem(*pem);
  ASSERT_THAT(public_key, IsOk());
  audit::ChainVerifier verifier(*public_key);
  ASSERT_THAT(store_.Scan(Table::kAudit, "", "",
                          [&](absl::string_view key, absl::string_view value) {
                            pb::StoredAuditEvent record;
                            EXPECT_TRUE(record.ParseFromArray(
                                value.data(), static_cast<int>(value.size())));
                            return verifier.Add(
                                storage::DecodeU64(key).value_or(0),
                                record.event(), record.hash());
                          }),
              IsOk());
  EXPECT_TRUE(verifier.Finish()) << verifier.result().reason;
  EXPECT_EQ(verifier.result().checkpoints_checked, 1u);
}

// --- Keys and data -----------------------------------------------------------

TEST_F(KeyAdminTest, TokensBeforeAndAfterARotationStayReadable) {
  absl::StatusOr<std::string> before =
      Tokenize(kSubjectA, FieldType::kIin, kIin);
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(RotateKeys("keyadmin"), IsOk());
  absl::StatusOr<std::string> after =
      Tokenize(kSubjectB, FieldType::kPhone, kPhone);
  ASSERT_THAT(after, IsOk());
  // An old subject's new value uses its existing key.
  absl::StatusOr<std::string> old_subject_new_value =
      Tokenize(kSubjectA, FieldType::kPhone, kPhone);
  ASSERT_THAT(old_subject_new_value, IsOk());

  auto expect_readable = [&] {
    EXPECT_THAT(Reveal(*before), IsOkAndHolds(kIin));
    EXPECT_THAT(Reveal(*after), IsOkAndHolds(kPhone));
    EXPECT_THAT(Reveal(*old_subject_new_value), IsOkAndHolds(kPhone));
    // Deduplication still finds the existing tokens.
    EXPECT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin),
                IsOkAndHolds(*before));
    EXPECT_THAT(Tokenize(kSubjectB, FieldType::kPhone, kPhone),
                IsOkAndHolds(*after));
  };
  expect_readable();
  EXPECT_THAT(vault_->RunKeyMaintenance(), IsOkAndHolds(1));
  expect_readable();
  ASSERT_NO_FATAL_FAILURE(Open());
  expect_readable();
}

TEST_F(KeyAdminTest, ANewSubjectCountsUnderThePrimary) {
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kIin, kIin), IsOk());
  EXPECT_EQ(Counter(1), 1);
  // More values of the same subject: same data key, no new count.
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kPhone, kPhone), IsOk());
  EXPECT_EQ(Counter(1), 1);

  ASSERT_THAT(RotateKeys("keyadmin"), IsOkAndHolds(2u));
  ASSERT_THAT(Tokenize(kSubjectB, FieldType::kIin, kIin), IsOk());
  EXPECT_EQ(Counter(1), 1);
  EXPECT_EQ(Counter(2), 1);
  ASSERT_THAT(Tokenize(kSubjectA, FieldType::kEmail, "test.user@mail.kz"),
              IsOk());
  EXPECT_EQ(Counter(1), 1);
  EXPECT_EQ(Counter(2), 1);
  // A refused value stores no key and counts nothing.
  EXPECT_THAT(Tokenize("crm:test-0003", FieldType::kIin, "850315300018"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Counter(2), 1);
}

TEST_F(KeyAdminTest, RunKeyMaintenanceAfterARotation) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::string> token =
        Tokenize(absl::StrCat("crm:test-1", i), FieldType::kIin, kIin);
    ASSERT_THAT(token, IsOk());
    tokens.push_back(*token);
  }
  EXPECT_THAT(vault_->RunKeyMaintenance(), IsOkAndHolds(0));
  ASSERT_THAT(RotateKeys("keyadmin"), IsOk());
  absl::StatusOr<Vault::KeyListing> listing = ListKeys("keyadmin");
  ASSERT_THAT(listing, IsOk());
  EXPECT_EQ(listing->rewrap_pending, 5);

  EXPECT_THAT(vault_->RunKeyMaintenance(), IsOkAndHolds(5));
  listing = ListKeys("keyadmin");
  ASSERT_THAT(listing, IsOk());
  EXPECT_EQ(listing->rewrap_pending, 0);
  EXPECT_THAT(listing->keys, ElementsAre(IsKey(1, KeyState::kRetired, 0),
                                         IsKey(2, KeyState::kPrimary, 5)));
  EXPECT_THAT(store_.Get(Table::kMeta, keys::kRewrapCursor),
              StatusIs(absl::StatusCode::kNotFound));
  for (const std::string& token : tokens) {
    EXPECT_THAT(Reveal(token), IsOkAndHolds(kIin));
  }
  absl::StatusOr<audit::AuditLog::VerifyResult> verified = log_->Verify();
  ASSERT_THAT(verified, IsOk());
  EXPECT_TRUE(verified->ok) << verified->reason;
}

}  // namespace
}  // namespace sandyq::vault
