#ifndef SANDYQ_SERVER_AUDIT_AUDIT_LOG_H_
#define SANDYQ_SERVER_AUDIT_AUDIT_LOG_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/audit/chain.h"
#include "server/audit/event.h"
#include "server/crypto/signer.h"
#include "server/platform/clock.h"
#include "server/storage/store.h"

namespace sandyq::audit {

// The tamper-evident access log, and the one durable write path of the vault.
//
// Every event gets the next sequence number and carries the SHA-256 hash of
// the event before it; its own hash is SHA-256 over its serialized body
// (docs/storage-format.md). An event is written in the same atomic batch as
// the data it accompanies (a new token, a rectified value), so either both
// survive a crash or neither does.
//
// Commits are grouped and pipelined. The writer thread takes every commit
// queued while it was busy, chains their events, and writes them all in one
// RocksDB batch without syncing. The sync thread then syncs the write-ahead
// log once for every group written since its last sync (group commit), while
// the writer is already writing the next groups. Each commit's `done` runs on
// a completion thread once a sync covers its batch. No caller thread waits
// for an fsync. Because groups are written in chain order and a crash keeps a
// prefix of the log, an acknowledged commit survives with every event before
// it, and the chain never has a gap. A write is visible to readers before it
// is durable; nothing that depends on it is acknowledged earlier, since every
// acknowledged call's own events come later in the log.
//
// Thread-safe.
class AuditLog {
 public:
  struct Options {
    // Sync the WAL before acknowledging. Only benchmarks turn this off.
    bool sync = true;
    // Most commits written in one batch; Open refuses 0.
    size_t max_group = 512;
    // Threads that run commits' callbacks.
    int completion_threads = 4;
    // Once a signer is set, a signed checkpoint follows at most this many
    // events (1..10000)...
    uint64_t checkpoint_every_events = 1000;
    // ...and at most this long after the first unsigned event.
    absl::Duration checkpoint_interval = absl::Seconds(60);
  };

  // Reads the chain head from `store`. `store` and `clock` must outlive the
  // log.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      storage::Store* store, const platform::Clock* clock, Options options);

  // Writes every queued commit, then stops the writer thread.
  ~AuditLog();

  using Done = absl::AnyInvocable<void(absl::Status) &&>;

  // Queues `events` and `data` to be written atomically together. `done` is
  // called exactly once, on one of the log's completion threads, with OK once
  // they are durable or with the write's error (then nothing of them was
  // written). `done` must not block; it may call Commit again. Callbacks of
  // one group may run in any order.
  void Commit(storage::WriteBatch data, std::vector<Event> events, Done done);
  // As above; `written` is also called, exactly once, on a completion thread
  // as soon as the batch is written (visible to every reader, not yet
  // durable) or has failed; it may run before, during or even after `done`. A
  // caller that serializes work on some state (a subject) can let the next
  // piece of work read this one's writes from then on, without waiting for
  // the sync: whatever that work acknowledges is committed later in the log,
  // so the sync that makes it durable covers this batch too, and after a
  // failed sync nothing later is acknowledged. Same rules as `done`.
  void Commit(storage::WriteBatch data, std::vector<Event> events, Done done,
              Done written);

  // Starts signing checkpoints with `signer` (the vault's key, available
  // only once the vault is open). Verify checks them against its public key.
  void SetSigner(std::shared_ptr<const crypto::Ed25519Signer> signer);
  std::shared_ptr<const crypto::Ed25519Signer> signer() const;

  // Writes a checkpoint now if any event is unsigned, and waits for it.
  absl::Status Checkpoint();

  // Commit, then wait for it: for startup and administrative paths, never for
  // request handlers.
  absl::Status CommitAndWait(storage::WriteBatch data,
                             std::vector<Event> events);

  struct Filter {
    std::string subject_hash;  // raw; empty = any
    std::string identity;      // empty = any
    absl::Time since = absl::InfinitePast();   // inclusive
    absl::Time until = absl::InfiniteFuture();  // exclusive
    uint64_t after_seq = 0;
    size_t limit = 0;  // 0 = no limit
  };
  // Calls `visit` for every stored event matching all of `filter`, in
  // sequence order, until it returns false.
  absl::Status Query(const Filter& filter,
                     const std::function<bool(const StoredEvent&)>& visit) const;

  using VerifyResult = ChainResult;
  // Recomputes the chain from the first event to the head by the rules of
  // server/audit/chain.h (every event decodes, has the expected sequence
  // number, hashes to its stored hash, names the previous event's hash; every
  // checkpoint's signature verifies); the last must match the head record.
  // Errors only if storage fails; a broken chain is a result, not an error.
  absl::StatusOr<VerifyResult> Verify() const;

  // Sequence number of the last durable event (0 if none).
  uint64_t last_seq() const { return durable_seq_.load(); }

  // Told what the log does, for metrics (server/service/server_metrics.h),
  // so that this library needs none. Called on the log's threads and on
  // committing threads, without the log's locks held: must be quick, must
  // not block and must not call back into the log. Thread-safe.
  class Observer {
   public:
    virtual ~Observer() = default;
    // A commit of `events` was handed to Commit (on the caller's thread).
    virtual void OnCommit(const std::vector<Event>& events) {}
    // The writer wrote one group: `commits` commits holding `events` events
    // (checkpoints included), in one batch, not yet synced.
    virtual void OnGroupWritten(size_t commits, uint64_t events) {}
    // One sync of the write-ahead log took `latency`; `ok` false if it
    // failed. Not called when Options::sync is off.
    virtual void OnSynced(absl::Duration latency, bool ok) {}
  };
  // Sets (or with nullptr clears) the observer; it must outlive the log or
  // be cleared first, once nothing commits any more.
  void SetObserver(Observer* observer) {
    observer_.store(observer, std::memory_order_release);
  }

 private:
  struct Pending {
    storage::WriteBatch data;
    std::vector<Event> events;
    Done done;
    Done written;             // may be empty
    bool checkpoint = false;  // sign a checkpoint after this commit
  };

  AuditLog(storage::Store* store, const platform::Clock* clock,
           Options options, uint64_t head_seq, std::string head_hash,
           absl::Time head_time);
  // One commit's callback and the outcome of its write.
  struct Completion {
    Done done;
    absl::Status status;
  };
  void WriterLoop();
  void SyncLoop();
  void CompletionLoop();
  // Appends `event` as the next event of the chain to `batch`, and notes it
  // for the group's index entries (WriteGroupIndex).
  void Append(Event event, std::string signature, absl::Time now,
              storage::WriteBatch& batch);
  // Writes one index entry per subject and per identity for the events
  // appended since the last call (docs/storage-format.md, "Access log").
  void WriteGroupIndex(storage::WriteBatch& batch);
  // Appends a signed checkpoint if any event is unsigned.
  void AppendCheckpoint(absl::Time now, storage::WriteBatch& batch);
  absl::StatusOr<StoredEvent> ReadEvent(uint64_t seq) const;
  absl::StatusOr<uint64_t> FirstSeqAtOrAfter(absl::Time t,
                                             uint64_t last) const;

  // Constant after construction.
  storage::Store* const store_;
  const platform::Clock* const clock_;
  const Options options_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Owned by the writer thread (read before it starts).
  uint64_t head_seq_;
  std::string head_hash_;
  absl::Time head_time_;
  uint64_t last_checkpoint_seq_ = 0;
  absl::Time first_unsigned_time_ = absl::InfiniteFuture();
  // Index prefix (subject or identity) -> the group's events under it, in
  // order; emptied by WriteGroupIndex.
  absl::flat_hash_map<std::string, std::vector<uint64_t>> group_index_;

  mutable absl::Mutex signer_mu_;
  std::shared_ptr<const crypto::Ed25519Signer> signer_
      ABSL_GUARDED_BY(signer_mu_);

  // Groups written but not yet synced, in write order.
  struct Unsynced {
    uint64_t last_seq;  // the chain head after the group
    std::vector<Done> done;
  };
  absl::Mutex sync_mu_;
  std::deque<Unsynced> unsynced_ ABSL_GUARDED_BY(sync_mu_);
  bool writer_finished_ ABSL_GUARDED_BY(sync_mu_) = false;
  // Set once a sync fails: what was written since may be lost, so the log
  // accepts no more commits (the store is as broken as its disk), and no
  // group already written is acknowledged either, however later syncs end.
  std::atomic<bool> failed_{false};

  // Groups synced (or failed), waiting for their callbacks.
  absl::Mutex done_mu_;
  std::deque<Completion> written_ ABSL_GUARDED_BY(done_mu_);
  bool syncer_finished_ ABSL_GUARDED_BY(done_mu_) = false;

  std::atomic<uint64_t> durable_seq_;
  std::atomic<Observer*> observer_{nullptr};
  std::thread writer_;
  std::thread syncer_;
  // Several threads run callbacks, so that replies (TLS encryption and
  // socket writes happen in them) go out in parallel.
  std::vector<std::thread> completers_;
};

// Serializes / parses one stored event (the value under audit[seq]).
std::string EncodeEvent(const StoredEvent& event);
absl::StatusOr<StoredEvent> DecodeEvent(absl::string_view stored);

}  // namespace sandyq::audit

#endif  // SANDYQ_SERVER_AUDIT_AUDIT_LOG_H_
