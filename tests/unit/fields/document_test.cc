// Passport and ID-card numbers (synthetic).

#include <string>
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

constexpr FieldType kPassport = FieldType::kPassport;

TEST(PassportTest, AcceptsKazakhAndForeignFormats) {
  EXPECT_THAT(NormalizedValue(kPassport, "N12345678"),
              IsOkAndHolds("N12345678"));  // KZ passport
  EXPECT_THAT(NormalizedValue(kPassport, "012345678"),
              IsOkAndHolds("012345678"));  // KZ ID card, leading zero kept
  EXPECT_THAT(NormalizedValue(kPassport, "AB1234567"),
              IsOkAndHolds("AB1234567"));
  EXPECT_THAT(NormalizedValue(kPassport, "A1234"), IsOkAndHolds("A1234"));
  EXPECT_THAT(NormalizedValue(kPassport, std::string(20, '7')),
              IsOkAndHolds(std::string(20, '7')));
}

TEST(PassportTest, UpperCasesAndRemovesSpacesAndHyphens) {
  EXPECT_THAT(NormalizedValue(kPassport, " n 1234-5678 "),
              IsOkAndHolds("N12345678"));
  EXPECT_THAT(NormalizedValue(kPassport, "ab-12 34 567"),
              IsOkAndHolds("AB1234567"));
}

TEST(PassportTest, RejectsCyrillicAndOtherCharacters) {
  for (const std::string input : {
           "\xD0\x9D" "12345678",  // Cyrillic Н
           "N12345678.", "N12345678/", "N_12345678", "N1234567\xC2\xA0" "8",
       }) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kPassport, input),
                IsInvalid("passport: only Latin letters and digits are "
                          "allowed"));
  }
}

TEST(PassportTest, RejectsWrongLength) {
  for (const std::string& input :
       std::vector<std::string>{"", "   ", "N123", "N-1-2-3",
                                std::string(21, '7')}) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kPassport, input),
                IsInvalid("passport: must be 5-20 letters and digits"));
  }
  EXPECT_THAT(NormalizedValue(kPassport, "N12345678\n"),
              IsInvalid("passport: contains a control character"));
}

}  // namespace
}  // namespace sandyq::fields
