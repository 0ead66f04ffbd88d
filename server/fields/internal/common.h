#ifndef SANDYQ_SERVER_FIELDS_INTERNAL_COMMON_H_
#define SANDYQ_SERVER_FIELDS_INTERNAL_COMMON_H_

// Helpers shared by the per-type validators in server/fields/. Not part of
// the library's API: callers outside server/fields/ must not include this.

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/fields/field_type.h"

namespace sandyq::fields::internal {

// Upper bound on the raw input of any field, checked before anything else so
// that huge inputs are cheap to refuse.
inline constexpr size_t kMaxInputBytes = 4096;

// InvalidArgument "<type name>: <rule>". `rule` must be a constant: it must
// never contain any part of the input.
absl::Status InvalidField(FieldType type, absl::string_view rule);

// Decodes the code point that starts at text[pos] and advances `pos` past it.
// Returns false, leaving `pos` alone, on ill-formed UTF-8: truncated or
// unexpected continuation bytes, overlong forms, surrogates (U+D800-U+DFFF)
// and values above U+10FFFF. Requires pos < text.size().
bool DecodeUtf8(absl::string_view text, size_t& pos, char32_t& cp);

// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void AppendUtf8(char32_t cp, std::string& out);

// Whether every byte is below 0x80.
bool IsAscii(absl::string_view text);

// Writes the Unicode NFC form of `text` (well-formed UTF-8, no NUL) to `out`.
// ASCII input is copied without calling utf8proc. Returns false only if
// utf8proc fails (out of memory); `out` is then unspecified.
bool ToNfc(absl::string_view text, std::string& out);

// Whether `cp` separates words in free text: ASCII space, tab, LF, CR and the
// Unicode space, line and paragraph separators (Zs, Zl, Zp, e.g. U+00A0).
bool IsUnicodeWhitespace(char32_t cp);

// Whether `cp` is a letter (general category L*).
bool IsLetter(char32_t cp);

// `text` without leading and trailing ASCII spaces.
absl::string_view TrimSpaces(absl::string_view text);

inline bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// Whether every byte of `text` is an ASCII digit (true for "").
bool AllAsciiDigits(absl::string_view text);

// Card numbers (PANs) are 13-19 ASCII digits.
inline constexpr size_t kMinPanLength = 13;
inline constexpr size_t kMaxPanLength = 19;

// Value of the ASCII digits text[pos, pos + n); requires them to be digits.
int ParseDigits(absl::string_view text, size_t pos, size_t n);

// Whether year-month-day is a real date of the proleptic Gregorian calendar.
bool IsRealDate(int year, int month, int day);

}  // namespace sandyq::fields::internal

#endif  // SANDYQ_SERVER_FIELDS_INTERNAL_COMMON_H_
