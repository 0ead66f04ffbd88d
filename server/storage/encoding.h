#ifndef SANDYQ_SERVER_STORAGE_ENCODING_H_
#define SANDYQ_SERVER_STORAGE_ENCODING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace sandyq::storage {

// Big-endian fixed-width integers, so keys sort in numeric order.
std::string EncodeU32(uint32_t v);
std::string EncodeU64(uint64_t v);
// nullopt unless `bytes` is exactly 4 (resp. 8) bytes long.
std::optional<uint32_t> DecodeU32(absl::string_view bytes);
std::optional<uint64_t> DecodeU64(absl::string_view bytes);

// Unsigned LEB128 varints (7 bits a byte, low bits first), for lists of
// small numbers in values.
void AppendVarint(uint64_t v, std::string* out);
// Reads one varint from the front of `*in` and advances past it; nullopt
// (and `*in` unchanged) if `*in` is empty, ends inside one, or it overflows.
std::optional<uint64_t> ReadVarint(absl::string_view* in);

// Counters (WriteBatch::Add): 8-byte little-endian two's complement.
std::string EncodeCounter(int64_t v);
// 0 for an empty value (absent counter); nullopt if malformed.
std::optional<int64_t> DecodeCounter(absl::string_view bytes);

}  // namespace sandyq::storage

#endif  // SANDYQ_SERVER_STORAGE_ENCODING_H_
