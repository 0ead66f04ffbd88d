#include "server/crypto/aead.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/hash.h"
#include "server/crypto/internal/aead_internal.h"
#include "tests/fakes/fake_random.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::testing::Hex;
using ::sandyq::crypto::testing::IsDecryptionFailure;
using ::sandyq::crypto::testing::StatusIs;
using ::sandyq::testing::ConstantRandom;
using ::sandyq::testing::FakeRandom;

std::unique_ptr<Aead> NewAead(const SecretBytes& key, platform::Random& r) {
  absl::StatusOr<std::unique_ptr<Aead>> aead = Aead::New(key, r);
  EXPECT_TRUE(aead.ok()) << aead.status();
  return aead.ok() ? *std::move(aead) : nullptr;
}

// The AES-256 test cases of McGrew & Viega, "The Galois/Counter Mode of
// Operation (GCM)", test cases 13-16.
struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

constexpr GcmVector kGcmVectors[] = {
    {"TestCase13",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"TestCase14",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"TestCase15",
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"TestCase16",
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

void PrintTo(const GcmVector& v, std::ostream* os) { *os << v.name; }

class AeadGcmVectorTest : public ::testing::TestWithParam<GcmVector> {};

TEST_P(AeadGcmVectorTest, SealMatchesPublishedVector) {
  const GcmVector& v = GetParam();
  const SecretBytes key(Hex(v.key));
  absl::StatusOr<std::string> sealed = internal::SealWithNonceForTesting(
      key, Hex(v.iv), Hex(v.plaintext), Hex(v.aad));
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(ToHex(*sealed),
            absl::StrCat("01", v.iv, v.ciphertext, v.tag));
}

TEST_P(AeadGcmVectorTest, DecryptOpensPublishedVector) {
  const GcmVector& v = GetParam();
  FakeRandom random;
  std::unique_ptr<Aead> aead = NewAead(SecretBytes(Hex(v.key)), random);
  ASSERT_NE(aead, nullptr);
  const std::string sealed =
      absl::StrCat("\x01", Hex(v.iv), Hex(v.ciphertext), Hex(v.tag));
  absl::StatusOr<std::string> plaintext = aead->Decrypt(sealed, Hex(v.aad));
  ASSERT_TRUE(plaintext.ok()) << plaintext.status();
  EXPECT_EQ(ToHex(*plaintext), v.plaintext);
}

INSTANTIATE_TEST_SUITE_P(McGrewViega, AeadGcmVectorTest,
                         ::testing::ValuesIn(kGcmVectors),
                         [](const auto& info) { return info.param.name; });

TEST(AeadTest, NewRejectsWrongKeySizes) {
  FakeRandom random;
  for (size_t size : {0, 16, 24, 31, 33, 64}) {
    EXPECT_THAT(Aead::New(SecretBytes(size), random),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << size;
  }
}

TEST(AeadTest, SealWithNonceRejectsWrongNonceSize) {
  EXPECT_THAT(internal::SealWithNonceForTesting(SecretBytes(32),
                                                std::string(11, '\0'), "", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AeadTest, RoundTripsAndKeepsTheFormat) {
  FakeRandom random;
  std::unique_ptr<Aead> aead = NewAead(SecretBytes::Random(32, random), random);
  for (size_t size : {0, 1, 15, 16, 17, 255, 4096}) {
    const std::string plaintext(size, 'p');
    for (absl::string_view ad : {"", "token|type|subject"}) {
      absl::StatusOr<std::string> sealed = aead->Encrypt(plaintext, ad);
      ASSERT_TRUE(sealed.ok()) << sealed.status();
      EXPECT_EQ(sealed->size(), size + Aead::kOverhead);
      EXPECT_EQ(static_cast<uint8_t>((*sealed)[0]), Aead::kAeadFormatVersion);
      absl::StatusOr<std::string> opened = aead->Decrypt(*sealed, ad);
      ASSERT_TRUE(opened.ok()) << opened.status();
      EXPECT_EQ(*opened, plaintext);
    }
  }
}

TEST(AeadTest, NonceComesFromTheRandomSource) {
  ConstantRandom random(0xab);
  std::unique_ptr<Aead> aead = NewAead(SecretBytes(32), random);
  absl::StatusOr<std::string> sealed = aead->Encrypt("x", "");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->substr(1, Aead::kNonceSize),
            std::string(Aead::kNonceSize, '\xab'));
}

TEST(AeadTest, NoncesDifferAcrossCalls) {
  std::unique_ptr<Aead> aead =
      NewAead(SecretBytes::Random(32, platform::SystemRandom()),
              platform::SystemRandom());
  std::set<std::string> nonces;
  std::set<std::string> ciphertexts;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> sealed = aead->Encrypt("same plaintext", "ad");
    ASSERT_TRUE(sealed.ok());
    nonces.insert(sealed->substr(1, Aead::kNonceSize));
    ciphertexts.insert(*sealed);
  }
  EXPECT_EQ(nonces.size(), 1000u);
  EXPECT_EQ(ciphertexts.size(), 1000u);
}

TEST(AeadTest, WrongAssociatedDataFailsGenerically) {
  FakeRandom random;
  std::unique_ptr<Aead> aead = NewAead(SecretBytes::Random(32, random), random);
  absl::StatusOr<std::string> sealed = aead->Encrypt("value", "ad-1");
  ASSERT_TRUE(sealed.ok());
  EXPECT_THAT(aead->Decrypt(*sealed, "ad-2"), IsDecryptionFailure());
  EXPECT_THAT(aead->Decrypt(*sealed, ""), IsDecryptionFailure());
  EXPECT_THAT(aead->Decrypt(*sealed, "ad-1 "), IsDecryptionFailure());

  absl::StatusOr<std::string> no_ad = aead->Encrypt("value", "");
  ASSERT_TRUE(no_ad.ok());
  EXPECT_THAT(aead->Decrypt(*no_ad, "x"), IsDecryptionFailure());
}

TEST(AeadTest, WrongKeyFailsGenerically) {
  FakeRandom random;
  std::unique_ptr<Aead> a = NewAead(SecretBytes::Random(32, random), random);
  std::unique_ptr<Aead> b = NewAead(SecretBytes::Random(32, random), random);
  absl::StatusOr<std::string> sealed = a->Encrypt("value", "ad");
  ASSERT_TRUE(sealed.ok());
  EXPECT_THAT(b->Decrypt(*sealed, "ad"), IsDecryptionFailure());
  // The failed call leaves this thread's cipher context usable.
  EXPECT_THAT(a->Decrypt(*sealed, "ad"), ::sandyq::crypto::testing::IsOk());
}

// Flips every bit of a sealed message: version byte, nonce, ciphertext and
// tag. Each must fail with the same error.
TEST(AeadTest, EveryFlippedBitFailsGenerically) {
  FakeRandom random;
  std::unique_ptr<Aead> aead = NewAead(SecretBytes::Random(32, random), random);
  absl::StatusOr<std::string> sealed = aead->Encrypt("a 20-byte plaintext.", "ad");
  ASSERT_TRUE(sealed.ok());
  const size_t ciphertext_end = sealed->size() - Aead::kTagSize;
  for (size_t i = 0; i < sealed->size(); ++i) {
    const char* where = i == 0                       ? "version"
                        : i < 1 + Aead::kNonceSize ? "nonce"
                        : i < ciphertext_end         ? "ciphertext"
                                                     : "tag";
    for (int bit = 0; bit < 8; ++bit) {
      std::string altered = *sealed;
      altered[i] = static_cast<char>(altered[i] ^ (1 << bit));
      EXPECT_THAT(aead->Decrypt(altered, "ad"), IsDecryptionFailure())
          << where << " byte " << i << " bit " << bit;
    }
  }
  // Failures leave this thread's cipher context usable for the same key.
  absl::StatusOr<std::string> opened = aead->Decrypt(*sealed, "ad");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "a 20-byte plaintext.");
}

// The per-thread context caches the key of the last Aead used: an Aead
// created after another was destroyed (typically at the same address) must
// still use its own key.
TEST(AeadTest, NewInstanceNeverReusesAnotherInstancesKey) {
  FakeRandom random;
  const SecretBytes key1 = SecretBytes::Random(32, random);
  const SecretBytes key2 = SecretBytes::Random(32, random);
  std::string sealed1;
  {
    std::unique_ptr<Aead> a = NewAead(key1, random);
    sealed1 = *a->Encrypt("one", "ad");
    ASSERT_TRUE(a->Decrypt(sealed1, "ad").ok());
  }
  for (int i = 0; i < 3; ++i) {
    std::unique_ptr<Aead> b = NewAead(key2, random);
    EXPECT_THAT(b->Decrypt(sealed1, "ad"), IsDecryptionFailure());
    absl::StatusOr<std::string> sealed2 = b->Encrypt("two", "ad");
    ASSERT_TRUE(sealed2.ok());
    std::unique_ptr<Aead> a_again = NewAead(key1, random);
    EXPECT_THAT(a_again->Decrypt(*sealed2, "ad"), IsDecryptionFailure());
    EXPECT_EQ(*a_again->Decrypt(sealed1, "ad"), "one");
    b.reset();
    std::unique_ptr<Aead> b_again = NewAead(key2, random);
    EXPECT_EQ(*b_again->Decrypt(*sealed2, "ad"), "two");
  }
  // A published-vector seal (no instance) between instance calls.
  std::unique_ptr<Aead> a = NewAead(key1, random);
  ASSERT_TRUE(a->Encrypt("x", "").ok());
  ASSERT_TRUE(internal::SealWithNonceForTesting(key2, std::string(12, '\0'),
                                                "y", "")
                  .ok());
  absl::StatusOr<std::string> sealed = a->Encrypt("x", "");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(*NewAead(key1, random)->Decrypt(*sealed, ""), "x");
}

TEST(AeadTest, TruncationAndExtensionFailGenerically) {
  FakeRandom random;
  std::unique_ptr<Aead> aead = NewAead(SecretBytes::Random(32, random), random);
  absl::StatusOr<std::string> sealed = aead->Encrypt("value", "ad");
  ASSERT_TRUE(sealed.ok());
  for (size_t len = 0; len < sealed->size(); ++len) {
    EXPECT_THAT(aead->Decrypt(sealed->substr(0, len), "ad"),
                IsDecryptionFailure())
        << "prefix of " << len << " bytes";
  }
  // Dropping bytes from the front (keeping the tag) fails too.
  EXPECT_THAT(aead->Decrypt(sealed->substr(1), "ad"), IsDecryptionFailure());
  EXPECT_THAT(aead->Decrypt(*sealed + "x", "ad"), IsDecryptionFailure());
}

TEST(AeadTest, OtherFormatVersionsAreRejected) {
  FakeRandom random;
  std::unique_ptr<Aead> aead = NewAead(SecretBytes::Random(32, random), random);
  absl::StatusOr<std::string> sealed = aead->Encrypt("value", "ad");
  ASSERT_TRUE(sealed.ok());
  for (int version : {0x00, 0x02, 0xff}) {
    std::string altered = *sealed;
    altered[0] = static_cast<char>(version);
    EXPECT_THAT(aead->Decrypt(altered, "ad"), IsDecryptionFailure());
  }
}

// Several keys used alternately on several threads: the per-thread cipher
// context must be re-keyed by every call.
TEST(AeadTest, InterleavedKeysAcrossThreads) {
  FakeRandom random;
  std::unique_ptr<Aead> a = NewAead(SecretBytes::Random(32, random), random);
  std::unique_ptr<Aead> b = NewAead(SecretBytes::Random(32, random), random);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string plaintext = absl::StrCat("value ", t, " ", i);
        const Aead& first = (i % 2 == 0) ? *a : *b;
        const Aead& second = (i % 2 == 0) ? *b : *a;
        absl::StatusOr<std::string> s1 = first.Encrypt(plaintext, "ad");
        absl::StatusOr<std::string> s2 = second.Encrypt(plaintext, "ad");
        if (!s1.ok() || !s2.ok()) {
          ++failures;
          continue;
        }
        absl::StatusOr<std::string> p1 = first.Decrypt(*s1, "ad");
        absl::StatusOr<std::string> cross = second.Decrypt(*s1, "ad");
        absl::StatusOr<std::string> p2 = second.Decrypt(*s2, "ad");
        if (!p1.ok() || *p1 != plaintext || cross.ok() || !p2.ok() ||
            *p2 != plaintext) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace sandyq::crypto
