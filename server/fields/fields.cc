#include "server/fields/fields.h"

#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields {
namespace {

using internal::InvalidField;

// Raw-input limits, checked first. Free-text types get the global limit
// (their code-point limits apply after normalization); the others are short
// by nature.
constexpr size_t kMaxShortInputBytes = 256;

size_t MaxInputBytes(FieldType type) {
  switch (type) {
    case FieldType::kFullName:
    case FieldType::kAddress:
      return internal::kMaxInputBytes;
    default:
      return kMaxShortInputBytes;
  }
}

// Checks shared by every type: size, well-formed UTF-8, and no NUL or
// control characters (C0, DEL, C1). Addresses may contain tab, LF and CR,
// which they treat as whitespace.
absl::Status CheckText(FieldType type, absl::string_view input) {
  if (input.size() > MaxInputBytes(type)) return InvalidField(type, "too long");
  const bool line_breaks_allowed = type == FieldType::kAddress;
  for (size_t pos = 0; pos < input.size();) {
    const unsigned char byte = static_cast<unsigned char>(input[pos]);
    char32_t cp;
    if (byte < 0x80) {
      cp = byte;
      ++pos;
    } else if (!internal::DecodeUtf8(input, pos, cp)) {
      return InvalidField(type, "not valid UTF-8");
    }
    const bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
    if (control && !(line_breaks_allowed &&
                     (cp == '\t' || cp == '\n' || cp == '\r'))) {
      return InvalidField(type, "contains a control character");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Normalized> SameKey(absl::StatusOr<std::string> value) {
  if (!value.ok()) return value.status();
  Normalized out;
  out.search_key = *value;
  out.value = *std::move(value);
  return out;
}

}  // namespace

absl::StatusOr<Normalized> Normalize(FieldType type, absl::string_view input,
                                     const NormalizeOptions& options) {
  if (!FieldTypeFromNumber(static_cast<int>(type)).has_value()) {
    return InvalidField(FieldType::kUnspecified, "unknown field type");
  }
  if (absl::Status status = CheckText(type, input); !status.ok()) {
    return status;
  }
  switch (type) {
    case FieldType::kFullName:
      return internal::NormalizeFullName(input);
    case FieldType::kIin:
      return SameKey(internal::NormalizeIin(input, options.strict_iin));
    case FieldType::kPassport:
      return SameKey(internal::NormalizePassport(input));
    case FieldType::kPhone:
      return SameKey(internal::NormalizePhone(input));
    case FieldType::kCardNumber:
      return SameKey(internal::NormalizeCardNumber(input));
    case FieldType::kCardExpiry:
      return SameKey(internal::NormalizeCardExpiry(input));
    case FieldType::kEmail:
      return SameKey(internal::NormalizeEmail(input));
    case FieldType::kDateOfBirth:
      return SameKey(internal::NormalizeDateOfBirth(input, options.today));
    case FieldType::kAddress:
      return SameKey(internal::NormalizeAddress(input));
    case FieldType::kUnspecified:
      break;
  }
  return InvalidField(FieldType::kUnspecified, "unknown field type");
}

}  // namespace sandyq::fields
