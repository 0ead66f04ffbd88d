// IIN (ЖСН / ИИН) validation; the rules are in domain/kazakhstan.md §1.
//
// Hard rules: 12 ASCII digits after trimming surrounding spaces; the check
// digit computed with weights 1..11, or, when that sum mod 11 is 10, with the
// fallback weights 3..11,1,2; a prefix for which both sums give 10 has no
// valid check digit and is never issued. Structural rules (strict_iin): the
// 7th digit (century and sex) is 1-6 and digits 1-6 are a real YYMMDD date in
// the century it implies. These are optional because a 2013 amendment
// decoupled IIN digits from the date of birth.

#include <optional>

#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields::internal {
namespace {

constexpr size_t kIinLength = 12;
constexpr int kFirstWeights[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
constexpr int kFallbackWeights[11] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2};

int WeightedSumMod11(absl::string_view digits, const int (&weights)[11]) {
  int sum = 0;
  for (size_t i = 0; i < 11; ++i) sum += (digits[i] - '0') * weights[i];
  return sum % 11;
}

// The check digit for the first 11 digits of `iin`, or nullopt when the
// prefix is unassignable.
std::optional<int> CheckDigit(absl::string_view iin) {
  int digit = WeightedSumMod11(iin, kFirstWeights);
  if (digit == 10) digit = WeightedSumMod11(iin, kFallbackWeights);
  if (digit == 10) return std::nullopt;
  return digit;
}

}  // namespace

absl::StatusOr<std::string> NormalizeIin(absl::string_view input,
                                         bool strict) {
  const FieldType type = FieldType::kIin;
  const absl::string_view iin = TrimSpaces(input);
  if (iin.size() != kIinLength || !AllAsciiDigits(iin)) {
    return InvalidField(type, "must be 12 digits");
  }
  const std::optional<int> check = CheckDigit(iin);
  if (!check.has_value()) {
    return InvalidField(type, "prefix is unassignable (no valid check digit)");
  }
  if (iin[11] - '0' != *check) {
    return InvalidField(type, "check digit does not match");
  }
  if (strict) {
    const int century_digit = iin[6] - '0';
    if (century_digit < 1 || century_digit > 6) {
      return InvalidField(type, "century digit must be 1-6");
    }
    // 1, 2: 1800s; 3, 4: 1900s; 5, 6: 2000s.
    const int century = 1800 + 100 * ((century_digit - 1) / 2);
    if (!IsRealDate(century + ParseDigits(iin, 0, 2), ParseDigits(iin, 2, 2),
                    ParseDigits(iin, 4, 2))) {
      return InvalidField(type, "digits 1-6 are not a valid date");
    }
  }
  return std::string(iin);
}

}  // namespace sandyq::fields::internal
