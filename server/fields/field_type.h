#ifndef SANDYQ_SERVER_FIELDS_FIELD_TYPE_H_
#define SANDYQ_SERVER_FIELDS_FIELD_TYPE_H_

#include <array>
#include <optional>
#include "absl/strings/string_view.h"

namespace sandyq::fields {

// The kinds of personal data sandyq stores. The numbers equal
// sandyq.v1.FieldType in proto/sandyq/v1/field_type.proto and are stored on
// disk: never renumber.
enum class FieldType : int {
  kUnspecified = 0,
  kFullName = 1,
  kIin = 2,
  kPassport = 3,
  kPhone = 4,
  kCardNumber = 5,
  kCardExpiry = 6,
  kEmail = 7,
  kDateOfBirth = 8,
  kAddress = 9,
};

inline constexpr std::array<FieldType, 9> kAllFieldTypes = {
    FieldType::kFullName,   FieldType::kIin,         FieldType::kPassport,
    FieldType::kPhone,      FieldType::kCardNumber,  FieldType::kCardExpiry,
    FieldType::kEmail,      FieldType::kDateOfBirth, FieldType::kAddress,
};

// The field type with this number, or nullopt for kUnspecified and unknown
// numbers.
std::optional<FieldType> FieldTypeFromNumber(int number);

// Short lower-case name used in error messages and logs: "full_name", "iin",
// "passport", "phone", "card_number", "card_expiry", "email",
// "date_of_birth", "address"; "unspecified" otherwise.
absl::string_view FieldTypeName(FieldType type);

}  // namespace sandyq::fields

#endif  // SANDYQ_SERVER_FIELDS_FIELD_TYPE_H_
