#include "server/platform/duration.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::platform {
namespace {

using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::StatusIs;

TEST(ParseDurationTest, ReadsDays) {
  EXPECT_THAT(ParseDuration("1d"), IsOkAndHolds(absl::Hours(24)));
  EXPECT_THAT(ParseDuration("90d"), IsOkAndHolds(absl::Hours(24 * 90)));
  EXPECT_THAT(ParseDuration("1095d"), IsOkAndHolds(absl::Hours(24 * 1095)));
  EXPECT_THAT(ParseDuration("365d"), IsOkAndHolds(absl::Hours(24 * 365)));
}

TEST(ParseDurationTest, ReadsWhatAbseilReads) {
  EXPECT_THAT(ParseDuration("12h"), IsOkAndHolds(absl::Hours(12)));
  EXPECT_THAT(ParseDuration("30m"), IsOkAndHolds(absl::Minutes(30)));
  EXPECT_THAT(ParseDuration("45s"), IsOkAndHolds(absl::Seconds(45)));
  EXPECT_THAT(ParseDuration("1h30m"),
              IsOkAndHolds(absl::Hours(1) + absl::Minutes(30)));
  EXPECT_THAT(ParseDuration("1.5h"), IsOkAndHolds(absl::Minutes(90)));
  EXPECT_THAT(ParseDuration("250ms"), IsOkAndHolds(absl::Milliseconds(250)));
}

TEST(ParseDurationTest, RefusesZero) {
  for (const char* text : {"0d", "0s", "0"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseDuration(text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "duration must be positive and finite"));
  }
}

TEST(ParseDurationTest, RefusesNegative) {
  for (const char* text : {"-1d", "-12h", "-1s"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseDuration(text),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(ParseDurationTest, RefusesInfinity) {
  EXPECT_THAT(ParseDuration("inf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "duration must be positive and finite"));
  // So many days that the product saturates to infinity.
  EXPECT_THAT(ParseDuration("9223372036854775807d"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseDurationTest, RefusesWhatIsNotADuration) {
  for (const char* text : {"", "d", "1", "ten days", "1.5d", "1w", "1y", "d1",
                           "1dd", "1D", "3 years"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseDuration(text),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(ParseDurationTest, ErrorDoesNotEchoTheInput) {
  absl::StatusOr<absl::Duration> parsed = ParseDuration("eleven-fortnights");
  ASSERT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(parsed.status().message(), "not a duration");
}

}  // namespace
}  // namespace sandyq::platform
