#ifndef SANDYQ_SERVER_PLATFORM_CLOCK_H_
#define SANDYQ_SERVER_PLATFORM_CLOCK_H_

#include "absl/time/time.h"

namespace sandyq::platform {

// The source of "now" for everything that records or compares time.
// Implementations are thread-safe. Tests use tests/fakes/fake_clock.h.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system's real-time clock. Never destroyed.
Clock& RealClock();

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_CLOCK_H_
