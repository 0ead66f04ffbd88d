// Card numbers, expiry dates and the Luhn check. Test PANs from
// domain/kazakhstan.md §4.1 (public test cards).

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fields/fields.h"
#include "server/fields/token.h"
#include "tests/unit/fields/test_util.h"

namespace sandyq::fields {
namespace {

using ::sandyq::fields::testing::IsInvalid;
using ::sandyq::fields::testing::IsOkAndHolds;
using ::sandyq::fields::testing::NormalizedValue;

constexpr FieldType kCard = FieldType::kCardNumber;
constexpr FieldType kExpiry = FieldType::kCardExpiry;

TEST(LuhnTest, PublishedVectors) {
  EXPECT_TRUE(LuhnValid("4111111111111111"));
  EXPECT_TRUE(LuhnValid("5555555555554444"));
  EXPECT_TRUE(LuhnValid("4000056655665556"));
  EXPECT_TRUE(LuhnValid("378282246310005"));
  EXPECT_TRUE(LuhnValid("79927398713"));
  EXPECT_FALSE(LuhnValid("4111111111111112"));
  EXPECT_FALSE(LuhnValid("79927398710"));
}

TEST(LuhnTest, FalseOnNonDigitsAndEmpty) {
  EXPECT_FALSE(LuhnValid(""));
  EXPECT_FALSE(LuhnValid("4111 1111 1111 1111"));
  EXPECT_FALSE(LuhnValid("411111111111111a"));
  EXPECT_FALSE(LuhnValid("-4111111111111111"));
}

TEST(CardNumberTest, AcceptsLuhnValidPans) {
  for (const std::string pan :
       {"4111111111111111", "5555555555554444", "4000056655665556",
        "378282246310005", "4012888888881", "4111111111111111110"}) {
    SCOPED_TRACE(pan);
    EXPECT_THAT(NormalizedValue(kCard, pan), IsOkAndHolds(pan));
  }
}

TEST(CardNumberTest, RemovesSpacesAndHyphens) {
  EXPECT_THAT(NormalizedValue(kCard, " 4111 1111 1111 1111 "),
              IsOkAndHolds("4111111111111111"));
  EXPECT_THAT(NormalizedValue(kCard, "4111-1111-1111-1111"),
              IsOkAndHolds("4111111111111111"));
  EXPECT_THAT(NormalizedValue(kCard, "3782 822463 10005"),
              IsOkAndHolds("378282246310005"));
}

TEST(CardNumberTest, RejectsBadLuhn) {
  EXPECT_THAT(NormalizedValue(kCard, "4111111111111112"),
              IsInvalid("card_number: fails the Luhn check"));
}

TEST(CardNumberTest, RejectsWrongLengthAndNonDigits) {
  for (const std::string input : {
           "", "411111111111",  // 12 digits
           "41111111111111111110",  // 20 digits
           "4111.1111.1111.1111", "4111/1111/1111/1111", "411111111111111a",
           "\xEF\xBC\x94" "111111111111111",  // fullwidth 4
       }) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kCard, input),
                IsInvalid("card_number: must be 13-19 digits"));
  }
}

TEST(CardExpiryTest, NormalizesToYearMonth) {
  EXPECT_THAT(NormalizedValue(kExpiry, "01/27"), IsOkAndHolds("2027-01"));
  EXPECT_THAT(NormalizedValue(kExpiry, "12/2030"), IsOkAndHolds("2030-12"));
  EXPECT_THAT(NormalizedValue(kExpiry, "09 / 28"), IsOkAndHolds("2028-09"));
  EXPECT_THAT(NormalizedValue(kExpiry, " 09 /2028 "), IsOkAndHolds("2028-09"));
  EXPECT_THAT(NormalizedValue(kExpiry, "10/00"), IsOkAndHolds("2000-10"));
}

TEST(CardExpiryTest, RejectsBadShapes) {
  for (const std::string input :
       {"", "1/27", "01-27", "0127", "01/027", "01/27/01", "0a/27", "01/2a",
        "01//27", "/27", "01/"}) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kExpiry, input),
                IsInvalid("card_expiry: must be MM/YY or MM/YYYY"));
  }
}

TEST(CardExpiryTest, RejectsBadMonthAndYear) {
  EXPECT_THAT(NormalizedValue(kExpiry, "00/27"),
              IsInvalid("card_expiry: month must be 01-12"));
  EXPECT_THAT(NormalizedValue(kExpiry, "13/2027"),
              IsInvalid("card_expiry: month must be 01-12"));
  EXPECT_THAT(NormalizedValue(kExpiry, "01/1999"),
              IsInvalid("card_expiry: year must be 2000-2099"));
  EXPECT_THAT(NormalizedValue(kExpiry, "01/2100"),
              IsInvalid("card_expiry: year must be 2000-2099"));
}

}  // namespace
}  // namespace sandyq::fields
