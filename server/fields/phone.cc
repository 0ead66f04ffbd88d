// Phone numbers, parsed and validated by libphonenumber with "KZ" as the
// default region, stored in E.164.
//
// Before libphonenumber sees the input it is restricted to digits, spaces,
// "(", ")", "-", "." and one leading "+": libphonenumber would otherwise
// accept vanity letters ("8 800 FLOWERS"), extensions ("ext. 12", "#12") and
// other decorations, and we would store something other than what was typed.
// Country code 7 is shared with Russia: a valid Russian number (+7 9xx ...) is
// a valid phone here too. Kazakh trunk-prefix forms ("8 701 ...") and the
// Kazakh international prefix 8~10 ("810 44 ...") are understood.

#include <string>

#include "phonenumbers/phonenumber.pb.h"
#include "phonenumbers/phonenumberutil.h"
#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields::internal {
namespace {

using ::i18n::phonenumbers::PhoneNumber;
using ::i18n::phonenumbers::PhoneNumberUtil;

constexpr char kDefaultRegion[] = "KZ";
constexpr size_t kMaxPhoneBytes = 64;

// libphonenumber's singleton; its methods are thread-safe.
const PhoneNumberUtil& PhoneUtil() {
  static const PhoneNumberUtil* const util = PhoneNumberUtil::GetInstance();
  return *util;
}

}  // namespace

absl::StatusOr<std::string> NormalizePhone(absl::string_view input) {
  const FieldType type = FieldType::kPhone;
  const absl::string_view text = TrimSpaces(input);
  if (text.size() > kMaxPhoneBytes) return InvalidField(type, "too long");
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      if (i != 0) return InvalidField(type, "'+' is only allowed first");
      continue;
    }
    if (!IsAsciiDigit(c) && c != ' ' && c != '(' && c != ')' && c != '-' &&
        c != '.') {
      return InvalidField(type, "contains a character that is not allowed");
    }
  }
  PhoneNumber number;
  if (PhoneUtil().Parse(std::string(text), kDefaultRegion, &number) !=
      PhoneNumberUtil::NO_PARSING_ERROR) {
    return InvalidField(type, "not a phone number");
  }
  if (number.has_extension() || !PhoneUtil().IsValidNumber(number)) {
    return InvalidField(type, "not a valid number");
  }
  std::string e164;
  PhoneUtil().Format(number, PhoneNumberUtil::E164, &e164);
  return e164;
}

size_t CountryCodeLength(absl::string_view e164) {
  if (e164.empty() || e164[0] != '+') return 0;
  // Country calling codes are prefix-free, so the first known one is it.
  int code = 0;
  for (size_t len = 1; len <= 3 && len < e164.size(); ++len) {
    if (!IsAsciiDigit(e164[len])) return 0;
    code = code * 10 + (e164[len] - '0');
    std::string region;
    PhoneUtil().GetRegionCodeForCountryCode(code, &region);
    if (region != "ZZ") return len;
  }
  return 0;
}

}  // namespace sandyq::fields::internal
