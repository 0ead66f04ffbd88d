#include "server/platform/clock.h"

#include "absl/time/clock.h"

namespace sandyq::platform {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

Clock& RealClock() {
  static SystemClock* clock = new SystemClock;
  return *clock;
}

}  // namespace sandyq::platform
