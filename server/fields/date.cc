// Date of birth: ISO 8601 calendar date "YYYY-MM-DD" (exactly that shape),
// a real date, from 1850-01-01 up to and including options.today.

#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields::internal {
namespace {

constexpr int kEarliestYear = 1850;

}  // namespace

absl::StatusOr<std::string> NormalizeDateOfBirth(absl::string_view input,
                                                 absl::CivilDay today) {
  const FieldType type = FieldType::kDateOfBirth;
  const absl::string_view text = TrimSpaces(input);
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' ||
      !AllAsciiDigits(text.substr(0, 4)) ||
      !AllAsciiDigits(text.substr(5, 2)) ||
      !AllAsciiDigits(text.substr(8, 2))) {
    return InvalidField(type, "must be YYYY-MM-DD");
  }
  const int year = ParseDigits(text, 0, 4);
  const int month = ParseDigits(text, 5, 2);
  const int day = ParseDigits(text, 8, 2);
  if (!IsRealDate(year, month, day)) {
    return InvalidField(type, "not a real calendar date");
  }
  if (year < kEarliestYear) return InvalidField(type, "is before 1850");
  if (absl::CivilDay(year, month, day) > today) {
    return InvalidField(type, "is in the future");
  }
  return std::string(text);
}

}  // namespace sandyq::fields::internal
