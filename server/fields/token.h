#ifndef SANDYQ_SERVER_FIELDS_TOKEN_H_
#define SANDYQ_SERVER_FIELDS_TOKEN_H_

#include <string>
#include "absl/strings/string_view.h"

#include "server/fields/field_type.h"
#include "server/platform/random.h"

namespace sandyq::fields {

// Token formats.
//
// Opaque tokens (every type but card numbers): "sq_" followed by 24
// characters of base64url without padding (144 random bits). They contain no
// run of 4 or more consecutive characters of the value (case-insensitively).
//
// Card-number tokens are format-preserving: the same length as the PAN,
// digits only, the first 6 and last 4 digits kept, the middle random, and the
// Luhn check failing, so a token can never be mistaken for a card. Uniqueness
// across stored tokens is the caller's job (retry on collision).
inline constexpr absl::string_view kOpaqueTokenPrefix = "sq_";
inline constexpr size_t kOpaqueTokenRandomBytes = 18;

// A fresh candidate token for `normalized` of `type`. Thread-safe if `random`
// is. Opaque candidates are redrawn until they hold no 4-character run of
// `normalized`; after 16 draws only runs inside the random part count (a
// value could contain "sq_" + every character), and a random source that
// fails 1000 draws in a row (a constant fake) gets its last draw back. A
// kCardNumber value that is not 13-19 digits gets an opaque token.
std::string NewToken(FieldType type, absl::string_view normalized,
                     platform::Random& random);

// Whether `token` is syntactically a sandyq token (opaque, or 13-19 digits
// failing Luhn). A Luhn-valid digit string is a card number, not a token.
// Used to reject garbage, and raw values sent by mistake, before any storage
// lookup or logging.
bool LooksLikeToken(absl::string_view token);

// Luhn mod-10 check over ASCII digits; false on any non-digit.
bool LuhnValid(absl::string_view digits);

}  // namespace sandyq::fields

#endif  // SANDYQ_SERVER_FIELDS_TOKEN_H_
