#include "server/crypto/signer.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/secret.h"
#include "tests/fakes/fake_random.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::testing::Hex;
using ::sandyq::crypto::testing::IsOk;
using ::sandyq::crypto::testing::StatusIs;
using ::sandyq::testing::FakeRandom;
using ::testing::StartsWith;

// RFC 8032 section 7.1.
struct Vector {
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};
constexpr Vector kRfc8032Test1 = {
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"};
constexpr Vector kRfc8032Test2 = {
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"};

class Ed25519VectorTest : public ::testing::TestWithParam<Vector> {};

TEST_P(Ed25519VectorTest, SignsAndVerifiesThePublishedVector) {
  const Vector& v = GetParam();
  absl::StatusOr<std::unique_ptr<Ed25519Signer>> signer =
      Ed25519Signer::FromSeed(SecretBytes(Hex(v.seed)));
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->public_key(), Hex(v.public_key));
  EXPECT_EQ((*signer)->seed().view(), Hex(v.seed));
  const std::string message = Hex(v.message);
  absl::StatusOr<std::string> signature = (*signer)->Sign(message);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(*signature, Hex(v.signature));
  EXPECT_THAT(Ed25519Verify(Hex(v.public_key), message, Hex(v.signature)),
              IsOk());
}

TEST_P(Ed25519VectorTest, AnyFlippedBitFailsToVerify) {
  const Vector& v = GetParam();
  const std::string public_key = Hex(v.public_key);
  const std::string message = Hex(v.message);
  const std::string signature = Hex(v.signature);
  for (size_t i = 0; i < signature.size() * 8; i += 7) {
    std::string altered = signature;
    altered[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_THAT(
        Ed25519Verify(public_key, message, altered),
        StatusIs(absl::StatusCode::kDataLoss, "signature does not verify"))
        << "bit " << i;
  }
  for (size_t i = 0; i < message.size() * 8; ++i) {
    std::string altered = message;
    altered[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_THAT(
        Ed25519Verify(public_key, altered, signature),
        StatusIs(absl::StatusCode::kDataLoss, "signature does not verify"))
        << "bit " << i;
  }
  EXPECT_THAT(Ed25519Verify(public_key, message + "x", signature),
              StatusIs(absl::StatusCode::kDataLoss));
  std::string other_key = public_key;
  other_key[0] ^= 1;
  EXPECT_THAT(Ed25519Verify(other_key, message, signature),
              StatusIs(absl::StatusCode::kDataLoss));
}

INSTANTIATE_TEST_SUITE_P(Rfc8032, Ed25519VectorTest,
                         ::testing::Values(kRfc8032Test1, kRfc8032Test2),
                         [](const ::testing::TestParamInfo<Vector>& info) {
                           return info.index == 0 ? "Test1EmptyMessage"
                                                  : "Test2OneByte";
                         });

TEST(Ed25519SignerTest, WrongSizesDoNotVerify) {
  const std::string public_key = Hex(kRfc8032Test2.public_key);
  const std::string signature = Hex(kRfc8032Test2.signature);
  const std::string message = Hex(kRfc8032Test2.message);
  EXPECT_THAT(Ed25519Verify(public_key.substr(1), message, signature),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Ed25519Verify(public_key, message, signature.substr(1)),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Ed25519Verify(public_key, message, signature + "x"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Ed25519Verify("", message, ""),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(Ed25519SignerTest, FromSeedRefusesOtherSizes) {
  for (size_t size : {0, 16, 31, 33, 64}) {
    EXPECT_THAT(Ed25519Signer::FromSeed(SecretBytes(size)),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << size;
  }
}

TEST(Ed25519SignerTest, GeneratedKeyRoundTripsThroughItsSeed) {
  FakeRandom random;
  absl::StatusOr<std::unique_ptr<Ed25519Signer>> signer =
      Ed25519Signer::Generate(random);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->seed().size(), Ed25519Signer::kSeedSize);
  EXPECT_EQ((*signer)->public_key().size(), Ed25519Signer::kPublicKeySize);
  absl::StatusOr<std::unique_ptr<Ed25519Signer>> again =
      Ed25519Signer::FromSeed((*signer)->seed());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->public_key(), (*signer)->public_key());
  const std::string checkpoint = "checkpoint 42 7f3a...";
  absl::StatusOr<std::string> signature = (*signer)->Sign(checkpoint);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(signature->size(), Ed25519Signer::kSignatureSize);
  EXPECT_EQ(*(*again)->Sign(checkpoint), *signature);  // deterministic
  EXPECT_THAT(Ed25519Verify((*signer)->public_key(), checkpoint, *signature),
              IsOk());
  // Another generated key is another key.
  absl::StatusOr<std::unique_ptr<Ed25519Signer>> other =
      Ed25519Signer::Generate(random);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->public_key(), (*signer)->public_key());
  EXPECT_THAT(Ed25519Verify((*other)->public_key(), checkpoint, *signature),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(Ed25519SignerTest, PublicKeyPemRoundTrips) {
  absl::StatusOr<std::unique_ptr<Ed25519Signer>> signer =
      Ed25519Signer::FromSeed(SecretBytes(Hex(kRfc8032Test1.seed)));
  ASSERT_TRUE(signer.ok());
  const std::string pem = (*signer)->PublicKeyPem();
  EXPECT_THAT(pem, StartsWith("-----BEGIN PUBLIC KEY-----\n"));
  EXPECT_EQ(pem.find("PRIVATE"), std::string::npos);
  // SubjectPublicKeyInfo of an Ed25519 key: 12-byte prefix + the raw key.
  EXPECT_EQ(pem,
            "-----BEGIN PUBLIC KEY-----\n"
            "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
            "-----END PUBLIC KEY-----\n");
  absl::StatusOr<std::string> raw = Ed25519PublicKeyFromPem(pem);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, Hex(kRfc8032Test1.public_key));
}

TEST(Ed25519SignerTest, FromPemRefusesOtherInput) {
  const std::string p256 =
      "-----BEGIN PUBLIC KEY-----\n"
      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaZWPyqv8HoKOWULc83K4guc6Aspq\n"
      "Bks0Cr/LCoC0hWkl4S4NGc3ev+cArjtXzUdjaD1BschkKFCeVyZvfPfdmA==\n"
      "-----END PUBLIC KEY-----\n";
  const std::string truncated =
      "-----BEGIN PUBLIC KEY-----\n"
      "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrw==\n"
      "-----END PUBLIC KEY-----\n";
  for (const std::string& pem :
       {p256, truncated, std::string(""), std::string("not pem"),
        std::string(
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")}) {
    EXPECT_THAT(Ed25519PublicKeyFromPem(pem),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << pem;
  }
}

}  // namespace
}  // namespace sandyq::crypto
