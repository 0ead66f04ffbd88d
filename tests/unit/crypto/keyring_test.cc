#include "server/crypto/keyring.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/aead.h"
#include "tests/fakes/fake_random.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::testing::IsDecryptionFailure;
using ::sandyq::crypto::testing::IsOk;
using ::sandyq::crypto::testing::StatusIs;
using ::sandyq::testing::FakeRandom;

SecretBytes Kek(char fill) { return SecretBytes(std::string(32, fill)); }

class KeyringTest : public ::testing::Test {
 protected:
  FakeRandom random_;
  const std::string context_ = std::string(32, '\x5a');  // a subject hash
};

TEST_F(KeyringTest, BuildRequiresExactlyOnePrimary) {
  Keyring::Builder none(random_);
  ASSERT_THAT(none.Add(1, Kek('a'), false), IsOk());
  ASSERT_THAT(none.Add(2, Kek('b'), false), IsOk());
  EXPECT_THAT(none.Build(), StatusIs(absl::StatusCode::kFailedPrecondition));

  Keyring::Builder two(random_);
  ASSERT_THAT(two.Add(1, Kek('a'), true), IsOk());
  ASSERT_THAT(two.Add(2, Kek('b'), true), IsOk());
  EXPECT_THAT(two.Build(), StatusIs(absl::StatusCode::kFailedPrecondition));

  Keyring::Builder empty(random_);
  EXPECT_THAT(empty.Build(), StatusIs(absl::StatusCode::kFailedPrecondition));

  Keyring::Builder one(random_);
  ASSERT_THAT(one.Add(1, Kek('a'), false), IsOk());
  ASSERT_THAT(one.Add(2, Kek('b'), true), IsOk());
  absl::StatusOr<std::shared_ptr<const Keyring>> ring = one.Build();
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ((*ring)->primary_version(), 2u);
  EXPECT_TRUE((*ring)->HasVersion(1));
  EXPECT_TRUE((*ring)->HasVersion(2));
  EXPECT_FALSE((*ring)->HasVersion(3));
}

TEST_F(KeyringTest, AddRejectsBadKeysAndBuildReportsIt) {
  Keyring::Builder builder(random_);
  EXPECT_THAT(builder.Add(0, Kek('a'), false),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(builder.Add(1, Kek('a'), true), IsOk());
  EXPECT_THAT(builder.Add(1, Kek('b'), false),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(builder.Add(2, SecretBytes(16), false),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(builder.Add(3, SecretBytes(33), false),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(builder.Build(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(KeyringTest, WrapsWithThePrimaryAndUnwraps) {
  Keyring::Builder builder(random_);
  ASSERT_THAT(builder.Add(1, Kek('a'), false), IsOk());
  ASSERT_THAT(builder.Add(2, Kek('b'), true), IsOk());
  std::shared_ptr<const Keyring> ring = *builder.Build();
  const SecretBytes dek = SecretBytes::Random(32, random_);
  absl::StatusOr<WrappedKey> wrapped = ring->WrapDek(dek, context_);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(wrapped->kek_version, 2u);
  EXPECT_EQ(wrapped->bytes.size(), dek.size() + Aead::kOverhead);
  absl::StatusOr<SecretBytes> unwrapped = ring->UnwrapDek(*wrapped, context_);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(dek));
}

TEST_F(KeyringTest, DecryptsWithNonPrimaryKey) {
  Keyring::Builder before(random_);
  ASSERT_THAT(before.Add(1, Kek('a'), true), IsOk());
  std::shared_ptr<const Keyring> old_ring = *before.Build();
  const SecretBytes dek = SecretBytes::Random(32, random_);
  absl::StatusOr<WrappedKey> wrapped = old_ring->WrapDek(dek, context_);
  ASSERT_TRUE(wrapped.ok());
  ASSERT_EQ(wrapped->kek_version, 1u);

  // Rotation: version 2 becomes primary, version 1 stays for unwrapping.
  Keyring::Builder after(random_);
  ASSERT_THAT(after.Add(1, Kek('a'), false), IsOk());
  ASSERT_THAT(after.Add(2, Kek('b'), true), IsOk());
  std::shared_ptr<const Keyring> ring = *after.Build();
  absl::StatusOr<SecretBytes> unwrapped = ring->UnwrapDek(*wrapped, context_);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(dek));
  EXPECT_EQ(ring->WrapDek(dek, context_)->kek_version, 2u);
}

TEST_F(KeyringTest, UnknownVersionIsNotFound) {
  Keyring::Builder before(random_);
  ASSERT_THAT(before.Add(1, Kek('a'), true), IsOk());
  absl::StatusOr<WrappedKey> wrapped =
      (*before.Build())->WrapDek(SecretBytes(32), context_);
  ASSERT_TRUE(wrapped.ok());

  // Version 1 destroyed.
  Keyring::Builder after(random_);
  ASSERT_THAT(after.Add(2, Kek('b'), true), IsOk());
  std::shared_ptr<const Keyring> ring = *after.Build();
  EXPECT_THAT(ring->UnwrapDek(*wrapped, context_),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ring->UnwrapDek(WrappedKey{99, wrapped->bytes}, context_),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(KeyringTest, MismatchesFailGenerically) {
  Keyring::Builder builder(random_);
  ASSERT_THAT(builder.Add(1, Kek('a'), false), IsOk());
  ASSERT_THAT(builder.Add(2, Kek('b'), true), IsOk());
  std::shared_ptr<const Keyring> ring = *builder.Build();
  absl::StatusOr<WrappedKey> wrapped =
      ring->WrapDek(SecretBytes::Random(32, random_), context_);
  ASSERT_TRUE(wrapped.ok());

  EXPECT_THAT(ring->UnwrapDek(*wrapped, "another subject"),
              IsDecryptionFailure());
  EXPECT_THAT(ring->UnwrapDek(WrappedKey{1, wrapped->bytes}, context_),
              IsDecryptionFailure());
  WrappedKey altered = *wrapped;
  altered.bytes[20] ^= 0x01;
  EXPECT_THAT(ring->UnwrapDek(altered, context_), IsDecryptionFailure());
  EXPECT_THAT(ring->UnwrapDek(WrappedKey{2, ""}, context_),
              IsDecryptionFailure());
}

// A wrapped DEK is an Aead seal under the KEK with associated data
// "sandyq dek v1:" + context; stored DEKs depend on it.
TEST_F(KeyringTest, WrapFormatIsAeadWithPrefixedContext) {
  Keyring::Builder builder(random_);
  ASSERT_THAT(builder.Add(5, Kek('k'), true), IsOk());
  std::shared_ptr<const Keyring> ring = *builder.Build();
  const SecretBytes dek = SecretBytes::Random(32, random_);
  absl::StatusOr<WrappedKey> wrapped = ring->WrapDek(dek, "ctx");
  ASSERT_TRUE(wrapped.ok());
  std::unique_ptr<Aead> aead = *Aead::New(Kek('k'), random_);
  absl::StatusOr<std::string> plain =
      aead->Decrypt(wrapped->bytes, "sandyq dek v1:ctx");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, dek.view());
}

}  // namespace
}  // namespace sandyq::crypto
