#include "server/platform/duration.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace sandyq::platform {

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  absl::Duration d;
  int64_t days;
  if (absl::EndsWith(text, "d") &&
      absl::SimpleAtoi(text.substr(0, text.size() - 1), &days)) {
    d = absl::Hours(24) * days;
  } else if (!absl::ParseDuration(text, &d)) {
    return absl::InvalidArgumentError("not a duration");
  }
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("duration must be positive and finite");
  }
  return d;
}

}  // namespace sandyq::platform
