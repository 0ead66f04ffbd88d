#include "server/vault/key_manager.h"

#include <cstdint>
#include <map>
#include <memory>
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
#include "server/crypto/keyring.h"
#include "server/crypto/secret.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "server/vault/records.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_master_key.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/memory_store.h"
#include "tests/fakes/status_matchers.h"
#include "tests/unit/vault/key_test_util.h"

namespace sandyq::vault {
namespace {

namespace pb = ::sandyq::internal::v1;
using ::sandyq::testing::FakeClock;
using ::sandyq::testing::FakeMasterKey;
using ::sandyq::testing::FakeRandom;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::MemoryStore;
using ::sandyq::testing::StatusIs;
using storage::Table;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// Synthetic subject ids.
constexpr char kSubjectA[] = "crm:test-0001";
constexpr char kSubjectB[] = "crm:test-0002";
constexpr char kSubjectC[] = "crm:test-0003";

class KeyManagerTest : public KeysTest {};

// --- Open --------------------------------------------------------------------

TEST_F(KeyManagerTest, NewVaultHasKek1PrimaryHeldByTheProvider) {
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kPrimary, 0)));
  EXPECT_EQ(Keys()[0].created, clock_.Now());
  EXPECT_THAT(master_.ListKeks(), IsOkAndHolds(ElementsAre(1u)));
  EXPECT_EQ(keys_->keyring()->primary_version(), 1u);
  ASSERT_NE(keys_->signer(), nullptr);
  EXPECT_EQ(keys_->DescribeMasterKey(), master_.Describe());
  // The KEK itself is never in the data store.
  absl::StatusOr<crypto::SecretBytes> kek = master_.GetKek(1);
  ASSERT_THAT(kek, IsOk());
  bool found = false;
  for (Table t : {Table::kKeys, Table::kMeta}) {
    ASSERT_THAT(store_.Scan(t, "", "",
                            [&](absl::string_view, absl::string_view v) {
                              found |= absl::StrContains(v, kek->view());
                              return true;
                            }),
                IsOk());
  }
  EXPECT_FALSE(found);

  std::vector<audit::StoredEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.rpc, "Vault.Create");
  EXPECT_EQ(events[0].event.identity, "sandyqd");
  EXPECT_THAT(events[0].event.rule, HasSubstr("KEK 1 primary"));
  EXPECT_THAT(events[0].event.rule, HasSubstr("residency KZ"));
}

TEST_F(KeyManagerTest, ReopenedVaultKeepsItsKeysAndWritesNothing) {
  const std::string hash = AddSubject(kSubjectA);
  const std::string public_key = keys_->signer()->public_key();
  const std::string blind = keys_->BlindIndex(fields::FieldType::kIin, "x");
  const size_t events = AllEvents().size();
  ASSERT_NO_FATAL_FAILURE(OpenKeys());
  EXPECT_EQ(keys_->SubjectHash(kSubjectA), hash);
  EXPECT_EQ(keys_->BlindIndex(fields::FieldType::kIin, "x"), blind);
  EXPECT_EQ(keys_->signer()->public_key(), public_key);
  EXPECT_TRUE(DekIntact(hash));
  EXPECT_THAT(AllEvents(), SizeIs(events));
}

TEST_F(KeyManagerTest, DerivedKeysAreDistinct) {
  const std::string hash = keys_->SubjectHash(kSubjectA);
  EXPECT_EQ(hash.size(), 32u);
  EXPECT_NE(hash, keys_->SubjectHash(kSubjectB));
  EXPECT_NE(keys_->BlindIndex(fields::FieldType::kIin, "850315300019"),
            keys_->BlindIndex(fields::FieldType::kPhone, "850315300019"));
  EXPECT_NE(keys_->DedupKey(hash, fields::FieldType::kIin, "850315300019"),
            keys_->DedupKey(keys_->SubjectHash(kSubjectB),
                            fields::FieldType::kIin, "850315300019"));
}

TEST_F(KeyManagerTest, AnotherMasterKeyDoesNotOpenTheVault) {
  FakeMasterKey other(0x21);
  EXPECT_THAT(Open(&other), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(KeyManagerTest, PrimaryKekMissingFromTheProviderFailsOpen) {
  ASSERT_THAT(master_.DestroyKek(1), IsOk());
  EXPECT_THAT(Open(&master_), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(KeyManagerTest, UnreachableProviderFailsOpen) {
  master_.SetUnavailable(true);
  EXPECT_FALSE(Open(&master_).ok());
}

TEST_F(KeyManagerTest, OpenFinishesAnInterruptedDestruction) {
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  // Recorded destroyed, but the process died before the provider removed it.
  pb::KekRecord rec;
  rec.set_version(1);
  rec.set_state(pb::KEY_STATE_DESTROYED);
  store_.Poke(Table::kKeys, keys::KekKey(1), rec.SerializeAsString());
  ASSERT_THAT(master_.GetKek(1), IsOk());
  ASSERT_NO_FATAL_FAILURE(OpenKeys());
  EXPECT_THAT(master_.GetKek(1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(keys_->keyring()->HasVersion(1));
}

TEST_F(KeyManagerTest, MissingNonPrimaryKekDoesNotBlockOpening) {
  const std::string old_subject = AddSubject(kSubjectA);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              IsOkAndHolds(2u));
  const std::string new_subject = AddSubject(kSubjectB);
  // KEK 1 destroyed elsewhere (this store is an older copy).
  ASSERT_THAT(master_.DestroyKek(1), IsOk());
  ASSERT_NO_FATAL_FAILURE(OpenKeys());
  EXPECT_FALSE(keys_->keyring()->HasVersion(1));
  EXPECT_EQ(keys_->keyring()->primary_version(), 2u);
  EXPECT_THAT(Unwrap(old_subject), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(DekIntact(new_subject));
  // Its record is untouched and still counted.
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 1),
                                  IsKey(2, KeyState::kPrimary, 1)));
}

// --- Rotate ------------------------------------------------------------------

TEST_F(KeyManagerTest, RotateMakesANewPrimaryAndKeepsTheOldOneActive) {
  const std::string hash = AddSubject(kSubjectA);
  clock_.Advance(absl::Hours(1));
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              IsOkAndHolds(2u));

  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 1),
                                  IsKey(2, KeyState::kPrimary, 0)));
  EXPECT_EQ(Keys()[1].created, clock_.Now());
  EXPECT_THAT(keys_->PrimaryCreated(), IsOkAndHolds(clock_.Now()));
  EXPECT_THAT(master_.ListKeks(), IsOkAndHolds(ElementsAre(1u, 2u)));
  EXPECT_EQ(keys_->keyring()->primary_version(), 2u);
  EXPECT_TRUE(DekIntact(hash));  // the old subject still opens
  // New DEKs are wrapped by KEK 2.
  EXPECT_EQ(SubjectRecordOf(AddSubject(kSubjectB)).kek_version(), 2u);
  EXPECT_EQ(Counter(2), 1);

  const audit::StoredEvent event = LastEvent();
  EXPECT_EQ(event.event.rpc, "KeyAdmin.RotateKeys");
  EXPECT_EQ(event.event.identity, "keyadmin");
  EXPECT_EQ(event.event.decision, audit::Decision::kAllowed);
  EXPECT_EQ(event.event.rule,
            "keyadmin/key_admin; KEK 2 primary; KEK 1 active");
}

TEST_F(KeyManagerTest, RotationSurvivesAReopen) {
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              IsOkAndHolds(3u));
  ASSERT_NO_FATAL_FAILURE(OpenKeys());
  EXPECT_EQ(keys_->keyring()->primary_version(), 3u);
  EXPECT_TRUE(keys_->keyring()->HasVersion(1));
  EXPECT_TRUE(keys_->keyring()->HasVersion(2));
}

TEST_F(KeyManagerTest, RotateNeverReusesAVersionTheProviderHolds) {
  // A crash between storing KEK 2 with the provider and recording it.
  ASSERT_THAT(master_.PutKek(2, keys_->NewDek()), IsOk());
  EXPECT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              IsOkAndHolds(3u));
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 0),
                                  IsKey(3, KeyState::kPrimary, 0)));
}

TEST_F(KeyManagerTest, FailedRotationChangesNothing) {
  const size_t events = AllEvents().size();
  store_.FailWrites(absl::UnavailableError("i/o error"));
  EXPECT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              StatusIs(absl::StatusCode::kUnavailable));
  store_.FailWrites(absl::OkStatus());
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kPrimary, 0)));
  EXPECT_EQ(keys_->keyring()->primary_version(), 1u);
  EXPECT_THAT(AllEvents(), SizeIs(events));
  // KEK 2 went to the provider before the write failed: it is skipped.
  EXPECT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              IsOkAndHolds(3u));

  master_.SetUnavailable(true);
  EXPECT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              StatusIs(absl::StatusCode::kUnavailable));
  master_.SetUnavailable(false);
  EXPECT_EQ(keys_->keyring()->primary_version(), 3u);
  EXPECT_THAT(AllEvents(), SizeIs(events + 1));
}

TEST_F(KeyManagerTest, RotateIfOlderThanRotatesOnlyOnceDue) {
  const absl::Duration every = absl::Hours(24 * 90);
  clock_.Advance(every - absl::Microseconds(1));
  EXPECT_THAT(keys_->RotateIfOlderThan(every, AdminEvent("scheduled")),
              IsOkAndHolds(0u));
  EXPECT_THAT(Keys(), SizeIs(1));
  clock_.Advance(absl::Microseconds(1));
  EXPECT_THAT(keys_->RotateIfOlderThan(every, AdminEvent("scheduled")),
              IsOkAndHolds(2u));
  EXPECT_THAT(keys_->PrimaryCreated(), IsOkAndHolds(clock_.Now()));
  // The new primary is fresh.
  EXPECT_THAT(keys_->RotateIfOlderThan(every, AdminEvent("scheduled")),
              IsOkAndHolds(0u));
  EXPECT_THAT(Keys(), SizeIs(2));
}

// --- Retire ------------------------------------------------------------------

TEST_F(KeyManagerTest, RetireEmptyRetiresOnlyActiveVersionsWithoutDeks) {
  EXPECT_THAT(keys_->RetireEmpty(), IsOkAndHolds(0));  // only the primary
  AddSubject(kSubjectA);                               // on KEK 1
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  // KEK 1 wraps a DEK, KEK 2 none, KEK 3 is primary.
  const size_t events = AllEvents().size();
  EXPECT_THAT(keys_->RetireEmpty(), IsOkAndHolds(1));
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 1),
                                  IsKey(2, KeyState::kRetired, 0),
                                  IsKey(3, KeyState::kPrimary, 0)));
  ASSERT_THAT(AllEvents(), SizeIs(events + 1));
  EXPECT_EQ(LastEvent().event.rpc, "KeyAdmin.Retire");
  EXPECT_THAT(LastEvent().event.rule, HasSubstr("KEK 2"));
  // Nothing more to retire; a retired version still unwraps.
  EXPECT_THAT(keys_->RetireEmpty(), IsOkAndHolds(0));
  EXPECT_TRUE(keys_->keyring()->HasVersion(2));
}

// --- Destroy -----------------------------------------------------------------

TEST_F(KeyManagerTest, DestroyRefusesThePrimary) {
  const size_t events = AllEvents().size();
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(master_.GetKek(1), IsOk());
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kPrimary, 0)));
  EXPECT_THAT(AllEvents(), SizeIs(events));
}

TEST_F(KeyManagerTest, DestroyRefusesAnUnknownVersion) {
  EXPECT_THAT(keys_->Destroy(9, AdminEvent("KeyAdmin.DestroyKey")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(keys_->Destroy(0, AdminEvent("KeyAdmin.DestroyKey")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(KeyManagerTest, DestroyRefusesAVersionThatStillWrapsDeks) {
  const std::string hash = AddSubject(kSubjectA);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  absl::Status destroyed = keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey"));
  EXPECT_THAT(destroyed, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(destroyed.message(), HasSubstr("still wraps 1 data keys"));
  EXPECT_THAT(master_.GetKek(1), IsOk());
  EXPECT_TRUE(DekIntact(hash));
}

TEST_F(KeyManagerTest, DestroyRefusesAVersionALiveKeyringHasAsPrimary) {
  // A call in flight holds the keyring it is wrapping a new DEK with.
  std::shared_ptr<const crypto::Keyring> in_flight = keys_->keyring();
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  absl::Status destroyed = keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey"));
  EXPECT_THAT(destroyed, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(destroyed.message(), HasSubstr("in flight"));
  EXPECT_THAT(master_.GetKek(1), IsOk());

  in_flight.reset();  // the call's write is durable
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
}

TEST_F(KeyManagerTest, DestroyRemovesTheKekEverywhere) {
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  const std::string hash = AddSubject(kSubjectA);  // on KEK 2
  const size_t events = AllEvents().size();
  ASSERT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());

  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kDestroyed, 0),
                                  IsKey(2, KeyState::kPrimary, 1)));
  EXPECT_THAT(master_.GetKek(1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(keys_->keyring()->HasVersion(1));
  EXPECT_TRUE(DekIntact(hash));
  ASSERT_THAT(AllEvents(), SizeIs(events + 1));
  EXPECT_EQ(LastEvent().event.rpc, "KeyAdmin.DestroyKey");
  EXPECT_EQ(LastEvent().event.decision, audit::Decision::kAllowed);
  EXPECT_EQ(LastEvent().event.rule, "keyadmin/key_admin; KEK 1 destroyed");

  // The vault still opens, without KEK 1.
  ASSERT_NO_FATAL_FAILURE(OpenKeys());
  EXPECT_FALSE(keys_->keyring()->HasVersion(1));
  EXPECT_TRUE(DekIntact(hash));
  // The version is never used again.
  EXPECT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              IsOkAndHolds(3u));
}

TEST_F(KeyManagerTest, DestroyARetiredVersion) {
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  ASSERT_THAT(keys_->RetireEmpty(), IsOkAndHolds(1));
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
  EXPECT_THAT(Keys()[0], IsKey(1, KeyState::kDestroyed, 0));
}

TEST_F(KeyManagerTest, DestroyTwiceSucceedsAndRecordsTheCall) {
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  ASSERT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
  const size_t events = AllEvents().size();
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
  // The caller's event is recorded like every other successful Destroy.
  ASSERT_THAT(AllEvents(), SizeIs(events + 1));
  EXPECT_EQ(LastEvent().event.rpc, "KeyAdmin.DestroyKey");
  EXPECT_EQ(LastEvent().event.decision, audit::Decision::kAllowed);
  EXPECT_THAT(LastEvent().event.rule, HasSubstr("KEK 1 already destroyed"));
}

TEST_F(KeyManagerTest, DestroyAgainFinishesAFailedRemoval) {
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  // Recorded destroyed, then the provider could not be reached.
  master_.SetUnavailable(true);
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")),
              StatusIs(absl::StatusCode::kUnavailable));
  master_.SetUnavailable(false);
  EXPECT_THAT(Keys()[0], IsKey(1, KeyState::kDestroyed, 0));
  ASSERT_THAT(master_.GetKek(1), IsOk());

  // The operator retries: the KEK is really gone when it says so.
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
  EXPECT_THAT(master_.GetKek(1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(keys_->keyring()->HasVersion(1));
}

TEST_F(KeyManagerTest, FailedDestroyRecordKeepsTheKek) {
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  store_.FailWrites(absl::UnavailableError("i/o error"));
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")),
              StatusIs(absl::StatusCode::kUnavailable));
  store_.FailWrites(absl::OkStatus());
  EXPECT_THAT(master_.GetKek(1), IsOk());
  EXPECT_TRUE(keys_->keyring()->HasVersion(1));
  EXPECT_THAT(Keys()[0], IsKey(1, KeyState::kActive, 0));
}

// --- RewrapSubject, ListKeys, RewrapPending ---------------------------------

TEST_F(KeyManagerTest, RewrapSubjectMovesTheDekAndTheCounters) {
  const std::string hash = AddSubject(kSubjectA);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  std::shared_ptr<const crypto::Keyring> keyring = keys_->keyring();
  storage::WriteBatch batch;
  const std::string record = store_.Get(Table::kSubjects, hash).value();
  EXPECT_THAT(keys_->RewrapSubject(*keyring, hash, record, batch),
              IsOkAndHolds(true));
  // Nothing is written until the caller writes the batch.
  EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 1u);
  ASSERT_THAT(log_->CommitAndWait(std::move(batch), {}), IsOk());

  EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 2u);
  EXPECT_TRUE(DekIntact(hash));
  EXPECT_EQ(Counter(1), 0);
  EXPECT_EQ(Counter(2), 1);
  EXPECT_THAT(keys_->RewrapPending(), IsOkAndHolds(0));

  // Already under the primary: nothing to do.
  storage::WriteBatch again;
  EXPECT_THAT(
      keys_->RewrapSubject(*keyring, hash,
                           store_.Get(Table::kSubjects, hash).value(), again),
      IsOkAndHolds(false));
  EXPECT_TRUE(again.empty());
}

TEST_F(KeyManagerTest, RewrapSubjectRefusesADamagedRecord) {
  storage::WriteBatch batch;
  EXPECT_THAT(keys_->RewrapSubject(*keys_->keyring(), std::string(32, 's'),
                                   "\xff\xff\xff", batch),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(batch.empty());
}

TEST_F(KeyManagerTest, RewrapSubjectNeedsTheSubjectHashItWasWrappedFor) {
  const std::string hash = AddSubject(kSubjectA);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  storage::WriteBatch batch;
  EXPECT_THAT(
      keys_->RewrapSubject(*keys_->keyring(), keys_->SubjectHash(kSubjectB),
                           store_.Get(Table::kSubjects, hash).value(), batch),
      StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(batch.empty());
}

TEST_F(KeyManagerTest, ListKeysAndRewrapPendingCountDeksPerVersion) {
  AddSubject(kSubjectA);
  AddSubject(kSubjectB);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  AddSubject(kSubjectC);
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 2),
                                  IsKey(2, KeyState::kPrimary, 1)));
  EXPECT_THAT(keys_->RewrapPending(), IsOkAndHolds(2));
}

TEST_F(KeyManagerTest, DamagedCounterIsDataLoss) {
  store_.Poke(Table::kKeys, keys::DekCountKey(1), "bad");
  EXPECT_THAT(keys_->ListKeys(), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(keys_->RewrapPending(), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(KeyManagerTest, PrimaryCreatedWithoutAPrimaryFails) {
  pb::KekRecord rec;
  rec.set_version(1);
  rec.set_state(pb::KEY_STATE_ACTIVE);
  store_.Poke(Table::kKeys, keys::KekKey(1), rec.SerializeAsString());
  EXPECT_THAT(keys_->PrimaryCreated(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// --- MigrateMasterKey --------------------------------------------------------

class MigrateMasterKeyTest : public KeyManagerTest {
 protected:
  // Three versions: 1 destroyed, 2 active (one subject), 3 primary (one).
  void SetUp() override {
    KeyManagerTest::SetUp();
    ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
    ASSERT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
    old_subject_ = AddSubject(kSubjectA);
    ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
    new_subject_ = AddSubject(kSubjectB);
    public_key_ = keys_->signer()->public_key();
    keys_.reset();  // the server is stopped
  }
  absl::Status Migrate() {
    return MigrateMasterKey(&store_, log_.get(), &master_, &to_);
  }

  FakeMasterKey to_{0x21};
  std::string old_subject_;
  std::string new_subject_;
  std::string public_key_;
};

TEST_F(MigrateMasterKeyTest, MovesTheVaultToTheNewProvider) {
  const size_t events = AllEvents().size();
  ASSERT_THAT(Migrate(), IsOk());

  EXPECT_THAT(to_.ListKeks(), IsOkAndHolds(ElementsAre(2u, 3u)));
  for (uint32_t v : {2u, 3u}) {
    absl::StatusOr<crypto::SecretBytes> there = to_.GetKek(v);
    ASSERT_THAT(there, IsOk());
    EXPECT_TRUE(there->Equals(master_.GetKek(v).value())) << v;
  }
  ASSERT_THAT(AllEvents(), SizeIs(events + 1));
  EXPECT_EQ(LastEvent().event.rpc, "Vault.MigrateMasterKey");
  EXPECT_EQ(LastEvent().event.rule,
            absl::StrCat("from ", master_.Describe(), " to ", to_.Describe(),
                         "; 2 KEKs copied"));

  // The new provider opens it, with the same keys; the old one no longer.
  ASSERT_NO_FATAL_FAILURE(OpenKeys(&to_));
  EXPECT_EQ(keys_->SubjectHash(kSubjectA), old_subject_);
  EXPECT_EQ(keys_->signer()->public_key(), public_key_);
  EXPECT_EQ(keys_->keyring()->primary_version(), 3u);
  EXPECT_TRUE(DekIntact(old_subject_));
  EXPECT_TRUE(DekIntact(new_subject_));
  EXPECT_THAT(Open(&master_), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(MigrateMasterKeyTest, InterruptedMigrationCanBeRunAgain) {
  // The first run copied KEK 2, then stopped.
  ASSERT_THAT(to_.PutKek(2, master_.GetKek(2).value()), IsOk());
  ASSERT_THAT(Migrate(), IsOk());
  EXPECT_THAT(to_.ListKeks(), IsOkAndHolds(ElementsAre(2u, 3u)));
  ASSERT_NO_FATAL_FAILURE(OpenKeys(&to_));
  EXPECT_TRUE(DekIntact(old_subject_));
  EXPECT_TRUE(DekIntact(new_subject_));
}

TEST_F(MigrateMasterKeyTest, RefusesAProviderHoldingADifferentKek) {
  ASSERT_THAT(to_.PutKek(2, crypto::SecretBytes(std::string(32, '\x5a'))),
              IsOk());
  const size_t events = AllEvents().size();
  EXPECT_THAT(Migrate(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(AllEvents(), SizeIs(events));
  // The vault still opens with its old provider only.
  EXPECT_THAT(Open(&to_), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_NO_FATAL_FAILURE(OpenKeys(&master_));
  EXPECT_TRUE(DekIntact(old_subject_));
}

TEST_F(MigrateMasterKeyTest, RefusesAFromProviderThatDoesNotOpenTheVault) {
  FakeMasterKey wrong(0x33);
  EXPECT_THAT(MigrateMasterKey(&store_, log_.get(), &wrong, &to_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(to_.ListKeks(), IsOkAndHolds(IsEmpty()));
}

TEST_F(MigrateMasterKeyTest, UnreachableTargetChangesNothing) {
  to_.SetUnavailable(true);
  EXPECT_THAT(Migrate(), StatusIs(absl::StatusCode::kUnavailable));
  to_.SetUnavailable(false);
  ASSERT_NO_FATAL_FAILURE(OpenKeys(&master_));
  EXPECT_TRUE(DekIntact(new_subject_));
}

TEST(MigrateMasterKeyStandaloneTest, EmptyStoreIsNotFound) {
  MemoryStore store;
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
      audit::AuditLog::Open(&store, &clock, {});
  ASSERT_THAT(log, IsOk());
  FakeMasterKey from, to(0x21);
  EXPECT_THAT(MigrateMasterKey(&store, log->get(), &from, &to),
              StatusIs(absl::StatusCode::kNotFound));
}

// MemoryStore applies WriteBatch::Add like the RocksDB store does.
TEST(MemoryStoreCounterTest, AddsToAbsentAndExistingCounters) {
  MemoryStore store;
  storage::WriteBatch batch;
  batch.Add(Table::kKeys, "n", 5);
  batch.Add(Table::kKeys, "n", -7);
  ASSERT_THAT(store.Write(batch, {}), IsOk());
  EXPECT_THAT(store.Get(Table::kKeys, "n"),
              IsOkAndHolds(storage::EncodeCounter(-2)));
  storage::WriteBatch more;
  more.Add(Table::kKeys, "n", 2);
  ASSERT_THAT(store.Write(more, {}), IsOk());
  EXPECT_EQ(storage::DecodeCounter(store.Get(Table::kKeys, "n").value()), 0);
}

}  // namespace
}  // namespace sandyq::vault
