// Masked forms of normalized values (DESIGN.md §4). Each mask keeps only the
// characters listed in fields.h; anything that does not have the shape of a
// normalized value of its type masks to "***" rather than risk revealing it.

#include <string>

#include "absl/strings/str_cat.h"
#include "server/fields/fields.h"
#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields {
namespace {

using internal::AllAsciiDigits;

constexpr absl::string_view kOpaqueMask = "***";

std::string MaskCardNumber(absl::string_view pan) {
  // First 6 and last 4 (PCI DSS 3.4.1 baseline).
  if (pan.size() < internal::kMinPanLength ||
      pan.size() > internal::kMaxPanLength || !AllAsciiDigits(pan)) {
    return std::string(kOpaqueMask);
  }
  return absl::StrCat(pan.substr(0, 6), std::string(pan.size() - 10, '*'),
                      pan.substr(pan.size() - 4));
}

std::string MaskPhone(absl::string_view e164) {
  if (e164.size() < 4 || e164[0] != '+' || !AllAsciiDigits(e164.substr(1))) {
    return std::string(kOpaqueMask);
  }
  const absl::string_view last2 = e164.substr(e164.size() - 2);
  // Kazakh numbers: +7 6xx / +7 7xx and a 10-digit national number.
  if (e164.size() == 12 && e164[1] == '7' && (e164[2] == '6' || e164[2] == '7')) {
    return absl::StrCat("+7 ", e164.substr(2, 3), " *** ** ", last2);
  }
  const size_t cc = internal::CountryCodeLength(e164);
  if (cc == 0 || e164.size() < 1 + cc + 4) return std::string(kOpaqueMask);
  return absl::StrCat(e164.substr(0, 1 + cc), " *** ** ", last2);
}

std::string MaskIin(absl::string_view iin) {
  if (iin.size() != 12 || !AllAsciiDigits(iin)) {
    return std::string(kOpaqueMask);
  }
  return absl::StrCat(iin.substr(0, 2), "********", iin.substr(10));
}

// Each space-separated word becomes its first letter (a whole code point)
// and "***"; a word without a letter becomes "***".
std::string MaskFullName(absl::string_view name) {
  std::string out;
  bool in_word = false;
  bool letter_shown = false;
  for (size_t pos = 0; pos < name.size();) {
    char32_t cp;
    if (!internal::DecodeUtf8(name, pos, cp)) return std::string(kOpaqueMask);
    if (cp == ' ') {
      if (in_word) out.append("***");
      in_word = false;
      continue;
    }
    if (!in_word) {
      if (!out.empty()) out.push_back(' ');
      in_word = true;
      letter_shown = false;
    }
    if (!letter_shown && cp != 0x02BC && internal::IsLetter(cp)) {
      internal::AppendUtf8(cp, out);
      letter_shown = true;
    }
  }
  if (in_word) out.append("***");
  return out.empty() ? std::string(kOpaqueMask) : out;
}

std::string MaskEmail(absl::string_view email) {
  const size_t at = email.rfind('@');
  if (at == absl::string_view::npos || at == 0) {
    return std::string(kOpaqueMask);
  }
  size_t pos = 0;
  char32_t first;
  if (!internal::DecodeUtf8(email, pos, first) || pos > at) {
    return std::string(kOpaqueMask);
  }
  return absl::StrCat(email.substr(0, pos), "***", email.substr(at));
}

std::string MaskPassport(absl::string_view number) {
  if (number.size() < 5 || !internal::IsAscii(number)) {
    return std::string(kOpaqueMask);
  }
  return absl::StrCat(std::string(number.size() - 2, '*'),
                      number.substr(number.size() - 2));
}

std::string MaskDateOfBirth(absl::string_view date) {
  if (date.size() != 10 || !AllAsciiDigits(date.substr(0, 4)) ||
      date[4] != '-') {
    return "****-**-**";
  }
  return absl::StrCat(date.substr(0, 4), "-**-**");
}

}  // namespace

std::string Mask(FieldType type, absl::string_view normalized) {
  switch (type) {
    case FieldType::kCardNumber:
      return MaskCardNumber(normalized);
    case FieldType::kPhone:
      return MaskPhone(normalized);
    case FieldType::kIin:
      return MaskIin(normalized);
    case FieldType::kFullName:
      return MaskFullName(normalized);
    case FieldType::kEmail:
      return MaskEmail(normalized);
    case FieldType::kPassport:
      return MaskPassport(normalized);
    case FieldType::kCardExpiry:
      return "****-**";
    case FieldType::kDateOfBirth:
      return MaskDateOfBirth(normalized);
    case FieldType::kAddress:
    case FieldType::kUnspecified:
      break;
  }
  return std::string(kOpaqueMask);
}

}  // namespace sandyq::fields
