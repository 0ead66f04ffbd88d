#ifndef SANDYQ_SERVER_STORAGE_STORE_H_
#define SANDYQ_SERVER_STORAGE_STORE_H_

#include <functional>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/storage/encoding.h"

namespace sandyq::storage {

// The tables of a vault. Each is a separate key space (a RocksDB column
// family); docs/storage-format.md lists their keys and values.
enum class Table : int {
  kMeta = 0,        // vault record, audit head
  kKeys = 1,        // KEK records by version
  kSubjects = 2,    // subject records by subject hash
  kFields = 3,      // field records by token
  kIndex = 4,       // blind index, dedup index, subject -> tokens
  kAudit = 5,       // access-log events by sequence number
  kAuditIndex = 6,  // access-log events by subject and by identity
  kConsents = 7,    // consent records and their history
};
inline constexpr int kTableCount = 8;

// A short lowercase name for `table` ("meta", "keys", ..., "consents"), e.g.
// for metric labels.
absl::string_view TableName(Table table);

// What the store reports about itself, for monitoring. Every figure is an
// estimate the engine keeps cheaply; none is exact.
struct StoreStats {
  struct PerTable {
    uint64_t estimated_keys = 0;
    uint64_t live_sst_bytes = 0;     // table files holding live data
    uint64_t memtable_bytes = 0;     // in memory, not yet flushed
    uint64_t pending_compaction_bytes = 0;
  };
  PerTable tables[kTableCount];  // by static_cast<int>(Table)
  uint64_t running_compactions = 0;
  uint64_t running_flushes = 0;
  uint64_t background_errors = 0;  // since open; writes stop after one
  uint64_t block_cache_capacity_bytes = 0;
  uint64_t block_cache_usage_bytes = 0;
  uint64_t row_cache_capacity_bytes = 0;  // 0: no row cache
  uint64_t row_cache_usage_bytes = 0;
};

// Puts and deletes applied all together or not at all.
class WriteBatch {
 public:
  enum class Kind { kPut, kDelete, kAdd };
  struct Op {
    Table table;
    Kind kind;
    std::string key;
    std::string value;  // kPut: the value; kAdd: EncodeCounter(delta)
  };

  void Put(Table table, absl::string_view key, absl::string_view value) {
    ops_.push_back({table, Kind::kPut, std::string(key), std::string(value)});
  }
  void Delete(Table table, absl::string_view key) {
    ops_.push_back({table, Kind::kDelete, std::string(key), std::string()});
  }
  // Adds `delta` to the counter at `key` (absent = 0). Counters are read
  // with Get and DecodeCounter. Concurrent adds never lose an update.
  void Add(Table table, absl::string_view key, int64_t delta) {
    ops_.push_back({table, Kind::kAdd, std::string(key), EncodeCounter(delta)});
  }
  // Appends `other`'s operations after this batch's.
  void Append(WriteBatch&& other) {
    ops_.reserve(ops_.size() + other.ops_.size());
    for (auto& op : other.ops_) ops_.push_back(std::move(op));
    other.ops_.clear();
  }
  void Reserve(size_t ops) { ops_.reserve(ops); }
  // Bytes of every key and value, for sizing a store's own batch.
  size_t ByteSize() const {
    size_t n = 0;
    for (const Op& op : ops_) n += op.key.size() + op.value.size();
    return n;
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

 private:
  std::vector<Op> ops_;
};

struct WriteOptions {
  // Sync the write-ahead log before returning (an acknowledged write then
  // survives a crash or power loss).
  bool sync = true;
};

// Ordered key-value storage: bytes in, bytes out. Knows nothing of crypto,
// records or gRPC. Modelled on LevelDB's DB. Thread-safe: any number of
// readers and writers at once; a Write is atomic and, once it returns OK, is
// visible to every later Get and Scan.
class Store {
 public:
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store() = default;

  // The value of `key`; NotFound if absent; another error if the store
  // failed.
  virtual absl::StatusOr<std::string> Get(Table table,
                                          absl::string_view key) const = 0;

  // Get, answered only from what the store holds in its own memory (RocksDB:
  // the memtables and the block cache): Unavailable ("storage: not in
  // memory") where the answer needs a read of a table file, which can wait
  // for the disk. Lets a caller on a thread that must not block move the
  // read elsewhere first. Stores that never wait answer as Get does.
  virtual absl::StatusOr<std::string> GetFromMemory(Table table,
                                                    absl::string_view key) const {
    return Get(table, key);
  }

  // Applies every operation in `batch` atomically.
  virtual absl::Status Write(const WriteBatch& batch,
                             const WriteOptions& options) = 0;

  // Makes every Write that has returned so far durable (syncs the write-ahead
  // log). Writes made with `sync = false` are visible at once and durable
  // after the next SyncWal; a crash keeps a prefix of the writes, in order.
  virtual absl::Status SyncWal() = 0;

  // Calls `visit` for each key that starts with `prefix` and sorts after
  // `start_after` (empty: from the first), in key order, until `visit`
  // returns false or the keys run out. Sees a consistent snapshot.
  using Visitor =
      std::function<bool(absl::string_view key, absl::string_view value)>;
  virtual absl::Status Scan(Table table, absl::string_view prefix,
                            absl::string_view start_after,
                            const Visitor& visit) const = 0;

  // Scan for a pass over much of a table (retention, verification, re-wrap,
  // migration, restore): the same visits, but the blocks it reads are not
  // kept in the block cache, so one pass over millions of records does not
  // evict the blocks that requests read. Stores without a cache need not
  // override it.
  virtual absl::Status BulkScan(Table table, absl::string_view prefix,
                                absl::string_view start_after,
                                const Visitor& visit) const {
    return Scan(table, prefix, start_after, visit);
  }

  // Flushes memtables and compacts every table, so deleted values leave the
  // data files (erasure, tests). Blocks; not for the request path.
  virtual absl::Status CompactAll() = 0;

  // Makes deleted `keys` physically leave the store's files: flushes every
  // table (so write-ahead log files holding them are retired) and rewrites
  // the table files whose key range covers them. Then empties the block and
  // row caches of all that no read is using, since they may hold records of
  // the files deleted. Blocks; for erasure.
  virtual absl::Status Purge(
      const std::vector<std::pair<Table, std::string>>& keys) = 0;

  // Writes a consistent copy of the whole store into `dir` (which must not
  // exist), usable as a store of its own.
  virtual absl::Status Checkpoint(const std::string& dir) = 0;

  // The engine's statistics, read without blocking writers (for metrics at
  // scrape time). Unimplemented for stores that keep none.
  virtual absl::StatusOr<StoreStats> Stats() const {
    return absl::UnimplementedError("storage: no statistics");
  }
};

struct RocksDbOptions {
  std::string path;
  bool create_if_missing = true;
  // Memory for the cache of table blocks that every table shares; 0: 8 MiB,
  // RocksDB's own default.
  size_t block_cache_bytes = 0;
  // Memory for RocksDB's row cache: single records that Get and
  // GetFromMemory found in a table file, so that the next read of the same
  // key skips the table's index, filter and block. A record costs its own
  // size there (a few hundred bytes) where the block cache holds the whole
  // block around it (4 KiB). 0: none.
  size_t row_cache_bytes = 0;
};

// Opens (or creates) a RocksDB store under `options.path`.
absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(
    const RocksDbOptions& options);

}  // namespace sandyq::storage

#endif  // SANDYQ_SERVER_STORAGE_STORE_H_
