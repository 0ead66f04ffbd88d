// Phone numbers, written to libphonenumber 8.12.57's actual behaviour.

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

constexpr FieldType kPhone = FieldType::kPhone;

TEST(PhoneTest, EveryWrittenFormOfAKazakhMobileGivesE164) {
  // domain/kazakhstan.md §3.3, plus a few more separators.
  for (const std::string input : {
           "+7 701 234 5678", "+7 (701) 234-56-78", "8 (701) 234-56-78",
           "8 701 234 56 78", "87012345678", "+77012345678", "77012345678",
           "7012345678", "(701) 234-56-78", "8.701.234.56.78",
           "8-701-234-56-78", "  +7 701 234 5678  ", "+(7) 701 2345678"}) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kPhone, input), IsOkAndHolds("+77012345678"));
  }
}

TEST(PhoneTest, AcceptsKazakhLandlines) {
  // Almaty 727 (subscriber numbers start with 2 or 3 in the metadata).
  EXPECT_THAT(NormalizedValue(kPhone, "+7 727 250 1234"),
              IsOkAndHolds("+77272501234"));
  EXPECT_THAT(NormalizedValue(kPhone, "8 (727) 350-12-34"),
              IsOkAndHolds("+77273501234"));
  // Astana 7172.
  EXPECT_THAT(NormalizedValue(kPhone, "8 7172 12 34 56"),
              IsOkAndHolds("+77172123456"));
  EXPECT_THAT(NormalizedValue(kPhone, "+7 (7172) 12-34-56"),
              IsOkAndHolds("+77172123456"));
}

TEST(PhoneTest, AcceptsForeignAndRussianNumbers) {
  EXPECT_THAT(NormalizedValue(kPhone, "+44 20 7946 0958"),
              IsOkAndHolds("+442079460958"));
  EXPECT_THAT(NormalizedValue(kPhone, "+49 30 1234567"),
              IsOkAndHolds("+49301234567"));
  EXPECT_THAT(NormalizedValue(kPhone, "+380 44 123 4567"),
              IsOkAndHolds("+380441234567"));
  // Zone 7 is shared: a Russian mobile is a valid phone, in E.164 or in the
  // national form with trunk prefix 8.
  EXPECT_THAT(NormalizedValue(kPhone, "+7 912 345 67 89"),
              IsOkAndHolds("+79123456789"));
  EXPECT_THAT(NormalizedValue(kPhone, "8 912 345 67 89"),
              IsOkAndHolds("+79123456789"));
  // Kazakh international prefix 8~10.
  EXPECT_THAT(NormalizedValue(kPhone, "8 10 44 20 7946 0958"),
              IsOkAndHolds("+442079460958"));
}

TEST(PhoneTest, RejectsLettersExtensionsAndOtherDecoration) {
  for (const std::string input : {
           "abc", "+7 701-ABC-5678", "8 800 FLOWERS",
           "+7 701 234 5678 ext 12", "+7 701 234 5678 x12",
           "+7 701 234 5678;ext=12", "+7 701 234 5678 #12",
           "+7 701 234 5678, 12", "tel:+77012345678", "+7/701/2345678",
           "\xEF\xBC\x8B\xEF\xBC\x97",  // fullwidth "+7"
       }) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kPhone, input),
                IsInvalid("phone: contains a character that is not allowed"));
  }
}

TEST(PhoneTest, AllowsPlusOnlyAtTheStart) {
  EXPECT_THAT(NormalizedValue(kPhone, "++77012345678"),
              IsInvalid("phone: '+' is only allowed first"));
  EXPECT_THAT(NormalizedValue(kPhone, "7+7012345678"),
              IsInvalid("phone: '+' is only allowed first"));
}

TEST(PhoneTest, RejectsWhatIsNotAValidNumber) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "phone: not a phone number"},
      {"+", "phone: not a phone number"},
      {"1", "phone: not a phone number"},
      {"+997 123 456 789", "phone: not a phone number"},  // no such code
      {"12345", "phone: not a valid number"},
      {"+7 701 234 567", "phone: not a valid number"},     // too short
      {"+7 701 234 56789", "phone: not a valid number"},   // too long
      {"+7 727 123 4567", "phone: not a valid number"},    // no such range
      {"+7 600 123 4567", "phone: not a valid number"},
      {"00 44 20 7946 0958", "phone: not a valid number"},  // 00 is not KZ
      {"+7 701 234 5678 12", "phone: not a valid number"},
  };
  for (const auto& [input, message] : cases) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kPhone, input), IsInvalid(message));
  }
  EXPECT_THAT(NormalizedValue(kPhone, std::string(65, '1')),
              IsInvalid("phone: too long"));
  EXPECT_THAT(NormalizedValue(kPhone, std::string(300, '1')),
              IsInvalid("phone: too long"));
  EXPECT_THAT(NormalizedValue(kPhone, "+7 701 234\t5678"),
              IsInvalid("phone: contains a control character"));
}

}  // namespace
}  // namespace sandyq::fields
