#include "server/vault/input.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace sandyq::vault {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not a valid,
// shortest-form encoding of a scalar value.
size_t Utf8Length(absl::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  // C1 control characters.
  if (cp >= 0x80 && cp <= 0x9f) return 0;
  return n;
}

}  // namespace

absl::Status CheckText(absl::string_view field, absl::string_view text,
                       size_t max_bytes, bool required) {
  if (text.empty()) {
    return required
               ? absl::InvalidArgumentError(absl::StrCat(field, ": required"))
               : absl::OkStatus();
  }
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": longer than ", max_bytes, " bytes"));
  }
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": contains a control character"));
    }
    size_t n = Utf8Length(text, i);
    if (n == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": is not valid UTF-8 text"));
    }
    i += n;
  }
  return absl::OkStatus();
}

std::string LoggedIdentity(absl::string_view identity) {
  if (CheckText("identity", identity, kMaxIdentityBytes, /*required=*/false)
          .ok()) {
    return std::string(identity);
  }
  return absl::StrCat("invalid:",
                      absl::CHexEscape(identity.substr(0, kMaxIdentityBytes)));
}

}  // namespace sandyq::vault
