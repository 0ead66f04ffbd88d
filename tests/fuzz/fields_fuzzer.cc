// Every field validator and normalizer (server/fields/), plus the masks,
// token formats and the request-field text check (server/vault/input.h).
//
// Input: byte 0 picks the field type number (unknown numbers included),
// byte 1 the options, the rest is the value.
//
// Checks: a refusal is InvalidArgument "<type>: <rule>"; an accepted value is
// clean text, normalizes to itself again, masks to something else, and gets
// a token that looks like one and does not contain it.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "server/fields/field_type.h"
#include "server/fields/fields.h"
#include "server/fields/token.h"
#include "server/vault/input.h"
#include "tests/fakes/fake_random.h"
#include "tests/fuzz/fuzz_check.h"

namespace sandyq::fuzz {
namespace {

using fields::FieldType;

// Whether any 4-character window of `token` at or after `from` is a window
// of `value`, ignoring ASCII case (the rule NewToken keeps; fields/token.h).
bool SharesRun(absl::string_view token, absl::string_view value, size_t from) {
  const std::string lower_value = absl::AsciiStrToLower(value);
  const std::string lower_token = absl::AsciiStrToLower(token);
  for (size_t i = from; i + 4 <= lower_token.size(); ++i) {
    if (absl::StrContains(lower_value, lower_token.substr(i, 4))) return true;
  }
  return false;
}

void CheckAccepted(FieldType type, const fields::Normalized& out,
                   const fields::NormalizeOptions& options) {
  // Clean text: what is stored and revealed passes the request text check.
  SANDYQ_FUZZ_CHECK(!out.value.empty());
  SANDYQ_FUZZ_CHECK(
      vault::CheckText("value", out.value, 1 << 20, /*required=*/true).ok());
  SANDYQ_FUZZ_CHECK(vault::CheckText("search_key", out.search_key, 1 << 20,
                                     /*required=*/true)
                        .ok());
  if (type != FieldType::kFullName) {
    SANDYQ_FUZZ_CHECK(out.search_key == out.value);
  }
  // The normal form is a fixed point: normalizing it again changes nothing
  // (so Lookup of a revealed value finds its token). Card expiry is the
  // exception: its normal form "YYYY-MM" is not an accepted written form.
  if (type != FieldType::kCardExpiry) {
    absl::StatusOr<fields::Normalized> again =
        fields::Normalize(type, out.value, options);
    SANDYQ_FUZZ_CHECK(again.ok());
    SANDYQ_FUZZ_CHECK(again->value == out.value);
    SANDYQ_FUZZ_CHECK(again->search_key == out.search_key);
  }
  // A mask never shows the whole value. (An e-mail address whose local part
  // is a character and "***", which atext allows, masks to itself; the mask
  // still shows only what it always shows.)
  const std::string masked = fields::Mask(type, out.value);
  SANDYQ_FUZZ_CHECK(!masked.empty());
  if (type != FieldType::kEmail) SANDYQ_FUZZ_CHECK(masked != out.value);
  SANDYQ_FUZZ_CHECK(
      vault::CheckText("mask", masked, 1 << 20, /*required=*/true).ok());

  testing::FakeRandom random(out.value.size());
  const std::string token = fields::NewToken(type, out.value, random);
  SANDYQ_FUZZ_CHECK(fields::LooksLikeToken(token));
  SANDYQ_FUZZ_CHECK(token != out.value);
  if (type == FieldType::kCardNumber) {
    // Format-preserving: same length and ends, fails Luhn.
    SANDYQ_FUZZ_CHECK(token.size() == out.value.size());
    SANDYQ_FUZZ_CHECK(token.substr(0, 6) == out.value.substr(0, 6));
    SANDYQ_FUZZ_CHECK(token.substr(token.size() - 4) ==
                      out.value.substr(out.value.size() - 4));
    SANDYQ_FUZZ_CHECK(!fields::LuhnValid(token));
  } else {
    SANDYQ_FUZZ_CHECK(absl::StartsWith(token, fields::kOpaqueTokenPrefix));
    // The random part never holds a 4-character run of the value.
    SANDYQ_FUZZ_CHECK(
        !SharesRun(token, out.value, fields::kOpaqueTokenPrefix.size()));
  }
}

void CheckRefused(FieldType type, const absl::Status& status) {
  SANDYQ_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  const bool known = fields::FieldTypeFromNumber(static_cast<int>(type)).has_value();
  const std::string prefix = absl::StrCat(
      fields::FieldTypeName(known ? type : FieldType::kUnspecified), ": ");
  SANDYQ_FUZZ_CHECK(absl::StartsWith(status.message(), prefix));
  SANDYQ_FUZZ_CHECK(status.message().size() > prefix.size());
}

}  // namespace
}  // namespace sandyq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandyq;  // NOLINT: one entry point
  if (size < 2) return 0;
  // 0..9 are the known types; the rest of -128..127 are unknown numbers.
  const int number = static_cast<int8_t>(data[0]) % 16;
  const fields::FieldType type = static_cast<fields::FieldType>(number);
  const uint8_t flags = data[1];
  const absl::string_view value(reinterpret_cast<const char*>(data + 2),
                                size - 2);
  // "Today" moves between 1850 and 2100, so that date checks meet both ends.
  const fields::NormalizeOptions options{
      .today = absl::CivilDay(2026, 1, 1) + (flags >> 1) * 400 - 40000,
      .strict_iin = (flags & 1) == 0};

  absl::StatusOr<fields::Normalized> out =
      fields::Normalize(type, value, options);
  if (out.ok()) {
    fuzz::CheckAccepted(type, *out, options);
  } else {
    fuzz::CheckRefused(type, out.status());
  }

  // The other entry points take any bytes without harm.
  (void)fields::Mask(type, value);
  (void)fields::LooksLikeToken(value);
  (void)fields::LuhnValid(value);
  absl::Status text = vault::CheckText("field", value, 256, (flags & 2) != 0);
  if (!text.ok()) {
    SANDYQ_FUZZ_CHECK(text.code() == absl::StatusCode::kInvalidArgument);
    SANDYQ_FUZZ_CHECK(absl::StartsWith(text.message(), "field: "));
  }
  return 0;
}
