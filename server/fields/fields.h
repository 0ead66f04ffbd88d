#ifndef SANDYQ_SERVER_FIELDS_FIELDS_H_
#define SANDYQ_SERVER_FIELDS_FIELDS_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "server/fields/field_type.h"

namespace sandyq::fields {

struct NormalizeOptions {
  // Today's date in Asia/Almaty, for "date of birth not in the future".
  absl::CivilDay today;
  // IIN structural checks (7th digit 1-6, a real calendar date for that
  // century). The check digit and unassignable prefixes are always enforced.
  bool strict_iin = true;
};

// A validated value in its canonical form.
struct Normalized {
  // What is encrypted and returned by Detokenize, e.g. "+77012345678".
  std::string value;
  // What the blind index hashes for Lookup. Equal to `value` except for full
  // names, where it folds case, Kazakh letters to their Russian base letters
  // and Latin diacritics, so "ҚАЙРАТ" finds "Қайрат" and "Кайрат".
  std::string search_key;
};

// Validates `input` as `type` and returns its normalized form (DESIGN.md §3).
// On failure returns InvalidArgument with a message "<type name>: <rule>",
// e.g. "iin: check digit does not match". The message never contains any
// part of the input. Thread-safe.
//
// Every type first refuses input over 4 KiB (256 bytes for the short types),
// ill-formed UTF-8, NUL and control characters (addresses may hold tab, LF
// and CR). The per-type rules are stated at the top of each validator source
// (names.cc, iin.cc, document.cc, phone.cc, card.cc, email.cc, date.cc).
// Deliberate limits: e-mail takes dot-atom ASCII local parts only (no quoted
// local parts, no IP-literal domains; IDN domains in their xn-- form); card
// expiry years are 2000-2099.
absl::StatusOr<Normalized> Normalize(FieldType type, absl::string_view input,
                                     const NormalizeOptions& options);

// The masked form of a normalized value of `type` (DESIGN.md §4):
//   card_number  440043******1234     phone  +7 701 *** ** 67
//   iin          85********19         full_name  А*** Б***
//   email        a***@mail.kz         passport   *******78
//   card_expiry  ****-**              date_of_birth 1985-**-**
//   address      ***
// Never reveals more than the listed characters. Thread-safe.
std::string Mask(FieldType type, absl::string_view normalized);

}  // namespace sandyq::fields

#endif  // SANDYQ_SERVER_FIELDS_FIELDS_H_
