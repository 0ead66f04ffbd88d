#ifndef SANDYQ_TESTS_FAKES_STATUS_MATCHERS_H_
#define SANDYQ_TESTS_FAKES_STATUS_MATCHERS_H_

// gMock matchers for absl::Status and absl::StatusOr<T>, in the manner of
// Tink's and Abseil's test matchers:
//   EXPECT_THAT(store->Get(t, k), StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(Tokenize(...), IsOkAndHolds(token));

#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace sandyq::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an absl::Status or absl::StatusOr<T> with `code` (and, when given,
// exactly `message`).
MATCHER_P(StatusIs, code, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code;
}
MATCHER_P2(StatusIs, code, message, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code && s.message() == message;
}

MATCHER(IsOk, "") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

// Matches an OK absl::StatusOr<T> whose value matches `inner` (a value or a
// matcher).
MATCHER_P(IsOkAndHolds, inner, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(inner, *arg, result_listener);
}

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_STATUS_MATCHERS_H_
