#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/perf_level.h"
#include "rocksdb/slice.h"
#include "rocksdb/table.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "server/storage/store.h"

namespace sandyq::storage {
namespace {

// Column family names by Table; index = static_cast<int>(Table).
constexpr const char* kFamilyNames[kTableCount] = {
    "default",
    "keys", "subjects", "fields", "index", "audit", "audit_index", "consents"};

rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat("storage ", what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

// Merges WriteBatch::Add operands: counters are 8-byte little-endian
// integers, summed with wrap-around (two's complement).
class CounterAddOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger*) const override {
    std::optional<int64_t> base =
        existing == nullptr
            ? std::optional<int64_t>(0)
            : DecodeCounter(absl::string_view(existing->data(), existing->size()));
    std::optional<int64_t> delta =
        DecodeCounter(absl::string_view(value.data(), value.size()));
    if (!base || !delta) return false;
    *new_value = EncodeCounter(static_cast<int64_t>(
        static_cast<uint64_t>(*base) + static_cast<uint64_t>(*delta)));
    return true;
  }
  const char* Name() const override { return "sandyq.CounterAdd"; }
};

// RocksDB counts, per thread, the key comparisons, blocks read and the like
// of every operation (its perf_context) unless that thread has said not to.
// sandyq reads none of those counts, and in Debian's shared library each
// count costs calls to __tls_get_addr: a tenth of the audit writer's time
// inserting a batch into the memtable. Called at the top of every operation,
// it sets the calling thread's level once.
void SkipPerfCounters() {
  thread_local const bool skipped = [] {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    return true;
  }();
  (void)skipped;
}

class RocksDbStore final : public Store {
 public:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db,
               std::vector<rocksdb::ColumnFamilyHandle*> handles,
               std::shared_ptr<rocksdb::Cache> block_cache,
               std::shared_ptr<rocksdb::Cache> row_cache)
      : db_(std::move(db)),
        handles_(std::move(handles)),
        block_cache_(std::move(block_cache)),
        row_cache_(std::move(row_cache)) {}

  ~RocksDbStore() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }

  absl::StatusOr<std::string> Get(Table table,
                                  absl::string_view key) const override {
    SkipPerfCounters();
    std::string value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), Handle(table), ToSlice(key), &value);
    if (s.IsNotFound()) return absl::NotFoundError("not found");
    if (!s.ok()) return FromRocks(s, "get");
    return value;
  }

  absl::StatusOr<std::string> GetFromMemory(Table table,
                                            absl::string_view key) const override {
    SkipPerfCounters();
    rocksdb::ReadOptions ro;
    ro.read_tier = rocksdb::kBlockCacheTier;  // no table file reads
    std::string value;
    rocksdb::Status s = db_->Get(ro, Handle(table), ToSlice(key), &value);
    if (s.IsNotFound()) return absl::NotFoundError("not found");
    if (s.IsIncomplete()) return absl::UnavailableError("storage: not in memory");
    if (!s.ok()) return FromRocks(s, "get");
    return value;
  }

  absl::Status Write(const WriteBatch& batch,
                     const WriteOptions& options) override {
    SkipPerfCounters();
    // Sized once: growing the batch's buffer op by op reallocates and
    // copies it several times on the one writer thread.
    rocksdb::WriteBatch wb(batch.ByteSize() + 24 * batch.size() + 64);
    // In key order within each table: RocksDB inserts a batch into the
    // memtable's skip list in batch order and starts each insert from where
    // the previous one ended, so a group of random keys (tokens, hashes)
    // costs less when sorted. The sort is stable, so operations on one key
    // keep their order and the batch has the same effect.
    std::vector<const WriteBatch::Op*> order;
    order.reserve(batch.size());
    for (const WriteBatch::Op& op : batch.ops()) order.push_back(&op);
    std::stable_sort(order.begin(), order.end(),
                     [](const WriteBatch::Op* a, const WriteBatch::Op* b) {
                       if (a->table != b->table) return a->table < b->table;
                       return a->key < b->key;
                     });
    for (const WriteBatch::Op* op_in_order : order) {
      const WriteBatch::Op& op = *op_in_order;
      rocksdb::Status s;
      switch (op.kind) {
        case WriteBatch::Kind::kPut:
          s = wb.Put(Handle(op.table), ToSlice(op.key), ToSlice(op.value));
          break;
        case WriteBatch::Kind::kDelete:
          s = wb.Delete(Handle(op.table), ToSlice(op.key));
          break;
        case WriteBatch::Kind::kAdd:
          s = wb.Merge(Handle(op.table), ToSlice(op.key), ToSlice(op.value));
          break;
      }
      if (!s.ok()) return FromRocks(s, "batch");
    }
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
    return FromRocks(db_->Write(wo, &wb), "write");
  }

  absl::Status SyncWal() override { return FromRocks(db_->SyncWAL(), "sync"); }

  absl::Status Scan(Table table, absl::string_view prefix,
                    absl::string_view start_after,
                    const Visitor& visit) const override {
    return ScanWith(rocksdb::ReadOptions(), table, prefix, start_after, visit);
  }

  absl::Status BulkScan(Table table, absl::string_view prefix,
                        absl::string_view start_after,
                        const Visitor& visit) const override {
    rocksdb::ReadOptions ro;
    // Read the blocks without inserting them into the block cache (one pass
    // would cycle the whole cache); RocksDB's automatic readahead still
    // makes the pass sequential I/O.
    ro.fill_cache = false;
    return ScanWith(ro, table, prefix, start_after, visit);
  }

  absl::Status Purge(
      const std::vector<std::pair<Table, std::string>>& keys) override {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    // Flush every family: a write-ahead log file is deleted only once every
    // family's data in it is in table files.
    if (auto s = FromRocks(db_->Flush(fo, handles_), "flush"); !s.ok()) return s;
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (const auto& [table, key] : keys) {
      rocksdb::Slice k = ToSlice(key);
      if (auto s = FromRocks(db_->CompactRange(co, Handle(table), &k, &k),
                             "compact");
          !s.ok()) {
        return s;
      }
    }
    // The caches still hold what they read from the files just deleted (no
    // read reaches those entries any more, but they stay in memory until
    // pushed out): drop everything no read is using. Purges are rare, and
    // the caches fill again from the next reads.
    if (row_cache_ != nullptr) row_cache_->EraseUnRefEntries();
    block_cache_->EraseUnRefEntries();
    return FromRocks(db_->FlushWAL(true), "flush wal");
  }

  absl::Status Checkpoint(const std::string& dir) override {
    rocksdb::Checkpoint* raw = nullptr;
    if (auto s = FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw),
                           "checkpoint");
        !s.ok()) {
      return s;
    }
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    return FromRocks(checkpoint->CreateCheckpoint(dir), "checkpoint");
  }

  absl::StatusOr<StoreStats> Stats() const override {
    StoreStats stats;
    auto get = [&](rocksdb::ColumnFamilyHandle* h, const std::string& name,
                   uint64_t* out) {
      // A property the engine cannot give now (e.g. mid-recovery) stays 0.
      if (!db_->GetIntProperty(h, name, out)) *out = 0;
    };
    for (int i = 0; i < kTableCount; ++i) {
      StoreStats::PerTable& t = stats.tables[i];
      get(handles_[i], rocksdb::DB::Properties::kEstimateNumKeys,
          &t.estimated_keys);
      get(handles_[i], rocksdb::DB::Properties::kLiveSstFilesSize,
          &t.live_sst_bytes);
      get(handles_[i], rocksdb::DB::Properties::kCurSizeAllMemTables,
          &t.memtable_bytes);
      get(handles_[i], rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
          &t.pending_compaction_bytes);
    }
    get(handles_[0], rocksdb::DB::Properties::kNumRunningCompactions,
        &stats.running_compactions);
    get(handles_[0], rocksdb::DB::Properties::kNumRunningFlushes,
        &stats.running_flushes);
    get(handles_[0], rocksdb::DB::Properties::kBackgroundErrors,
        &stats.background_errors);
    // One cache for every table (OpenRocksDbStore): any family's answer.
    get(handles_[0], rocksdb::DB::Properties::kBlockCacheCapacity,
        &stats.block_cache_capacity_bytes);
    get(handles_[0], rocksdb::DB::Properties::kBlockCacheUsage,
        &stats.block_cache_usage_bytes);
    if (row_cache_ != nullptr) {
      stats.row_cache_capacity_bytes = row_cache_->GetCapacity();
      stats.row_cache_usage_bytes = row_cache_->GetUsage();
    }
    return stats;
  }

  absl::Status CompactAll() override {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    for (auto* h : handles_) {
      if (auto s = FromRocks(db_->Flush(fo, h), "flush"); !s.ok()) return s;
      rocksdb::CompactRangeOptions co;
      co.bottommost_level_compaction =
          rocksdb::BottommostLevelCompaction::kForce;
      if (auto s = FromRocks(db_->CompactRange(co, h, nullptr, nullptr),
                             "compact");
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status ScanWith(const rocksdb::ReadOptions& ro, Table table,
                        absl::string_view prefix, absl::string_view start_after,
                        const Visitor& visit) const {
    SkipPerfCounters();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, Handle(table)));
    if (start_after.empty() || start_after < prefix) {
      it->Seek(ToSlice(prefix));
    } else {
      it->Seek(ToSlice(start_after));
      if (it->Valid() && it->key() == ToSlice(start_after)) it->Next();
    }
    for (; it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (!k.starts_with(ToSlice(prefix))) break;
      rocksdb::Slice v = it->value();
      if (!visit(absl::string_view(k.data(), k.size()),
                 absl::string_view(v.data(), v.size()))) {
        break;
      }
    }
    return FromRocks(it->status(), "scan");
  }

  rocksdb::ColumnFamilyHandle* Handle(Table t) const {
    return handles_[static_cast<int>(t)];
  }

  const std::unique_ptr<rocksdb::DB> db_;
  const std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  const std::shared_ptr<rocksdb::Cache> block_cache_;
  const std::shared_ptr<rocksdb::Cache> row_cache_;  // or null
};

}  // namespace

absl::string_view TableName(Table table) {
  const int i = static_cast<int>(table);
  if (i == 0) return "meta";  // RocksDB's "default" family
  if (i < 0 || i >= kTableCount) return "unknown";
  return kFamilyNames[i];
}

absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(
    const RocksDbOptions& options) {
  rocksdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  // Durability comes from syncing the WAL on every acknowledged write; after
  // a crash, recover every write that reached the synced log.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.IncreaseParallelism(2);
  db_options.keep_log_file_num = 5;
  // Detokenize reads two random records (the token's, its subject's) per
  // call. With millions of tokens, the block cache holds a 4 KiB block for
  // each record read, and every read from a table file first searches the
  // file's index and filter; the row cache keeps just the records, keyed by
  // the (immutable) table file they came from, so it never holds a stale
  // value. On a vault of 10^7 tokens, once the row cache held the records
  // read, detokenize ran 15,600-17,300 calls/s against 11,500-12,700 without
  // it (BENCHMARKS.md, "Tried on 2026-11-23, 06:30-07:15").
  if (options.row_cache_bytes > 0) {
    db_options.row_cache = rocksdb::NewLRUCache(options.row_cache_bytes);
  }

  rocksdb::BlockBasedTableOptions table_options;
  // Made here even at RocksDB's own default size, so that Purge can empty it.
  table_options.block_cache = rocksdb::NewLRUCache(
      options.block_cache_bytes > 0 ? options.block_cache_bytes
                                    : size_t{8} << 20);
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.merge_operator = std::make_shared<CounterAddOperator>();
  // A bloom filter over the memtable's keys: most point reads on the request
  // path look for keys that are not there (a new value's dedup key, a new
  // subject), and the filter answers those without walking the skip list.
  cf_options.memtable_whole_key_filtering = true;
  cf_options.memtable_prefix_bloom_size_ratio = 0.02;
  // Memtables stay at RocksDB's 64 MiB. With 16 MiB the writer's random-key
  // inserts were cheaper, but RocksDB's compaction threads used five times
  // the CPU over a suite-like load (likely because L1 is sized for 64 MiB
  // flushes, so each smaller flush rewrote more of L1 per byte), and the p99
  // of tokenize at half of peak tripled (BENCHMARKS.md, "Tried on
  // 2026-11-23, 04:40-06:10").
  cf_options.table_factory.reset(
      rocksdb::NewBlockBasedTableFactory(table_options));

  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (int i = 0; i < kTableCount; ++i) {
    families.emplace_back(i == 0 ? rocksdb::kDefaultColumnFamilyName
                                 : std::string(kFamilyNames[i]),
                          cf_options);
  }
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, families,
                                        &handles, &raw);
  if (!s.ok()) return FromRocks(s, "open");
  return std::make_unique<RocksDbStore>(std::unique_ptr<rocksdb::DB>(raw),
                                        std::move(handles),
                                        table_options.block_cache,
                                        db_options.row_cache);
}

}  // namespace sandyq::storage
