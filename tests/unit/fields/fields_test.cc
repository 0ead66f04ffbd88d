// Field type names, the checks every type shares, dispatch, and the rule
// that error messages never contain any part of the input.

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fields/field_type.h"
#include "server/fields/fields.h"
#include "tests/unit/fields/test_util.h"

namespace sandyq::fields {
namespace {

using ::sandyq::fields::testing::IsInvalid;
using ::sandyq::fields::testing::NormalizedValue;
using ::sandyq::fields::testing::TestOptions;

TEST(FieldTypeTest, NamesAreStable) {
  EXPECT_EQ(FieldTypeName(FieldType::kFullName), "full_name");
  EXPECT_EQ(FieldTypeName(FieldType::kIin), "iin");
  EXPECT_EQ(FieldTypeName(FieldType::kPassport), "passport");
  EXPECT_EQ(FieldTypeName(FieldType::kPhone), "phone");
  EXPECT_EQ(FieldTypeName(FieldType::kCardNumber), "card_number");
  EXPECT_EQ(FieldTypeName(FieldType::kCardExpiry), "card_expiry");
  EXPECT_EQ(FieldTypeName(FieldType::kEmail), "email");
  EXPECT_EQ(FieldTypeName(FieldType::kDateOfBirth), "date_of_birth");
  EXPECT_EQ(FieldTypeName(FieldType::kAddress), "address");
  EXPECT_EQ(FieldTypeName(FieldType::kUnspecified), "unspecified");
  EXPECT_EQ(FieldTypeName(static_cast<FieldType>(99)), "unspecified");
}

TEST(FieldTypeTest, FromNumberRoundTripsKnownTypesOnly) {
  for (FieldType type : kAllFieldTypes) {
    EXPECT_EQ(FieldTypeFromNumber(static_cast<int>(type)), type);
  }
  for (int number = 1; number <= 9; ++number) {
    EXPECT_TRUE(FieldTypeFromNumber(number).has_value()) << number;
  }
  EXPECT_FALSE(FieldTypeFromNumber(0).has_value());
  EXPECT_FALSE(FieldTypeFromNumber(10).has_value());
  EXPECT_FALSE(FieldTypeFromNumber(-1).has_value());
}

TEST(NormalizeTest, RejectsUnknownType) {
  EXPECT_THAT(Normalize(FieldType::kUnspecified, "x", TestOptions()),
              IsInvalid("unspecified: unknown field type"));
  EXPECT_THAT(Normalize(static_cast<FieldType>(42), "x", TestOptions()),
              IsInvalid("unspecified: unknown field type"));
}

TEST(NormalizeTest, SharedChecksApplyToEveryType) {
  const std::string huge(10 * 1024 * 1024, '7');
  for (FieldType type : kAllFieldTypes) {
    const std::string name(FieldTypeName(type));
    SCOPED_TRACE(name);
    EXPECT_THAT(NormalizedValue(type, huge), IsInvalid(name + ": too long"));
    EXPECT_THAT(NormalizedValue(type, std::string(4097, 'a')),
                IsInvalid(name + ": too long"));
    EXPECT_THAT(NormalizedValue(type, std::string("12\0" "34", 5)),
                IsInvalid(name + ": contains a control character"));
    EXPECT_THAT(NormalizedValue(type, "12\x1B" "34"),
                IsInvalid(name + ": contains a control character"));
    EXPECT_THAT(NormalizedValue(type, "12\xC2\x9B" "34"),  // U+009B CSI
                IsInvalid(name + ": contains a control character"));
    EXPECT_THAT(NormalizedValue(type, "12\xFF" "34"),
                IsInvalid(name + ": not valid UTF-8"));
    EXPECT_THAT(NormalizedValue(type, "12\x80" "34"),
                IsInvalid(name + ": not valid UTF-8"));
    EXPECT_THAT(NormalizedValue(type, "12\xE0\x80\xAF" "34"),  // overlong
                IsInvalid(name + ": not valid UTF-8"));
    if (type != FieldType::kAddress) {
      EXPECT_THAT(NormalizedValue(type, "12\n34"),
                  IsInvalid(name + ": contains a control character"));
    }
  }
}

TEST(NormalizeTest, SearchKeyEqualsValueExceptForNames) {
  const std::vector<std::pair<FieldType, std::string>> inputs = {
      {FieldType::kIin, "850315300019"},
      {FieldType::kPassport, "n12345678"},
      {FieldType::kPhone, "8 701 234 56 78"},
      {FieldType::kCardNumber, "4111 1111 1111 1111"},
      {FieldType::kCardExpiry, "01/27"},
      {FieldType::kEmail, "Test@Mail.KZ"},
      {FieldType::kDateOfBirth, "1985-03-15"},
      {FieldType::kAddress, "ул. Тестовая, 1"},
  };
  for (const auto& [type, input] : inputs) {
    SCOPED_TRACE(FieldTypeName(type));
    absl::StatusOr<Normalized> n = Normalize(type, input, TestOptions());
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(n->search_key, n->value);
  }
  absl::StatusOr<Normalized> name =
      Normalize(FieldType::kFullName, "Әлия Тестова", TestOptions());
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->value, "Әлия Тестова");
  EXPECT_EQ(name->search_key, "АЛИЯ ТЕСТОВА");
}

// Invalid inputs for every type, each carrying a distinctive part that
// would show up if a message echoed the input.
std::vector<std::pair<FieldType, std::string>> InvalidInputs() {
  return {
      {FieldType::kFullName, "Айгерiм Тестова"},
      {FieldType::kFullName, "Әлия Тестова QZXW 42"},
      {FieldType::kFullName, "Қайрат <script>"},
      {FieldType::kFullName, "Нұрсұлтан\tТестов"},
      {FieldType::kFullName, "Тестов\xFF"},
      {FieldType::kFullName, std::string(201, 'Q')},
      {FieldType::kIin, "850315300018"},
      {FieldType::kIin, "850315302600"},
      {FieldType::kIin, "85031530001A"},
      {FieldType::kIin, "851315300011"},
      {FieldType::kIin, "850315700014"},
      {FieldType::kIin, "000229300015"},
      {FieldType::kIin, "IIN 850315300019 QZXW"},
      {FieldType::kPassport, "Н12345678"},
      {FieldType::kPassport, "N123"},
      {FieldType::kPassport, "N12345678QZXWQZXWQZXW"},
      {FieldType::kPhone, "+7 701 234 5678 ext 12"},
      {FieldType::kPhone, "+7 701 234 567"},
      {FieldType::kPhone, "8 800 QZXWQZX"},
      {FieldType::kPhone, "++77012345678"},
      {FieldType::kCardNumber, "4111111111111112"},
      {FieldType::kCardNumber, "4111 1111 1111 111Q"},
      {FieldType::kCardNumber, "4111111111"},
      {FieldType::kCardExpiry, "13/27"},
      {FieldType::kCardExpiry, "07/1999"},
      {FieldType::kCardExpiry, "QZ/XW"},
      {FieldType::kEmail, "qzxw..test@pochta.kz"},
      {FieldType::kEmail, "qzxw@pochta"},
      {FieldType::kEmail, "qzxw@-pochta.kz"},
      {FieldType::kEmail, "\"qzxw test\"@pochta.kz"},
      {FieldType::kEmail, "qzxw.pochta.kz"},
      {FieldType::kDateOfBirth, "1985-02-29"},
      {FieldType::kDateOfBirth, "2031-07-19"},
      {FieldType::kDateOfBirth, "15.03.1985"},
      {FieldType::kDateOfBirth, "1701-03-15"},
      {FieldType::kAddress, "ул. Тестовая\xE2\x80\xAE QZXW"},
      {FieldType::kAddress, "--- ,,, ..."},
      {FieldType::kAddress, std::string(501, 'Q')},
  };
}

TEST(NormalizeTest, ErrorMessagesNeverContainTheInput) {
  for (const auto& [type, input] : InvalidInputs()) {
    SCOPED_TRACE(absl::StrCat(FieldTypeName(type), " case"));
    absl::StatusOr<Normalized> n = Normalize(type, input, TestOptions());
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(n.status().message());
    EXPECT_TRUE(absl::StartsWith(message, absl::StrCat(FieldTypeName(type), ": ")))
        << message;
    for (size_t i = 0; i + 3 <= input.size(); ++i) {
      EXPECT_FALSE(absl::StrContains(message, input.substr(i, 3)))
          << "message \"" << message << "\" contains input bytes at " << i;
    }
  }
}

TEST(NormalizeTest, ErrorMessagesComeFromAFixedSet) {
  // Different personal data breaking the same rule gives the same message.
  std::set<std::string> messages;
  for (const std::string iin : {"850315300018", "920704412347", "770101355551"}) {
    messages.insert(std::string(
        Normalize(FieldType::kIin, iin, TestOptions()).status().message()));
  }
  for (const std::string name : {"Айгерiм", "Әлiя", "Қайрaт"}) {
    messages.insert(std::string(
        Normalize(FieldType::kFullName, name, TestOptions()).status().message()));
  }
  EXPECT_THAT(messages,
              ::testing::UnorderedElementsAre(
                  "iin: check digit does not match",
                  "full_name: mixes Latin and Cyrillic letters in one word"));
}

}  // namespace
}  // namespace sandyq::fields
