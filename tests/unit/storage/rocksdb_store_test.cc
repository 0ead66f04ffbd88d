#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/perf_level.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"

namespace sandyq::storage {
namespace {

using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

using KeyValues = std::vector<std::pair<std::string, std::string>>;

class RocksDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(Reopen(), IsOk()); }

  std::string path() const { return dir_.File("db"); }

  // Closes the store (if open) and opens the same directory again, with a
  // block cache of `block_cache_bytes` (0: RocksDB's own) and a row cache of
  // `row_cache_bytes` (0: none).
  absl::Status Reopen(size_t block_cache_bytes = 0, size_t row_cache_bytes = 0) {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(
        {.path = path(),
         .block_cache_bytes = block_cache_bytes,
         .row_cache_bytes = row_cache_bytes});
    if (!store.ok()) return store.status();
    store_ = std::move(*store);
    return absl::OkStatus();
  }

  absl::Status Put(Table table, absl::string_view key,
                   absl::string_view value) {
    WriteBatch batch;
    batch.Put(table, key, value);
    return store_->Write(batch, {});
  }

  // Everything Scan visits, in visiting order.
  KeyValues ScanAll(Table table, absl::string_view prefix,
                    absl::string_view start_after = "") {
    KeyValues out;
    EXPECT_THAT(store_->Scan(table, prefix, start_after,
                             [&](absl::string_view k, absl::string_view v) {
                               out.emplace_back(std::string(k), std::string(v));
                               return true;
                             }),
                IsOk());
    return out;
  }

  std::vector<std::string> ScanKeys(Table table, absl::string_view prefix,
                                    absl::string_view start_after = "") {
    std::vector<std::string> keys;
    for (auto& [k, v] : ScanAll(table, prefix, start_after)) {
      keys.push_back(k);
    }
    return keys;
  }

  ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(RocksDbStoreTest, GetReturnsNotFoundForMissingKey) {
  EXPECT_THAT(store_->Get(Table::kFields, "absent"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(RocksDbStoreTest, GetReturnsWrittenValue) {
  ASSERT_THAT(Put(Table::kFields, "k", "v"), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "k"), IsOkAndHolds("v"));
}

TEST_F(RocksDbStoreTest, StoresArbitraryBytesInKeysAndValues) {
  const std::string key("\x00\xff\x01key", 6);
  const std::string value("\xff\x00\x80", 3);
  ASSERT_THAT(Put(Table::kIndex, key, value), IsOk());
  EXPECT_THAT(store_->Get(Table::kIndex, key), IsOkAndHolds(value));
  EXPECT_THAT(store_->Get(Table::kIndex, std::string("\x00\xff\x01", 3)),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(RocksDbStoreTest, PutOverwritesValue) {
  ASSERT_THAT(Put(Table::kMeta, "k", "old"), IsOk());
  ASSERT_THAT(Put(Table::kMeta, "k", "new"), IsOk());
  EXPECT_THAT(store_->Get(Table::kMeta, "k"), IsOkAndHolds("new"));
}

TEST_F(RocksDbStoreTest, WriteAppliesEveryOperationAcrossTables) {
  ASSERT_THAT(Put(Table::kIndex, "stale", "x"), IsOk());
  WriteBatch batch;
  batch.Put(Table::kSubjects, "s", "subject");
  batch.Put(Table::kFields, "t", "record");
  batch.Put(Table::kIndex, "i", "");
  batch.Delete(Table::kIndex, "stale");
  batch.Put(Table::kAudit, EncodeU64(1), "event");
  ASSERT_THAT(store_->Write(batch, {.sync = true}), IsOk());

  EXPECT_THAT(store_->Get(Table::kSubjects, "s"), IsOkAndHolds("subject"));
  EXPECT_THAT(store_->Get(Table::kFields, "t"), IsOkAndHolds("record"));
  EXPECT_THAT(store_->Get(Table::kIndex, "i"), IsOkAndHolds(""));
  EXPECT_THAT(store_->Get(Table::kIndex, "stale"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(Table::kAudit, EncodeU64(1)), IsOkAndHolds("event"));
}

TEST_F(RocksDbStoreTest, WriteAppliesOperationsInBatchOrder) {
  WriteBatch batch;
  batch.Put(Table::kFields, "a", "1");
  batch.Delete(Table::kFields, "a");
  batch.Put(Table::kFields, "b", "1");
  batch.Put(Table::kFields, "b", "2");
  ASSERT_THAT(store_->Write(batch, {}), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "a"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(Table::kFields, "b"), IsOkAndHolds("2"));
}

TEST_F(RocksDbStoreTest, ALargeBatchKeepsTheOrderOfEachKeysOperations) {
  // The store applies a batch in key order (to make memtable inserts
  // cheaper); operations on one key, spread through a batch among others on
  // smaller and larger keys and on other tables, must still apply in batch
  // order. Large enough that an unstable sort would reorder them.
  WriteBatch batch;
  std::map<std::pair<Table, std::string>, std::optional<std::string>> expected;
  for (int i = 0; i < 600; ++i) {
    const Table table = i % 3 == 0 ? Table::kIndex : Table::kFields;
    const std::string key = absl::StrCat("k", (i * 7) % 11);
    if (i % 5 == 4) {
      batch.Delete(table, key);
      expected[{table, key}] = std::nullopt;
    } else {
      const std::string value = absl::StrCat("v", i);
      batch.Put(table, key, value);
      expected[{table, key}] = value;
    }
    batch.Add(Table::kMeta, "counter", 1);
  }
  ASSERT_THAT(store_->Write(batch, {}), IsOk());
  for (const auto& [where, value] : expected) {
    if (value.has_value()) {
      EXPECT_THAT(store_->Get(where.first, where.second), IsOkAndHolds(*value))
          << where.second;
    } else {
      EXPECT_THAT(store_->Get(where.first, where.second),
                  StatusIs(absl::StatusCode::kNotFound))
          << where.second;
    }
  }
  absl::StatusOr<std::string> counter = store_->Get(Table::kMeta, "counter");
  ASSERT_THAT(counter, IsOk());
  EXPECT_EQ(DecodeCounter(*counter), std::optional<int64_t>(600));
}

TEST_F(RocksDbStoreTest, AppendedBatchKeepsBothBatchesOperations) {
  WriteBatch first;
  first.Put(Table::kFields, "a", "1");
  WriteBatch second;
  second.Put(Table::kAudit, "b", "2");
  second.Delete(Table::kFields, "a");
  first.Append(std::move(second));
  EXPECT_EQ(first.size(), 3u);
  EXPECT_TRUE(second.empty());  // NOLINT(bugprone-use-after-move): documented
  ASSERT_THAT(store_->Write(first, {}), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "a"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(Table::kAudit, "b"), IsOkAndHolds("2"));
}

TEST_F(RocksDbStoreTest, EmptyBatchIsOk) {
  EXPECT_THAT(store_->Write(WriteBatch(), {}), IsOk());
}

TEST_F(RocksDbStoreTest, DeleteRemovesOnlyThatKey) {
  ASSERT_THAT(Put(Table::kFields, "a", "1"), IsOk());
  ASSERT_THAT(Put(Table::kFields, "b", "2"), IsOk());
  WriteBatch batch;
  batch.Delete(Table::kFields, "a");
  ASSERT_THAT(store_->Write(batch, {}), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "a"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(Table::kFields, "b"), IsOkAndHolds("2"));
  EXPECT_THAT(ScanKeys(Table::kFields, ""), ElementsAre("b"));
}

TEST_F(RocksDbStoreTest, DeleteOfMissingKeyIsOk) {
  WriteBatch batch;
  batch.Delete(Table::kFields, "never-written");
  EXPECT_THAT(store_->Write(batch, {}), IsOk());
}

TEST_F(RocksDbStoreTest, TablesAreSeparateKeySpaces) {
  ASSERT_THAT(Put(Table::kFields, "same", "fields"), IsOk());
  ASSERT_THAT(Put(Table::kIndex, "same", "index"), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "same"), IsOkAndHolds("fields"));
  EXPECT_THAT(store_->Get(Table::kIndex, "same"), IsOkAndHolds("index"));
  EXPECT_THAT(store_->Get(Table::kAudit, "same"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ScanAll(Table::kFields, ""), ElementsAre(Pair("same", "fields")));

  WriteBatch batch;
  batch.Delete(Table::kFields, "same");
  ASSERT_THAT(store_->Write(batch, {}), IsOk());
  EXPECT_THAT(store_->Get(Table::kIndex, "same"), IsOkAndHolds("index"));
}

TEST_F(RocksDbStoreTest, EveryTableHoldsData) {
  for (int i = 0; i < kTableCount; ++i) {
    ASSERT_THAT(Put(static_cast<Table>(i), "k", absl::StrCat("table", i)),
                IsOk());
  }
  for (int i = 0; i < kTableCount; ++i) {
    EXPECT_THAT(store_->Get(static_cast<Table>(i), "k"),
                IsOkAndHolds(absl::StrCat("table", i)));
  }
}

TEST_F(RocksDbStoreTest, StatsCountKeysInMemoryThenInTableFiles) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(Put(Table::kFields, absl::StrCat("k", i), std::string(100, 'v')),
                IsOk());
  }
  absl::StatusOr<StoreStats> before = store_->Stats();
  ASSERT_THAT(before, IsOk());
  const StoreStats::PerTable& fields =
      before->tables[static_cast<int>(Table::kFields)];
  EXPECT_EQ(fields.estimated_keys, 100u);
  EXPECT_GT(fields.memtable_bytes, 100u * 100u);
  EXPECT_EQ(fields.live_sst_bytes, 0u);
  EXPECT_EQ(before->tables[static_cast<int>(Table::kAudit)].estimated_keys, 0u);
  EXPECT_EQ(before->background_errors, 0u);

  ASSERT_THAT(store_->CompactAll(), IsOk());
  absl::StatusOr<StoreStats> after = store_->Stats();
  ASSERT_THAT(after, IsOk());
  const StoreStats::PerTable& flushed =
      after->tables[static_cast<int>(Table::kFields)];
  EXPECT_EQ(flushed.estimated_keys, 100u);
  EXPECT_GT(flushed.live_sst_bytes, 0u);
  EXPECT_LT(flushed.memtable_bytes, fields.memtable_bytes);
}

TEST_F(RocksDbStoreTest, BlockCacheHasTheSizeAskedForAndFillsOnReads) {
  ASSERT_THAT(Reopen(64 << 20), IsOk());
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(Put(Table::kFields, absl::StrCat("k", i), std::string(100, 'v')),
                IsOk());
  }
  ASSERT_THAT(store_->CompactAll(), IsOk());  // into table files
  absl::StatusOr<StoreStats> before = store_->Stats();
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->block_cache_capacity_bytes, uint64_t{64} << 20);
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(store_->Get(Table::kFields, absl::StrCat("k", i)), IsOk());
  }
  absl::StatusOr<StoreStats> after = store_->Stats();
  ASSERT_THAT(after, IsOk());
  EXPECT_GT(after->block_cache_usage_bytes, before->block_cache_usage_bytes);
}

// A retention or verification pass reads every block of a table; it must not
// push out of the cache what requests read.
TEST_F(RocksDbStoreTest, BulkScanVisitsEverythingWithoutFillingTheBlockCache) {
  ASSERT_THAT(Reopen(64 << 20), IsOk());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_THAT(Put(Table::kFields, absl::StrFormat("k%04d", i), std::string(1000, 'v')),
                IsOk());
  }
  ASSERT_THAT(store_->CompactAll(), IsOk());  // into table files
  auto usage = [&] {
    absl::StatusOr<StoreStats> stats = store_->Stats();
    EXPECT_THAT(stats, IsOk());
    return stats.ok() ? stats->block_cache_usage_bytes : 0;
  };
  const uint64_t before = usage();

  int visited = 0;
  ASSERT_THAT(store_->BulkScan(Table::kFields, "", "",
                               [&](absl::string_view, absl::string_view v) {
                                 visited += v.size() == 1000;
                                 return true;
                               }),
              IsOk());
  EXPECT_EQ(visited, 1000);
  // Less than one of the ~250 data blocks: at most an index or filter block.
  EXPECT_LT(usage(), before + 4096);

  ASSERT_THAT(store_->Scan(Table::kFields, "", "",
                           [](absl::string_view, absl::string_view) { return true; }),
              IsOk());
  EXPECT_GT(usage(), before + 500 * 1000);  // an ordinary scan fills it
}

// GetFromMemory never reads a table file: what only a file holds (until a
// Get brings its block into the block cache) is Unavailable.
TEST_F(RocksDbStoreTest, GetFromMemoryAnswersFromMemtablesAndTheBlockCacheOnly) {
  ASSERT_THAT(Reopen(64 << 20), IsOk());
  ASSERT_THAT(Put(Table::kFields, "on-disk", "v1"), IsOk());
  ASSERT_THAT(store_->CompactAll(), IsOk());  // into a table file
  ASSERT_THAT(Reopen(64 << 20), IsOk());      // with an empty block cache
  ASSERT_THAT(Put(Table::kFields, "in-memtable", "v2"), IsOk());

  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "in-memtable"),
              IsOkAndHolds("v2"));
  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "absent"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "on-disk"),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->Get(Table::kFields, "on-disk"), IsOkAndHolds("v1"));
  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "on-disk"),
              IsOkAndHolds("v1"));
}

TEST_F(RocksDbStoreTest, BlockCacheDefaultsToRocksDbsOwn) {
  absl::StatusOr<StoreStats> stats = store_->Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->block_cache_capacity_bytes, uint64_t{8} << 20);
  EXPECT_EQ(stats->row_cache_capacity_bytes, 0u);  // none unless asked for
}

// A record a Get found in a table file stays in the row cache, so that
// GetFromMemory answers it later even when its block has left the block
// cache (here a cache of one byte, which keeps no block once read).
TEST_F(RocksDbStoreTest, RowCacheKeepsRecordsReadFromTableFiles) {
  ASSERT_THAT(Put(Table::kFields, "read-once", "v1"), IsOk());
  ASSERT_THAT(Put(Table::kFields, "never-read", "v2"), IsOk());
  ASSERT_THAT(store_->CompactAll(), IsOk());  // into a table file
  ASSERT_THAT(Reopen(/*block_cache_bytes=*/1, /*row_cache_bytes=*/1 << 20),
              IsOk());
  absl::StatusOr<StoreStats> before = store_->Stats();
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->row_cache_capacity_bytes, uint64_t{1} << 20);
  EXPECT_EQ(before->row_cache_usage_bytes, 0u);

  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "read-once"),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->Get(Table::kFields, "read-once"), IsOkAndHolds("v1"));
  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "read-once"),
              IsOkAndHolds("v1"));
  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "never-read"),
              StatusIs(absl::StatusCode::kUnavailable));
  absl::StatusOr<StoreStats> after = store_->Stats();
  ASSERT_THAT(after, IsOk());
  EXPECT_GT(after->row_cache_usage_bytes, 0u);
}

// The row cache holds records by the table file they came from: a record
// changed or deleted since (in the memtable, or in a newer file after a
// compaction) is never answered from it.
TEST_F(RocksDbStoreTest, RowCacheNeverAnswersWithAnOlderValue) {
  ASSERT_THAT(Reopen(/*block_cache_bytes=*/1, /*row_cache_bytes=*/1 << 20),
              IsOk());
  ASSERT_THAT(Put(Table::kFields, "changed", "old"), IsOk());
  ASSERT_THAT(Put(Table::kFields, "deleted", "old"), IsOk());
  ASSERT_THAT(store_->CompactAll(), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "changed"), IsOkAndHolds("old"));
  EXPECT_THAT(store_->Get(Table::kFields, "deleted"), IsOkAndHolds("old"));

  ASSERT_THAT(Put(Table::kFields, "changed", "new"), IsOk());
  WriteBatch del;
  del.Delete(Table::kFields, "deleted");
  ASSERT_THAT(store_->Write(del, {}), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "changed"), IsOkAndHolds("new"));
  EXPECT_THAT(store_->Get(Table::kFields, "deleted"),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(store_->CompactAll(), IsOk());  // the old file is gone
  EXPECT_THAT(store_->Get(Table::kFields, "changed"), IsOkAndHolds("new"));
  EXPECT_THAT(store_->GetFromMemory(Table::kFields, "changed"),
              IsOkAndHolds("new"));
  EXPECT_THAT(store_->Get(Table::kFields, "deleted"),
              StatusIs(absl::StatusCode::kNotFound));
}

// Purge leaves nothing of a deleted record in memory either: the caches held
// it as read from a file that the purge deleted. They are emptied of all
// that no read is using, so a record of another table, whose file the purge
// did not touch, must be read from its file again.
TEST_F(RocksDbStoreTest, PurgeEmptiesTheCaches) {
  ASSERT_THAT(Put(Table::kFields, "erased", "v1"), IsOk());
  ASSERT_THAT(Put(Table::kSubjects, "other", "v2"), IsOk());
  ASSERT_THAT(store_->CompactAll(), IsOk());  // into table files
  ASSERT_THAT(Reopen(/*block_cache_bytes=*/64 << 20, /*row_cache_bytes=*/1 << 20),
              IsOk());
  ASSERT_THAT(store_->Get(Table::kFields, "erased"), IsOk());
  ASSERT_THAT(store_->Get(Table::kSubjects, "other"), IsOk());
  ASSERT_THAT(store_->GetFromMemory(Table::kSubjects, "other"), IsOk());
  absl::StatusOr<StoreStats> read = store_->Stats();
  ASSERT_THAT(read, IsOk());
  EXPECT_GT(read->row_cache_usage_bytes, 0u);

  WriteBatch erase;
  erase.Delete(Table::kFields, "erased");
  ASSERT_THAT(store_->Write(erase, {}), IsOk());
  ASSERT_THAT(store_->Purge({{Table::kFields, "erased"}}), IsOk());
  EXPECT_THAT(store_->GetFromMemory(Table::kSubjects, "other"),
              StatusIs(absl::StatusCode::kUnavailable));
  absl::StatusOr<StoreStats> purged = store_->Stats();
  ASSERT_THAT(purged, IsOk());
  EXPECT_EQ(purged->row_cache_usage_bytes, 0u);
  EXPECT_LT(purged->block_cache_usage_bytes, read->block_cache_usage_bytes);
  EXPECT_THAT(store_->Get(Table::kFields, "erased"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(Table::kSubjects, "other"), IsOkAndHolds("v2"));
}

TEST(TableNameTest, NamesEveryTable) {
  EXPECT_EQ(TableName(Table::kMeta), "meta");
  EXPECT_EQ(TableName(Table::kKeys), "keys");
  EXPECT_EQ(TableName(Table::kFields), "fields");
  EXPECT_EQ(TableName(Table::kAuditIndex), "audit_index");
  EXPECT_EQ(TableName(Table::kConsents), "consents");
}

int64_t Counter(Store& store, Table table, absl::string_view key) {
  absl::StatusOr<std::string> v = store.Get(table, key);
  if (absl::IsNotFound(v.status())) return 0;
  EXPECT_TRUE(v.ok()) << v.status();
  std::optional<int64_t> n = DecodeCounter(*v);
  EXPECT_TRUE(n.has_value());
  return n.value_or(-999);
}

TEST_F(RocksDbStoreTest, CountersAddUpAcrossBatchesAndSurviveReopen) {
  for (int64_t delta : {5, 7, -3}) {
    WriteBatch batch;
    batch.Add(Table::kMeta, "count", delta);
    ASSERT_THAT(store_->Write(batch, {}), IsOk());
  }
  EXPECT_EQ(Counter(*store_, Table::kMeta, "count"), 9);
  WriteBatch twice;
  twice.Add(Table::kKeys, "count", 1);
  twice.Add(Table::kKeys, "count", 1);
  ASSERT_THAT(store_->Write(twice, {}), IsOk());
  EXPECT_EQ(Counter(*store_, Table::kKeys, "count"), 2);
  ASSERT_THAT(Reopen(), IsOk());
  EXPECT_EQ(Counter(*store_, Table::kMeta, "count"), 9);
  EXPECT_EQ(Counter(*store_, Table::kKeys, "count"), 2);
  ASSERT_THAT(store_->CompactAll(), IsOk());
  EXPECT_EQ(Counter(*store_, Table::kMeta, "count"), 9);
}

TEST_F(RocksDbStoreTest, ConcurrentCounterAddsLoseNothing) {
  constexpr int kThreads = 4, kAdds = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAdds; ++i) {
        WriteBatch batch;
        batch.Add(Table::kMeta, "shared", 1);
        ASSERT_THAT(store_->Write(batch, {.sync = false}), IsOk());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Counter(*store_, Table::kMeta, "shared"), kThreads * kAdds);
}

class RocksDbScanTest : public RocksDbStoreTest {
 protected:
  void SetUp() override {
    RocksDbStoreTest::SetUp();
    WriteBatch batch;
    // Written out of order; "b\xff" checks that bytes sort unsigned.
    for (const char* key : {"b2", "a", "c", "b\xff", "b1", "b", "ab", "b3"}) {
      batch.Put(Table::kIndex, key, absl::StrCat("v:", key));
    }
    batch.Put(Table::kFields, "b0", "other table");
    ASSERT_THAT(store_->Write(batch, {}), IsOk());
  }
};

TEST_F(RocksDbScanTest, VisitsPrefixInKeyOrderAndStopsAtItsEnd) {
  EXPECT_THAT(
      ScanAll(Table::kIndex, "b"),
      ElementsAre(Pair("b", "v:b"), Pair("b1", "v:b1"), Pair("b2", "v:b2"),
                  Pair("b3", "v:b3"), Pair("b\xff", "v:b\xff")));
}

TEST_F(RocksDbScanTest, EmptyPrefixVisitsWholeTable) {
  EXPECT_THAT(ScanKeys(Table::kIndex, ""),
              ElementsAre("a", "ab", "b", "b1", "b2", "b3", "b\xff", "c"));
}

TEST_F(RocksDbScanTest, PrefixWithNoKeysVisitsNothing) {
  EXPECT_THAT(ScanKeys(Table::kIndex, "bb"), IsEmpty());
  EXPECT_THAT(ScanKeys(Table::kIndex, "d"), IsEmpty());
  EXPECT_THAT(ScanKeys(Table::kAuditIndex, ""), IsEmpty());
}

TEST_F(RocksDbScanTest, StartsStrictlyAfterAnExistingKey) {
  EXPECT_THAT(ScanKeys(Table::kIndex, "b", "b1"),
              ElementsAre("b2", "b3", "b\xff"));
  EXPECT_THAT(ScanKeys(Table::kIndex, "b", "b\xff"), IsEmpty());
}

TEST_F(RocksDbScanTest, StartsAfterAKeyThatIsNotStored) {
  EXPECT_THAT(ScanKeys(Table::kIndex, "b", "b15"),
              ElementsAre("b2", "b3", "b\xff"));
  EXPECT_THAT(ScanKeys(Table::kIndex, "", "aa"),
              ElementsAre("ab", "b", "b1", "b2", "b3", "b\xff", "c"));
}

TEST_F(RocksDbScanTest, StartAfterEqualToPrefixSkipsOnlyThePrefixKey) {
  EXPECT_THAT(ScanKeys(Table::kIndex, "b", "b"),
              ElementsAre("b1", "b2", "b3", "b\xff"));
}

TEST_F(RocksDbScanTest, StartAfterBeforePrefixStartsAtPrefix) {
  EXPECT_THAT(ScanKeys(Table::kIndex, "b", "a"),
              ElementsAre("b", "b1", "b2", "b3", "b\xff"));
}

TEST_F(RocksDbScanTest, StartAfterBeyondPrefixVisitsNothing) {
  EXPECT_THAT(ScanKeys(Table::kIndex, "b", "c"), IsEmpty());
}

TEST_F(RocksDbScanTest, StopsWhenVisitorReturnsFalse) {
  std::vector<std::string> seen;
  ASSERT_THAT(store_->Scan(Table::kIndex, "b", "",
                           [&](absl::string_view k, absl::string_view) {
                             seen.emplace_back(k);
                             return seen.size() < 2;
                           }),
              IsOk());
  EXPECT_THAT(seen, ElementsAre("b", "b1"));
}

TEST_F(RocksDbScanTest, DoesNotSeeDeletedKeys) {
  WriteBatch batch;
  batch.Delete(Table::kIndex, "b2");
  ASSERT_THAT(store_->Write(batch, {}), IsOk());
  EXPECT_THAT(ScanKeys(Table::kIndex, "b"),
              ElementsAre("b", "b1", "b3", "b\xff"));
}

TEST_F(RocksDbScanTest, SeesASnapshotWhileTheVisitorWrites) {
  std::vector<std::string> seen;
  ASSERT_THAT(store_->Scan(Table::kIndex, "b", "",
                           [&](absl::string_view k, absl::string_view) {
                             seen.emplace_back(k);
                             if (k == "b") {
                               EXPECT_THAT(Put(Table::kIndex, "b0", ""),
                                           IsOk());
                             }
                             return true;
                           }),
              IsOk());
  EXPECT_THAT(seen, ElementsAre("b", "b1", "b2", "b3", "b\xff"));
  EXPECT_THAT(store_->Get(Table::kIndex, "b0"), IsOkAndHolds(""));
}

TEST_F(RocksDbStoreTest, ScanVisitsEncodedNumbersInNumericOrder) {
  const std::vector<uint64_t> numbers = {
      256, 1, 0x8000000000000000, 255, 2, 0x100000000, 128, 127};
  WriteBatch batch;
  for (uint64_t n : numbers) batch.Put(Table::kAudit, EncodeU64(n), "");
  ASSERT_THAT(store_->Write(batch, {}), IsOk());
  std::vector<uint64_t> seen;
  for (const std::string& key : ScanKeys(Table::kAudit, "")) {
    seen.push_back(DecodeU64(key).value());
  }
  std::vector<uint64_t> sorted = numbers;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(seen, sorted);
}

TEST_F(RocksDbStoreTest, ReopenKeepsSyncedWrites) {
  WriteBatch batch;
  batch.Put(Table::kMeta, "vault", "record");
  batch.Put(Table::kAudit, EncodeU64(7), "event");
  ASSERT_THAT(store_->Write(batch, {.sync = true}), IsOk());
  WriteBatch removal;
  removal.Delete(Table::kMeta, "vault");
  removal.Put(Table::kMeta, "other", "x");
  ASSERT_THAT(store_->Write(removal, {.sync = true}), IsOk());

  ASSERT_THAT(Reopen(), IsOk());
  EXPECT_THAT(store_->Get(Table::kMeta, "vault"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(Table::kMeta, "other"), IsOkAndHolds("x"));
  EXPECT_THAT(store_->Get(Table::kAudit, EncodeU64(7)), IsOkAndHolds("event"));
  EXPECT_THAT(ScanKeys(Table::kAudit, ""), ElementsAre(EncodeU64(7)));
}

TEST_F(RocksDbStoreTest, ReopenAfterCompactionKeepsData) {
  ASSERT_THAT(Put(Table::kFields, "t", "record"), IsOk());
  ASSERT_THAT(store_->CompactAll(), IsOk());
  ASSERT_THAT(Reopen(), IsOk());
  EXPECT_THAT(store_->Get(Table::kFields, "t"), IsOkAndHolds("record"));
}

TEST_F(RocksDbStoreTest, OpenFailsForMissingPathWithoutCreate) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(
      {.path = dir_.File("missing"), .create_if_missing = false});
  EXPECT_FALSE(store.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.File("missing/CURRENT")));
}

TEST_F(RocksDbStoreTest, SecondOpenOfTheSameDirectoryFails) {
  // RocksDB locks its directory: two stores on one vault would corrupt it.
  EXPECT_FALSE(OpenRocksDbStore({.path = path()}).ok());
}

// Whether any file under `dir` other than RocksDB's info logs contains
// `needle`.
bool AnyDataFileContains(const std::string& dir, absl::string_view needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "LOG")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    if (absl::StrContains(content, needle)) return true;
  }
  return false;
}

TEST_F(RocksDbStoreTest, CompactAllRemovesDeletedValuesFromDisk) {
  // No 4-byte run in common, so block compression stores each verbatim.
  const std::string erased = "ERASED-7Hq2Vn9Kx";
  const std::string kept = "KEPT-b4Tz8Mw3Jy";
  ASSERT_THAT(Put(Table::kFields, "erased", erased), IsOk());
  ASSERT_THAT(Put(Table::kFields, "kept", kept), IsOk());
  // Push both into table files first, as an old value would be.
  ASSERT_THAT(store_->CompactAll(), IsOk());
  ASSERT_TRUE(AnyDataFileContains(path(), erased));

  WriteBatch batch;
  batch.Delete(Table::kFields, "erased");
  ASSERT_THAT(store_->Write(batch, {}), IsOk());
  ASSERT_THAT(store_->CompactAll(), IsOk());

  EXPECT_FALSE(AnyDataFileContains(path(), erased));
  EXPECT_TRUE(AnyDataFileContains(path(), kept));
  EXPECT_THAT(store_->Get(Table::kFields, "kept"), IsOkAndHolds(kept));
  EXPECT_THAT(store_->Get(Table::kFields, "erased"),
              StatusIs(absl::StatusCode::kNotFound));
}

// RocksDB's per-thread counters (perf_context) cost every key comparison a
// thread-local lookup in the shared library; the store turns them off on
// each thread that reads or writes, since sandyq reads none of them.
TEST_F(RocksDbStoreTest, ReadsWritesAndScansTurnOffRocksDbsPerThreadCounters) {
  ASSERT_THAT(Put(Table::kFields, "k", "v"), IsOk());
  struct Case {
    const char* name;
    std::function<void()> operation;
  };
  const std::vector<Case> cases = {
      {"write", [&] { EXPECT_THAT(Put(Table::kFields, "k2", "v"), IsOk()); }},
      {"get",
       [&] { EXPECT_THAT(store_->Get(Table::kFields, "k"), IsOkAndHolds("v")); }},
      {"scan", [&] { EXPECT_EQ(ScanAll(Table::kFields, "k").size(), 2u); }},
  };
  for (const Case& c : cases) {
    // A fresh thread starts with RocksDB's default level.
    std::thread([&] {
      ASSERT_NE(rocksdb::GetPerfLevel(), rocksdb::PerfLevel::kDisable)
          << c.name;
      c.operation();
      EXPECT_EQ(rocksdb::GetPerfLevel(), rocksdb::PerfLevel::kDisable)
          << c.name;
    }).join();
  }
}

}  // namespace
}  // namespace sandyq::storage
