#ifndef SANDYQ_TESTS_UNIT_FIELDS_TEST_UTIL_H_
#define SANDYQ_TESTS_UNIT_FIELDS_TEST_UTIL_H_

// Shared helpers for the server/fields tests. All values in these tests are
// synthetic (domain/kazakhstan.md test vectors, generic names).

#include <ostream>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "server/fields/fields.h"

namespace sandyq::fields::testing {

// "Today" for date-of-birth checks in tests.
inline constexpr absl::CivilDay kToday(2026, 1, 1);

inline NormalizeOptions TestOptions(bool strict_iin = true) {
  NormalizeOptions options;
  options.today = kToday;
  options.strict_iin = strict_iin;
  return options;
}

// The normalized value of `input`, or the error.
inline absl::StatusOr<std::string> NormalizedValue(
    FieldType type, absl::string_view input,
    const NormalizeOptions& options = TestOptions()) {
  absl::StatusOr<Normalized> normalized = Normalize(type, input, options);
  if (!normalized.ok()) return normalized.status();
  return normalized->value;
}

// Matches an ok StatusOr<std::string> holding exactly `expected`.
MATCHER_P(IsOkAndHolds, expected, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "value is \"" << *arg << "\"";
  return *arg == std::string(expected);
}

// Matches a StatusOr or Status that is InvalidArgument with exactly
// `message`.
MATCHER_P(IsInvalid, message, "") {
  const absl::Status status = [&] {
    if constexpr (std::is_same_v<std::decay_t<decltype(arg)>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << status;
  return status.code() == absl::StatusCode::kInvalidArgument &&
         status.message() == absl::string_view(message);
}

}  // namespace sandyq::fields::testing

#endif  // SANDYQ_TESTS_UNIT_FIELDS_TEST_UTIL_H_
