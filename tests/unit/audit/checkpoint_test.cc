// Signed checkpoints written by AuditLog (server/audit/chain.h).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
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
#include "server/audit/chain.h"
#include "server/crypto/hash.h"
#include "server/crypto/signer.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/memory_store.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::audit {
namespace {

using ::sandyq::testing::FakeClock;
using ::sandyq::testing::FakeRandom;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::MemoryStore;
using ::sandyq::testing::StatusIs;
using storage::EncodeU64;
using storage::Table;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Event MakeEvent() {
  Event e;
  e.identity = "checkout";
  e.organisation = "shop";
  e.country = "KZ";
  e.rpc = "Tokenizer.Tokenize";
  e.decision = Decision::kAllowed;
  e.rule = "checkout/tokenize";
  return e;
}

std::shared_ptr<const crypto::Ed25519Signer> NewSigner(uint64_t seed) {
  FakeRandom random(seed);
  absl::StatusOr<std::unique_ptr<crypto::Ed25519Signer>> signer =
      crypto::Ed25519Signer::Generate(random);
  EXPECT_THAT(signer, IsOk());
  return std::shared_ptr<const crypto::Ed25519Signer>(
      std::move(signer).value());
}

// A clock that counts how often it is read and notifies once the count
// reaches a threshold: a log whose writer loop spins reads it without end.
class CountingClock final : public platform::Clock {
 public:
  explicit CountingClock(int threshold) : threshold_(threshold) {}
  absl::Time Now() const override {
    if (reads_.fetch_add(1) + 1 == threshold_) reached_.Notify();
    return inner_.Now();
  }
  // Whether the threshold is reached within `timeout`.
  bool ReachedWithin(absl::Duration timeout) const {
    return reached_.WaitForNotificationWithTimeout(timeout);
  }

 private:
  const int threshold_;
  FakeClock inner_;
  mutable std::atomic<int> reads_{0};
  mutable absl::Notification reached_;
};

// A store that lets the first `ok_writes` writes through to `inner` and fails
// every later one, counting attempts; notifies when attempts reach
// `threshold`. Thread-safe.
class FailingAfterStore final : public storage::Store {
 public:
  FailingAfterStore(storage::Store* inner, int ok_writes, int threshold)
      : inner_(inner), ok_writes_(ok_writes), threshold_(threshold) {}
  absl::StatusOr<std::string> Get(Table table,
                                  absl::string_view key) const override {
    return inner_->Get(table, key);
  }
  absl::Status Write(const storage::WriteBatch& batch,
                     const storage::WriteOptions& options) override {
    int attempt = 0;
    {
      absl::MutexLock lock(&mu_);
      attempt = ++attempts_;
    }
    if (attempt == threshold_) reached_.Notify();
    if (attempt > ok_writes_) return absl::UnavailableError("i/o error");
    return inner_->Write(batch, options);
  }
  absl::Status Scan(Table table, absl::string_view prefix,
                    absl::string_view start_after,
                    const Visitor& visit) const override {
    return inner_->Scan(table, prefix, start_after, visit);
  }
  absl::Status SyncWal() override { return inner_->SyncWal(); }
  absl::Status CompactAll() override { return absl::OkStatus(); }
  absl::Status Purge(
      const std::vector<std::pair<storage::Table, std::string>>&) override {
    return absl::OkStatus();
  }
  absl::Status Checkpoint(const std::string&) override {
    return absl::OkStatus();
  }

  bool ReachedWithin(absl::Duration timeout) const {
    return reached_.WaitForNotificationWithTimeout(timeout);
  }

 private:
  storage::Store* const inner_;
  const int ok_writes_;
  const int threshold_;
  mutable absl::Mutex mu_;
  int attempts_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification reached_;
};

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenLog({}); }

  void OpenLog(AuditLog::Options options, bool with_signer = true) {
    log_.reset();
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(&store_, &clock_, options);
    ASSERT_THAT(log, IsOk());
    log_ = std::move(*log);
    if (with_signer) log_->SetSigner(signer_);
  }

  // `n` commits of one event each, one after another.
  void CommitEach(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_THAT(log_->CommitAndWait({}, {MakeEvent()}), IsOk());
    }
  }

  std::vector<StoredEvent> AllEvents() const {
    std::vector<StoredEvent> events;
    EXPECT_THAT(store_.Scan(Table::kAudit, "", "",
                            [&](absl::string_view, absl::string_view value) {
                              absl::StatusOr<StoredEvent> e =
                                  DecodeEvent(value);
                              EXPECT_THAT(e, IsOk());
                              if (e.ok()) events.push_back(*e);
                              return true;
                            }),
                IsOk());
    return events;
  }
  // Sequence numbers of the stored checkpoints.
  std::vector<uint64_t> CheckpointSeqs() const {
    std::vector<uint64_t> seqs;
    for (const StoredEvent& e : AllEvents()) {
      if (e.event.rpc == kCheckpointRpc) seqs.push_back(e.seq);
    }
    return seqs;
  }

  AuditLog::VerifyResult Verify() const {
    absl::StatusOr<AuditLog::VerifyResult> result = log_->Verify();
    EXPECT_THAT(result, IsOk());
    return result.ok() ? *result : AuditLog::VerifyResult{};
  }

  MemoryStore store_;
  FakeClock clock_;
  std::shared_ptr<const crypto::Ed25519Signer> signer_ = NewSigner(11);
  std::unique_ptr<AuditLog> log_;  // last: destroyed before what it uses
};

TEST_F(CheckpointTest, OpenRefusesCheckpointEveryEventsOutOfRange) {
  log_.reset();
  for (uint64_t n : {uint64_t{0}, uint64_t{10001}, uint64_t{50000}}) {
    EXPECT_THAT(
        AuditLog::Open(&store_, &clock_, {.checkpoint_every_events = n}),
        StatusIs(absl::StatusCode::kInvalidArgument))
        << n;
  }
  for (uint64_t n : {uint64_t{1}, uint64_t{10000}}) {
    EXPECT_THAT(
        AuditLog::Open(&store_, &clock_, {.checkpoint_every_events = n}),
        IsOk())
        << n;
  }
}

TEST_F(CheckpointTest, OpenRefusesANonPositiveInterval) {
  log_.reset();
  EXPECT_THAT(AuditLog::Open(&store_, &clock_,
                             {.checkpoint_interval = absl::ZeroDuration()}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AuditLog::Open(&store_, &clock_,
                             {.checkpoint_interval = -absl::Seconds(1)}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CheckpointTest, ACheckpointFollowsEveryNEvents) {
  OpenLog({.checkpoint_every_events = 3});
  CommitEach(10);
  // 1 2 3 [4] 5 6 7 [8] 9 10 11 [12] 13
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(4, 8, 12));
  const std::vector<StoredEvent> events = AllEvents();
  ASSERT_EQ(events.size(), 13u);
  const StoredEvent& first = events[3];
  EXPECT_EQ(first.event.identity, "sandyqd");
  EXPECT_EQ(first.event.decision, Decision::kAllowed);
  EXPECT_EQ(first.event.rule, "signs events 1-3");
  EXPECT_EQ(events[7].event.rule, "signs events 1-7");
  EXPECT_TRUE(events[4].signature.empty());
  // Each signs the event before it.
  for (uint64_t seq : {4, 8, 12}) {
    const StoredEvent& cp = events[seq - 1];
    EXPECT_THAT(
        crypto::Ed25519Verify(signer_->public_key(),
                              CheckpointMessage(seq - 1, events[seq - 2].hash),
                              cp.signature),
        IsOk())
        << seq;
  }
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.events_checked, 13u);
  EXPECT_EQ(result.checkpoints_checked, 3u);
  EXPECT_EQ(result.last_checkpoint_seq, 12u);
}

TEST_F(CheckpointTest, EveryEventIsSignedWhenNIsOne) {
  OpenLog({.checkpoint_every_events = 1});
  CommitEach(3);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(2, 4, 6));
}

TEST_F(CheckpointTest, ACommitOfManyEventsIsSignedAfterItsGroup) {
  OpenLog({.checkpoint_every_events = 3});
  ASSERT_THAT(log_->CommitAndWait({}, {MakeEvent(), MakeEvent(), MakeEvent(),
                                       MakeEvent(), MakeEvent()}),
              IsOk());
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(6));
  EXPECT_EQ(AllEvents()[5].event.rule, "signs events 1-5");
  EXPECT_EQ(log_->last_seq(), 6u);
}

TEST_F(CheckpointTest, CheckpointWritesOneNowAndNoneIfNothingIsUnsigned) {
  EXPECT_THAT(log_->Checkpoint(), IsOk());  // empty log
  EXPECT_EQ(store_.Count(Table::kAudit), 0u);

  CommitEach(2);
  EXPECT_THAT(CheckpointSeqs(), IsEmpty());
  ASSERT_THAT(log_->Checkpoint(), IsOk());
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(3));
  EXPECT_EQ(log_->last_seq(), 3u);
  const int writes = store_.writes();
  ASSERT_THAT(log_->Checkpoint(), IsOk());
  EXPECT_EQ(log_->last_seq(), 3u);
  EXPECT_EQ(store_.writes(), writes);

  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.checkpoints_checked, 1u);
  EXPECT_EQ(result.last_checkpoint_seq, 3u);
}

TEST_F(CheckpointTest, CheckpointReportsAFailedWrite) {
  CommitEach(1);
  store_.FailWrites(absl::ResourceExhaustedError("disk full"));
  EXPECT_THAT(log_->Checkpoint(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  store_.FailWrites(absl::OkStatus());
  // The failed checkpoint's number is used again.
  ASSERT_THAT(log_->Checkpoint(), IsOk());
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(2));
  EXPECT_TRUE(Verify().ok);
}

TEST_F(CheckpointTest, DestroyingTheLogSealsItWithACheckpoint) {
  CommitEach(2);
  log_.reset();
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(3));

  // Reopened and closed again with nothing new: no second checkpoint.
  OpenLog({});
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.checkpoints_checked, 1u);
  EXPECT_EQ(result.last_checkpoint_seq, 3u);
  log_.reset();
  EXPECT_EQ(store_.Count(Table::kAudit), 3u);
}

TEST_F(CheckpointTest, DestroyingAnEmptyLogWritesNothing) {
  log_.reset();
  EXPECT_EQ(store_.Count(Table::kAudit), 0u);
  EXPECT_EQ(store_.writes(), 0);
}

TEST_F(CheckpointTest, NoCheckpointsWithoutASigner) {
  OpenLog({.checkpoint_every_events = 2}, /*with_signer=*/false);
  EXPECT_EQ(log_->signer(), nullptr);
  CommitEach(5);
  ASSERT_THAT(log_->Checkpoint(), IsOk());
  log_.reset();
  EXPECT_EQ(store_.Count(Table::kAudit), 5u);
  EXPECT_THAT(CheckpointSeqs(), IsEmpty());
}

TEST_F(CheckpointTest, SignerSetLaterSignsEverythingBefore) {
  OpenLog({.checkpoint_every_events = 3}, /*with_signer=*/false);
  CommitEach(4);
  log_->SetSigner(signer_);
  EXPECT_EQ(log_->signer(), signer_);
  CommitEach(1);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(6));
  EXPECT_EQ(AllEvents()[5].event.rule, "signs events 1-5");
  EXPECT_TRUE(Verify().ok);
}

TEST_F(CheckpointTest, VerifyDetectsAnAlteredCheckpointSignature) {
  OpenLog({.checkpoint_every_events = 2});
  CommitEach(4);  // 1 2 [3] 4 5 [6]
  ASSERT_THAT(CheckpointSeqs(), ElementsAre(3, 6));
  ASSERT_TRUE(Verify().ok);

  // A forger who knows the format alters the signature of checkpoint 3 and
  // stores a matching hash.
  internal::v1::StoredAuditEvent record;
  ASSERT_TRUE(
      record.ParseFromString(store_.Get(Table::kAudit, EncodeU64(3)).value()));
  internal::v1::AuditEventBody body;
  ASSERT_TRUE(body.ParseFromString(record.event()));
  std::string signature = body.signature();
  signature[0] ^= 0x01;
  body.set_signature(signature);
  record.set_event(body.SerializeAsString());
  record.set_hash(crypto::Sha256(record.event()));
  store_.Poke(Table::kAudit, EncodeU64(3), record.SerializeAsString());

  const AuditLog::VerifyResult result = Verify();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_seq, 3u);
  EXPECT_THAT(result.reason, HasSubstr("signature does not verify"));
  EXPECT_EQ(result.checkpoints_checked, 0u);
}

TEST_F(CheckpointTest, VerifyChecksCheckpointsAgainstTheCurrentSignerKey) {
  OpenLog({.checkpoint_every_events = 2});
  CommitEach(2);
  log_->SetSigner(NewSigner(12));
  const AuditLog::VerifyResult result = Verify();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_seq, 3u);
}

TEST_F(CheckpointTest, VerifyWithoutASignerFailsAtTheFirstCheckpoint) {
  CommitEach(1);
  ASSERT_THAT(log_->Checkpoint(), IsOk());
  OpenLog({}, /*with_signer=*/false);
  const AuditLog::VerifyResult result = Verify();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_seq, 2u);
}

TEST_F(CheckpointTest, ReopenedLogCountsFromItsHead) {
  OpenLog({.checkpoint_every_events = 3});
  CommitEach(2);
  log_.reset();  // seals: [3]
  OpenLog({.checkpoint_every_events = 3});
  CommitEach(3);  // 4 5 6 [7]
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(3, 7));
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.checkpoints_checked, 2u);
}

// The time-based trigger waits on the real clock. A short interval and a
// generous deadline: the test waits for the checkpoint to appear, never for
// a fixed time.
TEST_F(CheckpointTest,
       ACheckpointFollowsTheFirstUnsignedEventAfterTheInterval) {
  OpenLog({.checkpoint_interval = absl::Milliseconds(5)});
  CommitEach(1);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (store_.Count(Table::kAudit) < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_THAT(CheckpointSeqs(), ElementsAre(2));
  EXPECT_EQ(AllEvents()[1].event.rule, "signs events 1-1");
  EXPECT_TRUE(Verify().ok);
}

// Without a signer, or when the checkpoint's write fails, the time-based
// trigger must wait another interval before it tries again, not loop. A
// looping writer reads the clock (or writes) thousands of times a second;
// one that waits, a few times in the window below.
TEST(CheckpointTimerTest, WithoutASignerTheWriterDoesNotSpin) {
  MemoryStore store;
  CountingClock clock(/*threshold=*/1000);
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(
      &store, &clock, {.checkpoint_interval = absl::Milliseconds(20)});
  ASSERT_THAT(log, IsOk());
  ASSERT_THAT((*log)->CommitAndWait({}, {MakeEvent()}), IsOk());
  EXPECT_FALSE(clock.ReachedWithin(absl::Milliseconds(500)));
}

TEST(CheckpointTimerTest, AFailingCheckpointWriteIsNotRetriedInALoop) {
  MemoryStore memory;
  FailingAfterStore store(&memory, /*ok_writes=*/1, /*threshold=*/200);
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(
      &store, &clock, {.checkpoint_interval = absl::Milliseconds(20)});
  ASSERT_THAT(log, IsOk());
  (*log)->SetSigner(NewSigner(13));
  ASSERT_THAT((*log)->CommitAndWait({}, {MakeEvent()}), IsOk());
  EXPECT_FALSE(store.ReachedWithin(absl::Milliseconds(500)));
  EXPECT_EQ(memory.Count(Table::kAudit), 1u);
}

}  // namespace
}  // namespace sandyq::audit
