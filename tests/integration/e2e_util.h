#ifndef SANDYQ_TESTS_INTEGRATION_E2E_UTIL_H_
#define SANDYQ_TESTS_INTEGRATION_E2E_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandyq::testing {

MATCHER_P(StatusIs, code,
          absl::StrCat("has status code ", absl::StatusCodeToString(code))) {
  const absl::Status& s = [&]() -> absl::Status {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

#define SANDYQ_ASSERT_OK_AND_ASSIGN(lhs, expr)                      \
  auto SANDYQ_CONCAT(_statusor_, __LINE__) = (expr);                 \
  ASSERT_TRUE(SANDYQ_CONCAT(_statusor_, __LINE__).ok())              \
      << SANDYQ_CONCAT(_statusor_, __LINE__).status().ToString();    \
  lhs = std::move(*SANDYQ_CONCAT(_statusor_, __LINE__))
#define SANDYQ_CONCAT_INNER(a, b) a##b
#define SANDYQ_CONCAT(a, b) SANDYQ_CONCAT_INNER(a, b)

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_INTEGRATION_E2E_UTIL_H_
