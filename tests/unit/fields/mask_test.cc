// Masks (DESIGN.md §4), on synthetic normalized values.

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fields/fields.h"

namespace sandyq::fields {
namespace {

TEST(MaskTest, CardNumberKeepsFirstSixAndLastFour) {
  EXPECT_EQ(Mask(FieldType::kCardNumber, "4111111111111111"),
            "411111******1111");
  EXPECT_EQ(Mask(FieldType::kCardNumber, "378282246310005"),
            "378282*****0005");
  EXPECT_EQ(Mask(FieldType::kCardNumber, "4012888888881"), "401288***8881");
  EXPECT_EQ(Mask(FieldType::kCardNumber, "4111111111111111110"),
            "411111*********1110");
}

TEST(MaskTest, KazakhPhoneKeepsOperatorPrefixAndLastTwo) {
  EXPECT_EQ(Mask(FieldType::kPhone, "+77012345678"), "+7 701 *** ** 78");
  EXPECT_EQ(Mask(FieldType::kPhone, "+77172123456"), "+7 717 *** ** 56");
}

TEST(MaskTest, OtherPhonesKeepCountryCodeAndLastTwo) {
  EXPECT_EQ(Mask(FieldType::kPhone, "+79123456789"), "+7 *** ** 89");
  EXPECT_EQ(Mask(FieldType::kPhone, "+442079460958"), "+44 *** ** 58");
  EXPECT_EQ(Mask(FieldType::kPhone, "+380441234567"), "+380 *** ** 67");
}

TEST(MaskTest, IinKeepsFirstTwoAndLastTwo) {
  EXPECT_EQ(Mask(FieldType::kIin, "850315300019"), "85********19");
}

TEST(MaskTest, FullNameKeepsFirstLetterOfEachWord) {
  EXPECT_EQ(Mask(FieldType::kFullName, "Әлия Тестова"), "Ә*** Т***");
  EXPECT_EQ(Mask(FieldType::kFullName, "Қайрат"), "Қ***");
  EXPECT_EQ(Mask(FieldType::kFullName, "Äliä Anna-Maria Testova"),
            "Ä*** A*** T***");
  EXPECT_EQ(Mask(FieldType::kFullName, "'Ali"), "A***");
  EXPECT_EQ(Mask(FieldType::kFullName, "Әлия ' Тестова"), "Ә*** *** Т***");
}

TEST(MaskTest, EmailKeepsFirstCodePointAndDomain) {
  EXPECT_EQ(Mask(FieldType::kEmail, "test.user@mail.kz"), "t***@mail.kz");
  EXPECT_EQ(Mask(FieldType::kEmail, "a@mail.kz"), "a***@mail.kz");
  // A whole code point, never half of one.
  EXPECT_EQ(Mask(FieldType::kEmail, "Әлия@mail.kz"), "Ә***@mail.kz");
}

TEST(MaskTest, PassportKeepsLastTwo) {
  EXPECT_EQ(Mask(FieldType::kPassport, "N12345678"), "*******78");
  EXPECT_EQ(Mask(FieldType::kPassport, "012345678"), "*******78");
}

TEST(MaskTest, ExpiryDateOfBirthAndAddress) {
  EXPECT_EQ(Mask(FieldType::kCardExpiry, "2027-01"), "****-**");
  EXPECT_EQ(Mask(FieldType::kDateOfBirth, "1985-03-15"), "1985-**-**");
  EXPECT_EQ(Mask(FieldType::kAddress, "г. Алматы, ул. Тестовая, д. 1"), "***");
}

TEST(MaskTest, MalformedValuesRevealNothing) {
  EXPECT_EQ(Mask(FieldType::kCardNumber, "4111-1111"), "***");
  EXPECT_EQ(Mask(FieldType::kPhone, "87012345678"), "***");
  EXPECT_EQ(Mask(FieldType::kPhone, "+7"), "***");
  EXPECT_EQ(Mask(FieldType::kIin, "85031530001"), "***");
  EXPECT_EQ(Mask(FieldType::kEmail, "no-at-sign"), "***");
  EXPECT_EQ(Mask(FieldType::kEmail, "@mail.kz"), "***");
  EXPECT_EQ(Mask(FieldType::kPassport, "N1"), "***");
  EXPECT_EQ(Mask(FieldType::kDateOfBirth, "15.03.1985"), "****-**-**");
  EXPECT_EQ(Mask(FieldType::kFullName, "\xD3"), "***");
  EXPECT_EQ(Mask(FieldType::kFullName, ""), "***");
  EXPECT_EQ(Mask(FieldType::kUnspecified, "anything"), "***");
  EXPECT_EQ(Mask(static_cast<FieldType>(42), "anything"), "***");
}

}  // namespace
}  // namespace sandyq::fields
