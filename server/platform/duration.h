#ifndef SANDYQ_SERVER_PLATFORM_DURATION_H_
#define SANDYQ_SERVER_PLATFORM_DURATION_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sandyq::platform {

// Durations in config and policy files: a number of days ("90d", "1095d")
// or what absl::ParseDuration takes ("12h", "30m", "45s", "1h30m").
// InvalidArgument unless positive.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_DURATION_H_
