// Token formats: property tests over many draws from a deterministic
// FakeRandom, plus scripted and constant sources for the retry paths.

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fields/token.h"
#include "tests/fakes/fake_random.h"

namespace sandyq::fields {
namespace {

using ::sandyq::testing::ConstantRandom;
using ::sandyq::testing::FakeRandom;

bool IsBase64Url(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_';
  });
}

// Whether `token` contains a run of 4 consecutive characters of `value`,
// ignoring ASCII case.
bool HasRunOfValue(absl::string_view token, absl::string_view value) {
  const std::string lower_value = absl::AsciiStrToLower(value);
  const std::string lower_token = absl::AsciiStrToLower(token);
  for (size_t i = 0; i + 4 <= lower_token.size(); ++i) {
    if (absl::StrContains(lower_value, lower_token.substr(i, 4))) return true;
  }
  return false;
}

// Returns `first` for the first Fill, then delegates to a FakeRandom.
class ScriptedRandom final : public platform::Random {
 public:
  explicit ScriptedRandom(std::string first) : first_(std::move(first)) {}
  void Fill(absl::Span<uint8_t> out) override {
    if (!used_ && out.size() == first_.size()) {
      std::copy(first_.begin(), first_.end(), out.begin());
      used_ = true;
      return;
    }
    rest_.Fill(out);
  }

 private:
  std::string first_;
  bool used_ = false;
  FakeRandom rest_{7};
};

TEST(OpaqueTokenTest, HasPrefixAndTwentyFourBase64UrlChars) {
  FakeRandom random(1);
  for (int i = 0; i < 1000; ++i) {
    const std::string token =
        NewToken(FieldType::kPhone, "+77012345678", random);
    ASSERT_EQ(token.size(), 27u);
    ASSERT_TRUE(absl::StartsWith(token, "sq_"));
    ASSERT_TRUE(IsBase64Url(token.substr(3))) << token;
    ASSERT_TRUE(LooksLikeToken(token));
  }
}

TEST(OpaqueTokenTest, CarriesAtLeast128RandomBits) {
  FakeRandom random(2);
  const std::string token = NewToken(FieldType::kEmail, "a@mail.kz", random);
  std::string bytes;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token.substr(3), &bytes));
  EXPECT_EQ(bytes.size() * 8, 144u);
  EXPECT_GE(kOpaqueTokenRandomBytes * 8, 128u);
}

TEST(OpaqueTokenTest, ManyDrawsAreUnique) {
  FakeRandom random(3);
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(seen.insert(NewToken(FieldType::kIin, "850315300019", random))
                    .second);
  }
}

TEST(OpaqueTokenTest, NeverContainsARunOfTheValue) {
  // A long value made of token characters makes collisions frequent enough
  // to exercise the redraw on every few calls.
  std::string value;
  FakeRandom value_random(11);
  const absl::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 500; ++i) {
    value.push_back(alphabet[value_random.Uniform(alphabet.size())]);
  }
  FakeRandom random(4);
  for (int i = 0; i < 2000; ++i) {
    const std::string token = NewToken(FieldType::kAddress, value, random);
    ASSERT_FALSE(HasRunOfValue(token, value)) << token;
  }
}

TEST(OpaqueTokenTest, RedrawsACandidateContainingTheValue) {
  // First candidate decodes to "sq_TEST1234AAAA...": it contains "test"
  // (case-insensitively) from the value and must be redrawn.
  std::string first;
  ASSERT_TRUE(absl::WebSafeBase64Unescape("TEST1234AAAAAAAAAAAAAAAA", &first));
  ASSERT_EQ(first.size(), kOpaqueTokenRandomBytes);
  ScriptedRandom random(first);
  const std::string token =
      NewToken(FieldType::kEmail, "test@mail.kz", random);
  EXPECT_NE(token, "sq_TEST1234AAAAAAAAAAAAAAAA");
  EXPECT_FALSE(HasRunOfValue(token, "test@mail.kz"));
  EXPECT_TRUE(LooksLikeToken(token));
}

TEST(OpaqueTokenTest, ValueContainingThePrefixCannotForceEndlessRedraws) {
  // "sq_" followed by every token character: every candidate's first window
  // matches, so only the random part can be kept clean.
  std::string value;
  const absl::string_view alphabet =
      "abcdefghijklmnopqrstuvwxyz0123456789-_";
  for (char c : alphabet) value += std::string("sq_") + c + " ";
  FakeRandom random(5);
  for (int i = 0; i < 100; ++i) {
    const std::string token = NewToken(FieldType::kAddress, value, random);
    ASSERT_FALSE(HasRunOfValue(token.substr(3), value)) << token;
  }
}

TEST(OpaqueTokenTest, ConstantRandomTerminates) {
  ConstantRandom random(0);  // every candidate is "sq_AAAA..."
  const std::string token = NewToken(FieldType::kFullName, "AAAA", random);
  EXPECT_EQ(token, "sq_AAAAAAAAAAAAAAAAAAAAAAAA");
}

// Checks the card-token properties for 1000 draws.
void ExpectCardTokens(const std::string& pan, uint64_t seed) {
  SCOPED_TRACE(pan);
  ASSERT_TRUE(LuhnValid(pan));
  FakeRandom random(seed);
  std::set<std::string> middles;
  for (int i = 0; i < 1000; ++i) {
    const std::string token = NewToken(FieldType::kCardNumber, pan, random);
    ASSERT_EQ(token.size(), pan.size());
    ASSERT_TRUE(std::all_of(token.begin(), token.end(),
                            [](char c) { return c >= '0' && c <= '9'; }));
    ASSERT_EQ(token.substr(0, 6), pan.substr(0, 6));
    ASSERT_EQ(token.substr(token.size() - 4), pan.substr(pan.size() - 4));
    ASSERT_FALSE(LuhnValid(token)) << token;
    ASSERT_TRUE(LooksLikeToken(token));
    middles.insert(token.substr(6, token.size() - 10));
  }
  // The middle is random: 13-digit PANs have only 3 random digits (at most
  // 900 Luhn-invalid middles), longer ones nearly never repeat.
  if (pan.size() == 13) {
    EXPECT_GT(middles.size(), 500u);
  } else {
    EXPECT_GT(middles.size(), 950u);
  }
}

TEST(CardTokenTest, FormatPreservingAndLuhnInvalid) {
  ExpectCardTokens("4111111111111111", 21);
  ExpectCardTokens("5555555555554444", 22);
  ExpectCardTokens("4000056655665556", 23);
  ExpectCardTokens("378282246310005", 24);
  ExpectCardTokens("4012888888881", 25);        // 13 digits: 3 random
  ExpectCardTokens("4111111111111111110", 26);  // 19 digits
}

TEST(CardTokenTest, BrokenRandomStillGivesLuhnInvalidToken) {
  // With the middle all zeros this PAN is its own candidate, Luhn-valid
  // every time; the token must still fail Luhn.
  const std::string pan = "4111110000001110";
  ASSERT_TRUE(LuhnValid(pan));
  ConstantRandom random(0);
  const std::string token = NewToken(FieldType::kCardNumber, pan, random);
  EXPECT_EQ(token.size(), pan.size());
  EXPECT_EQ(token.substr(0, 6), "411111");
  EXPECT_EQ(token.substr(12), "1110");
  EXPECT_FALSE(LuhnValid(token));
  EXPECT_NE(token, pan);
}

TEST(CardTokenTest, MalformedCardValueGetsOpaqueToken) {
  FakeRandom random(8);
  const std::string token =
      NewToken(FieldType::kCardNumber, "4111-1111", random);
  EXPECT_TRUE(absl::StartsWith(token, "sq_"));
  EXPECT_EQ(token.size(), 27u);
}

TEST(LooksLikeTokenTest, OpaqueFormat) {
  const std::string a24(24, 'A');
  EXPECT_TRUE(LooksLikeToken("sq_" + a24));
  EXPECT_TRUE(LooksLikeToken("sq_abcXYZ0189-_abcXYZ0189-_"));
  EXPECT_FALSE(LooksLikeToken("sq_" + a24.substr(1)));  // 23
  EXPECT_FALSE(LooksLikeToken("sq_" + a24 + "A"));      // 25
  EXPECT_FALSE(LooksLikeToken("sq_" + a24.substr(1) + "="));
  EXPECT_FALSE(LooksLikeToken("sq_" + a24.substr(2) + "+/"));
  EXPECT_FALSE(LooksLikeToken("sq_" + a24.substr(1) + " "));
  EXPECT_FALSE(LooksLikeToken("SQ_" + a24));
  EXPECT_FALSE(LooksLikeToken("xx_" + a24));
  EXPECT_FALSE(LooksLikeToken(""));
  EXPECT_FALSE(LooksLikeToken("sq_"));
}

TEST(LooksLikeTokenTest, CardFormat) {
  EXPECT_TRUE(LooksLikeToken("4111110000001111"));
  EXPECT_TRUE(LooksLikeToken(std::string(13, '1')));
  EXPECT_TRUE(LooksLikeToken(std::string(19, '1')));
  EXPECT_FALSE(LooksLikeToken(std::string(12, '1')));
  EXPECT_FALSE(LooksLikeToken(std::string(20, '1')));
  EXPECT_FALSE(LooksLikeToken("4111 1111 1111 1111"));
  EXPECT_FALSE(LooksLikeToken("411111000000111a"));
}

TEST(LooksLikeTokenTest, LuhnValidCardNumberIsNotAToken) {
  EXPECT_FALSE(LooksLikeToken("4111111111111111"));
  EXPECT_FALSE(LooksLikeToken("378282246310005"));
  EXPECT_TRUE(LooksLikeToken("4111111111111112"));
}

}  // namespace
}  // namespace sandyq::fields
