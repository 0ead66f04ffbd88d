#include "server/storage/encoding.h"

namespace sandyq::storage {
namespace {

template <typename T>
std::string Encode(T v) {
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[sizeof(T) - 1 - i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

template <typename T>
std::optional<T> Decode(absl::string_view bytes) {
  if (bytes.size() != sizeof(T)) return std::nullopt;
  T v = 0;
  for (unsigned char c : bytes) v = static_cast<T>((v << 8) | c);
  return v;
}

}  // namespace

std::string EncodeU32(uint32_t v) { return Encode(v); }
std::string EncodeU64(uint64_t v) { return Encode(v); }
std::optional<uint32_t> DecodeU32(absl::string_view b) { return Decode<uint32_t>(b); }
std::optional<uint64_t> DecodeU64(absl::string_view b) { return Decode<uint64_t>(b); }

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

std::optional<uint64_t> ReadVarint(absl::string_view* in) {
  uint64_t v = 0;
  for (size_t i = 0; i < in->size() && i < 10; ++i) {
    const uint64_t byte = static_cast<unsigned char>((*in)[i]);
    // The tenth byte holds bit 63 only.
    if (i == 9 && byte > 1) return std::nullopt;
    v |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      return v;
    }
  }
  return std::nullopt;
}

std::string EncodeCounter(int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  std::string out(8, '\0');
  for (size_t i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  return out;
}

std::optional<int64_t> DecodeCounter(absl::string_view bytes) {
  if (bytes.empty()) return 0;
  if (bytes.size() != 8) return std::nullopt;
  uint64_t u = 0;
  for (size_t i = 8; i-- > 0;) {
    u = (u << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return static_cast<int64_t>(u);
}

}  // namespace sandyq::storage
