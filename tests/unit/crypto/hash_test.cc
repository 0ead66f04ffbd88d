#include "server/crypto/hash.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/internal/hash_internal.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::testing::Hex;
using ::sandyq::crypto::testing::StatusIs;

TEST(Sha256Test, PublishedVectors) {
  // FIPS 180-2 appendix B.1 and the empty message.
  EXPECT_EQ(ToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(
      ToHex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, TwoPartsHashTheConcatenation) {
  const std::string abc = Sha256("abc");
  EXPECT_EQ(Sha256("ab", "c"), abc);
  EXPECT_EQ(Sha256("", "abc"), abc);
  EXPECT_EQ(Sha256("abc", ""), abc);
  EXPECT_EQ(ToHex(Sha256("", "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// RFC 4231 section 4: HMAC-SHA-256 test cases 1-7.
struct HmacVector {
  std::string key;
  std::string data;
  const char* mac;  // test case 5 gives only the first 128 bits
};

std::vector<HmacVector> Rfc4231Vectors() {
  return {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {Hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
       std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::string(20, '\x0c'), "Test With Truncation",
       "a3b6167473100ee06e0c796c2955552b"},
      {std::string(131, '\xaa'),
       "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than "
       "block-size data. The key needs to be hashed before being used by the "
       "HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(HmacSha256Test, Rfc4231Vectors) {
  int number = 1;
  for (const HmacVector& v : Rfc4231Vectors()) {
    absl::StatusOr<std::unique_ptr<internal::HmacSha256>> hmac =
        internal::HmacSha256::New(v.key);
    ASSERT_TRUE(hmac.ok()) << hmac.status();
    const std::string mac = ToHex((*hmac)->Compute(v.data));
    EXPECT_EQ(mac.substr(0, std::string(v.mac).size()), v.mac)
        << "RFC 4231 test case " << number;
    ++number;
  }
}

TEST(HmacSha256Test, KeysUsedInTurnKeepTheirResults) {
  // More keys than a thread keeps contexts for, used in turn and twice in a
  // row: every call must start from its own key, whether its thread's
  // context for that key is reused, replaced or new.
  const std::vector<HmacVector> vectors = Rfc4231Vectors();
  std::vector<std::unique_ptr<internal::HmacSha256>> hmacs;
  for (const HmacVector& v : vectors) {
    absl::StatusOr<std::unique_ptr<internal::HmacSha256>> hmac =
        internal::HmacSha256::New(v.key);
    ASSERT_TRUE(hmac.ok()) << hmac.status();
    hmacs.push_back(*std::move(hmac));
  }
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < vectors.size(); ++i) {
      const size_t n = std::string(vectors[i].mac).size();
      for (int twice = 0; twice < 2; ++twice) {
        EXPECT_EQ(ToHex(hmacs[i]->Compute(vectors[i].data)).substr(0, n),
                  vectors[i].mac)
            << "RFC 4231 test case " << i + 1 << ", round " << round;
      }
    }
    // The first three only, as a tokenize uses its keys.
    for (int repeat = 0; repeat < 5; ++repeat) {
      for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(ToHex(hmacs[i]->Compute(vectors[i].data)), vectors[i].mac);
      }
    }
  }
}

TEST(HmacSha256Test, ANewKeyNeverGetsTheContextOfADestroyedOne) {
  const std::vector<HmacVector> vectors = Rfc4231Vectors();
  for (int i = 0; i < 10; ++i) {
    // Two different keys of the same length in turn: the allocator tends to
    // hand back the same address for the next object, and a cache that
    // named keys by address would give the previous key's MAC.
    const HmacVector& v = vectors[(i % 2 == 0) ? 0 : 2];
    absl::StatusOr<std::unique_ptr<internal::HmacSha256>> hmac =
        internal::HmacSha256::New(v.key);
    ASSERT_TRUE(hmac.ok()) << hmac.status();
    EXPECT_EQ(ToHex((*hmac)->Compute(v.data)), v.mac) << "key " << i;
  }
}

TEST(HmacSha256Test, ThreadsComputingTogetherAgree) {
  const std::vector<HmacVector> vectors = Rfc4231Vectors();
  std::vector<std::unique_ptr<internal::HmacSha256>> hmacs;
  // Five different keys, one more than a thread keeps contexts for.
  const std::vector<size_t> index = {0, 1, 2, 3, 5};
  for (size_t i : index) {
    absl::StatusOr<std::unique_ptr<internal::HmacSha256>> hmac =
        internal::HmacSha256::New(vectors[i].key);
    ASSERT_TRUE(hmac.ok()) << hmac.status();
    hmacs.push_back(*std::move(hmac));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 300; ++n) {
        const size_t k = static_cast<size_t>(n + t) % hmacs.size();
        if (ToHex(hmacs[k]->Compute(vectors[index[k]].data)) !=
            vectors[index[k]].mac) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(PrfTest, MatchesRfc4231LongKeyVectors) {
  // Test cases 6 and 7 are the ones whose keys meet Prf's 32-byte minimum.
  const std::vector<HmacVector> vectors = Rfc4231Vectors();
  for (size_t i : {5, 6}) {
    absl::StatusOr<std::unique_ptr<Prf>> prf =
        Prf::New(SecretBytes(vectors[i].key));
    ASSERT_TRUE(prf.ok()) << prf.status();
    EXPECT_EQ(ToHex((*prf)->Compute(vectors[i].data)), vectors[i].mac);
    // The keyed template is reused: a second call gives the same answer.
    EXPECT_EQ(ToHex((*prf)->Compute(vectors[i].data)), vectors[i].mac);
  }
}

TEST(PrfTest, RejectsShortKeys) {
  EXPECT_THAT(Prf::New(SecretBytes(31)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Prf::New(SecretBytes()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(Prf::New(SecretBytes(32)).ok());
}

TEST(PrfTest, IsKeyedAndDeterministic) {
  absl::StatusOr<std::unique_ptr<Prf>> a = Prf::New(SecretBytes(32));
  absl::StatusOr<std::unique_ptr<Prf>> b =
      Prf::New(SecretBytes(std::string(32, '\x01')));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->Compute("iin:850101300019").size(), kSha256Size);
  EXPECT_EQ((*a)->Compute("x"), (*a)->Compute("x"));
  EXPECT_NE((*a)->Compute("x"), (*a)->Compute("y"));
  EXPECT_NE((*a)->Compute("x"), (*b)->Compute("x"));
}

TEST(PrfTest, ComputesConcurrently) {
  absl::StatusOr<std::unique_ptr<Prf>> prf =
      Prf::New(SecretBytes(std::string(131, '\xaa')));
  ASSERT_TRUE(prf.ok());
  const std::string want =
      Hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if ((*prf)->Compute(
                "Test Using Larger Than Block-Size Key - Hash Key First") !=
            want) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(HkdfTest, Rfc5869TestCase1) {
  absl::StatusOr<SecretBytes> okm = internal::HkdfSha256(
      std::string(22, '\x0b'), Hex("000102030405060708090a0b0c"),
      Hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(ToHex(okm->view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
}

TEST(HkdfTest, RejectsOutputSizesOutsideTheRfcRange) {
  EXPECT_THAT(internal::HkdfSha256("ikm", "", "", 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(internal::HkdfSha256("ikm", "", "", 255 * 32 + 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(internal::HkdfSha256("ikm", "", "", 255 * 32).ok());
}

TEST(DeriveKeyTest, Rfc5869TestCase3EmptySaltAndInfo) {
  // DeriveKey uses an empty salt; test case 3 has an empty salt and info.
  const SecretBytes okm = DeriveKey(SecretBytes(std::string(22, '\x0b')), "", 42);
  EXPECT_EQ(ToHex(okm.view()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

TEST(DeriveKeyTest, LabelsGiveIndependentKeys) {
  const SecretBytes root(std::string(32, '\x42'));
  const SecretBytes index = DeriveKey(root, "blind index", 32);
  const SecretBytes subject = DeriveKey(root, "subject hash", 32);
  EXPECT_EQ(index.size(), 32u);
  EXPECT_FALSE(index.Equals(subject));
  EXPECT_TRUE(index.Equals(DeriveKey(root, "blind index", 32)));
  // The label is HKDF's info: a label with the same prefix is unrelated.
  EXPECT_NE(DeriveKey(root, "blind index", 64).view().substr(0, 32),
            DeriveKey(root, "blind index2", 64).view().substr(0, 32));
}

TEST(DeriveKeyDeathTest, AbortsOnZeroSize) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(DeriveKey(SecretBytes(32), "label", 0), "HKDF");
}

TEST(HexTest, RoundTrips) {
  const std::string bytes("\x00\x01\x7f\x80\xfe\xff", 6);
  EXPECT_EQ(ToHex(bytes), "00017f80feff");
  absl::StatusOr<std::string> back = FromHex("00017f80feff");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, bytes);
  EXPECT_EQ(*FromHex("00017F80FEFF"), bytes);
  EXPECT_EQ(ToHex(""), "");
  EXPECT_EQ(*FromHex(""), "");
}

TEST(HexTest, RejectsMalformedInput) {
  EXPECT_THAT(FromHex("abc"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FromHex("0g"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FromHex("0 "), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FromHex("-1"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ConstantTimeEqualsTest, ComparesLengthAndContents) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace sandyq::crypto
