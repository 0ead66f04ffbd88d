#ifndef SANDYQ_SERVER_FIELDS_INTERNAL_VALIDATORS_H_
#define SANDYQ_SERVER_FIELDS_INTERNAL_VALIDATORS_H_

// One validator per field type, called by Normalize (fields.cc) after the
// checks every type shares: size limit, well-formed UTF-8, no NUL or control
// characters (tab, LF and CR are let through for addresses only). Each
// returns the normalized value or InvalidArgument "<type name>: <rule>"
// without any part of the input. All are thread-safe.

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "server/fields/fields.h"

namespace sandyq::fields::internal {

// names.cc
absl::StatusOr<Normalized> NormalizeFullName(absl::string_view input);
// The search key of a normalized full name (see fields.h).
std::string FullNameSearchKey(absl::string_view value);
absl::StatusOr<std::string> NormalizeAddress(absl::string_view input);

// iin.cc
absl::StatusOr<std::string> NormalizeIin(absl::string_view input,
                                         bool strict);

// document.cc
absl::StatusOr<std::string> NormalizePassport(absl::string_view input);

// phone.cc
absl::StatusOr<std::string> NormalizePhone(absl::string_view input);
// Number of digits in the country calling code of an E.164 string
// ("+77012345678" -> 1, "+442079460958" -> 2), or 0 if `e164` does not start
// with '+' and a country code that libphonenumber knows.
size_t CountryCodeLength(absl::string_view e164);

// card.cc
absl::StatusOr<std::string> NormalizeCardNumber(absl::string_view input);
absl::StatusOr<std::string> NormalizeCardExpiry(absl::string_view input);

// email.cc
absl::StatusOr<std::string> NormalizeEmail(absl::string_view input);

// date.cc
absl::StatusOr<std::string> NormalizeDateOfBirth(absl::string_view input,
                                                 absl::CivilDay today);

}  // namespace sandyq::fields::internal

#endif  // SANDYQ_SERVER_FIELDS_INTERNAL_VALIDATORS_H_
