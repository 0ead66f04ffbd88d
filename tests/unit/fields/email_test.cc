// E-mail addresses (synthetic).

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

constexpr FieldType kEmail = FieldType::kEmail;

TEST(EmailTest, LowerCasesDomainOnly) {
  EXPECT_THAT(NormalizedValue(kEmail, "Test.User+tag@Mail.KZ"),
              IsOkAndHolds("Test.User+tag@mail.kz"));
  EXPECT_THAT(NormalizedValue(kEmail, "  a@b.kz "), IsOkAndHolds("a@b.kz"));
}

TEST(EmailTest, AcceptsAllAtextAndLdhDomains) {
  EXPECT_THAT(NormalizedValue(kEmail, "!#$%&'*+-/=?^_`{|}~.x@a-1.b2.kz"),
              IsOkAndHolds("!#$%&'*+-/=?^_`{|}~.x@a-1.b2.kz"));
  EXPECT_THAT(NormalizedValue(kEmail, "x@xn--80ao21a.kz"),  // IDN as ACE
              IsOkAndHolds("x@xn--80ao21a.kz"));
}

TEST(EmailTest, EnforcesLengthLimits) {
  const std::string local64(64, 'l');
  const std::string label63(63, 'd');
  EXPECT_THAT(NormalizedValue(kEmail, local64 + "@x.kz"),
              IsOkAndHolds(local64 + "@x.kz"));
  EXPECT_THAT(NormalizedValue(kEmail, local64 + "l@x.kz"),
              IsInvalid("email: local part is longer than 64 octets"));
  EXPECT_THAT(NormalizedValue(kEmail, "x@" + label63 + ".kz"),
              IsOkAndHolds("x@" + label63 + ".kz"));
  EXPECT_THAT(NormalizedValue(kEmail, "x@" + label63 + "d.kz"),
              IsInvalid("email: domain label must be 1-63 octets"));
  // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 octets.
  const std::string domain253 =
      label63 + "." + label63 + "." + label63 + "." + std::string(61, 'e');
  ASSERT_EQ(domain253.size(), 253u);
  EXPECT_THAT(NormalizedValue(kEmail, "x@" + domain253),
              IsOkAndHolds("x@" + domain253));
  EXPECT_THAT(NormalizedValue(kEmail, "x@" + domain253 + "e"),
              IsInvalid("email: domain is longer than 253 octets"));
}

TEST(EmailTest, RejectsBadAddresses) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"x.kz", "email: missing '@'"},
      {"@pochta.kz", "email: local part is empty"},
      {"a..b@pochta.kz", "email: local part has a misplaced dot"},
      {".ab@pochta.kz", "email: local part has a misplaced dot"},
      {"ab.@pochta.kz", "email: local part has a misplaced dot"},
      {"\"a b\"@pochta.kz",
       "email: local part has a character that is not allowed"},
      {"a@b@pochta.kz",
       "email: local part has a character that is not allowed"},
      {"\xC3\xA4@pochta.kz",  // ä
       "email: local part has a character that is not allowed"},
      {"ab@pochta", "email: domain must have at least two labels"},
      {"ab@", "email: domain label must be 1-63 octets"},
      {"ab@pochta..kz", "email: domain label must be 1-63 octets"},
      {"ab@pochta.kz.", "email: domain label must be 1-63 octets"},
      {"ab@.pochta.kz", "email: domain label must be 1-63 octets"},
      {"ab@-pochta.kz", "email: domain label starts or ends with a hyphen"},
      {"ab@pochta-.kz", "email: domain label starts or ends with a hyphen"},
      {"ab@[192.0.2.1]", "email: domain has a character that is not allowed"},
      {"ab@po_chta.kz", "email: domain has a character that is not allowed"},
      {"ab@\xD0\xBF\xD0\xBE.kz",  // Cyrillic domain
       "email: domain has a character that is not allowed"},
      {"ab @pochta.kz",
       "email: local part has a character that is not allowed"},
  };
  for (const auto& [input, message] : cases) {
    SCOPED_TRACE(input);
    EXPECT_THAT(NormalizedValue(kEmail, input), IsInvalid(message));
  }
}

}  // namespace
}  // namespace sandyq::fields
