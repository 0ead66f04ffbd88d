#include "server/vault/index_migration.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/storage/store.h"
#include "server/vault/records.h"
#include "tests/fakes/memory_store.h"
#include "tests/fakes/status_matchers.h"
#include "tests/unit/vault/subject_test_util.h"

namespace sandyq::vault {
namespace {

namespace pb = ::sandyq::internal::v1;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::MemoryStore;
using storage::Table;
using subject_test::KeyOf;
using subject_test::PlantSubject;
using subject_test::RewriteIndexToFormat1;
using subject_test::SubjectHashOf;
using subject_test::TableContents;
using Entry = std::optional<std::pair<std::string, std::string>>;

const std::string kA = SubjectHashOf('A');
const std::string kB = SubjectHashOf('B');
const std::string kC = SubjectHashOf('C');

std::vector<std::string> Tokens(absl::string_view stem, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat(stem, i));
  return out;
}

// Makes `token` of `subject_hash` depersonalized, as retention does: no
// value, no dedup key, a token entry instead of a value entry.
void Depersonalize(storage::Store& store, absl::string_view subject_hash,
                   const std::string& token) {
  pb::FieldRecord record;
  ASSERT_TRUE(record.ParseFromString(store.Get(Table::kFields, token).value()));
  storage::WriteBatch batch;
  batch.Delete(Table::kIndex,
               keys::SubjectValueKey(subject_hash, record.dedup_key()));
  batch.Delete(Table::kIndex, keys::BlindIndexKey(record.blind_index(), token));
  batch.Put(Table::kIndex, keys::SubjectTokenKey(subject_hash, token), "");
  record.clear_ciphertext();
  record.clear_dedup_key();
  record.clear_blind_index();
  record.set_depersonalized(true);
  batch.Put(Table::kFields, token, record.SerializeAsString());
  ASSERT_THAT(store.Write(batch, {.sync = true}), IsOk());
}

class IndexMigrationTest : public ::testing::Test {
 protected:
  FieldRecordReader Reader() {
    return [this](const std::string& token) {
      return store_.Get(Table::kFields, token);
    };
  }
  MemoryStore store_;
};

TEST_F(IndexMigrationTest, UpgradesEachKindOfEntry) {
  PlantSubject(store_, kA, {"tok_a1", "tok_a2"});
  ASSERT_NO_FATAL_FAILURE(Depersonalize(store_, kA, "tok_a2"));
  const std::string value_entry = keys::SubjectValueKey(kA, KeyOf('d', "tok_a1"));
  const Entry upgraded = std::make_pair(value_entry, std::string("tok_a1"));

  // Format 1's two entries of a value both give its format-2 entry.
  EXPECT_THAT(UpgradeIndexEntry(keys::LegacyDedupKey(KeyOf('d', "tok_a1")),
                                "tok_a1", Reader()),
              IsOkAndHolds(upgraded));
  EXPECT_THAT(UpgradeIndexEntry(keys::SubjectTokenKey(kA, "tok_a1"), "", Reader()),
              IsOkAndHolds(upgraded));
  // Unchanged: format-2 entries, blind-index entries, and the token entry of
  // a depersonalized token.
  EXPECT_THAT(UpgradeIndexEntry(value_entry, "tok_a1", Reader()),
              IsOkAndHolds(upgraded));
  const std::string blind = keys::BlindIndexKey(KeyOf('b', "tok_a1"), "tok_a1");
  EXPECT_THAT(UpgradeIndexEntry(blind, "", Reader()),
              IsOkAndHolds(Entry(std::make_pair(blind, std::string()))));
  const std::string gone = keys::SubjectTokenKey(kA, "tok_a2");
  EXPECT_THAT(UpgradeIndexEntry(gone, "", Reader()),
              IsOkAndHolds(Entry(std::make_pair(gone, std::string()))));
  // A dedup entry whose token has no field record leads nowhere: dropped.
  EXPECT_THAT(UpgradeIndexEntry(keys::LegacyDedupKey(KeyOf('d', "tok_x")),
                                "tok_x", Reader()),
              IsOkAndHolds(Entry(std::nullopt)));
}

TEST_F(IndexMigrationTest, RewritesAWholeStoreInBatchesAndOnlyOnce) {
  // More entries than one batch holds, and a depersonalized token.
  PlantSubject(store_, kA, Tokens("tok_a", 1200));
  PlantSubject(store_, kB, Tokens("tok_b", 300));
  PlantSubject(store_, kC, {"tok_c0", "tok_c1"});
  ASSERT_NO_FATAL_FAILURE(Depersonalize(store_, kC, "tok_c1"));
  const std::map<std::string, std::string> format2 =
      TableContents(store_, Table::kIndex);
  RewriteIndexToFormat1(store_);
  ASSERT_NE(TableContents(store_, Table::kIndex), format2);

  // Two entries per value (a dedup entry, a token entry) become one.
  EXPECT_THAT(MigrateIndexToFormat2(store_), IsOkAndHolds(2 * 1501));
  EXPECT_EQ(TableContents(store_, Table::kIndex), format2);
  EXPECT_THAT(MigrateIndexToFormat2(store_), IsOkAndHolds(0));
  EXPECT_EQ(TableContents(store_, Table::kIndex), format2);
}

TEST_F(IndexMigrationTest, FinishesAnIndexLeftHalfRewritten) {
  PlantSubject(store_, kA, Tokens("tok_a", 20));
  PlantSubject(store_, kB, Tokens("tok_b", 20));
  const std::map<std::string, std::string> format2 =
      TableContents(store_, Table::kIndex);
  RewriteIndexToFormat1(store_, kB);  // A's entries are already format 2
  EXPECT_THAT(MigrateIndexToFormat2(store_), IsOkAndHolds(2 * 20));
  EXPECT_EQ(TableContents(store_, Table::kIndex), format2);
}

TEST_F(IndexMigrationTest, ACrashPartWayLeavesAnIndexTheNextRunFinishes) {
  PlantSubject(store_, kA, Tokens("tok_a", 1200));
  PlantSubject(store_, kB, Tokens("tok_b", 300));
  const std::map<std::string, std::string> format2 =
      TableContents(store_, Table::kIndex);
  RewriteIndexToFormat1(store_);
  // The first batch is written, the second is not (the process dies).
  store_.FailWritesFromThe(2, absl::UnavailableError("disk gone"));
  EXPECT_FALSE(MigrateIndexToFormat2(store_).ok());
  store_.FailWrites(absl::OkStatus());
  // Every value can still be found, under one layout or the other.
  for (const std::string& subject : {kA, kB}) {
    for (const std::string& token :
         Tokens(subject == kA ? "tok_a" : "tok_b", subject == kA ? 1200 : 300)) {
      const std::string dedup = KeyOf('d', token);
      EXPECT_TRUE(
          store_.Get(Table::kIndex, keys::SubjectValueKey(subject, dedup)).ok() ||
          store_.Get(Table::kIndex, keys::LegacyDedupKey(dedup)).ok())
          << token;
    }
  }
  ASSERT_THAT(MigrateIndexToFormat2(store_), IsOk());
  EXPECT_EQ(TableContents(store_, Table::kIndex), format2);
}

TEST_F(IndexMigrationTest, MarksOnlyAFormat1VaultRecord) {
  storage::WriteBatch batch;
  ASSERT_THAT(MarkIndexMigrationPending(store_, batch), IsOk());
  EXPECT_TRUE(batch.empty()) << "no vault record";
  pb::VaultRecord vault;
  vault.set_format_version(1);
  vault.set_residency_country("KZ");
  store_.Poke(Table::kMeta, std::string(keys::kVaultRecord),
              vault.SerializeAsString());
  ASSERT_THAT(MarkIndexMigrationPending(store_, batch), IsOk());
  ASSERT_THAT(store_.Write(batch, {.sync = true}), IsOk());
  ASSERT_TRUE(vault.ParseFromString(
      store_.Get(Table::kMeta, keys::kVaultRecord).value()));
  // Format 2 (which builds of format 1 refuse), the rest unchanged.
  EXPECT_EQ(vault.format_version(), 2u);
  EXPECT_TRUE(vault.index_migration_pending());
  EXPECT_EQ(vault.residency_country(), "KZ");
  storage::WriteBatch again;
  ASSERT_THAT(MarkIndexMigrationPending(store_, again), IsOk());
  EXPECT_TRUE(again.empty()) << "format 2 already";
}

}  // namespace
}  // namespace sandyq::vault
