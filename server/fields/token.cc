#include "server/fields/token.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/fields/internal/common.h"

namespace sandyq::fields {
namespace {

// "sq_" + base64url(18 bytes) = 3 + 24 characters.
constexpr size_t kOpaqueTokenRandomChars = kOpaqueTokenRandomBytes / 3 * 4;
constexpr size_t kOpaqueTokenLength =
    kOpaqueTokenPrefix.size() + kOpaqueTokenRandomChars;
static_assert(kOpaqueTokenRandomBytes % 3 == 0, "no base64 padding");

// An opaque token must not contain a run of this many characters of its
// value.
constexpr size_t kRunLength = 4;
// For the first draws every window of the token is checked, including those
// that overlap the fixed prefix. A value holding "sq_" followed by each
// base64url character could make every draw fail that check, so later draws
// check only the windows inside the random part. With a value of at most
// 4 KiB a draw then fails with probability below 9% (21 windows, at most
// 4093 runs, each matched with probability at most (2/64)^4).
constexpr int kFullTokenCheckDraws = 16;
// Reached only with a broken (e.g. constant) random source; the last draw is
// then returned as it is, so a fake cannot hang a test.
constexpr int kMaxOpaqueDraws = 1000;
constexpr int kMaxCardDraws = 100;

// PAN digits kept by card tokens.
constexpr size_t kCardKeptPrefix = 6;
constexpr size_t kCardKeptSuffix = 4;

bool IsBase64UrlChar(char c) {
  return internal::IsAsciiDigit(c) || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// The case-folded 4-character windows of a value that a token could contain,
// sorted for binary search.
class ValueRuns {
 public:
  explicit ValueRuns(absl::string_view value) {
    if (value.size() < kRunLength) return;
    runs_.reserve(value.size() - kRunLength + 1);
    for (size_t i = 0; i + kRunLength <= value.size(); ++i) {
      // Only windows made of token characters can ever match.
      if (!AllTokenChars(value.substr(i, kRunLength))) continue;
      runs_.push_back(Key(value.substr(i, kRunLength)));
    }
    std::sort(runs_.begin(), runs_.end());
  }

  // Whether any window of `token` starting at or after `from` is a run of
  // the value.
  bool Matches(absl::string_view token, size_t from) const {
    if (runs_.empty()) return false;
    for (size_t i = from; i + kRunLength <= token.size(); ++i) {
      if (std::binary_search(runs_.begin(), runs_.end(),
                             Key(token.substr(i, kRunLength)))) {
        return true;
      }
    }
    return false;
  }

 private:
  static bool AllTokenChars(absl::string_view window) {
    return std::all_of(window.begin(), window.end(), IsBase64UrlChar);
  }

  static uint32_t Key(absl::string_view window) {
    uint32_t key = 0;
    for (char c : window) key = (key << 8) | static_cast<uint8_t>(AsciiLower(c));
    return key;
  }

  std::vector<uint32_t> runs_;
};

std::string NewOpaqueToken(absl::string_view normalized,
                           platform::Random& random) {
  const ValueRuns runs(normalized);
  uint8_t bytes[kOpaqueTokenRandomBytes];
  std::string token;
  for (int draw = 1;; ++draw) {
    random.Fill(absl::MakeSpan(bytes));
    token = absl::StrCat(
        kOpaqueTokenPrefix,
        absl::WebSafeBase64Escape(absl::string_view(
            reinterpret_cast<const char*>(bytes), sizeof(bytes))));
    const size_t first_window =
        draw <= kFullTokenCheckDraws ? 0 : kOpaqueTokenPrefix.size();
    if (!runs.Matches(token, first_window) || draw == kMaxOpaqueDraws) {
      return token;
    }
  }
}

bool IsPan(absl::string_view pan) {
  return pan.size() >= internal::kMinPanLength &&
         pan.size() <= internal::kMaxPanLength &&
         internal::AllAsciiDigits(pan);
}

// Format-preserving card token: the PAN's first 6 and last 4 digits around
// uniformly random middle digits, redrawn until the Luhn check fails.
std::string NewCardToken(absl::string_view pan, platform::Random& random) {
  std::string token(pan);
  const size_t middle_end = token.size() - kCardKeptSuffix;
  for (int draw = 1;; ++draw) {
    for (size_t i = kCardKeptPrefix; i < middle_end; ++i) {
      token[i] = static_cast<char>('0' + random.Uniform(10));
    }
    if (!LuhnValid(token)) return token;
    if (draw == kMaxCardDraws) {
      // Only with a broken random source. Changing any single digit of a
      // Luhn-valid number makes it Luhn-invalid.
      char& last = token[middle_end - 1];
      last = static_cast<char>('0' + (last - '0' + 1) % 10);
      return token;
    }
  }
}

}  // namespace

std::string NewToken(FieldType type, absl::string_view normalized,
                     platform::Random& random) {
  if (type == FieldType::kCardNumber && IsPan(normalized)) {
    return NewCardToken(normalized, random);
  }
  return NewOpaqueToken(normalized, random);
}

bool LooksLikeToken(absl::string_view token) {
  if (token.size() == kOpaqueTokenLength &&
      absl::StartsWith(token, kOpaqueTokenPrefix)) {
    const absl::string_view random_part =
        token.substr(kOpaqueTokenPrefix.size());
    return std::all_of(random_part.begin(), random_part.end(),
                       IsBase64UrlChar);
  }
  // Card tokens always fail Luhn: a Luhn-valid digit string is a card
  // number sent by mistake, never a token.
  return IsPan(token) && !LuhnValid(token);
}

}  // namespace sandyq::fields
