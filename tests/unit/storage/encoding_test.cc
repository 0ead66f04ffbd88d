#include "server/storage/encoding.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandyq::storage {
namespace {

using ::testing::Eq;
using ::testing::Optional;

TEST(EncodingTest, EncodesU32BigEndian) {
  EXPECT_EQ(EncodeU32(0x01020304u), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(EncodeU32(0), std::string(4, '\0'));
}

TEST(EncodingTest, EncodesU64BigEndian) {
  EXPECT_EQ(EncodeU64(0x0102030405060708ull),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(EncodeU64(std::numeric_limits<uint64_t>::max()),
            std::string(8, '\xff'));
}

TEST(EncodingTest, U32RoundTrips) {
  for (uint32_t v : {0u, 1u, 0x7fu, 0x80u, 0xffu, 0x100u, 0x7fffffffu,
                     0x80000000u, std::numeric_limits<uint32_t>::max()}) {
    EXPECT_THAT(DecodeU32(EncodeU32(v)), Optional(Eq(v))) << v;
  }
}

TEST(EncodingTest, U64RoundTrips) {
  for (uint64_t v :
       {uint64_t{0}, uint64_t{1}, uint64_t{0x80}, uint64_t{0xff},
        uint64_t{0x100}, uint64_t{0xffffffff}, uint64_t{0x100000000},
        uint64_t{0x8000000000000000}, std::numeric_limits<uint64_t>::max()}) {
    EXPECT_THAT(DecodeU64(EncodeU64(v)), Optional(Eq(v))) << v;
  }
}

TEST(EncodingTest, DecodeRefusesWrongLength) {
  EXPECT_EQ(DecodeU32(""), std::nullopt);
  EXPECT_EQ(DecodeU32(std::string(3, '\0')), std::nullopt);
  EXPECT_EQ(DecodeU32(std::string(5, '\0')), std::nullopt);
  EXPECT_EQ(DecodeU32(EncodeU64(1)), std::nullopt);
  EXPECT_EQ(DecodeU64(""), std::nullopt);
  EXPECT_EQ(DecodeU64(EncodeU32(1)), std::nullopt);
  EXPECT_EQ(DecodeU64(std::string(9, '\0')), std::nullopt);
}

// Keys built from these encodings must sort bytewise (unsigned, as RocksDB
// compares) in numeric order, including across the sign bit of a byte.
TEST(EncodingTest, U64KeysSortInNumericOrder) {
  const std::vector<uint64_t> ascending = {
      0,
      1,
      0x7f,
      0x80,
      0xff,
      0x100,
      0x7fff,
      0x8000,
      0xffff,
      0x10000,
      1000000,
      0xffffffff,
      0x100000000,
      0x8000000000000000,
      std::numeric_limits<uint64_t>::max()};
  for (size_t i = 0; i + 1 < ascending.size(); ++i) {
    const std::string a = EncodeU64(ascending[i]);
    const std::string b = EncodeU64(ascending[i + 1]);
    EXPECT_LT(a, b) << ascending[i] << " vs " << ascending[i + 1];
    EXPECT_LT(absl::string_view(a), absl::string_view(b));
  }
}

TEST(EncodingTest, U32KeysSortInNumericOrder) {
  const std::vector<uint32_t> ascending = {
      0, 1, 0x7f, 0x80, 0xff, 0x100, 0x80000000u, 0xffffffffu};
  for (size_t i = 0; i + 1 < ascending.size(); ++i) {
    EXPECT_LT(EncodeU32(ascending[i]), EncodeU32(ascending[i + 1]))
        << ascending[i];
  }
}

TEST(EncodingTest, VarintsRoundTripOneAfterAnother) {
  const std::vector<uint64_t> values = {
      0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0xffffffffull,
      std::numeric_limits<uint64_t>::max()};
  std::string bytes;
  for (uint64_t v : values) AppendVarint(v, &bytes);
  absl::string_view in = bytes;
  for (uint64_t v : values) EXPECT_THAT(ReadVarint(&in), Optional(Eq(v)));
  EXPECT_TRUE(in.empty());
}

TEST(EncodingTest, VarintsUseSevenBitsAByte) {
  std::string bytes;
  AppendVarint(0x7f, &bytes);
  EXPECT_EQ(bytes, "\x7f");
  bytes.clear();
  AppendVarint(300, &bytes);
  EXPECT_EQ(bytes, "\xac\x02");
  bytes.clear();
  AppendVarint(std::numeric_limits<uint64_t>::max(), &bytes);
  EXPECT_EQ(bytes.size(), 10u);
}

TEST(EncodingTest, ReadVarintRefusesTruncatedAndOverlongInput) {
  for (absl::string_view bad :
       {absl::string_view(""), absl::string_view("\x80"),
        absl::string_view("\xff\xff"),
        // Eleven bytes, or a tenth byte above 1: more than 64 bits.
        absl::string_view("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
        absl::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02")}) {
    absl::string_view in = bad;
    EXPECT_EQ(ReadVarint(&in), std::nullopt) << bad.size() << " bytes";
    EXPECT_EQ(in.size(), bad.size()) << "input consumed on failure";
  }
}

}  // namespace
}  // namespace sandyq::storage
