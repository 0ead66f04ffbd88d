// Passport and ID-card numbers: KZ passports ("N" + 8 digits), KZ ID cards
// (9 digits) and foreign passports. No national pattern is enforced: the
// KZ passport pattern is unconfirmed and foreign numbers vary, so the rule is
// 5-20 ASCII letters and digits after removing spaces and hyphens. Cyrillic
// letters are refused rather than transliterated (Cyrillic "Н" and Latin "N"
// would otherwise be two different stored values).

#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields::internal {
namespace {

constexpr size_t kMinLength = 5;
constexpr size_t kMaxLength = 20;

}  // namespace

absl::StatusOr<std::string> NormalizePassport(absl::string_view input) {
  const FieldType type = FieldType::kPassport;
  std::string out;
  out.reserve(kMaxLength);
  for (char c : input) {
    if (c == ' ' || c == '-') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!IsAsciiDigit(c) && !(c >= 'A' && c <= 'Z')) {
      return InvalidField(type, "only Latin letters and digits are allowed");
    }
    if (out.size() == kMaxLength) {
      return InvalidField(type, "must be 5-20 letters and digits");
    }
    out.push_back(c);
  }
  if (out.size() < kMinLength) {
    return InvalidField(type, "must be 5-20 letters and digits");
  }
  return out;
}

}  // namespace sandyq::fields::internal
