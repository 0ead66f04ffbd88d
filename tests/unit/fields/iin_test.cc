// IIN vectors from domain/kazakhstan.md §1.5 (synthetic numbers).

#include <string>
#include <utility>
#include <vector>

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

constexpr FieldType kIin = FieldType::kIin;

const std::vector<std::string>& ValidVectors() {
  static const auto* const vectors = new std::vector<std::string>{
      "850315300019",  // first weights
      "920704412346",  //
      "000229500177",  // leap day of 2000
      "011231604200",  // leading zero
      "770101355550",  //
      "640822308156",  //
      "071107620249",  //
      "850315301801",  // fallback weights
      "061211600012",  // fallback weights
      "791028302728",  //
  };
  return *vectors;
}

TEST(IinTest, AcceptsEveryValidVector) {
  for (const std::string& iin : ValidVectors()) {
    SCOPED_TRACE(iin);
    EXPECT_THAT(NormalizedValue(kIin, iin), IsOkAndHolds(iin));
  }
}

TEST(IinTest, RejectsEveryInvalidVectorWithItsReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"850315300018", "iin: check digit does not match"},
      {"920704412347", "iin: check digit does not match"},
      {"850315301800", "iin: check digit does not match"},
      {"850315302600", "iin: prefix is unassignable (no valid check digit)"},
      {"85031530001", "iin: must be 12 digits"},
      {"8503153000190", "iin: must be 12 digits"},
      {"85031530001A", "iin: must be 12 digits"},
      {"851315300011", "iin: digits 1-6 are not a valid date"},
      {"850230300017", "iin: digits 1-6 are not a valid date"},
      {"850315700014", "iin: century digit must be 1-6"},
      // Bonus cases: wrong check digit and century 7; 29 Feb 1900.
      {"881204706651", "iin: check digit does not match"},
      {"000229300015", "iin: digits 1-6 are not a valid date"},
  };
  for (const auto& [input, message] : cases) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kIin, input), IsInvalid(message));
  }
}

TEST(IinTest, FallbackWeightsAreApplied) {
  // A validator without the fallback rejects these.
  EXPECT_THAT(NormalizedValue(kIin, "850315301801"),
              IsOkAndHolds("850315301801"));
  EXPECT_THAT(NormalizedValue(kIin, "061211600012"),
              IsOkAndHolds("061211600012"));
}

TEST(IinTest, UnassignablePrefixIsRejectedForEveryLastDigit) {
  // The Russian OKPO rule ("10 again means 0") would accept ...600.
  for (char last = '0'; last <= '9'; ++last) {
    EXPECT_THAT(NormalizedValue(kIin, std::string("85031530260") + last),
                IsInvalid("iin: prefix is unassignable (no valid check digit)"));
  }
}

TEST(IinTest, SameDigitsWithCentury2000AreValid) {
  // 000229300015 fails only because 1900 was not a leap year.
  EXPECT_THAT(NormalizedValue(kIin, "000229500177"),
              IsOkAndHolds("000229500177"));
}

TEST(IinTest, KeepsLeadingZero) {
  EXPECT_THAT(NormalizedValue(kIin, "011231604200"),
              IsOkAndHolds("011231604200"));
}

TEST(IinTest, TrimsSurroundingSpacesOnly) {
  EXPECT_THAT(NormalizedValue(kIin, "  850315300019 "),
              IsOkAndHolds("850315300019"));
  EXPECT_THAT(NormalizedValue(kIin, "850315 300019"),
              IsInvalid("iin: must be 12 digits"));
  EXPECT_THAT(NormalizedValue(kIin, "850315-300019"),
              IsInvalid("iin: must be 12 digits"));
  EXPECT_THAT(NormalizedValue(kIin, "\t850315300019"),
              IsInvalid("iin: contains a control character"));
}

TEST(IinTest, RejectsNonAsciiDigits) {
  // Fullwidth digits U+FF10..U+FF19.
  EXPECT_THAT(NormalizedValue(kIin, "\xEF\xBC\x98\xEF\xBC\x95"
                                    "0315300019"),
              IsInvalid("iin: must be 12 digits"));
  EXPECT_THAT(NormalizedValue(kIin, ""), IsInvalid("iin: must be 12 digits"));
  // Anchored: 12 valid digits followed by more are not accepted.
  EXPECT_THAT(NormalizedValue(kIin, "850315300019 1"),
              IsInvalid("iin: must be 12 digits"));
}

TEST(IinTest, LenientModeSkipsOnlyStructuralChecks) {
  const NormalizeOptions lenient = TestOptions(/*strict_iin=*/false);
  for (const std::string iin :
       {"851315300011", "850230300017", "850315700014", "000229300015"}) {
    SCOPED_TRACE(iin);
    EXPECT_THAT(NormalizedValue(kIin, iin, lenient), IsOkAndHolds(iin));
  }
  EXPECT_THAT(NormalizedValue(kIin, "881204706651", lenient),
              IsInvalid("iin: check digit does not match"));
  EXPECT_THAT(NormalizedValue(kIin, "850315302600", lenient),
              IsInvalid("iin: prefix is unassignable (no valid check digit)"));
  EXPECT_THAT(NormalizedValue(kIin, "85031530001A", lenient),
              IsInvalid("iin: must be 12 digits"));
}

TEST(IinTest, CenturyDigitSelectsTheCentury) {
  // Century digits 1-2 mean the 1800s: 1800 was not a leap year, 1804 was.
  // Check digits computed per §1.2.
  EXPECT_THAT(NormalizedValue(kIin, "000229100002"),
              IsInvalid("iin: digits 1-6 are not a valid date"));
  EXPECT_THAT(NormalizedValue(kIin, "040229200016"),
              IsOkAndHolds("040229200016"));
  // 1900 (digit 3) was not a leap year, 1996 was.
  EXPECT_THAT(NormalizedValue(kIin, "000229300005"),
              IsInvalid("iin: digits 1-6 are not a valid date"));
  EXPECT_THAT(NormalizedValue(kIin, "960229300004"),
              IsOkAndHolds("960229300004"));
}

TEST(IinTest, SearchKeyEqualsValue) {
  absl::StatusOr<Normalized> n = Normalize(kIin, " 850315300019", TestOptions());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->search_key, n->value);
}

}  // namespace
}  // namespace sandyq::fields
