#ifndef SANDYQ_TESTS_FAKES_FAKE_CLOCK_H_
#define SANDYQ_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/platform/clock.h"

namespace sandyq::testing {

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public platform::Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600))
      : now_(start) {}  // default: 2026-01-01T00:00:00Z

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_FAKE_CLOCK_H_
