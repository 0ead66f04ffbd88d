#include "server/vault/key_maintenance.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/audit_log.h"
#include "server/crypto/master_key.h"
#include "server/crypto/secret.h"
#include "server/storage/store.h"
#include "server/vault/key_manager.h"
#include "server/vault/records.h"
#include "server/vault/sequencer.h"
#include "tests/fakes/status_matchers.h"
#include "tests/unit/vault/key_test_util.h"

namespace sandyq::vault {
namespace {

using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::StatusIs;
using storage::Table;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// A store in front of another that runs a hook once, right after the next
// scan of the subjects table returns: what another writer did between the
// re-wrap job's scan and its re-read. Thread-safe.
class HookedStore final : public storage::Store {
 public:
  explicit HookedStore(storage::Store* inner) : inner_(inner) {}

  void AfterNextSubjectScan(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    hook_ = std::move(hook);
  }

  absl::StatusOr<std::string> Get(Table table,
                                  absl::string_view key) const override {
    return inner_->Get(table, key);
  }
  absl::Status Write(const storage::WriteBatch& batch,
                     const storage::WriteOptions& options) override {
    return inner_->Write(batch, options);
  }
  absl::Status Scan(Table table, absl::string_view prefix,
                    absl::string_view start_after,
                    const Visitor& visit) const override {
    absl::Status s = inner_->Scan(table, prefix, start_after, visit);
    if (table == Table::kSubjects) {
      std::function<void()> hook;
      {
        absl::MutexLock lock(&mu_);
        hook = std::exchange(hook_, nullptr);
      }
      if (hook) hook();
    }
    return s;
  }
  absl::Status SyncWal() override { return inner_->SyncWal(); }
  absl::Status CompactAll() override { return inner_->CompactAll(); }
  absl::Status Purge(
      const std::vector<std::pair<storage::Table, std::string>>& keys) override {
    return inner_->Purge(keys);
  }
  absl::Status Checkpoint(const std::string& dir) override {
    return inner_->Checkpoint(dir);
  }

 private:
  storage::Store* const inner_;
  mutable absl::Mutex mu_;
  mutable std::function<void()> hook_ ABSL_GUARDED_BY(mu_);
};

// A provider that forwards to a FakeMasterKey and counts ListKeks calls (one
// per rotation attempt), notifying once the count reaches `threshold`.
class CountingMasterKey final : public crypto::MasterKeyProvider {
 public:
  CountingMasterKey(crypto::MasterKeyProvider* inner, int threshold)
      : inner_(inner), threshold_(threshold) {}
  std::string Describe() const override { return inner_->Describe(); }
  absl::StatusOr<std::string> Wrap(const crypto::SecretBytes& key,
                                   absl::string_view context) const override {
    return inner_->Wrap(key, context);
  }
  absl::StatusOr<crypto::SecretBytes> Unwrap(
      absl::string_view wrapped, absl::string_view context) const override {
    return inner_->Unwrap(wrapped, context);
  }
  absl::Status PutKek(uint32_t version,
                      const crypto::SecretBytes& kek) override {
    return inner_->PutKek(version, kek);
  }
  absl::StatusOr<crypto::SecretBytes> GetKek(uint32_t version) const override {
    return inner_->GetKek(version);
  }
  absl::Status DestroyKek(uint32_t version) override {
    return inner_->DestroyKek(version);
  }
  absl::StatusOr<std::vector<uint32_t>> ListKeks() const override {
    if (lists_.fetch_add(1) + 1 == threshold_) reached_.Notify();
    return inner_->ListKeks();
  }
  bool ReachedWithin(absl::Duration timeout) const {
    return reached_.WaitForNotificationWithTimeout(timeout);
  }

 private:
  crypto::MasterKeyProvider* const inner_;
  const int threshold_;
  mutable std::atomic<int> lists_{0};
  mutable absl::Notification reached_;
};

class KeyMaintenanceTest : public KeysTest {
 protected:
  // Unthrottled, two subjects per chunk.
  std::unique_ptr<KeyMaintenance> NewMaintenance(
      absl::Duration rotate_every = absl::ZeroDuration()) {
    return std::make_unique<KeyMaintenance>(
        &hooked_, log_.get(), keys_.get(), &subjects_,
        KeyMaintenance::Options{
            .rotate_every = rotate_every, .rewrap_per_second = 0, .chunk = 2});
  }

  std::vector<std::string> AddSubjects(int n) {
    std::vector<std::string> hashes;
    for (int i = 0; i < n; ++i) {
      hashes.push_back(AddSubject(absl::StrCat("crm:test-", 1000 + i)));
    }
    return hashes;
  }

  // Events written since `from` with this rpc.
  std::vector<audit::StoredEvent> EventsOf(absl::string_view rpc,
                                           size_t from = 0) const {
    std::vector<audit::StoredEvent> all = AllEvents();
    std::vector<audit::StoredEvent> out;
    for (size_t i = from; i < all.size(); ++i) {
      if (all[i].event.rpc == rpc) out.push_back(all[i]);
    }
    return out;
  }

  bool HasCursor() const {
    return store_.Get(Table::kMeta, keys::kRewrapCursor).ok();
  }

  HookedStore hooked_{&store_};
  KeyedSequencer subjects_;
};

TEST_F(KeyMaintenanceTest, NothingToDoWritesNothing) {
  AddSubjects(3);
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();
  const size_t events = AllEvents().size();
  const int writes = store_.writes();
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(0));
  EXPECT_THAT(AllEvents(), SizeIs(events));
  EXPECT_EQ(store_.writes(), writes);
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kPrimary, 3)));
}

TEST_F(KeyMaintenanceTest, RewrapsEverySubjectToThePrimaryAndRetires) {
  const std::vector<std::string> subjects = AddSubjects(5);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")),
              IsOkAndHolds(2u));
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();
  const size_t events = AllEvents().size();
  EXPECT_EQ(maintenance->rewrapped(), 0);

  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(5));
  EXPECT_EQ(maintenance->rewrapped(), 5);

  for (const std::string& hash : subjects) {
    EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 2u);
    EXPECT_TRUE(DekIntact(hash));
  }
  EXPECT_EQ(Counter(1), 0);
  EXPECT_EQ(Counter(2), 5);
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kRetired, 0),
                                  IsKey(2, KeyState::kPrimary, 5)));
  EXPECT_THAT(keys_->RewrapPending(), IsOkAndHolds(0));
  EXPECT_FALSE(HasCursor());
  // Chunks of 2: 2 + 2 + 1, one event each, by the server itself.
  std::vector<audit::StoredEvent> rewraps = EventsOf("KeyAdmin.Rewrap", events);
  ASSERT_THAT(rewraps, SizeIs(3));
  EXPECT_EQ(rewraps[0].event.identity, "sandyqd");
  EXPECT_EQ(rewraps[0].event.rule, "2 data keys re-wrapped to KEK 2");
  EXPECT_EQ(rewraps[2].event.rule, "1 data keys re-wrapped to KEK 2");
  EXPECT_THAT(EventsOf("KeyAdmin.Retire", events), SizeIs(1));

  // A second round finds nothing.
  const size_t after = AllEvents().size();
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(0));
  EXPECT_THAT(AllEvents(), SizeIs(after));
  EXPECT_EQ(maintenance->rewrapped(), 5);
}

TEST_F(KeyMaintenanceTest, RewrapsFromSeveralOldVersions) {
  const std::vector<std::string> on1 = AddSubjects(2);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  const std::string on2 = AddSubject("crm:test-2000");
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  const std::string on3 = AddSubject("crm:test-3000");
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();

  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(3));
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kRetired, 0),
                                  IsKey(2, KeyState::kRetired, 0),
                                  IsKey(3, KeyState::kPrimary, 4)));
  for (const std::string& hash : {on1[0], on1[1], on2, on3}) {
    EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 3u);
    EXPECT_TRUE(DekIntact(hash));
  }
  // Retired versions can now be destroyed.
  EXPECT_THAT(keys_->Destroy(1, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
  EXPECT_THAT(keys_->Destroy(2, AdminEvent("KeyAdmin.DestroyKey")), IsOk());
  for (const std::string& hash : {on1[0], on1[1], on2, on3}) {
    EXPECT_TRUE(DekIntact(hash));
  }
}

TEST_F(KeyMaintenanceTest, ResumesFromTheSavedCursor) {
  std::vector<std::string> subjects = AddSubjects(5);
  std::sort(subjects.begin(), subjects.end());
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  // A pass that stopped (or crashed) after the second subject.
  store_.Poke(Table::kMeta, std::string(keys::kRewrapCursor), subjects[1]);
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();

  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(5));
  for (const std::string& hash : subjects) {
    EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 2u);
  }
  EXPECT_FALSE(HasCursor());
  // Subjects 3-5 first (one pass from the cursor), then 1-2 (a new pass).
  std::vector<audit::StoredEvent> rewraps = EventsOf("KeyAdmin.Rewrap");
  ASSERT_THAT(rewraps, SizeIs(3));
  EXPECT_EQ(rewraps[0].event.rule, "2 data keys re-wrapped to KEK 2");
  EXPECT_EQ(rewraps[1].event.rule, "1 data keys re-wrapped to KEK 2");
  EXPECT_EQ(rewraps[2].event.rule, "2 data keys re-wrapped to KEK 2");
}

TEST_F(KeyMaintenanceTest, SubjectErasedBetweenScanAndRewrapIsSkipped) {
  std::vector<std::string> subjects = AddSubjects(3);
  std::sort(subjects.begin(), subjects.end());
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  // The first chunk's scan sees subjects[0] and [1]; then [0] is erased, as
  // an erasure would: its record and its count, in one write.
  hooked_.AfterNextSubjectScan([&] {
    storage::WriteBatch erase;
    erase.Delete(Table::kSubjects, subjects[0]);
    erase.Add(Table::kKeys, keys::DekCountKey(1), -1);
    EXPECT_THAT(store_.Write(erase, {}), IsOk());
  });
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();

  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(2));
  // Not brought back by the re-wrap.
  EXPECT_THAT(store_.Get(Table::kSubjects, subjects[0]),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(SubjectRecordOf(subjects[1]).kek_version(), 2u);
  EXPECT_EQ(SubjectRecordOf(subjects[2]).kek_version(), 2u);
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kRetired, 0),
                                  IsKey(2, KeyState::kPrimary, 2)));
  EXPECT_FALSE(HasCursor());
}

TEST_F(KeyMaintenanceTest, ScheduledRotationOnlyOnceDue) {
  const absl::Duration every = absl::Hours(24);
  const std::vector<std::string> subjects = AddSubjects(3);
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance(every);

  clock_.Advance(every - absl::Seconds(1));
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(0));
  EXPECT_THAT(Keys(), SizeIs(1));
  EXPECT_THAT(EventsOf("KeyAdmin.RotateKeys"), SizeIs(0));

  clock_.Advance(absl::Seconds(2));
  // Rotates, re-wraps what the old primary wrapped, and retires it.
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(3));
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kRetired, 0),
                                  IsKey(2, KeyState::kPrimary, 3)));
  EXPECT_THAT(keys_->PrimaryCreated(), IsOkAndHolds(clock_.Now()));
  std::vector<audit::StoredEvent> rotations = EventsOf("KeyAdmin.RotateKeys");
  ASSERT_THAT(rotations, SizeIs(1));
  EXPECT_EQ(rotations[0].event.identity, "sandyqd");
  EXPECT_EQ(rotations[0].event.decision, audit::Decision::kAllowed);
  EXPECT_THAT(rotations[0].event.rule, HasSubstr("scheduled"));
  EXPECT_THAT(rotations[0].event.rule, HasSubstr("KEK 2 primary"));
  for (const std::string& hash : subjects) EXPECT_TRUE(DekIntact(hash));

  // Not due again until another `every` has passed.
  clock_.Advance(every - absl::Seconds(1));
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(0));
  EXPECT_THAT(Keys(), SizeIs(2));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(3));
  EXPECT_THAT(Keys(), SizeIs(3));
}

TEST_F(KeyMaintenanceTest, NoScheduledRotationWhenRotateEveryIsZero) {
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();
  clock_.Advance(absl::Hours(24 * 3650));
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(0));
  EXPECT_THAT(Keys(), SizeIs(1));
}

TEST_F(KeyMaintenanceTest, FailedWriteStopsTheRoundAndKeepsTheCounters) {
  AddSubjects(3);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();
  store_.FailWrites(absl::UnavailableError("i/o error"));
  EXPECT_THAT(maintenance->RunOnce(), StatusIs(absl::StatusCode::kUnavailable));
  store_.FailWrites(absl::OkStatus());
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 3),
                                  IsKey(2, KeyState::kPrimary, 0)));
  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(3));
  EXPECT_THAT(keys_->RewrapPending(), IsOkAndHolds(0));
}

TEST_F(KeyMaintenanceTest, SubjectHeldByAWriterIsRewrappedAfterIt) {
  const std::vector<std::string> subjects = AddSubjects(1);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();
  // A Tokenize in progress holds the subject.
  std::optional<KeyedSequencer::Release> held;
  subjects_.Run(subjects[0],
                [&](KeyedSequencer::Release r) { held.emplace(std::move(r)); });
  ASSERT_TRUE(held.has_value());

  absl::StatusOr<int64_t> done = absl::UnknownError("not run");
  std::thread runner([&] { done = maintenance->RunOnce(); });
  // The job waits for the subject: nothing is re-wrapped while it is held.
  // (Only a wrong implementation could change the record now; checking once
  // here cannot make the test flaky.)
  EXPECT_EQ(SubjectRecordOf(subjects[0]).kek_version(), 1u);
  (*held)();
  runner.join();
  EXPECT_THAT(done, IsOkAndHolds(1));
  EXPECT_EQ(SubjectRecordOf(subjects[0]).kek_version(), 2u);
  EXPECT_EQ(subjects_.busy_keys(), 0u);
}

// A KEK that the provider lost for a non-primary version (e.g. this store is
// a copy older than its destruction) does not block opening; the subjects
// only it wrapped cannot be opened, and the re-wrap of the others goes on.
TEST_F(KeyMaintenanceTest, SubjectsOfALostKekFailToUnwrapButOthersMove) {
  // Subjects on KEK 1 (lost) and on KEK 2 (held), primary 3; the subjects are
  // spread so that some of KEK 2 sort after those of KEK 1.
  const std::vector<std::string> on1 = AddSubjects(3);
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  std::vector<std::string> on2;
  for (int i = 0; i < 6; ++i)
    on2.push_back(AddSubject(absl::StrCat("crm:test-2", i)));
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  ASSERT_THAT(master_.DestroyKek(1), IsOk());
  ASSERT_NO_FATAL_FAILURE(OpenKeys());  // logs a warning, opens
  EXPECT_FALSE(keys_->keyring()->HasVersion(1));
  for (const std::string& hash : on1) {
    EXPECT_THAT(Unwrap(hash), StatusIs(absl::StatusCode::kNotFound));
  }
  std::unique_ptr<KeyMaintenance> maintenance = NewMaintenance();

  EXPECT_THAT(maintenance->RunOnce(), IsOkAndHolds(6));
  for (const std::string& hash : on1) {
    EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 1u);  // left as it was
  }
  for (const std::string& hash : on2) {
    EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 3u);
    EXPECT_TRUE(DekIntact(hash));
  }
  EXPECT_THAT(Keys(), ElementsAre(IsKey(1, KeyState::kActive, 3),
                                  IsKey(2, KeyState::kRetired, 0),
                                  IsKey(3, KeyState::kPrimary, 6)));
  EXPECT_FALSE(HasCursor());
}

TEST_F(KeyMaintenanceTest, WakeStartsTheBackgroundJob) {
  // KEK 1 wraps nothing: the thread's first round retires it.
  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  const std::vector<std::string> subjects = AddSubjects(3);  // on KEK 2
  auto maintenance = std::make_unique<KeyMaintenance>(
      &hooked_, log_.get(), keys_.get(), &subjects_,
      KeyMaintenance::Options{
          .rewrap_per_second = 0, .chunk = 2, .check_every = absl::Hours(1)});
  maintenance->Start();
  // Each wait below is for a result, with a generous deadline, never for a
  // time: without the wake-up the re-wrap would wait for the hourly check.
  auto wait_until = [](const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!done() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    return done();
  };
  ASSERT_TRUE(
      wait_until([&] { return Keys()[0].state == KeyState::kRetired; }));

  ASSERT_THAT(keys_->Rotate(AdminEvent("KeyAdmin.RotateKeys")), IsOk());
  maintenance->Wake();
  EXPECT_TRUE(wait_until([&] { return Counter(2) == 0; }));
  maintenance.reset();  // joins the thread
  for (const std::string& hash : subjects) {
    EXPECT_EQ(SubjectRecordOf(hash).kek_version(), 3u);
  }
}

// An overdue scheduled rotation that fails (the HSM is unreachable) is
// retried at the next check, not in a loop that hammers the provider and
// floods the log. A looping thread tries many times a second; a waiting one
// once in the window below.
TEST_F(KeyMaintenanceTest, FailingScheduledRotationWaitsForTheNextCheck) {
  CountingMasterKey counting(&master_, /*threshold=*/20);
  ASSERT_NO_FATAL_FAILURE(OpenKeys(&counting));
  const absl::Duration every = absl::Hours(1);
  clock_.Advance(every);  // the primary is due
  master_.SetUnavailable(true);
  auto maintenance = std::make_unique<KeyMaintenance>(
      &hooked_, log_.get(), keys_.get(), &subjects_,
      KeyMaintenance::Options{.rotate_every = every,
                              .rewrap_per_second = 0,
                              .check_every = absl::Hours(1)});
  maintenance->Start();
  EXPECT_FALSE(counting.ReachedWithin(absl::Milliseconds(500)));
  maintenance.reset();
  master_.SetUnavailable(false);
  EXPECT_THAT(Keys(), SizeIs(1));
}

}  // namespace
}  // namespace sandyq::vault
