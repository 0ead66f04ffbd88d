#include "server/audit/audit_log.h"

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/event.h"
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
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::MemoryStore;
using ::sandyq::testing::StatusIs;
using storage::EncodeU64;
using storage::Table;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr absl::string_view kHeadKey = "audit_head";

// A store in front of another that can hold one Write until released, and
// counts writes. Lets a test queue commits behind a write in progress
// without sleeping. Thread-safe.
class GatedStore final : public storage::Store {
 public:
  explicit GatedStore(storage::Store* inner) : inner_(inner) {}

  // The next Write waits (before reaching the inner store) for Release().
  void HoldNextWrite() {
    absl::MutexLock lock(&mu_);
    hold_next_ = true;
  }
  // Blocks until a held Write has started waiting.
  void WaitUntilHeld() { held_.WaitForNotification(); }
  void Release() { released_.Notify(); }

  // The next SyncWal waits for ReleaseSync(), after notifying.
  void HoldNextSync() {
    absl::MutexLock lock(&mu_);
    hold_next_sync_ = true;
  }
  void WaitUntilSyncHeld() { sync_held_.WaitForNotification(); }
  void ReleaseSync() { sync_released_.Notify(); }

  int writes() const {
    absl::MutexLock lock(&mu_);
    return writes_;
  }
  // Waits until `n` writes have reached the store, at most `timeout`;
  // true if they did.
  bool WaitForWrites(int n, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return writes_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  // The tables each Write so far put to or deleted from.
  std::vector<std::set<Table>> written_tables() const {
    absl::MutexLock lock(&mu_);
    return written_tables_;
  }

  absl::StatusOr<std::string> Get(Table table,
                                  absl::string_view key) const override {
    return inner_->Get(table, key);
  }
  absl::Status Write(const storage::WriteBatch& batch,
                     const storage::WriteOptions& options) override {
    bool hold = false;
    {
      absl::MutexLock lock(&mu_);
      ++writes_;
      std::set<Table>& tables = written_tables_.emplace_back();
      for (const auto& op : batch.ops()) tables.insert(op.table);
      hold = std::exchange(hold_next_, false);
    }
    if (hold) {
      held_.Notify();
      released_.WaitForNotification();
    }
    return inner_->Write(batch, options);
  }
  absl::Status Scan(Table table, absl::string_view prefix,
                    absl::string_view start_after,
                    const Visitor& visit) const override {
    return inner_->Scan(table, prefix, start_after, visit);
  }
  absl::Status SyncWal() override {
    bool hold = false;
    {
      absl::MutexLock lock(&mu_);
      hold = std::exchange(hold_next_sync_, false);
    }
    if (hold) {
      sync_held_.Notify();
      sync_released_.WaitForNotification();
    }
    return inner_->SyncWal();
  }
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
  absl::Notification held_;
  absl::Notification released_;
  mutable absl::Mutex mu_;
  bool hold_next_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification sync_held_;
  absl::Notification sync_released_;
  bool hold_next_sync_ ABSL_GUARDED_BY(mu_) = false;
  int writes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::set<Table>> written_tables_ ABSL_GUARDED_BY(mu_);
};

std::string SubjectHash(char c) { return std::string(32, c); }

Event MakeEvent(absl::string_view identity,
                absl::string_view subject_hash = "") {
  Event e;
  e.identity = std::string(identity);
  e.organisation = "shop";
  e.country = "KZ";
  e.rpc = "Tokenizer.Detokenize";
  e.subject_hash = std::string(subject_hash);
  e.token = "sq_AAAAAAAAAAAAAAAAAAAAAAAA";
  e.field_type = 4;
  e.purpose = "customer_support";
  e.decision = Decision::kRevealedMasked;
  e.rule = "support/reveal/customer_support/masked";
  return e;
}

std::vector<Event> Events(int n, absl::string_view identity = "support") {
  std::vector<Event> events;
  for (int i = 0; i < n; ++i) events.push_back(MakeEvent(identity));
  return events;
}

storage::WriteBatch DataPut(absl::string_view key) {
  storage::WriteBatch batch;
  batch.Put(Table::kFields, key, absl::StrCat("record:", key));
  return batch;
}

std::shared_ptr<const crypto::Ed25519Signer> NewSigner() {
  FakeRandom random(5);
  absl::StatusOr<std::unique_ptr<crypto::Ed25519Signer>> signer =
      crypto::Ed25519Signer::Generate(random);
  EXPECT_THAT(signer, IsOk());
  return std::shared_ptr<const crypto::Ed25519Signer>(
      std::move(signer).value());
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenLog(&store_); }

  void OpenLog(storage::Store* store, AuditLog::Options options = {}) {
    log_.reset();
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(store, &clock_, options);
    ASSERT_THAT(log, IsOk());
    log_ = std::move(*log);
  }

  absl::Status Commit(std::vector<Event> events,
                      storage::WriteBatch data = {}) {
    return log_->CommitAndWait(std::move(data), std::move(events));
  }

  // `n` commits of one event each, the clock unchanged.
  void CommitEach(int n, absl::string_view identity = "support") {
    for (int i = 0; i < n; ++i) {
      ASSERT_THAT(Commit(Events(1, identity)), IsOk());
    }
  }

  StoredEvent Stored(uint64_t seq) const {
    absl::StatusOr<std::string> bytes =
        store_.Get(Table::kAudit, EncodeU64(seq));
    EXPECT_THAT(bytes, IsOk()) << "event " << seq;
    if (!bytes.ok()) return {};
    absl::StatusOr<StoredEvent> e = DecodeEvent(*bytes);
    EXPECT_THAT(e, IsOk());
    return e.ok() ? *e : StoredEvent{};
  }

  internal::v1::StoredAuditEvent Record(uint64_t seq) const {
    internal::v1::StoredAuditEvent record;
    EXPECT_TRUE(record.ParseFromString(
        store_.Get(Table::kAudit, EncodeU64(seq)).value()));
    return record;
  }
  void PokeRecord(uint64_t seq, const internal::v1::StoredAuditEvent& record) {
    store_.Poke(Table::kAudit, EncodeU64(seq), record.SerializeAsString());
  }

  // Rewrites event `seq`'s body with `change`; with `rehash`, also stores
  // the new body's hash (a forger who knows the format).
  void AlterBody(
      uint64_t seq,
      const std::function<void(internal::v1::AuditEventBody&)>& change,
      bool rehash) {
    internal::v1::StoredAuditEvent record = Record(seq);
    internal::v1::AuditEventBody body;
    ASSERT_TRUE(body.ParseFromString(record.event()));
    change(body);
    record.set_event(body.SerializeAsString());
    if (rehash) record.set_hash(crypto::Sha256(record.event()));
    PokeRecord(seq, record);
  }

  AuditLog::VerifyResult Verify() const {
    absl::StatusOr<AuditLog::VerifyResult> result = log_->Verify();
    EXPECT_THAT(result, IsOk());
    return result.ok() ? *result : AuditLog::VerifyResult{};
  }

  std::vector<uint64_t> QuerySeqs(const AuditLog::Filter& filter) const {
    std::vector<uint64_t> seqs;
    EXPECT_THAT(log_->Query(filter,
                            [&](const StoredEvent& e) {
                              seqs.push_back(e.seq);
                              return true;
                            }),
                IsOk());
    return seqs;
  }

  MemoryStore store_;
  GatedStore gated_{&store_};  // for tests that open the log over it
  FakeClock clock_;
  std::unique_ptr<AuditLog> log_;  // last: destroyed before what it uses
};

// --- Sequence numbers and the chain -----------------------------------------

TEST_F(AuditLogTest, NewLogIsEmptyAndVerifies) {
  EXPECT_EQ(log_->last_seq(), 0u);
  AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.events_checked, 0u);
  EXPECT_EQ(store_.Count(Table::kAudit), 0u);
}

TEST_F(AuditLogTest, AssignsContiguousSequenceNumbersFromOne) {
  ASSERT_THAT(Commit(Events(1)), IsOk());
  ASSERT_THAT(Commit(Events(3)), IsOk());
  ASSERT_THAT(Commit(Events(1)), IsOk());
  EXPECT_EQ(log_->last_seq(), 5u);
  EXPECT_EQ(store_.Count(Table::kAudit), 5u);
  for (uint64_t seq = 1; seq <= 5; ++seq) EXPECT_EQ(Stored(seq).seq, seq);
}

TEST_F(AuditLogTest, StoresTheEventAsGiven) {
  Event event = MakeEvent("legal", SubjectHash('s'));
  event.justification = "court order 12/34";
  event.code = 7;
  ASSERT_THAT(Commit({event}), IsOk());
  const StoredEvent stored = Stored(1);
  EXPECT_EQ(stored.time, clock_.Now());
  EXPECT_EQ(stored.event.identity, "legal");
  EXPECT_EQ(stored.event.organisation, "shop");
  EXPECT_EQ(stored.event.country, "KZ");
  EXPECT_EQ(stored.event.rpc, event.rpc);
  EXPECT_EQ(stored.event.subject_hash, SubjectHash('s'));
  EXPECT_EQ(stored.event.token, event.token);
  EXPECT_EQ(stored.event.field_type, 4);
  EXPECT_EQ(stored.event.purpose, "customer_support");
  EXPECT_EQ(stored.event.justification, "court order 12/34");
  EXPECT_EQ(stored.event.decision, Decision::kRevealedMasked);
  EXPECT_EQ(stored.event.rule, event.rule);
  EXPECT_EQ(stored.event.code, 7);
}

TEST_F(AuditLogTest, LinksEachEventToThePreviousEventsHash) {
  ASSERT_THAT(Commit(Events(2)), IsOk());
  ASSERT_THAT(Commit(Events(2)), IsOk());
  EXPECT_EQ(Stored(1).prev_hash, std::string(crypto::kSha256Size, '\0'));
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    const internal::v1::StoredAuditEvent record = Record(seq);
    EXPECT_EQ(record.hash(), crypto::Sha256(record.event())) << seq;
    EXPECT_EQ(Stored(seq).hash, record.hash());
    if (seq > 1) {
      EXPECT_EQ(Stored(seq).prev_hash, Stored(seq - 1).hash) << seq;
    }
  }
}

TEST_F(AuditLogTest, HeadRecordNamesTheLastEvent) {
  CommitEach(3);
  internal::v1::AuditHead head;
  ASSERT_TRUE(head.ParseFromString(store_.Get(Table::kMeta, kHeadKey).value()));
  EXPECT_EQ(head.seq(), 3u);
  EXPECT_EQ(head.hash(), Stored(3).hash);
}

TEST_F(AuditLogTest, WritesDataInTheSameBatchAsItsEvent) {
  OpenLog(&gated_);
  ASSERT_THAT(Commit(Events(1), DataPut("t1")), IsOk());
  // One write: the data, the event, its index entry and the head.
  EXPECT_THAT(gated_.written_tables(),
              ElementsAre(std::set<Table>{Table::kMeta, Table::kFields,
                                          Table::kAudit, Table::kAuditIndex}));
  EXPECT_THAT(store_.Get(Table::kFields, "t1"), IsOkAndHolds("record:t1"));
  EXPECT_EQ(Stored(1).seq, 1u);
  EXPECT_THAT(store_.Get(Table::kMeta, kHeadKey), IsOk());
}

TEST_F(AuditLogTest, CommitWithoutEventsWritesItsData) {
  ASSERT_THAT(Commit({}, DataPut("t1")), IsOk());
  EXPECT_THAT(store_.Get(Table::kFields, "t1"), IsOk());
  EXPECT_EQ(log_->last_seq(), 0u);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, EventTimesComeFromTheClockAndNeverGoBackwards) {
  const absl::Time start = clock_.Now();
  CommitEach(1);
  clock_.Advance(absl::Seconds(5));
  CommitEach(1);
  clock_.Set(start - absl::Hours(1));  // the wall clock stepped back
  CommitEach(1);
  EXPECT_EQ(Stored(1).time, start);
  EXPECT_EQ(Stored(2).time, start + absl::Seconds(5));
  EXPECT_EQ(Stored(3).time, start + absl::Seconds(5));
}

TEST_F(AuditLogTest, DoneRunsOnlyOnceTheEventAndDataAreStored) {
  absl::Notification done;
  bool event_visible = false;
  bool data_visible = false;
  uint64_t last_seq = 0;
  absl::Status status;
  log_->Commit(DataPut("t1"), Events(1), [&](absl::Status s) {
    status = s;
    event_visible = store_.Get(Table::kAudit, EncodeU64(1)).ok();
    data_visible = store_.Get(Table::kFields, "t1").ok();
    last_seq = log_->last_seq();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_THAT(status, IsOk());
  EXPECT_TRUE(event_visible);
  EXPECT_TRUE(data_visible);
  EXPECT_EQ(last_seq, 1u);
}

TEST_F(AuditLogTest, DoneMayCommitAgain) {
  absl::Notification second_done;
  absl::Status second;
  log_->Commit({}, Events(1), [&](absl::Status first) {
    EXPECT_THAT(first, IsOk());
    log_->Commit({}, Events(1), [&](absl::Status s) {
      second = s;
      second_done.Notify();
    });
  });
  second_done.WaitForNotification();
  EXPECT_THAT(second, IsOk());
  EXPECT_EQ(log_->last_seq(), 2u);
}

TEST_F(AuditLogTest, DoneRunsOnlyOnceASyncCoversTheWrite) {
  int unsynced_at_done = -1;
  int syncs_at_done = -1;
  absl::Notification done;
  log_->Commit(DataPut("a"), Events(1), [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    unsynced_at_done = store_.unsynced_writes();
    syncs_at_done = store_.wal_syncs();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_EQ(unsynced_at_done, 0);
  EXPECT_GE(syncs_at_done, 1);
  EXPECT_EQ(log_->last_seq(), 1u);
}

TEST_F(AuditLogTest, SyncOptionReachesTheStore) {
  CommitEach(1);
  const int syncs = store_.wal_syncs();
  EXPECT_GE(syncs, 1);
  OpenLog(&store_, {.sync = false});
  CommitEach(3);
  EXPECT_EQ(store_.wal_syncs(), syncs);
  EXPECT_EQ(log_->last_seq(), 4u);
}

// The writer does not wait for the sync: while one group's sync is under
// way, the next group is written, and both are acknowledged by later syncs.
TEST_F(AuditLogTest, NextGroupIsWrittenWhileTheLastOneSyncs) {
  OpenLog(&gated_);
  absl::Notification first_done, second_done;
  gated_.HoldNextSync();
  log_->Commit(DataPut("first"), Events(1), [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    first_done.Notify();
  });
  gated_.WaitUntilSyncHeld();
  log_->Commit(DataPut("second"), Events(1), [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    second_done.Notify();
  });
  EXPECT_TRUE(gated_.WaitForWrites(2, absl::Seconds(30)));
  // Neither is durable yet, so neither is acknowledged.
  EXPECT_FALSE(first_done.HasBeenNotified());
  EXPECT_FALSE(second_done.HasBeenNotified());
  gated_.ReleaseSync();
  first_done.WaitForNotification();
  second_done.WaitForNotification();
  EXPECT_EQ(log_->last_seq(), 2u);
  EXPECT_TRUE(Verify().ok);
}

// `written` comes as soon as the batch is in the store, before any sync
// covers it; `done` still waits for the sync.
TEST_F(AuditLogTest, WrittenRunsBeforeTheSyncAndDoneAfterIt) {
  OpenLog(&gated_);
  absl::Notification written, done;
  absl::Status written_status = absl::UnknownError("not called");
  gated_.HoldNextSync();
  log_->Commit(
      DataPut("a"), Events(1),
      [&](absl::Status s) {
        EXPECT_THAT(s, IsOk());
        done.Notify();
      },
      [&](absl::Status s) {
        written_status = s;
        written.Notify();
      });
  gated_.WaitUntilSyncHeld();
  EXPECT_TRUE(written.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_THAT(written_status, IsOk());
  EXPECT_FALSE(done.HasBeenNotified());
  EXPECT_EQ(log_->last_seq(), 0u);  // written, not yet durable
  EXPECT_TRUE(store_.Get(Table::kFields, "a").ok());
  gated_.ReleaseSync();
  done.WaitForNotification();
  EXPECT_EQ(log_->last_seq(), 1u);
}

TEST_F(AuditLogTest, WrittenHearsAFailedWrite) {
  store_.FailWrites(absl::UnavailableError("disk full"));
  absl::Notification written, done;
  absl::Status written_status, done_status;
  log_->Commit(
      DataPut("a"), Events(1),
      [&](absl::Status s) {
        done_status = s;
        done.Notify();
      },
      [&](absl::Status s) {
        written_status = s;
        written.Notify();
      });
  written.WaitForNotification();
  done.WaitForNotification();
  EXPECT_THAT(written_status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(done_status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(log_->last_seq(), 0u);
}

// Work that read a batch once it was written is committed after it. If that
// batch's sync fails, the later group is not acknowledged either, even if
// the disk recovers for the next sync: it may depend on what was lost.
TEST_F(AuditLogTest, AfterAFailedSyncLaterWrittenGroupsAreNotAcknowledged) {
  store_.HoldSyncs();
  absl::Notification first_done, second_written, second_done;
  absl::Status first_status, second_status;
  log_->Commit(DataPut("first"), Events(1), [&](absl::Status s) {
    first_status = s;
    first_done.Notify();
  });
  store_.AwaitHeldSync();  // the first group's sync is under way
  log_->Commit(
      DataPut("second"), Events(1),
      [&](absl::Status s) {
        second_status = s;
        second_done.Notify();
      },
      [&](absl::Status) { second_written.Notify(); });
  second_written.WaitForNotification();  // written before the sync fails
  // The held sync fails; the next one, for the second group, would not.
  store_.FailNextSync(absl::DataLossError("fsync: i/o error"));
  store_.ReleaseSyncs();
  first_done.WaitForNotification();
  second_done.WaitForNotification();
  EXPECT_THAT(first_status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(second_status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(log_->last_seq(), 0u);
}

// A failed sync may have lost the group: its callers hear so, the durable
// head does not move, and the log takes no more commits.
TEST_F(AuditLogTest, FailedSyncFailsTheCommitAndStopsTheLog) {
  ASSERT_THAT(Commit(Events(1)), IsOk());
  store_.FailSyncs(absl::DataLossError("fsync: i/o error"));
  EXPECT_THAT(Commit(Events(1)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(log_->last_seq(), 1u);
  store_.FailSyncs(absl::OkStatus());
  EXPECT_THAT(Commit(Events(1)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(log_->last_seq(), 1u);
}

TEST_F(AuditLogTest, ConcurrentCommitsAllCompleteAndTheChainVerifies) {
  constexpr int kThreads = 8;
  constexpr int kCommitsPerThread = 25;
  constexpr int kCommits = kThreads * kCommitsPerThread;
  absl::BlockingCounter remaining(kCommits);
  absl::Mutex mu;
  std::vector<absl::Status> statuses;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCommitsPerThread; ++i) {
        log_->Commit(DataPut(absl::StrCat("t", t, "-", i)),
                     Events(1, absl::StrCat("caller", t)), [&](absl::Status s) {
                       {
                         absl::MutexLock lock(&mu);
                         statuses.push_back(s);
                       }
                       remaining.DecrementCount();
                     });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  remaining.Wait();

  EXPECT_THAT(statuses, SizeIs(kCommits));
  EXPECT_THAT(statuses, Each(IsOk()));
  EXPECT_EQ(log_->last_seq(), static_cast<uint64_t>(kCommits));
  EXPECT_EQ(store_.Count(Table::kAudit), static_cast<size_t>(kCommits));
  EXPECT_EQ(store_.Count(Table::kFields), static_cast<size_t>(kCommits));
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.events_checked, static_cast<uint64_t>(kCommits));
  // Each caller's events are all there, in its own commit order.
  for (int t = 0; t < kThreads; ++t) {
    AuditLog::Filter filter;
    filter.identity = absl::StrCat("caller", t);
    EXPECT_THAT(QuerySeqs(filter), SizeIs(kCommitsPerThread));
  }
}

// --- Group commit
// -------------------------------------------------------------

TEST_F(AuditLogTest, GroupsCommitsQueuedDuringAWrite) {
  OpenLog(&gated_);
  constexpr int kQueued = 50;
  absl::BlockingCounter remaining(kQueued + 1);
  auto count = [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    remaining.DecrementCount();
  };
  gated_.HoldNextWrite();
  log_->Commit(DataPut("first"), Events(1), count);
  gated_.WaitUntilHeld();
  for (int i = 0; i < kQueued; ++i) {
    log_->Commit(DataPut(absl::StrCat("t", i)), Events(1), count);
  }
  gated_.Release();
  remaining.Wait();

  // The first commit alone, then every queued one in a single batch.
  EXPECT_EQ(gated_.writes(), 2);
  EXPECT_LT(gated_.writes(), kQueued + 1);
  EXPECT_EQ(log_->last_seq(), static_cast<uint64_t>(kQueued + 1));
  EXPECT_EQ(store_.Count(Table::kFields), static_cast<size_t>(kQueued + 1));
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, GroupsAreNoLargerThanMaxGroup) {
  OpenLog(&gated_, {.max_group = 10});
  constexpr int kQueued = 45;
  absl::BlockingCounter remaining(kQueued + 1);
  auto count = [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    remaining.DecrementCount();
  };
  gated_.HoldNextWrite();
  log_->Commit({}, Events(1), count);
  gated_.WaitUntilHeld();
  for (int i = 0; i < kQueued; ++i) log_->Commit({}, Events(1), count);
  gated_.Release();
  remaining.Wait();
  EXPECT_EQ(gated_.writes(), 1 + 5);  // 1, then 10 + 10 + 10 + 10 + 5
  EXPECT_TRUE(Verify().ok);
}

// A group of commits queued behind one write is signed every
// checkpoint_every_events events as well, not only once after the whole group.
TEST_F(AuditLogTest, CheckpointsWithinAGroupOfCommits) {
  OpenLog(&gated_, {.checkpoint_every_events = 3});
  log_->SetSigner(NewSigner());
  constexpr int kQueued = 5;
  absl::BlockingCounter remaining(kQueued + 1);
  auto count = [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    remaining.DecrementCount();
  };
  gated_.HoldNextWrite();
  log_->Commit({}, Events(1), count);
  gated_.WaitUntilHeld();
  for (int i = 0; i < kQueued; ++i) log_->Commit({}, Events(1), count);
  gated_.Release();
  remaining.Wait();

  EXPECT_EQ(gated_.writes(), 2);
  // 1 | 2 3 [4] 5 6 7 [8]
  std::vector<uint64_t> checkpoints;
  for (uint64_t seq = 1; seq <= log_->last_seq(); ++seq) {
    if (Stored(seq).event.rpc == kCheckpointRpc) checkpoints.push_back(seq);
  }
  EXPECT_THAT(checkpoints, ElementsAre(4, 8));
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.checkpoints_checked, 2u);
}

// One group may hold more events than the verifier accepts unsigned (up to
// max_group commits of up to 1000 events each, e.g. TokenizeBatch): the log
// must still verify.
TEST_F(AuditLogTest, AGroupOfMoreThanTheCheckpointGapStillVerifies) {
  OpenLog(&gated_);  // a checkpoint every 1000 events
  log_->SetSigner(NewSigner());
  constexpr int kEventsPerCommit = 1000;
  constexpr int kQueued = kMaxCheckpointGap / kEventsPerCommit + 1;
  absl::BlockingCounter remaining(kQueued + 1);
  auto count = [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    remaining.DecrementCount();
  };
  gated_.HoldNextWrite();
  log_->Commit({}, Events(1), count);
  gated_.WaitUntilHeld();
  for (int i = 0; i < kQueued; ++i) {
    log_->Commit({}, Events(kEventsPerCommit), count);
  }
  gated_.Release();
  remaining.Wait();
  ASSERT_EQ(gated_.writes(), 2);  // the queued commits went in one group
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_GE(result.checkpoints_checked, 101u);
}

// --- Observer -----------------------------------------------------------------

// Records what the log tells its observer. Thread-safe.
class RecordingObserver final : public AuditLog::Observer {
 public:
  void OnCommit(const std::vector<Event>& events) override {
    absl::MutexLock lock(&mu_);
    committed_.push_back(events.size());
    for (const Event& e : events) identities_.push_back(e.identity);
  }
  void OnGroupWritten(size_t commits, uint64_t events) override {
    absl::MutexLock lock(&mu_);
    groups_.push_back({commits, events});
  }
  void OnSynced(absl::Duration latency, bool ok) override {
    absl::MutexLock lock(&mu_);
    EXPECT_GE(latency, absl::ZeroDuration());
    syncs_.push_back(ok);
  }
  std::vector<size_t> committed() const {
    absl::MutexLock lock(&mu_);
    return committed_;
  }
  std::vector<std::string> identities() const {
    absl::MutexLock lock(&mu_);
    return identities_;
  }
  std::vector<std::pair<size_t, uint64_t>> groups() const {
    absl::MutexLock lock(&mu_);
    return groups_;
  }
  std::vector<bool> syncs() const {
    absl::MutexLock lock(&mu_);
    return syncs_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<size_t> committed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> identities_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<size_t, uint64_t>> groups_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> syncs_ ABSL_GUARDED_BY(mu_);
};

TEST_F(AuditLogTest, ObserverSeesEveryCommitGroupAndSync) {
  OpenLog(&gated_);
  RecordingObserver observer;
  log_->SetObserver(&observer);
  constexpr int kQueued = 20;
  absl::BlockingCounter remaining(kQueued + 1);
  auto count = [&](absl::Status s) {
    EXPECT_THAT(s, IsOk());
    remaining.DecrementCount();
  };
  gated_.HoldNextWrite();
  log_->Commit({}, Events(1, "first"), count);
  gated_.WaitUntilHeld();
  for (int i = 0; i < kQueued; ++i) log_->Commit({}, Events(2), count);
  gated_.Release();
  remaining.Wait();

  std::vector<size_t> expected_commits = {1};
  expected_commits.insert(expected_commits.end(), kQueued, 2);
  EXPECT_EQ(observer.committed(), expected_commits);
  EXPECT_EQ(observer.identities().front(), "first");
  // The first commit alone, then the queued ones in one group.
  EXPECT_THAT(observer.groups(),
              ElementsAre(std::pair<size_t, uint64_t>{1, 1},
                          std::pair<size_t, uint64_t>{kQueued, 2 * kQueued}));
  EXPECT_THAT(observer.syncs(), ::testing::Not(IsEmpty()));
  EXPECT_THAT(observer.syncs(), Each(true));
  log_->SetObserver(nullptr);
}

TEST_F(AuditLogTest, ObserverHearsOfAFailedSync) {
  RecordingObserver observer;
  log_->SetObserver(&observer);
  store_.FailSyncs(absl::DataLossError("fsync: i/o error"));
  EXPECT_THAT(Commit(Events(1)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(observer.syncs(), ElementsAre(false));
  log_->SetObserver(nullptr);
}

TEST_F(AuditLogTest, ObserverHearsOfNoSyncWhenSyncIsOff) {
  OpenLog(&store_, {.sync = false});
  RecordingObserver observer;
  log_->SetObserver(&observer);
  CommitEach(3);
  EXPECT_THAT(observer.syncs(), IsEmpty());
  EXPECT_THAT(observer.groups(), SizeIs(3));
  log_->SetObserver(nullptr);
}

TEST_F(AuditLogTest, AClearedObserverHearsNothingMore) {
  RecordingObserver observer;
  log_->SetObserver(&observer);
  CommitEach(1);
  log_->SetObserver(nullptr);
  CommitEach(2);
  EXPECT_THAT(observer.committed(), ElementsAre(1));
  EXPECT_THAT(observer.groups(), SizeIs(1));
}

TEST_F(AuditLogTest, OpenRefusesGroupsOfNoCommits) {
  // Such a log would spin without ever writing a queued commit.
  EXPECT_THAT(AuditLog::Open(&store_, &clock_, {.max_group = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(AuditLogTest, DestructorWritesEveryQueuedCommit) {
  constexpr int kCommits = 30;
  absl::BlockingCounter remaining(kCommits);
  absl::Mutex mu;
  std::vector<absl::Status> statuses;
  for (int i = 0; i < kCommits; ++i) {
    log_->Commit({}, Events(1), [&](absl::Status s) {
      absl::MutexLock lock(&mu);
      statuses.push_back(s);
      remaining.DecrementCount();
    });
  }
  log_.reset();
  remaining.Wait();
  EXPECT_THAT(statuses, Each(IsOk()));
  EXPECT_EQ(store_.Count(Table::kAudit), static_cast<size_t>(kCommits));
}

// --- Write failures
// -----------------------------------------------------------

TEST_F(AuditLogTest, FailedWriteFailsTheWholeGroupAndStoresNothing) {
  CommitEach(2);
  OpenLog(&gated_);
  const internal::v1::StoredAuditEvent second = Record(2);

  constexpr int kCommits = 4;
  absl::BlockingCounter remaining(kCommits);
  absl::Mutex mu;
  std::vector<absl::Status> statuses;
  auto collect = [&](absl::Status s) {
    {
      absl::MutexLock lock(&mu);
      statuses.push_back(s);
    }
    remaining.DecrementCount();
  };
  gated_.HoldNextWrite();
  log_->Commit(DataPut("a"), Events(1), collect);
  gated_.WaitUntilHeld();
  for (const char* key : {"b", "c", "d"}) {
    log_->Commit(DataPut(key), Events(2), collect);
  }
  store_.FailWrites(absl::ResourceExhaustedError("disk full"));
  gated_.Release();
  remaining.Wait();

  EXPECT_EQ(gated_.writes(), 2);  // "a", then "b", "c", "d" as one group
  EXPECT_THAT(statuses, SizeIs(kCommits));
  EXPECT_THAT(statuses, Each(StatusIs(absl::StatusCode::kResourceExhausted)));
  EXPECT_EQ(store_.Count(Table::kAudit), 2u);
  EXPECT_EQ(store_.Count(Table::kFields), 0u);
  EXPECT_EQ(log_->last_seq(), 2u);
  internal::v1::AuditHead head;
  ASSERT_TRUE(head.ParseFromString(store_.Get(Table::kMeta, kHeadKey).value()));
  EXPECT_EQ(head.seq(), 2u);
  EXPECT_TRUE(Verify().ok);

  // Healed: the sequence numbers of the failed events are used again and the
  // chain continues from event 2.
  store_.FailWrites(absl::OkStatus());
  ASSERT_THAT(Commit(Events(1), DataPut("e")), IsOk());
  EXPECT_EQ(log_->last_seq(), 3u);
  EXPECT_EQ(Stored(3).prev_hash, second.hash());
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.events_checked, 3u);
}

TEST_F(AuditLogTest, FailedWriteReportsTheStoreError) {
  store_.FailWrites(absl::UnavailableError("i/o error"));
  EXPECT_THAT(Commit(Events(1)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(log_->last_seq(), 0u);
  EXPECT_EQ(store_.Count(Table::kMeta), 0u);
}

// --- Reopening
// ----------------------------------------------------------------

TEST_F(AuditLogTest, ReopenedLogContinuesTheChain) {
  CommitEach(3);
  clock_.Advance(absl::Minutes(1));
  CommitEach(1);
  const StoredEvent last = Stored(4);
  OpenLog(&store_);
  EXPECT_EQ(log_->last_seq(), 4u);
  clock_.Advance(-absl::Hours(1));  // still not before event 4
  CommitEach(1);
  EXPECT_EQ(Stored(5).seq, 5u);
  EXPECT_EQ(Stored(5).prev_hash, last.hash);
  EXPECT_EQ(Stored(5).time, last.time);
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.events_checked, 5u);
}

TEST_F(AuditLogTest, OpenFailsWhenTheHeadRecordDoesNotDecode) {
  CommitEach(1);
  log_.reset();
  store_.Poke(Table::kMeta, std::string(kHeadKey), "\xff\xff garbage");
  EXPECT_THAT(AuditLog::Open(&store_, &clock_, {}),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(AuditLogTest, OpenFailsWhenTheHeadNamesAMissingEvent) {
  CommitEach(2);
  log_.reset();
  store_.Erase(Table::kAudit, EncodeU64(2));
  EXPECT_THAT(AuditLog::Open(&store_, &clock_, {}),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(AuditLogTest, OpenReportsStoreErrors) {
  class FailingStore final : public storage::Store {
   public:
    absl::StatusOr<std::string> Get(Table, absl::string_view) const override {
      return absl::UnavailableError("down");
    }
    absl::Status Write(const storage::WriteBatch&,
                       const storage::WriteOptions&) override {
      return absl::UnavailableError("down");
    }
    absl::Status Scan(Table, absl::string_view, absl::string_view,
                      const Visitor&) const override {
      return absl::UnavailableError("down");
    }
    absl::Status SyncWal() override { return absl::UnavailableError("down"); }
    absl::Status CompactAll() override { return absl::OkStatus(); }
    absl::Status Purge(
        const std::vector<std::pair<storage::Table, std::string>>&) override {
      return absl::OkStatus();
    }
    absl::Status Checkpoint(const std::string&) override {
      return absl::OkStatus();
    }
  } failing;
  EXPECT_THAT(AuditLog::Open(&failing, &clock_, {}),
              StatusIs(absl::StatusCode::kUnavailable));
}

// --- Verify
// -------------------------------------------------------------------

class AuditVerifyTest : public AuditLogTest {
 protected:
  void SetUp() override {
    AuditLogTest::SetUp();
    for (int i = 0; i < 5; ++i) {
      ASSERT_THAT(Commit({MakeEvent("support", SubjectHash('a' + i))}), IsOk());
      clock_.Advance(absl::Seconds(1));
    }
  }

  void ExpectBrokenAt(uint64_t seq) {
    const AuditLog::VerifyResult result = Verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.first_bad_seq, seq) << result.reason;
    EXPECT_FALSE(result.reason.empty());
  }
};

TEST_F(AuditVerifyTest, AcceptsAnUntouchedLog) {
  const AuditLog::VerifyResult result = Verify();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.events_checked, 5u);
  EXPECT_EQ(result.first_bad_seq, 0u);
}

TEST_F(AuditVerifyTest, DetectsAnAlteredEventBody) {
  AlterBody(
      3, [](internal::v1::AuditEventBody& b) { b.set_identity("someone"); },
      /*rehash=*/false);
  ExpectBrokenAt(3);
}

TEST_F(AuditVerifyTest, DetectsARehashedEventByTheNextEventsLink) {
  AlterBody(
      3, [](internal::v1::AuditEventBody& b) { b.set_decision(4); },
      /*rehash=*/true);
  ExpectBrokenAt(4);
}

TEST_F(AuditVerifyTest, DetectsARehashedLastEventByTheHeadRecord) {
  AlterBody(
      5, [](internal::v1::AuditEventBody& b) { b.set_purpose("marketing"); },
      /*rehash=*/true);
  ExpectBrokenAt(5);
}

TEST_F(AuditVerifyTest, DetectsAnAlteredStoredHash) {
  internal::v1::StoredAuditEvent record = Record(2);
  std::string hash = record.hash();
  hash[0] ^= 0x01;
  record.set_hash(hash);
  PokeRecord(2, record);
  ExpectBrokenAt(2);
}

TEST_F(AuditVerifyTest, DetectsARecordThatDoesNotDecode) {
  store_.Poke(Table::kAudit, EncodeU64(4), "\xff\xff\xff");
  ExpectBrokenAt(4);
}

TEST_F(AuditVerifyTest, DetectsARemovedMiddleEvent) {
  store_.Erase(Table::kAudit, EncodeU64(3));
  ExpectBrokenAt(3);
}

TEST_F(AuditVerifyTest, DetectsARemovedFirstEvent) {
  store_.Erase(Table::kAudit, EncodeU64(1));
  ExpectBrokenAt(1);
}

TEST_F(AuditVerifyTest, DetectsARemovedLastEvent) {
  store_.Erase(Table::kAudit, EncodeU64(5));
  ExpectBrokenAt(5);
}

TEST_F(AuditVerifyTest, DetectsASwappedPairOfEvents) {
  const std::string second = store_.Get(Table::kAudit, EncodeU64(2)).value();
  const std::string third = store_.Get(Table::kAudit, EncodeU64(3)).value();
  store_.Poke(Table::kAudit, EncodeU64(2), third);
  store_.Poke(Table::kAudit, EncodeU64(3), second);
  ExpectBrokenAt(2);
}

TEST_F(AuditVerifyTest, DetectsAMissingHeadRecord) {
  store_.Erase(Table::kMeta, std::string(kHeadKey));
  ExpectBrokenAt(5);
}

TEST_F(AuditVerifyTest, DetectsAHeadRecordWithAnotherHash) {
  internal::v1::AuditHead head;
  head.set_seq(5);
  head.set_hash(Stored(4).hash);
  store_.Poke(Table::kMeta, std::string(kHeadKey), head.SerializeAsString());
  ExpectBrokenAt(5);
}

TEST_F(AuditVerifyTest, DetectsAHeadRecordRolledBack) {
  internal::v1::AuditHead head;
  head.set_seq(4);
  head.set_hash(Stored(4).hash);
  store_.Poke(Table::kMeta, std::string(kHeadKey), head.SerializeAsString());
  ExpectBrokenAt(5);
}

TEST_F(AuditVerifyTest, DetectsAHeadRecordThatDoesNotDecode) {
  store_.Poke(Table::kMeta, std::string(kHeadKey), "\xff\xff\xff");
  ExpectBrokenAt(5);
}

// --- Query
// --------------------------------------------------------------------

TEST(EventCodecTest, RoundTrips) {
  StoredEvent e;
  e.seq = 42;
  e.time = absl::FromUnixMicros(1767225600123456);
  e.event = MakeEvent("dpo", SubjectHash('x'));
  e.prev_hash = std::string(32, '\x01');
  e.hash = std::string(32, '\x02');
  absl::StatusOr<StoredEvent> decoded = DecodeEvent(EncodeEvent(e));
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->seq, 42u);
  EXPECT_EQ(decoded->time, e.time);
  EXPECT_EQ(decoded->event.identity, "dpo");
  EXPECT_EQ(decoded->event.subject_hash, SubjectHash('x'));
  EXPECT_EQ(decoded->event.decision, Decision::kRevealedMasked);
  EXPECT_EQ(decoded->prev_hash, e.prev_hash);
  EXPECT_EQ(decoded->hash, e.hash);
}

TEST(EventCodecTest, RefusesGarbage) {
  EXPECT_THAT(DecodeEvent("\xff\xff\xff"),
              StatusIs(absl::StatusCode::kDataLoss));
}

class AuditQueryTest : public AuditLogTest {
 protected:
  // Nine events over five distinct times, some shared, from three callers
  // about three subjects:
  //   seq  time    identity   subject
  //   1    t0      support    A
  //   2    t0      checkout   B
  //   3    t0+1s   support    A
  //   4    t0+3s   support-2  A
  //   5    t0+3s   support    C
  //   6    t0+3s   checkout   A
  //   7    t0+4s   support    B
  //   8    t0+7s   support    A
  //   9    t0+7s   checkout   C
  void SetUp() override {
    AuditLogTest::SetUp();
    t0_ = clock_.Now();
    struct Row {
      int second;
      const char* identity;
      char subject;
    };
    const Row rows[] = {
        {0, "support", 'A'},   {0, "checkout", 'B'}, {1, "support", 'A'},
        {3, "support-2", 'A'}, {3, "support", 'C'},  {3, "checkout", 'A'},
        {4, "support", 'B'},   {7, "support", 'A'},  {7, "checkout", 'C'}};
    for (const Row& row : rows) {
      clock_.Set(t0_ + absl::Seconds(row.second));
      ASSERT_THAT(Commit({MakeEvent(row.identity, SubjectHash(row.subject))}),
                  IsOk());
      rows_.push_back({clock_.Now(), row.identity, SubjectHash(row.subject)});
    }
  }

  // The sequence numbers `filter` should select, computed by brute force.
  std::vector<uint64_t> Expected(const AuditLog::Filter& filter) const {
    std::vector<uint64_t> seqs;
    for (size_t i = 0; i < rows_.size(); ++i) {
      const uint64_t seq = i + 1;
      const ExpectedRow& r = rows_[i];
      if (seq <= filter.after_seq || r.time < filter.since ||
          r.time >= filter.until ||
          (!filter.identity.empty() && r.identity != filter.identity) ||
          (!filter.subject_hash.empty() &&
           r.subject_hash != filter.subject_hash)) {
        continue;
      }
      if (filter.limit != 0 && seqs.size() == filter.limit) break;
      seqs.push_back(seq);
    }
    return seqs;
  }

  struct ExpectedRow {
    absl::Time time;
    std::string identity;
    std::string subject_hash;
  };
  absl::Time t0_;
  std::vector<ExpectedRow> rows_;
};

TEST_F(AuditQueryTest, EmptyFilterReturnsEveryEventInOrder) {
  EXPECT_THAT(QuerySeqs({}), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9));
}

TEST_F(AuditQueryTest, FiltersBySubjectHash) {
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 3, 4, 6, 8));
  filter.subject_hash = SubjectHash('Z');
  EXPECT_THAT(QuerySeqs(filter), IsEmpty());
}

TEST_F(AuditQueryTest, FiltersByIdentityExactly) {
  AuditLog::Filter filter;
  filter.identity = "support";  // not "support-2"
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 3, 5, 7, 8));
  filter.identity = "support-2";
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(4));
  filter.identity = "supp";
  EXPECT_THAT(QuerySeqs(filter), IsEmpty());
}

TEST_F(AuditQueryTest, FiltersBySubjectAndIdentityTogether) {
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  filter.identity = "checkout";
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(6));
}

TEST_F(AuditQueryTest, SinceIsInclusiveAndUntilExclusive) {
  AuditLog::Filter filter;
  filter.since = t0_ + absl::Seconds(3);
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(4, 5, 6, 7, 8, 9));
  filter.since = t0_ + absl::Seconds(3) + absl::Microseconds(1);
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(7, 8, 9));
  filter.since = absl::InfinitePast();
  filter.until = t0_ + absl::Seconds(3);
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 2, 3));
  filter.until = t0_ + absl::Seconds(3) + absl::Microseconds(1);
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST_F(AuditQueryTest, TimeRangeAtTheEdgesOfTheLog) {
  AuditLog::Filter filter;
  filter.since = t0_;
  EXPECT_THAT(QuerySeqs(filter), SizeIs(9));
  filter.since = t0_ - absl::Microseconds(1);
  EXPECT_THAT(QuerySeqs(filter), SizeIs(9));
  filter.since = t0_ + absl::Seconds(7);
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(8, 9));
  filter.since = t0_ + absl::Seconds(7) + absl::Microseconds(1);
  EXPECT_THAT(QuerySeqs(filter), IsEmpty());
  filter.since = absl::InfiniteFuture();
  EXPECT_THAT(QuerySeqs(filter), IsEmpty());
  filter.since = absl::InfinitePast();
  filter.until = t0_;
  EXPECT_THAT(QuerySeqs(filter), IsEmpty());
}

// Every since/until pair around every event time, with and without an index,
// against a brute-force filter: catches off-by-one errors in the binary
// search for `since`.
TEST_F(AuditQueryTest, TimeRangesMatchBruteForce) {
  std::vector<absl::Time> bounds = {absl::InfinitePast(),
                                    absl::InfiniteFuture()};
  for (const ExpectedRow& row : rows_) {
    for (absl::Duration d : {-absl::Microseconds(1), absl::ZeroDuration(),
                             absl::Microseconds(1)}) {
      bounds.push_back(row.time + d);
    }
  }
  for (const char* identity : {"", "support", "checkout"}) {
    for (const std::string& subject : {std::string(), SubjectHash('A')}) {
      for (absl::Time since : bounds) {
        for (absl::Time until : bounds) {
          AuditLog::Filter filter;
          filter.identity = identity;
          filter.subject_hash = subject;
          filter.since = since;
          filter.until = until;
          EXPECT_EQ(QuerySeqs(filter), Expected(filter))
              << "identity=" << identity << " subject=" << !subject.empty()
              << " since=" << since << " until=" << until;
        }
      }
    }
  }
}

TEST_F(AuditQueryTest, StartsAfterAfterSeq) {
  AuditLog::Filter filter;
  filter.after_seq = 5;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(6, 7, 8, 9));
  filter.subject_hash = SubjectHash('A');
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(6, 8));
  filter.subject_hash.clear();
  filter.identity = "support";
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(7, 8));
  filter.after_seq = 9;
  EXPECT_THAT(QuerySeqs(filter), IsEmpty());
}

TEST_F(AuditQueryTest, AfterSeqAndSinceTakeTheLaterStart) {
  AuditLog::Filter filter;
  filter.since = t0_ + absl::Seconds(1);  // first match: event 3
  filter.after_seq = 5;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(6, 7, 8, 9));
  filter.after_seq = 1;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(3, 4, 5, 6, 7, 8, 9));
}

TEST_F(AuditQueryTest, StopsAtLimit) {
  AuditLog::Filter filter;
  filter.limit = 2;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 2));
  filter.identity = "support";
  filter.after_seq = 3;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(5, 7));
  filter.limit = 100;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(5, 7, 8));
}

TEST_F(AuditQueryTest, PagesWithAfterSeqAndLimit) {
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  filter.limit = 2;
  std::vector<uint64_t> all;
  for (;;) {
    std::vector<uint64_t> page = QuerySeqs(filter);
    if (page.empty()) break;
    all.insert(all.end(), page.begin(), page.end());
    filter.after_seq = page.back();
  }
  EXPECT_THAT(all, ElementsAre(1, 3, 4, 6, 8));
}

TEST_F(AuditQueryTest, StopsWhenTheVisitorReturnsFalse) {
  std::vector<uint64_t> seen;
  ASSERT_THAT(log_->Query({},
                          [&](const StoredEvent& e) {
                            seen.push_back(e.seq);
                            return e.seq < 3;
                          }),
              IsOk());
  EXPECT_THAT(seen, ElementsAre(1, 2, 3));
}

TEST_F(AuditQueryTest, ReturnsTheStoredEvents) {
  AuditLog::Filter filter;
  filter.identity = "support-2";
  std::vector<StoredEvent> events;
  ASSERT_THAT(log_->Query(filter,
                          [&](const StoredEvent& e) {
                            events.push_back(e);
                            return true;
                          }),
              IsOk());
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].seq, 4u);
  EXPECT_EQ(events[0].time, t0_ + absl::Seconds(3));
  EXPECT_EQ(events[0].event.subject_hash, SubjectHash('A'));
  EXPECT_EQ(events[0].hash, Stored(4).hash);
}

TEST_F(AuditQueryTest, ReportsADamagedEvent) {
  store_.Poke(Table::kAudit, EncodeU64(3), "\xff\xff\xff");
  EXPECT_THAT(log_->Query({}, [](const StoredEvent&) { return true; }),
              StatusIs(absl::StatusCode::kDataLoss));
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  EXPECT_THAT(log_->Query(filter, [](const StoredEvent&) { return true; }),
              StatusIs(absl::StatusCode::kDataLoss));
}

// --- The index: one entry per subject and per caller in a group ------------

class AuditIndexTest : public AuditLogTest {
 protected:
  // One commit, so one group: events 1-5.
  //   seq  identity  subject
  //   1    support   A
  //   2    checkout  B
  //   3    support   A
  //   4    support   C
  //   5    checkout  A
  void SetUp() override {
    AuditLogTest::SetUp();
    ASSERT_THAT(Commit({MakeEvent("support", SubjectHash('A')),
                        MakeEvent("checkout", SubjectHash('B')),
                        MakeEvent("support", SubjectHash('A')),
                        MakeEvent("support", SubjectHash('C')),
                        MakeEvent("checkout", SubjectHash('A'))}),
                IsOk());
  }

  std::vector<std::string> IndexKeys() const {
    std::vector<std::string> keys;
    EXPECT_THAT(store_.Scan(Table::kAuditIndex, "", "",
                            [&](absl::string_view key, absl::string_view) {
                              keys.emplace_back(key);
                              return true;
                            }),
                IsOk());
    return keys;
  }
  static std::string SubjectKey(char subject, uint64_t last) {
    return absl::StrCat("s", SubjectHash(subject), EncodeU64(last));
  }
  static std::string IdentityKey(absl::string_view identity, uint64_t last) {
    return absl::StrCat("i", identity, absl::string_view("\0", 1),
                        EncodeU64(last));
  }
};

TEST_F(AuditIndexTest, OneEntryPerSubjectAndPerCallerInAGroup) {
  // Keyed by the last event of each; not one entry per event.
  EXPECT_THAT(IndexKeys(),
              ::testing::UnorderedElementsAre(
                  SubjectKey('A', 5), SubjectKey('B', 2), SubjectKey('C', 4),
                  IdentityKey("support", 4), IdentityKey("checkout", 5)));
  // A single event's entry has an empty value; others list the earlier
  // events as distances back from the last.
  EXPECT_THAT(store_.Get(Table::kAuditIndex, SubjectKey('B', 2)),
              IsOkAndHolds(""));
  EXPECT_THAT(store_.Get(Table::kAuditIndex, SubjectKey('A', 5)),
              IsOkAndHolds("\x04\x02"));  // events 1 and 3
}

TEST_F(AuditIndexTest, QueriesFindEveryEventOfAnEntryInOrder) {
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 3, 5));
  filter.subject_hash.clear();
  filter.identity = "support";
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 3, 4));
  filter.identity = "checkout";
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(2, 5));
}

TEST_F(AuditIndexTest, AfterSeqAndLimitCutInsideAnEntry) {
  AuditLog::Filter filter;
  filter.identity = "support";
  filter.after_seq = 1;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(3, 4));
  filter.after_seq = 3;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(4));
  filter.after_seq = 1;
  filter.limit = 1;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(3));
}

TEST_F(AuditIndexTest, LaterGroupsAddEntriesAfterEarlierOnes) {
  ASSERT_THAT(Commit({MakeEvent("support", SubjectHash('A'))}), IsOk());
  ASSERT_THAT(Commit({MakeEvent("checkout", SubjectHash('C')),
                      MakeEvent("support", SubjectHash('A'))}),
              IsOk());
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 3, 5, 6, 8));
  filter.after_seq = 3;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(5, 6, 8));
  filter.subject_hash.clear();
  filter.identity = "support";
  filter.after_seq = 0;
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 3, 4, 6, 8));
}

TEST_F(AuditIndexTest, ReportsEntriesThatOverlap) {
  // Event 6 is A's; its entry is altered to claim event 3 as well, which
  // the group before already holds.
  ASSERT_THAT(Commit({MakeEvent("support", SubjectHash('A'))}), IsOk());
  store_.Poke(Table::kAuditIndex, SubjectKey('A', 6), "\x03");
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  EXPECT_THAT(log_->Query(filter, [](const StoredEvent&) { return true; }),
              StatusIs(absl::StatusCode::kDataLoss));
  store_.Poke(Table::kAuditIndex, SubjectKey('A', 6), "");
  EXPECT_THAT(QuerySeqs(filter), ElementsAre(1, 3, 5, 6));
}

TEST_F(AuditIndexTest, ReportsADamagedEntry) {
  AuditLog::Filter filter;
  filter.subject_hash = SubjectHash('A');
  for (const std::string& bad :
       {std::string("\x80"),        // ends inside a varint
        std::string("\x05"),        // reaches back to event 0
        std::string("\x09"),        // before the log
        std::string("\x02\x04"),    // not in ascending order
        std::string("\x00", 1),     // the last event twice
        std::string("\x02\x02")}) { // one event twice
    store_.Poke(Table::kAuditIndex, SubjectKey('A', 5), bad);
    EXPECT_THAT(log_->Query(filter, [](const StoredEvent&) { return true; }),
                StatusIs(absl::StatusCode::kDataLoss))
        << absl::CHexEscape(bad);
  }
}

}  // namespace
}  // namespace sandyq::audit
