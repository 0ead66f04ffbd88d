#include "server/crypto/secret.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/platform/locked_memory.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/smaps.h"

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

TEST(SecretBytesTest, KeyBytesAreLockedInRamAndLeftOutOfCoreDumps) {
  if (!sandyq::testing::MayLock(64 * 1024)) {
    GTEST_SKIP() << "RLIMIT_MEMLOCK too small to lock";
  }
  for (size_t size : {32, 64, 5000}) {
    SCOPED_TRACE(size);
    SecretBytes secret(std::string(size, 'k'));
    const auto m = sandyq::testing::MappingOf(secret.data());
    ASSERT_TRUE(m.found);
    EXPECT_TRUE(m.locked);
    EXPECT_GT(m.locked_kb, 0);
    EXPECT_TRUE(m.dont_dump);
  }
  EXPECT_EQ(platform::LockedMemoryPool::Default().stats().lock_failures, 0u);
}

// What the wipe hook saw: each buffer's bytes right after it was wiped.
std::vector<std::string>* wiped = nullptr;
void RecordWipe(const uint8_t* data, size_t size) {
  if (wiped != nullptr) wiped->emplace_back(reinterpret_cast<const char*>(data), size);
}

class SecretBytesWipeTest : public ::testing::Test {
 protected:
  SecretBytesWipeTest() {
    wiped = &seen_;
    SecretBytes::SetWipeHookForTesting(&RecordWipe);
  }
  ~SecretBytesWipeTest() override {
    SecretBytes::SetWipeHookForTesting(nullptr);
    wiped = nullptr;
  }
  void ExpectAllWipedToZero(size_t count) {
    ASSERT_EQ(seen_.size(), count);
    for (const std::string& bytes : seen_) {
      EXPECT_EQ(bytes, std::string(bytes.size(), '\0'));
    }
  }
  std::vector<std::string> seen_;
};

TEST_F(SecretBytesWipeTest, DestructionZeroesTheBytes) {
  { SecretBytes secret("0123456789abcdef0123456789abcdef"); }
  { SecretBytes large(std::string(10000, 'x')); }
  ExpectAllWipedToZero(2);
  EXPECT_EQ(seen_[0].size(), 32u);
  EXPECT_EQ(seen_[1].size(), 10000u);
}

TEST_F(SecretBytesWipeTest, AssignmentZeroesTheOverwrittenBytes) {
  SecretBytes a("first key material");
  a = SecretBytes("second");
  ExpectAllWipedToZero(1);  // "first key material"; the moved-from temporary held nothing
  EXPECT_EQ(seen_[0].size(), 18u);
  SecretBytes b("third");
  a = b;  // copy-assign: the old bytes of `a` are wiped
  ExpectAllWipedToZero(2);
  EXPECT_EQ(a.view(), "third");
}

TEST_F(SecretBytesWipeTest, ReleasedMemoryReadsAsZeros) {
  const uint8_t* where = nullptr;
  {
    SecretBytes secret("0123456789abcdef");
    where = secret.data();
  }
  // The pool keeps small blocks mapped; nothing of the key is left there.
  for (int i = 0; i < 16; ++i) EXPECT_EQ(where[i], 0) << i;
}

}  // namespace
}  // namespace sandyq::crypto
