#include "server/fields/field_type.h"

namespace sandyq::fields {

std::optional<FieldType> FieldTypeFromNumber(int number) {
  for (FieldType type : kAllFieldTypes) {
    if (static_cast<int>(type) == number) return type;
  }
  return std::nullopt;
}

absl::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kFullName:
      return "full_name";
    case FieldType::kIin:
      return "iin";
    case FieldType::kPassport:
      return "passport";
    case FieldType::kPhone:
      return "phone";
    case FieldType::kCardNumber:
      return "card_number";
    case FieldType::kCardExpiry:
      return "card_expiry";
    case FieldType::kEmail:
      return "email";
    case FieldType::kDateOfBirth:
      return "date_of_birth";
    case FieldType::kAddress:
      return "address";
    case FieldType::kUnspecified:
      break;
  }
  return "unspecified";
}

}  // namespace sandyq::fields
