// Full names and addresses: the two free-text types, normalized with Unicode
// NFC (utf8proc) so that the same text typed in NFD (macOS, some web forms:
// "Й" as И + U+0306) gets the same value, blind index and token.
//
// Full names accept letters of the Cyrillic block (Russian, Kazakh and the
// neighbouring Cyrillic alphabets) and Latin letters (ASCII, Latin-1, Latin
// Extended-A/B and Extended Additional, which hold the 2021 Kazakh Latin
// letters Ä Ö Ü Ū Ğ Ş Ñ İ ı and the 2018 acute letters Á Ǵ Ń Ó Ú Ý, plus
// Latin Ə/ə and Ɵ/ɵ), spaces, hyphen-minus and the apostrophes ', U+2019 and
// U+02BC. Combining marks that do not compose into one of those letters,
// digits, other punctuation and invisible characters are refused. A word (a
// run between spaces) may not mix Latin and Cyrillic letters: this catches
// Latin look-alikes such as Latin "i" typed for Kazakh "і".

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields::internal {
namespace {

constexpr size_t kMaxNameCodePoints = 200;
constexpr size_t kMaxAddressCodePoints = 500;

enum class NameChar { kOther, kSpace, kLatin, kCyrillic, kApostrophe, kHyphen };

bool IsApostrophe(char32_t cp) {
  return cp == '\'' || cp == 0x2019 || cp == 0x02BC;
}

bool IsLatinLetter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  const bool in_latin_blocks =
      (cp >= 0x00C0 && cp <= 0x024F && cp != 0x00D7 && cp != 0x00F7) ||
      (cp >= 0x1E00 && cp <= 0x1EFF) || cp == 0x0259 || cp == 0x0275;
  return in_latin_blocks && IsLetter(cp);
}

bool IsCyrillicLetter(char32_t cp) {
  return cp >= 0x0400 && cp <= 0x04FF && IsLetter(cp);
}

NameChar ClassifyNameChar(char32_t cp) {
  if (cp == ' ') return NameChar::kSpace;
  if (cp == '-') return NameChar::kHyphen;
  if (IsApostrophe(cp)) return NameChar::kApostrophe;
  if (IsLatinLetter(cp)) return NameChar::kLatin;
  if (IsCyrillicLetter(cp)) return NameChar::kCyrillic;
  // Only the space separators (U+00A0 and friends), not tab or newline: the
  // shared checks have already refused control characters.
  if (IsUnicodeWhitespace(cp)) return NameChar::kSpace;
  return NameChar::kOther;
}

// Search-key folding of one upper-case code point: the Kazakh letters to
// their Russian base letters. Ё and Й lose their marks earlier, with the
// Latin diacritics.
char32_t FoldKazakh(char32_t cp) {
  switch (cp) {
    case 0x049A: return 0x041A;  // Қ -> К
    case 0x0492: return 0x0413;  // Ғ -> Г
    case 0x04A2: return 0x041D;  // Ң -> Н
    case 0x04D8: return 0x0410;  // Ә -> А
    case 0x04E8: return 0x041E;  // Ө -> О
    case 0x04B0: return 0x0423;  // Ұ -> У
    case 0x04AE: return 0x0423;  // Ү -> У
    case 0x04BA: return 0x0425;  // Һ -> Х
    case 0x0406: return 0x0418;  // І -> И
    default: return cp;
  }
}

// Canonical decomposition, removal of all combining marks, recomposition.
bool StripMarks(absl::string_view text, std::string& out) {
  if (IsAscii(text)) {
    out.assign(text.data(), text.size());
    return true;
  }
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
      static_cast<utf8proc_ssize_t>(text.size()), &mapped,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                     UTF8PROC_STRIPMARK));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(mapped,
                                                                &std::free);
  if (n < 0) return false;
  out.assign(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  return true;
}

}  // namespace

absl::StatusOr<Normalized> NormalizeFullName(absl::string_view input) {
  const FieldType type = FieldType::kFullName;
  std::string nfc;
  if (!ToNfc(input, nfc)) return InvalidField(type, "cannot be normalized");

  Normalized out;
  out.value.reserve(nfc.size());
  size_t code_points = 0;
  bool has_letter = false;
  bool pending_space = false;
  bool word_has_latin = false;
  bool word_has_cyrillic = false;
  for (size_t pos = 0; pos < nfc.size();) {
    char32_t cp;
    if (!DecodeUtf8(nfc, pos, cp)) return InvalidField(type, "not valid UTF-8");
    const NameChar kind = ClassifyNameChar(cp);
    switch (kind) {
      case NameChar::kOther:
        return InvalidField(type, "contains a character that is not allowed");
      case NameChar::kSpace:
        pending_space = !out.value.empty();
        word_has_latin = word_has_cyrillic = false;
        continue;
      case NameChar::kLatin:
        word_has_latin = has_letter = true;
        break;
      case NameChar::kCyrillic:
        word_has_cyrillic = has_letter = true;
        break;
      case NameChar::kApostrophe:
      case NameChar::kHyphen:
        break;
    }
    if (word_has_latin && word_has_cyrillic) {
      return InvalidField(type, "mixes Latin and Cyrillic letters in one word");
    }
    code_points += pending_space ? 2 : 1;
    if (code_points > kMaxNameCodePoints) {
      return InvalidField(type, "longer than 200 characters");
    }
    if (pending_space) out.value.push_back(' ');
    pending_space = false;
    AppendUtf8(cp, out.value);
  }
  if (out.value.empty()) return InvalidField(type, "is empty");
  if (!has_letter) return InvalidField(type, "must contain a letter");
  out.search_key = FullNameSearchKey(out.value);
  return out;
}

std::string FullNameSearchKey(absl::string_view value) {
  // 1. Upper-case code point by code point, dropping apostrophes.
  std::string upper;
  upper.reserve(value.size() + 8);
  for (size_t pos = 0; pos < value.size();) {
    char32_t cp;
    if (!DecodeUtf8(value, pos, cp)) {
      ++pos;  // not reachable for a normalized value
      continue;
    }
    if (IsApostrophe(cp)) continue;
    cp = static_cast<char32_t>(
        utf8proc_toupper(static_cast<utf8proc_int32_t>(cp)));
    if (cp == 0x1E9E || cp == 0x00DF) {  // ẞ, ß: upper case is "SS"
      upper.append("SS");
      continue;
    }
    AppendUtf8(cp, upper);
  }
  // 2. Strip marks: Ä -> A, Ş -> S, İ -> I, Ё -> Е, Й -> И.
  std::string stripped;
  if (!StripMarks(upper, stripped)) stripped = std::move(upper);
  // 3. Fold Kazakh letters; collapse the spaces left by apostrophe-only words.
  std::string key;
  key.reserve(stripped.size());
  bool pending_space = false;
  for (size_t pos = 0; pos < stripped.size();) {
    char32_t cp;
    if (!DecodeUtf8(stripped, pos, cp)) {
      ++pos;
      continue;
    }
    if (cp == ' ') {
      pending_space = !key.empty();
      continue;
    }
    if (pending_space) key.push_back(' ');
    pending_space = false;
    AppendUtf8(FoldKazakh(cp), key);
  }
  return key;
}

// Addresses: any printable text. Tab, LF and CR count as whitespace; runs of
// whitespace become one space. Refused: format characters (bidi overrides,
// zero-width characters), private-use and unassigned code points (their
// normalization could change with a later Unicode version).
absl::StatusOr<std::string> NormalizeAddress(absl::string_view input) {
  const FieldType type = FieldType::kAddress;
  std::string nfc;
  if (!ToNfc(input, nfc)) return InvalidField(type, "cannot be normalized");

  std::string out;
  out.reserve(nfc.size());
  size_t code_points = 0;
  bool has_letter_or_digit = false;
  bool pending_space = false;
  for (size_t pos = 0; pos < nfc.size();) {
    char32_t cp;
    if (!DecodeUtf8(nfc, pos, cp)) return InvalidField(type, "not valid UTF-8");
    if (IsUnicodeWhitespace(cp)) {
      pending_space = !out.empty();
      continue;
    }
    const utf8proc_category_t category =
        utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    switch (category) {
      case UTF8PROC_CATEGORY_CC:
      case UTF8PROC_CATEGORY_CF:
      case UTF8PROC_CATEGORY_CS:
      case UTF8PROC_CATEGORY_CO:
      case UTF8PROC_CATEGORY_CN:
        return InvalidField(type, "contains a character that is not allowed");
      case UTF8PROC_CATEGORY_ND:
        has_letter_or_digit = true;
        break;
      default:
        if (IsLetter(cp)) has_letter_or_digit = true;
        break;
    }
    code_points += pending_space ? 2 : 1;
    if (code_points > kMaxAddressCodePoints) {
      return InvalidField(type, "longer than 500 characters");
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    AppendUtf8(cp, out);
  }
  if (out.empty()) return InvalidField(type, "is empty");
  if (!has_letter_or_digit) {
    return InvalidField(type, "must contain a letter or digit");
  }
  return out;
}

}  // namespace sandyq::fields::internal
