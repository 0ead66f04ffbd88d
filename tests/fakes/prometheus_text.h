#ifndef SANDYQ_TESTS_FAKES_PROMETHEUS_TEXT_H_
#define SANDYQ_TESTS_FAKES_PROMETHEUS_TEXT_H_

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace sandyq::testing {

// The value of the sample `series` (name and labels exactly as sandyqd
// renders them) in a Prometheus text scrape, or nullopt if absent.
inline std::optional<double> Sample(const std::string& scrape,
                                    absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
    if (!absl::StartsWith(line, series)) continue;
    absl::string_view rest = line.substr(series.size());
    if (!absl::ConsumePrefix(&rest, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(rest, &value)) return value;
  }
  return std::nullopt;
}

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_PROMETHEUS_TEXT_H_
