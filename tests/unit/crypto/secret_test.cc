#include "server/crypto/secret.h"

#include <utility>

#include "gtest/gtest.h"
#include "tests/fakes/fake_random.h"

namespace sandyq::crypto {
namespace {

TEST(SecretBytesTest, HoldsACopyOfTheBytes) {
  std::string source = "key material";
  SecretBytes secret(source);
  source[0] = 'X';
  EXPECT_EQ(secret.view(), "key material");
  EXPECT_EQ(secret.size(), 12u);
  EXPECT_FALSE(secret.empty());
}

TEST(SecretBytesTest, SizeConstructorZeroFills) {
  SecretBytes secret(16);
  ASSERT_EQ(secret.size(), 16u);
  EXPECT_EQ(secret.view(), std::string(16, '\0'));
}

TEST(SecretBytesTest, DefaultIsEmpty) {
  SecretBytes secret;
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(secret.data(), nullptr);
  EXPECT_EQ(secret.view(), "");
}

TEST(SecretBytesTest, MovedFromIsEmpty) {
  SecretBytes a("0123456789abcdef");
  SecretBytes b(std::move(a));
  EXPECT_EQ(b.view(), "0123456789abcdef");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract
  EXPECT_EQ(a.data(), nullptr);

  SecretBytes c("other");
  c = std::move(b);
  EXPECT_EQ(c.view(), "0123456789abcdef");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data(), nullptr);
}

TEST(SecretBytesTest, CopyIsIndependent) {
  SecretBytes a("abc");
  SecretBytes b(a);
  b.data()[0] = 'x';
  EXPECT_EQ(a.view(), "abc");
  EXPECT_EQ(b.view(), "xbc");

  SecretBytes c("longer value");
  c = a;
  EXPECT_EQ(c.view(), "abc");
}

TEST(SecretBytesTest, SelfAssignmentKeepsTheBytes) {
  SecretBytes a("abc");
  SecretBytes& alias = a;
  a = alias;
  EXPECT_EQ(a.view(), "abc");
  a = std::move(alias);
  EXPECT_EQ(a.view(), "abc");
}

TEST(SecretBytesTest, EqualsComparesLengthAndContents) {
  EXPECT_TRUE(SecretBytes("abc").Equals(SecretBytes("abc")));
  EXPECT_FALSE(SecretBytes("abc").Equals(SecretBytes("abd")));
  EXPECT_FALSE(SecretBytes("abc").Equals(SecretBytes("abcd")));
  EXPECT_TRUE(SecretBytes().Equals(SecretBytes("")));
}

TEST(SecretBytesTest, RandomDrawsFromTheSource) {
  sandyq::testing::FakeRandom r1(7), r2(7), r3(8);
  SecretBytes a = SecretBytes::Random(32, r1);
  SecretBytes b = SecretBytes::Random(32, r2);
  SecretBytes c = SecretBytes::Random(32, r3);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_TRUE(a.Equals(b));
  EXPECT_FALSE(a.Equals(c));
  EXPECT_TRUE(SecretBytes::Random(0, r1).empty());
}

}  // namespace
}  // namespace sandyq::crypto
