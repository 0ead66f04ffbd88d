#ifndef SANDYQ_TESTS_FAKES_MEMORY_STORE_H_
#define SANDYQ_TESTS_FAKES_MEMORY_STORE_H_

#include <map>
#include <string>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/store.h"

namespace sandyq::testing {

// An in-memory storage::Store with the same contract, for unit tests of the
// code above storage. FailWrites() makes every later Write fail (disk full,
// I/O error) without applying anything; HoldSyncs() makes SyncWal block (a
// slow disk) until ReleaseSyncs(), so callers can hold calls in flight.
// Thread-safe.
class MemoryStore final : public storage::Store {
 public:
  absl::StatusOr<std::string> Get(storage::Table table,
                                  absl::string_view key) const override {
    absl::MutexLock lock(&mu_);
    last_get_thread_[static_cast<int>(table)] = std::this_thread::get_id();
    if (!fail_gets_with_[static_cast<int>(table)].ok()) {
      return fail_gets_with_[static_cast<int>(table)];
    }
    const auto& t = tables_[static_cast<int>(table)];
    auto it = t.find(std::string(key));
    if (it == t.end()) return absl::NotFoundError("not found");
    return it->second;
  }

  // As RocksDB answers for a key that is only in a table file: Unavailable
  // for stored keys of a table marked with SetOnDisk.
  absl::StatusOr<std::string> GetFromMemory(storage::Table table,
                                            absl::string_view key) const override {
    {
      absl::MutexLock lock(&mu_);
      const int t = static_cast<int>(table);
      if (on_disk_[t] && tables_[t].count(std::string(key)) > 0) {
        return absl::UnavailableError("storage: not in memory");
      }
    }
    return Get(table, key);
  }

  absl::Status Write(const storage::WriteBatch& batch,
                     const storage::WriteOptions& options) override {
    absl::MutexLock lock(&mu_);
    ++writes_;
    if (fail_after_writes_ > 0 && --fail_after_writes_ == 0) {
      fail_with_ = fail_after_with_;
      return fail_with_;
    }
    if (!fail_with_.ok()) return fail_with_;
    // Counters that do not decode (a tampered store) fail the whole batch
    // before anything is applied; RocksDB's merge reports them as
    // corruption.
    for (const auto& op : batch.ops()) {
      if (op.kind != storage::WriteBatch::Kind::kAdd) continue;
      const auto& t = tables_[static_cast<int>(op.table)];
      auto it = t.find(op.key);
      if (!storage::DecodeCounter(op.value) ||
          (it != t.end() && !storage::DecodeCounter(it->second))) {
        return absl::DataLossError("counter does not decode");
      }
    }
    if (options.sync) {
      ++synced_writes_;
      unsynced_writes_ = 0;
    } else {
      ++unsynced_writes_;
    }
    for (const auto& op : batch.ops()) {
      auto& t = tables_[static_cast<int>(op.table)];
      switch (op.kind) {
        case storage::WriteBatch::Kind::kDelete:
          t.erase(op.key);
          break;
        case storage::WriteBatch::Kind::kPut:
          t[op.key] = op.value;
          break;
        case storage::WriteBatch::Kind::kAdd: {
          auto it = t.find(op.key);
          const uint64_t now =
              it == t.end() ? 0 : *storage::DecodeCounter(it->second);
          const uint64_t delta = *storage::DecodeCounter(op.value);
          // Two's complement wrap-around, as the RocksDB merge operator.
          t[op.key] = storage::EncodeCounter(static_cast<int64_t>(now + delta));
          break;
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Scan(storage::Table table, absl::string_view prefix,
                    absl::string_view start_after,
                    const Visitor& visit) const override {
    // Copy the range first: a consistent snapshot, and `visit` may call back
    // into the store.
    std::map<std::string, std::string> snapshot;
    {
      absl::MutexLock lock(&mu_);
      const auto& t = tables_[static_cast<int>(table)];
      auto it = (start_after.empty() || start_after < prefix)
                    ? t.lower_bound(std::string(prefix))
                    : t.upper_bound(std::string(start_after));
      for (; it != t.end() && absl::string_view(it->first).substr(
                                  0, prefix.size()) == prefix;
           ++it) {
        snapshot.insert(*it);
      }
    }
    for (const auto& [k, v] : snapshot) {
      if (!visit(k, v)) break;
    }
    return absl::OkStatus();
  }

  absl::Status SyncWal() override {
    absl::MutexLock lock(&mu_);
    if (hold_syncs_) {
      ++held_syncs_;
      mu_.Await(absl::Condition(
          +[](bool* held) { return !*held; }, &hold_syncs_));
      --held_syncs_;
    }
    if (!fail_next_sync_with_.ok()) {
      return std::exchange(fail_next_sync_with_, absl::OkStatus());
    }
    if (!fail_syncs_with_.ok()) return fail_syncs_with_;
    ++wal_syncs_;
    unsynced_writes_ = 0;
    return absl::OkStatus();
  }

  absl::Status CompactAll() override { return absl::OkStatus(); }
  absl::Status Purge(
      const std::vector<std::pair<storage::Table, std::string>>&) override {
    return absl::OkStatus();
  }
  absl::Status Checkpoint(const std::string&) override {
    return absl::UnimplementedError("MemoryStore has no checkpoints");
  }

  // Every later Write returns `status` (OK to heal).
  void FailWrites(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_with_ = std::move(status);
  }
  // The next `n` - 1 Writes succeed; the n-th and every later one returns
  // `status` (until FailWrites(OK)): a process that dies part-way.
  void FailWritesFromThe(int n, absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_after_writes_ = n;
    fail_after_with_ = std::move(status);
  }
  // Every later Get from `table` returns `status` (OK to heal); scans still
  // work: a read error on one path.
  void FailGets(storage::Table table, absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_gets_with_[static_cast<int>(table)] = std::move(status);
  }
  // While set, GetFromMemory finds no stored key of `table` in memory (as if
  // it were only in RocksDB's table files); Get still reads it.
  void SetOnDisk(storage::Table table, bool on_disk) {
    absl::MutexLock lock(&mu_);
    on_disk_[static_cast<int>(table)] = on_disk;
  }
  // The thread that last called Get for `table` (default id: none yet).
  std::thread::id LastGetThread(storage::Table table) const {
    absl::MutexLock lock(&mu_);
    return last_get_thread_[static_cast<int>(table)];
  }
  // Every later SyncWal returns `status` (OK to heal).
  void FailSyncs(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_syncs_with_ = std::move(status);
  }
  // Only the next SyncWal returns `status`; later ones succeed again.
  void FailNextSync(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_next_sync_with_ = std::move(status);
  }
  // Later SyncWal calls block until ReleaseSyncs().
  void HoldSyncs() {
    absl::MutexLock lock(&mu_);
    hold_syncs_ = true;
  }
  void ReleaseSyncs() {
    absl::MutexLock lock(&mu_);
    hold_syncs_ = false;
  }
  // Waits until at least `n` writes are not yet synced; false if that takes
  // longer than `timeout` (a guard against a hung test, not a timing).
  bool AwaitUnsyncedWrites(int n, absl::Duration timeout) {
    struct Want {
      const int* have;
      int n;
    } want{&unsynced_writes_, n};
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        absl::Condition(+[](Want* w) { return *w->have >= w->n; }, &want),
        timeout);
  }
  // Waits until a SyncWal call is blocked by HoldSyncs().
  void AwaitHeldSync() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* held) { return *held > 0; }, &held_syncs_));
  }
  // Overwrites a stored value directly, bypassing every layer (tampering).
  void Poke(storage::Table table, const std::string& key, std::string value) {
    absl::MutexLock lock(&mu_);
    tables_[static_cast<int>(table)][key] = std::move(value);
  }
  void Erase(storage::Table table, const std::string& key) {
    absl::MutexLock lock(&mu_);
    tables_[static_cast<int>(table)].erase(key);
  }
  size_t Count(storage::Table table) const {
    absl::MutexLock lock(&mu_);
    return tables_[static_cast<int>(table)].size();
  }
  int writes() const {
    absl::MutexLock lock(&mu_);
    return writes_;
  }
  // Writes made with `sync = true`.
  int synced_writes() const {
    absl::MutexLock lock(&mu_);
    return synced_writes_;
  }
  // SyncWal calls that succeeded.
  int wal_syncs() const {
    absl::MutexLock lock(&mu_);
    return wal_syncs_;
  }
  // Writes made with `sync = false` since the last sync: what a crash now
  // could lose.
  int unsynced_writes() const {
    absl::MutexLock lock(&mu_);
    return unsynced_writes_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> tables_[storage::kTableCount]
      ABSL_GUARDED_BY(mu_);
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  int fail_after_writes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_after_with_ ABSL_GUARDED_BY(mu_);
  int writes_ ABSL_GUARDED_BY(mu_) = 0;
  int synced_writes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_syncs_with_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_gets_with_[storage::kTableCount] ABSL_GUARDED_BY(mu_);
  bool on_disk_[storage::kTableCount] ABSL_GUARDED_BY(mu_) = {};
  mutable std::thread::id last_get_thread_[storage::kTableCount]
      ABSL_GUARDED_BY(mu_);
  absl::Status fail_next_sync_with_ ABSL_GUARDED_BY(mu_);
  int wal_syncs_ ABSL_GUARDED_BY(mu_) = 0;
  int unsynced_writes_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_syncs_ ABSL_GUARDED_BY(mu_) = false;
  int held_syncs_ ABSL_GUARDED_BY(mu_) = 0;  // SyncWal calls blocked now
};

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_MEMORY_STORE_H_
