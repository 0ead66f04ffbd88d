// Payment card numbers (PAN) and expiry dates. No CVV, PIN or track data is
// accepted anywhere (PCI DSS 3.3.1): there is no field type for them.

#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"
#include "server/fields/token.h"

namespace sandyq::fields {

bool LuhnValid(absl::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;  // every second digit from the right is doubled
  for (size_t i = digits.size(); i-- > 0;) {
    if (!internal::IsAsciiDigit(digits[i])) return false;
    int d = digits[i] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

namespace internal {

absl::StatusOr<std::string> NormalizeCardNumber(absl::string_view input) {
  const FieldType type = FieldType::kCardNumber;
  std::string pan;
  pan.reserve(kMaxPanLength);
  for (char c : input) {
    if (c == ' ' || c == '-') continue;
    if (!IsAsciiDigit(c) || pan.size() == kMaxPanLength) {
      return InvalidField(type, "must be 13-19 digits");
    }
    pan.push_back(c);
  }
  if (pan.size() < kMinPanLength) {
    return InvalidField(type, "must be 13-19 digits");
  }
  if (!LuhnValid(pan)) return InvalidField(type, "fails the Luhn check");
  return pan;
}

// "MM/YY" or "MM/YYYY", spaces allowed around the slash and the whole.
// YY means 20YY; four-digit years must be 2000-2099 too, so both spellings
// cover the same range.
absl::StatusOr<std::string> NormalizeCardExpiry(absl::string_view input) {
  const FieldType type = FieldType::kCardExpiry;
  absl::string_view text = TrimSpaces(input);
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return InvalidField(type, "must be MM/YY or MM/YYYY");
  }
  const absl::string_view month = TrimSpaces(text.substr(0, slash));
  const absl::string_view year = TrimSpaces(text.substr(slash + 1));
  if (month.size() != 2 || !AllAsciiDigits(month) ||
      (year.size() != 2 && year.size() != 4) || !AllAsciiDigits(year)) {
    return InvalidField(type, "must be MM/YY or MM/YYYY");
  }
  const int mm = ParseDigits(month, 0, 2);
  if (mm < 1 || mm > 12) return InvalidField(type, "month must be 01-12");
  std::string out;
  out.reserve(7);
  if (year.size() == 2) {
    out.append("20");
  } else if (year.substr(0, 2) != "20") {
    return InvalidField(type, "year must be 2000-2099");
  }
  out.append(year.data(), year.size());
  out.push_back('-');
  out.append(month.data(), month.size());
  return out;
}

}  // namespace internal
}  // namespace sandyq::fields
