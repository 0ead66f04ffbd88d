// Full names and addresses. Names are generic given names with obviously
// made-up surnames.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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

constexpr FieldType kName = FieldType::kFullName;
constexpr FieldType kAddress = FieldType::kAddress;

// NFD spellings: Й = И + U+0306 COMBINING BREVE, Ё = Е + U+0308 DIAERESIS.
constexpr char kShortINfd[] = "\xD0\xB8\xCC\x86";   // и + breve
constexpr char kShortINfc[] = "\xD0\xB9";           // й
constexpr char kIoNfd[] = "\xD0\x95\xCC\x88";       // Е + diaeresis
constexpr char kIoNfc[] = "\xD0\x81";               // Ё

absl::StatusOr<std::string> SearchKey(absl::string_view input) {
  absl::StatusOr<Normalized> n = Normalize(kName, input, TestOptions());
  if (!n.ok()) return n.status();
  return n->search_key;
}

TEST(FullNameTest, KeepsWellFormedNameAsGiven) {
  EXPECT_THAT(NormalizedValue(kName, "Әлия Тестова"),
              IsOkAndHolds("Әлия Тестова"));
  EXPECT_THAT(NormalizedValue(kName, "Нұрсұлтан Үлгіұлы"),
              IsOkAndHolds("Нұрсұлтан Үлгіұлы"));
}

TEST(FullNameTest, TrimsAndCollapsesWhitespace) {
  EXPECT_THAT(NormalizedValue(kName, "   Қайрат    Тестов  "),
              IsOkAndHolds("Қайрат Тестов"));
  // U+00A0 NO-BREAK SPACE and U+2003 EM SPACE count as spaces.
  EXPECT_THAT(NormalizedValue(kName, "Қайрат\xC2\xA0\xE2\x80\x83Тестов"),
              IsOkAndHolds("Қайрат Тестов"));
}

TEST(FullNameTest, NfdInputGivesTheSameValueAsNfc) {
  const std::string nfc = absl::StrCat("А", kShortINfc, "герім Тестова");
  const std::string nfd = absl::StrCat("А", kShortINfd, "герім Тестова");
  ASSERT_NE(nfc, nfd);
  EXPECT_THAT(NormalizedValue(kName, nfd), IsOkAndHolds(nfc));
  EXPECT_THAT(NormalizedValue(kName, nfc), IsOkAndHolds(nfc));
  const absl::StatusOr<std::string> nfd_key = SearchKey(nfd);
  ASSERT_TRUE(nfd_key.ok()) << nfd_key.status();
  EXPECT_THAT(SearchKey(nfc), IsOkAndHolds(*nfd_key));

  EXPECT_THAT(NormalizedValue(kName, absl::StrCat(kIoNfd, "ркін Тестов")),
              IsOkAndHolds(absl::StrCat(kIoNfc, "ркін Тестов")));
}

TEST(FullNameTest, AcceptsKazakhLatinAlphabets) {
  // 2021: Ä Ö Ü Ū Ğ Ş Ñ İ ı; 2018: acute accents; 2017: apostrophes.
  for (const std::string name :
       {"Äliä Testova", "Nūrsūltan Testov", "Şynar Öñtestova", "Ğalym Ütestov",
        "Qaırat İtestov", "Ǵalym Testov", "Áliá Ńúrý", "Sh'ynar Testova"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(NormalizedValue(kName, name), IsOkAndHolds(name));
  }
}

TEST(FullNameTest, AcceptsHyphenAndThreeApostrophes) {
  EXPECT_THAT(NormalizedValue(kName, "Анна-Мария Тестова"),
              IsOkAndHolds("Анна-Мария Тестова"));
  EXPECT_THAT(NormalizedValue(kName, "Sh'ynar"), IsOkAndHolds("Sh'ynar"));
  EXPECT_THAT(NormalizedValue(kName, "Sh\xE2\x80\x99ynar"),  // U+2019
              IsOkAndHolds("Sh\xE2\x80\x99ynar"));
  EXPECT_THAT(NormalizedValue(kName, "Sh\xCA\xBCynar"),  // U+02BC
              IsOkAndHolds("Sh\xCA\xBCynar"));
}

TEST(FullNameTest, RejectsLatinLookAlikeInsideCyrillicWord) {
  // Latin i (U+0069) instead of Kazakh і (U+0456).
  EXPECT_THAT(NormalizedValue(kName, "Айгерiм Тестова"),
              IsInvalid("full_name: mixes Latin and Cyrillic letters in one "
                        "word"));
  // Latin Ə (U+018F) instead of Cyrillic Ә (U+04D8).
  EXPECT_THAT(NormalizedValue(kName, "\xC6\x8Fлия"),
              IsInvalid("full_name: mixes Latin and Cyrillic letters in one "
                        "word"));
  // Different scripts in different words are fine.
  EXPECT_THAT(NormalizedValue(kName, "Әлия Testova"),
              IsOkAndHolds("Әлия Testova"));
}

TEST(FullNameTest, RejectsCharactersOutsideTheNameAlphabet) {
  for (const std::string name : {
           "Әлия 2",                     // digit
           "Әлия@Тестова",               // symbol
           "Әлия, Тестова",              // punctuation
           "Әлия\xE2\x80\x8BТестова",    // U+200B ZERO WIDTH SPACE
           "Әлия \xF0\x9F\x98\x80",      // emoji
           "A\xCC\xB2lia",               // U+0332 does not compose
           "\xCE\x91\xCE\xBB\xCE\xB9",   // Greek
           "\xEF\xBC\xA1li",             // fullwidth A
           "Әлия\xE2\x80\x90Тестова",    // U+2010 HYPHEN
       }) {
    SCOPED_TRACE(name);
    EXPECT_THAT(NormalizedValue(kName, name),
                IsInvalid("full_name: contains a character that is not "
                          "allowed"));
  }
}

TEST(FullNameTest, RejectsControlCharactersAndBadUtf8) {
  EXPECT_THAT(NormalizedValue(kName, "Әлия\tТестова"),
              IsInvalid("full_name: contains a control character"));
  EXPECT_THAT(NormalizedValue(kName, "Әлия\nТестова"),
              IsInvalid("full_name: contains a control character"));
  EXPECT_THAT(NormalizedValue(kName, std::string("Әлия\0Т", 10)),
              IsInvalid("full_name: contains a control character"));
  EXPECT_THAT(NormalizedValue(kName, "Әлия\xC2\x85"),  // U+0085 (C1)
              IsInvalid("full_name: contains a control character"));
  EXPECT_THAT(NormalizedValue(kName, "\xD3"),  // truncated
              IsInvalid("full_name: not valid UTF-8"));
  EXPECT_THAT(NormalizedValue(kName, "\xC0\xAF"),  // overlong '/'
              IsInvalid("full_name: not valid UTF-8"));
  EXPECT_THAT(NormalizedValue(kName, "\xED\xA0\x80"),  // surrogate
              IsInvalid("full_name: not valid UTF-8"));
  EXPECT_THAT(NormalizedValue(kName, "\xF4\x90\x80\x80"),  // > U+10FFFF
              IsInvalid("full_name: not valid UTF-8"));
}

TEST(FullNameTest, RequiresALetter) {
  EXPECT_THAT(NormalizedValue(kName, ""), IsInvalid("full_name: is empty"));
  EXPECT_THAT(NormalizedValue(kName, "   "), IsInvalid("full_name: is empty"));
  EXPECT_THAT(NormalizedValue(kName, "- ' \xCA\xBC"),
              IsInvalid("full_name: must contain a letter"));
}

TEST(FullNameTest, LimitsLengthAfterNormalization) {
  std::string cyrillic_200;
  for (int i = 0; i < 200; ++i) cyrillic_200 += "ә";
  EXPECT_THAT(NormalizedValue(kName, cyrillic_200), IsOkAndHolds(cyrillic_200));
  EXPECT_THAT(NormalizedValue(kName, cyrillic_200 + "ә"),
              IsInvalid("full_name: longer than 200 characters"));
  // 200 NFD й (600 bytes, 400 code points) are 200 code points in NFC.
  std::string nfd_200, nfc_200;
  for (int i = 0; i < 200; ++i) {
    nfd_200 += kShortINfd;
    nfc_200 += kShortINfc;
  }
  EXPECT_THAT(NormalizedValue(kName, "  " + nfd_200 + "  "),
              IsOkAndHolds(nfc_200));
  // Separating spaces count; trimmed ones do not.
  std::string words;
  for (int i = 0; i < 100; ++i) words += "ә ";
  EXPECT_THAT(NormalizedValue(kName, words),
              IsOkAndHolds(words.substr(0, words.size() - 1)));
  EXPECT_THAT(NormalizedValue(kName, words + "ә"),
              IsInvalid("full_name: longer than 200 characters"));
  // Raw input is refused before any Unicode work.
  EXPECT_THAT(NormalizedValue(kName, std::string(5000, ' ') + "Әлия"),
              IsInvalid("full_name: too long"));
}

TEST(FullNameSearchKeyTest, FoldsKazakhLettersAndCase) {
  EXPECT_THAT(SearchKey("Қайрат"), IsOkAndHolds("КАИРАТ"));
  EXPECT_THAT(SearchKey("ҚАЙРАТ"), IsOkAndHolds("КАИРАТ"));
  EXPECT_THAT(SearchKey("Кайрат"), IsOkAndHolds("КАИРАТ"));
  EXPECT_THAT(SearchKey("қайрат"), IsOkAndHolds("КАИРАТ"));
  EXPECT_THAT(SearchKey("Нұрсұлтан"), IsOkAndHolds("НУРСУЛТАН"));
  EXPECT_THAT(SearchKey("Нурсултан"), IsOkAndHolds("НУРСУЛТАН"));
  EXPECT_THAT(SearchKey("Айгерім Тестова"), IsOkAndHolds("АИГЕРИМ ТЕСТОВА"));
  EXPECT_THAT(SearchKey("Айгерим тестова"), IsOkAndHolds("АИГЕРИМ ТЕСТОВА"));
  EXPECT_THAT(SearchKey("Әлия Тестова"), IsOkAndHolds("АЛИЯ ТЕСТОВА"));
}

TEST(FullNameSearchKeyTest, FoldsEveryKazakhLetter) {
  // Ә Ғ Қ Ң Ө Ұ Ү Һ І and lower case, plus Ё Й.
  EXPECT_THAT(SearchKey("ӘҒҚҢӨҰҮҺІ әғқңөұүһі Ёё Йй"),
              IsOkAndHolds("АГКНОУУХИ АГКНОУУХИ ЕЕ ИИ"));
}

TEST(FullNameSearchKeyTest, StripsLatinDiacriticsAndApostrophes) {
  EXPECT_THAT(SearchKey("Äliä Testova"), IsOkAndHolds("ALIA TESTOVA"));
  EXPECT_THAT(SearchKey("Nūrsūltan"), IsOkAndHolds("NURSULTAN"));
  EXPECT_THAT(SearchKey("Şynar"), IsOkAndHolds("SYNAR"));
  EXPECT_THAT(SearchKey("Qaırat"), IsOkAndHolds("QAIRAT"));  // dotless ı
  EXPECT_THAT(SearchKey("İlyas"), IsOkAndHolds("ILYAS"));    // dotted İ
  EXPECT_THAT(SearchKey("Ǵalym Ñ"), IsOkAndHolds("GALYM N"));
  EXPECT_THAT(SearchKey("Sh'ynar"), IsOkAndHolds("SHYNAR"));
  EXPECT_THAT(SearchKey("Sh\xE2\x80\x99ynar"), IsOkAndHolds("SHYNAR"));
  EXPECT_THAT(SearchKey("Sh\xCA\xBCynar"), IsOkAndHolds("SHYNAR"));
  EXPECT_THAT(SearchKey("Anna-Maria Weiß"), IsOkAndHolds("ANNA-MARIA WEISS"));
}

TEST(FullNameSearchKeyTest, DropsApostropheOnlyWords) {
  EXPECT_THAT(SearchKey("Әлия ' Тестова"), IsOkAndHolds("АЛИЯ ТЕСТОВА"));
  EXPECT_THAT(NormalizedValue(kName, "Әлия ' Тестова"),
              IsOkAndHolds("Әлия ' Тестова"));
}

TEST(AddressTest, NormalizesWhitespaceIncludingLineBreaks) {
  EXPECT_THAT(
      NormalizedValue(kAddress,
                      "  г. Алматы,\r\n\tул. Тестовая,  д. 1\n\nкв. 2  "),
      IsOkAndHolds("г. Алматы, ул. Тестовая, д. 1 кв. 2"));
  // U+2028 LINE SEPARATOR and U+00A0.
  EXPECT_THAT(NormalizedValue(kAddress, "д. 1\xE2\x80\xA8\xC2\xA0кв. 2"),
              IsOkAndHolds("д. 1 кв. 2"));
}

TEST(AddressTest, NormalizesToNfcAndKeepsSearchKeyEqual) {
  const std::string nfd = absl::StrCat("ул. Ба", kShortINfd, "тұрсынов");
  const std::string nfc = absl::StrCat("ул. Ба", kShortINfc, "тұрсынов");
  absl::StatusOr<Normalized> n = Normalize(kAddress, nfd, TestOptions());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->value, nfc);
  EXPECT_EQ(n->search_key, nfc);
}

TEST(AddressTest, AcceptsPunctuationSymbolsAndDigits) {
  EXPECT_THAT(NormalizedValue(kAddress, "Test St. 1/2 #3 (rear) № 4"),
              IsOkAndHolds("Test St. 1/2 #3 (rear) № 4"));
  EXPECT_THAT(NormalizedValue(kAddress, "1"), IsOkAndHolds("1"));
}

TEST(AddressTest, RejectsInvisibleAndUnassignedCharacters) {
  for (const std::string address : {
           "ул. Тестовая\xE2\x80\xAE 1",  // U+202E RIGHT-TO-LEFT OVERRIDE
           "ул.\xE2\x80\x8BТестовая",     // U+200B ZERO WIDTH SPACE
           "ул. \xEE\x80\x80",            // U+E000 private use
           "ул. \xCD\xB8",                // U+0378 unassigned
           "ул. \xEF\xB7\x90",            // U+FDD0 noncharacter
       }) {
    SCOPED_TRACE(address);
    EXPECT_THAT(NormalizedValue(kAddress, address),
                IsInvalid("address: contains a character that is not "
                          "allowed"));
  }
}

TEST(AddressTest, RejectsControlCharactersOtherThanLineBreaks) {
  EXPECT_THAT(NormalizedValue(kAddress, "ул.\x07 1"),
              IsInvalid("address: contains a control character"));
  EXPECT_THAT(NormalizedValue(kAddress, std::string("ул.\0 1", 7)),
              IsInvalid("address: contains a control character"));
  EXPECT_THAT(NormalizedValue(kAddress, "ул.\x7F 1"),
              IsInvalid("address: contains a control character"));
  EXPECT_THAT(NormalizedValue(kAddress, "ул.\x0B 1"),  // vertical tab
              IsInvalid("address: contains a control character"));
}

TEST(AddressTest, RequiresLetterOrDigitAndLimitsLength) {
  EXPECT_THAT(NormalizedValue(kAddress, " \n\t "),
              IsInvalid("address: is empty"));
  EXPECT_THAT(NormalizedValue(kAddress, "-- , ."),
              IsInvalid("address: must contain a letter or digit"));
  std::string max(500, 'a');
  EXPECT_THAT(NormalizedValue(kAddress, max), IsOkAndHolds(max));
  EXPECT_THAT(NormalizedValue(kAddress, max + "a"),
              IsInvalid("address: longer than 500 characters"));
  std::string cyrillic_500;
  for (int i = 0; i < 500; ++i) cyrillic_500 += "ә";
  EXPECT_THAT(NormalizedValue(kAddress, cyrillic_500),
              IsOkAndHolds(cyrillic_500));
  EXPECT_THAT(NormalizedValue(kAddress, std::string(4097, 'a')),
              IsInvalid("address: too long"));
}

}  // namespace
}  // namespace sandyq::fields
