#include "server/vault/subject_data.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
using ::sandyq::testing::MemoryStore;
using storage::Table;
using subject_test::DekCount;
using subject_test::HoldsAllOf;
using subject_test::HoldsAnythingOf;
using subject_test::KeyOf;
using subject_test::PlantSubject;
using subject_test::RewriteIndexToFormat1;
using subject_test::SubjectHashOf;
using subject_test::TableContents;

const std::string kA = SubjectHashOf('a');
const std::string kB = SubjectHashOf('b');

// Every (table, key) of the store.
std::set<std::pair<Table, std::string>> AllKeys(const storage::Store& store) {
  std::set<std::pair<Table, std::string>> out;
  for (int t = 0; t < storage::kTableCount; ++t) {
    for (const auto& [key, value] :
         TableContents(store, static_cast<Table>(t))) {
      out.emplace(static_cast<Table>(t), key);
    }
  }
  return out;
}

// The keys of `before` that `store` no longer holds.
std::set<std::pair<Table, std::string>> DeletedSince(
    const std::set<std::pair<Table, std::string>>& before,
    const storage::Store& store) {
  const std::set<std::pair<Table, std::string>> after = AllKeys(store);
  std::set<std::pair<Table, std::string>> deleted;
  for (const auto& key : before) {
    if (after.count(key) == 0) deleted.insert(key);
  }
  return deleted;
}

SubjectErasurePlan PlanOrDie(const storage::Store& store,
                             const std::string& hash) {
  absl::StatusOr<SubjectErasurePlan> plan = PlanSubjectErasure(store, hash);
  EXPECT_THAT(plan, IsOk());
  return plan.ok() ? std::move(*plan) : SubjectErasurePlan{};
}

TEST(PlanSubjectErasureTest, DeletesEverythingOfTheSubjectAndNothingElse) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1", "tok_a2"});
  PlantSubject(store, kB, {"tok_b1"});
  ASSERT_EQ(DekCount(store, 1), 2);
  const std::set<std::pair<Table, std::string>> before = AllKeys(store);

  SubjectErasurePlan plan = PlanOrDie(store, kA);
  EXPECT_TRUE(plan.found);
  EXPECT_EQ(plan.tokens, 2);
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());

  EXPECT_FALSE(HoldsAnythingOf(store, kA, {"tok_a1", "tok_a2"}));
  EXPECT_TRUE(HoldsAllOf(store, kB, {"tok_b1"}));
  // The data key is gone, and with it one DEK of KEK 1.
  EXPECT_EQ(DekCount(store, 1), 1);

  // `keys` names exactly what was deleted (for Purge).
  const std::set<std::pair<Table, std::string>> deleted =
      DeletedSince(before, store);
  using Keys = std::set<std::pair<Table, std::string>>;
  EXPECT_EQ(Keys(plan.keys.begin(), plan.keys.end()), deleted);
  EXPECT_EQ(plan.keys.size(), deleted.size());  // no key named twice
  EXPECT_THAT(plan.keys,
              ::testing::Contains(std::make_pair(Table::kSubjects, kA)));
  EXPECT_THAT(plan.keys,
              ::testing::Contains(std::make_pair(
                  Table::kIndex, keys::SubjectValueKey(kA, KeyOf('d', "tok_a2")))));
}

TEST(PlanSubjectErasureTest, DeletesEverythingOfAFormat1Subject) {
  // A backup taken before its vault's index was rewritten (Scrub erases in
  // it): format 1's dedup entries go too.
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1", "tok_a2"});
  PlantSubject(store, kB, {"tok_b1"});
  RewriteIndexToFormat1(store);
  ASSERT_TRUE(store.Get(Table::kIndex, keys::LegacyDedupKey(KeyOf('d', "tok_a1")))
                  .ok());
  const std::set<std::pair<Table, std::string>> before = AllKeys(store);

  SubjectErasurePlan plan = PlanOrDie(store, kA);
  EXPECT_EQ(plan.tokens, 2);
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());
  EXPECT_FALSE(HoldsAnythingOf(store, kA, {"tok_a1", "tok_a2"}));
  EXPECT_TRUE(store.Get(Table::kIndex, keys::LegacyDedupKey(KeyOf('d', "tok_b1")))
                  .ok());
  using Keys = std::set<std::pair<Table, std::string>>;
  EXPECT_EQ(Keys(plan.keys.begin(), plan.keys.end()), DeletedSince(before, store));
}

TEST(PlanSubjectErasureTest, DeletesFieldRecordsWithoutADedupKey) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1", "tok_a2"});
  PlantSubject(store, kB, {"tok_b1"});
  subject_test::DropDedupKeys(store, {"tok_a1"});  // as written today
  const std::set<std::pair<Table, std::string>> before = AllKeys(store);

  SubjectErasurePlan plan = PlanOrDie(store, kA);
  EXPECT_EQ(plan.tokens, 2);
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());
  EXPECT_FALSE(HoldsAnythingOf(store, kA, {"tok_a1", "tok_a2"}));
  EXPECT_TRUE(HoldsAllOf(store, kB, {"tok_b1"}));
  using Keys = std::set<std::pair<Table, std::string>>;
  EXPECT_EQ(Keys(plan.keys.begin(), plan.keys.end()), DeletedSince(before, store));
}

TEST(SubjectEntryKeysTest, NamesEachTokensValueOrTokenEntry) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1", "tok_a2"});
  PlantSubject(store, kB, {"tok_b1"});
  subject_test::DropDedupKeys(store, {"tok_a2"});
  // A token whose value retention destroyed.
  storage::WriteBatch batch;
  batch.Put(Table::kIndex, keys::SubjectTokenKey(kA, "tok_a3"), "");
  ASSERT_THAT(store.Write(batch, {.sync = true}), IsOk());

  absl::StatusOr<SubjectEntries> entries = SubjectEntryKeys(store, kA);
  ASSERT_THAT(entries, IsOk());
  using ::testing::ElementsAre;
  using ::testing::Pair;
  EXPECT_THAT(
      *entries,
      ::testing::UnorderedElementsAre(
          Pair("tok_a1", ElementsAre(keys::SubjectValueKey(kA, KeyOf('d', "tok_a1")))),
          Pair("tok_a2", ElementsAre(keys::SubjectValueKey(kA, KeyOf('d', "tok_a2")))),
          Pair("tok_a3", ElementsAre(keys::SubjectTokenKey(kA, "tok_a3")))));
  EXPECT_THAT(SubjectEntryKeys(store, SubjectHashOf('c')),
              ::sandyq::testing::IsOkAndHolds(::testing::IsEmpty()));
}

// Should a token have a stray second entry (one entry per token is the rule),
// both are listed, so that Rectify and retention leave neither behind.
TEST(SubjectEntryKeysTest, ListsEveryEntryOfAToken) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1"});
  storage::WriteBatch batch;
  batch.Put(Table::kIndex, keys::SubjectValueKey(kA, KeyOf('x', "tok_a1")), "tok_a1");
  ASSERT_THAT(store.Write(batch, {.sync = true}), IsOk());
  absl::StatusOr<SubjectEntries> entries = SubjectEntryKeys(store, kA);
  ASSERT_THAT(entries, IsOk());
  EXPECT_THAT(*entries,
              ::testing::ElementsAre(::testing::Pair(
                  "tok_a1", ::testing::UnorderedElementsAre(
                                keys::SubjectValueKey(kA, KeyOf('d', "tok_a1")),
                                keys::SubjectValueKey(kA, KeyOf('x', "tok_a1"))))));
}

TEST(PlanSubjectErasureTest, CountsDownTheKekThatWrapsTheSubjectsKey) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1"}, "v1", /*kek_version=*/3);
  PlantSubject(store, kB, {"tok_b1"}, "v1", /*kek_version=*/2);
  SubjectErasurePlan plan = PlanOrDie(store, kA);
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());
  EXPECT_EQ(DekCount(store, 3), 0);
  EXPECT_EQ(DekCount(store, 2), 1);
}

TEST(PlanSubjectErasureTest, UnknownSubjectIsNotFoundAndPlansNothing) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1"});
  SubjectErasurePlan plan = PlanOrDie(store, kB);
  EXPECT_FALSE(plan.found);
  EXPECT_EQ(plan.tokens, 0);
  EXPECT_TRUE(plan.batch.empty());
  EXPECT_TRUE(plan.keys.empty());
}

TEST(PlanSubjectErasureTest, SubjectWithoutADataKeyMovesNoCounter) {
  // Blocked or held before any value was stored: a record without a key.
  MemoryStore store;
  pb::SubjectRecord record;
  record.set_blocked(true);
  store.Poke(Table::kSubjects, kA, record.SerializeAsString());
  SubjectErasurePlan plan = PlanOrDie(store, kA);
  EXPECT_TRUE(plan.found);
  EXPECT_EQ(plan.tokens, 0);
  for (const storage::WriteBatch::Op& op : plan.batch.ops()) {
    EXPECT_NE(op.table, Table::kKeys);
  }
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());
  EXPECT_EQ(store.Count(Table::kSubjects), 0u);
}

TEST(PlanSubjectErasureTest, ConsentsAloneAreFoundAndDeleted) {
  MemoryStore store;
  PlantSubject(store, kA, {});
  store.Erase(Table::kSubjects, kA);
  SubjectErasurePlan plan = PlanOrDie(store, kA);
  EXPECT_TRUE(plan.found);
  EXPECT_EQ(plan.tokens, 0);
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());
  EXPECT_EQ(store.Count(Table::kConsents), 0u);
}

TEST(PlanSubjectErasureTest, FindsFieldsWhoseSubjectRecordIsAlreadyGone) {
  // A restored backup: the index names the subject, the key is long gone.
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1", "tok_a2"});
  PlantSubject(store, kB, {"tok_b1"});
  store.Erase(Table::kSubjects, kA);
  SubjectErasurePlan plan = PlanOrDie(store, kA);
  EXPECT_TRUE(plan.found);
  EXPECT_EQ(plan.tokens, 2);
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());
  EXPECT_FALSE(HoldsAnythingOf(store, kA, {"tok_a1", "tok_a2"}));
  // No key was deleted, so no counter moves.
  EXPECT_EQ(DekCount(store, 1), 2);
  EXPECT_TRUE(HoldsAllOf(store, kB, {"tok_b1"}));
}

TEST(PlanSubjectErasureTest, IndexEntryWithoutItsFieldIsDeletedButNotCounted) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1", "tok_a2"});
  store.Erase(Table::kFields, "tok_a2");
  SubjectErasurePlan plan = PlanOrDie(store, kA);
  EXPECT_EQ(plan.tokens, 1);
  ASSERT_THAT(store.Write(plan.batch, {.sync = true}), IsOk());
  EXPECT_FALSE(
      store.Get(Table::kIndex, keys::SubjectValueKey(kA, KeyOf('d', "tok_a2")))
          .ok());
  EXPECT_FALSE(HoldsAnythingOf(store, kA, {"tok_a1"}));
}

TEST(PlanSubjectErasureTest, KeepsWhatWasCollectedAfterTheErasureTime) {
  // Re-applying an old erasure (a restore) to a person collected again
  // since: only what predates the erasure goes.
  MemoryStore store;
  const absl::Time erased = absl::FromUnixSeconds(1767225600);
  const int64_t before = absl::ToUnixMicros(erased - absl::Hours(1));
  const int64_t after = absl::ToUnixMicros(erased + absl::Hours(1));
  PlantSubject(store, kA, {"tok_old"}, "v1", 1, before);
  store.Erase(Table::kSubjects, kA);  // erased once already
  PlantSubject(store, kA, {"tok_new"}, "v2", 1, after);

  absl::StatusOr<SubjectErasurePlan> plan =
      PlanSubjectErasure(store, kA, erased);
  ASSERT_THAT(plan, IsOk());
  EXPECT_TRUE(plan->found);
  EXPECT_EQ(plan->tokens, 1);
  ASSERT_THAT(store.Write(plan->batch, {.sync = true}), IsOk());
  EXPECT_FALSE(store.Get(Table::kFields, "tok_old").ok());
  EXPECT_FALSE(
      store.Get(Table::kIndex, keys::SubjectValueKey(kA, KeyOf('d', "tok_old")))
          .ok());
  EXPECT_FALSE(store
                   .Get(Table::kConsents,
                        keys::ConsentHistoryKey(kA, before, "marketing"))
                   .ok());
  EXPECT_TRUE(HoldsAllOf(store, kA, {"tok_new"}, after));
  EXPECT_EQ(DekCount(store, 1), 2);

  // Nothing older left: nothing found.
  plan = PlanSubjectErasure(store, kA, erased);
  ASSERT_THAT(plan, IsOk());
  EXPECT_FALSE(plan->found);
  EXPECT_TRUE(plan->batch.empty());
}

TEST(PlanSubjectErasureTest, PlanningChangesNothing) {
  MemoryStore store;
  PlantSubject(store, kA, {"tok_a1"});
  const int writes = store.writes();
  PlanOrDie(store, kA);
  EXPECT_EQ(store.writes(), writes);
  EXPECT_TRUE(HoldsAllOf(store, kA, {"tok_a1"}));
}

}  // namespace
}  // namespace sandyq::vault
