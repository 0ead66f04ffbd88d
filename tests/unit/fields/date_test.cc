// Dates of birth; "today" is kToday (2026-01-01).

#include <string>

#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fields/fields.h"
#include "tests/unit/fields/test_util.h"

namespace sandyq::fields {
namespace {

using ::sandyq::fields::testing::IsInvalid;
using ::sandyq::fields::testing::IsOkAndHolds;
using ::sandyq::fields::testing::NormalizedValue;
using ::sandyq::fields::testing::TestOptions;

constexpr FieldType kDob = FieldType::kDateOfBirth;

TEST(DateOfBirthTest, AcceptsRealPastDates) {
  EXPECT_THAT(NormalizedValue(kDob, "1985-03-15"), IsOkAndHolds("1985-03-15"));
  EXPECT_THAT(NormalizedValue(kDob, " 1985-03-15 "),
              IsOkAndHolds("1985-03-15"));
  EXPECT_THAT(NormalizedValue(kDob, "2000-02-29"), IsOkAndHolds("2000-02-29"));
  EXPECT_THAT(NormalizedValue(kDob, "1850-01-01"), IsOkAndHolds("1850-01-01"));
  EXPECT_THAT(NormalizedValue(kDob, "2026-01-01"), IsOkAndHolds("2026-01-01"));
}

TEST(DateOfBirthTest, RejectsFutureAndTooOldDates) {
  EXPECT_THAT(NormalizedValue(kDob, "2026-01-02"),
              IsInvalid("date_of_birth: is in the future"));
  EXPECT_THAT(NormalizedValue(kDob, "2999-12-31"),
              IsInvalid("date_of_birth: is in the future"));
  EXPECT_THAT(NormalizedValue(kDob, "1849-12-31"),
              IsInvalid("date_of_birth: is before 1850"));
  EXPECT_THAT(NormalizedValue(kDob, "0000-01-01"),
              IsInvalid("date_of_birth: is before 1850"));
}

TEST(DateOfBirthTest, FutureIsRelativeToOptionsToday) {
  NormalizeOptions options = TestOptions();
  options.today = absl::CivilDay(2030, 6, 1);
  EXPECT_THAT(NormalizedValue(kDob, "2030-06-01", options),
              IsOkAndHolds("2030-06-01"));
  EXPECT_THAT(NormalizedValue(kDob, "2030-06-02", options),
              IsInvalid("date_of_birth: is in the future"));
}

TEST(DateOfBirthTest, RejectsImpossibleDates) {
  for (const std::string input :
       {"1985-02-29", "1900-02-29", "1985-13-01", "1985-00-10", "1985-04-31",
        "1985-01-00", "1985-01-32"}) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kDob, input),
                IsInvalid("date_of_birth: not a real calendar date"));
  }
}

TEST(DateOfBirthTest, RejectsOtherShapes) {
  for (const std::string input :
       {"", "1985-3-15", "15.03.1985", "1985/03/15", "19850315",
        "1985-03-15T00:00", "+985-03-15", "1985-03-1a",
        "\xEF\xBC\x91" "985-03-15"}) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kDob, input),
                IsInvalid("date_of_birth: must be YYYY-MM-DD"));
  }
}

}  // namespace
}  // namespace sandyq::fields
