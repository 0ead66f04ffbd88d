#include "client/bench/synthetic_values.h"

#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "server/fields/fields.h"

namespace sandyq::bench {
namespace {

const std::vector<int> kAllTypes = {kFullName,   kIin,   kPassport,
                                    kPhone,      kCardNumber, kCardExpiry,
                                    kEmail,      kDateOfBirth, kAddress};
constexpr uint64_t kSubjects = 50;
constexpr uint64_t kSeed = 7;

using Triple = std::tuple<std::string, int, std::string>;

std::vector<Triple> Items(ItemOrder order, uint64_t from, uint64_t count) {
  SyntheticValues gen(kSeed, kAllTypes, kSubjects, order);
  std::vector<Triple> out;
  SyntheticItem item;
  for (uint64_t n = from; n < from + count; ++n) {
    gen.Make(n, &item);
    out.emplace_back(item.subject_id, item.type, item.value);
  }
  return out;
}

TEST(SyntheticValuesTest, BothOrdersHoldTheSameItemsInEveryBlock) {
  const uint64_t block = kSubjects * kAllTypes.size();
  for (uint64_t b = 0; b < 3; ++b) {
    const std::vector<Triple> by_subject =
        Items(ItemOrder::kBySubject, b * block, block);
    const std::vector<Triple> spread = Items(ItemOrder::kSpread, b * block, block);
    EXPECT_EQ(std::multiset<Triple>(by_subject.begin(), by_subject.end()),
              std::multiset<Triple>(spread.begin(), spread.end()))
        << "block " << b;
  }
}

TEST(SyntheticValuesTest, BySubjectGivesASubjectsFieldsInConsecutiveItems) {
  const std::vector<Triple> items = Items(ItemOrder::kBySubject, 0, 2 * 9);
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(std::get<0>(items[i]), std::get<0>(items[0])) << i;
    EXPECT_EQ(std::get<1>(items[i]), kAllTypes[i]) << i;
  }
  EXPECT_NE(std::get<0>(items[9]), std::get<0>(items[0]));
}

TEST(SyntheticValuesTest, SpreadGivesConsecutiveItemsToDistinctSubjects) {
  // Any kSubjects consecutive items, wherever they start, concern kSubjects
  // different people, and mix the field types.
  for (uint64_t from : {uint64_t{0}, uint64_t{17}, kSubjects * 9 - 5}) {
    const std::vector<Triple> items = Items(ItemOrder::kSpread, from, kSubjects);
    std::set<std::string> subjects;
    std::set<int> types;
    for (const Triple& t : items) {
      subjects.insert(std::get<0>(t));
      types.insert(std::get<1>(t));
    }
    EXPECT_EQ(subjects.size(), kSubjects) << "from " << from;
    EXPECT_EQ(types.size(), kAllTypes.size()) << "from " << from;
  }
}

TEST(SyntheticValuesTest, NoValueRepeatsAndEveryValueNormalizesToItsStoredForm) {
  // Four blocks: each subject's first four records.
  const uint64_t count = 4 * kSubjects * kAllTypes.size();
  for (ItemOrder order : {ItemOrder::kBySubject, ItemOrder::kSpread}) {
    std::set<Triple> seen;
    for (const Triple& t : Items(order, 0, count)) {
      EXPECT_TRUE(seen.insert(t).second)
          << "repeated " << std::get<1>(t) << " for " << std::get<0>(t);
      const fields::NormalizeOptions options{
          .today = absl::CivilDay(2026, 11, 22), .strict_iin = true};
      absl::StatusOr<fields::Normalized> stored = fields::Normalize(
          static_cast<fields::FieldType>(std::get<1>(t)), std::get<2>(t), options);
      ASSERT_TRUE(stored.ok()) << "type " << std::get<1>(t) << " of " << std::get<0>(t);
      // What `sandyq-bench verify` expects Detokenize to return.
      EXPECT_EQ(StoredForm(std::get<1>(t), std::get<2>(t)), stored->value)
          << "type " << std::get<1>(t) << " of " << std::get<0>(t);
    }
  }
}

}  // namespace
}  // namespace sandyq::bench
