// E-mail addresses: a deliberately narrow subset of the RFC 5322 addr-spec.
//
//   address    = local-part "@" domain
//   local-part = dot-atom: atext runs joined by single dots (1-64 octets)
//   atext      = ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~"
//   domain     = label 1*("." label)                   (at most 253 octets)
//   label      = 1-63 of ALPHA / DIGIT / "-", not starting or ending in "-"
//
// Not accepted: quoted local parts ("a b"@x.kz), comments, IP-address
// literals (user@[192.0.2.1]), non-ASCII local parts (RFC 6531) and Unicode
// domains (give them in their xn-- form), a trailing dot on the domain.
// The domain is lower-cased; the local part is kept as given because it is
// case-sensitive in principle (RFC 5321 §2.4).

#include "server/fields/internal/common.h"
#include "server/fields/internal/validators.h"

namespace sandyq::fields::internal {
namespace {

constexpr size_t kMaxLocalPart = 64;
constexpr size_t kMaxDomain = 253;
constexpr size_t kMaxLabel = 63;

bool IsAlnum(char c) {
  return IsAsciiDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool IsAtext(char c) {
  if (IsAlnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '/': case '=': case '?': case '^': case '_':
    case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::string> NormalizeEmail(absl::string_view input) {
  const FieldType type = FieldType::kEmail;
  const absl::string_view address = TrimSpaces(input);
  const size_t at = address.rfind('@');
  if (at == absl::string_view::npos) return InvalidField(type, "missing '@'");
  const absl::string_view local = address.substr(0, at);
  const absl::string_view domain = address.substr(at + 1);

  if (local.empty()) return InvalidField(type, "local part is empty");
  if (local.size() > kMaxLocalPart) {
    return InvalidField(type, "local part is longer than 64 octets");
  }
  char previous = '.';  // a leading dot is an error
  for (char c : local) {
    if (c == '.') {
      if (previous == '.') {
        return InvalidField(type, "local part has a misplaced dot");
      }
    } else if (!IsAtext(c)) {
      return InvalidField(type, "local part has a character that is not allowed");
    }
    previous = c;
  }
  if (previous == '.') {
    return InvalidField(type, "local part has a misplaced dot");
  }

  if (domain.size() > kMaxDomain) {
    return InvalidField(type, "domain is longer than 253 octets");
  }
  std::string out;
  out.reserve(address.size());
  out.append(local.data(), local.size());
  out.push_back('@');
  size_t labels = 0;
  size_t label_start = 0;
  for (size_t i = 0; i <= domain.size(); ++i) {
    if (i < domain.size() && domain[i] != '.') continue;
    const absl::string_view label = domain.substr(label_start, i - label_start);
    if (label.empty() || label.size() > kMaxLabel) {
      return InvalidField(type, "domain label must be 1-63 octets");
    }
    if (label.front() == '-' || label.back() == '-') {
      return InvalidField(type, "domain label starts or ends with a hyphen");
    }
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') {
        return InvalidField(type,
                            "domain has a character that is not allowed");
      }
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                         : c);
    }
    if (i < domain.size()) out.push_back('.');
    ++labels;
    label_start = i + 1;
  }
  if (labels < 2) {
    return InvalidField(type, "domain must have at least two labels");
  }
  return out;
}

}  // namespace sandyq::fields::internal
