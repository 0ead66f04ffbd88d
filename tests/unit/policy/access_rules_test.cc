#include "server/policy/access_rules.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandyq::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::shared_ptr<const RevocationList> ParseOrDie(const std::string& text) {
  absl::StatusOr<std::shared_ptr<const RevocationList>> list =
      RevocationList::Parse(text, "revoked.txt");
  EXPECT_TRUE(list.ok()) << list.status();
  return list.value_or(nullptr);
}

TEST(RevocationListTest, EmptyFileRevokesNothing) {
  for (const char* text : {"", "\n\n", "# nothing yet\n   \n"}) {
    std::shared_ptr<const RevocationList> list = ParseOrDie(text);
    ASSERT_NE(list, nullptr);
    EXPECT_TRUE(list->empty());
    EXPECT_FALSE(list->Contains("0A1B"));
  }
  EXPECT_FALSE(RevocationList().Contains("0A1B"));
}

TEST(RevocationListTest, TakesSerialsAsOpensslPrintsThem) {
  std::shared_ptr<const RevocationList> list = ParseOrDie(
      "# compromised services\n"
      "serial=0A1B2C3D\n"                 // openssl x509 -noout -serial
      "c0:ff:ee:01\n"                     // openssl x509 -noout -text
      "   00DEADBEEF   # payments, 2026-03\n"
      "SERIAL=7\n");
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->size(), 4u);
  EXPECT_TRUE(list->Contains("A1B2C3D"));
  EXPECT_TRUE(list->Contains("C0FFEE01"));
  EXPECT_TRUE(list->Contains("DEADBEEF"));
  EXPECT_TRUE(list->Contains("7"));
  // However the caller spells it.
  EXPECT_TRUE(list->Contains("0a1b2c3d"));
  EXPECT_TRUE(list->Contains("serial=0000C0FFEE01"));
  EXPECT_FALSE(list->Contains("A1B2C3E"));
  EXPECT_FALSE(list->Contains(""));
  EXPECT_FALSE(list->Contains("not hex"));
}

TEST(RevocationListTest, ListingASerialTwiceIsFine) {
  std::shared_ptr<const RevocationList> list =
      ParseOrDie("0A1B\nserial=0a1b\n");
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->size(), 1u);
}

TEST(RevocationListTest, CanonicalFormIsUpperCaseHexWithoutLeadingZeros) {
  EXPECT_EQ(RevocationList::Canonical("0a:1b"), "A1B");
  EXPECT_EQ(RevocationList::Canonical(" serial=00FF "), "FF");
  EXPECT_EQ(RevocationList::Canonical("0"), "0");
  EXPECT_EQ(RevocationList::Canonical("0000"), "0");
  EXPECT_EQ(RevocationList::Canonical(""), "");
  EXPECT_EQ(RevocationList::Canonical("serial="), "");
  EXPECT_EQ(RevocationList::Canonical("0x1F"), "");
  EXPECT_EQ(RevocationList::Canonical("-1F"), "");
  // At most 20 octets, however many leading zeros.
  const std::string forty(40, 'F');
  EXPECT_EQ(RevocationList::Canonical(forty), forty);
  EXPECT_EQ(RevocationList::Canonical("00" + forty), forty);
  EXPECT_EQ(RevocationList::Canonical("1" + forty), "");
}

TEST(RevocationListTest, EveryBadLineIsReportedByNumberWithoutItsText) {
  absl::StatusOr<std::shared_ptr<const RevocationList>> list =
      RevocationList::Parse(
          "0A1B\n"
          "not-a-serial\n"
          "# fine\n"
          "0x1F  # a C literal\n"
          "\n" +
              std::string(41, '9') + "\n",
          "/etc/sandyq/revoked.txt");
  ASSERT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(list.status().message());
  std::vector<std::string> lines = absl::StrSplit(message, '\n');
  ASSERT_EQ(lines.size(), 3u) << message;
  EXPECT_THAT(lines[0], StartsWith("/etc/sandyq/revoked.txt:2: "));
  EXPECT_THAT(lines[1], StartsWith("/etc/sandyq/revoked.txt:4: "));
  EXPECT_THAT(lines[2], StartsWith("/etc/sandyq/revoked.txt:6: "));
  EXPECT_THAT(lines[0], HasSubstr("not a certificate serial"));
  EXPECT_THAT(message, Not(HasSubstr("not-a-serial")));
  EXPECT_THAT(message, Not(HasSubstr("0x1F")));
}

TEST(RevocationListTest, WindowsLineEndingsAreFine) {
  std::shared_ptr<const RevocationList> list = ParseOrDie("0A1B\r\n0C\r\n");
  ASSERT_NE(list, nullptr);
  EXPECT_TRUE(list->Contains("A1B"));
  EXPECT_TRUE(list->Contains("C"));
}

}  // namespace
}  // namespace sandyq::policy
