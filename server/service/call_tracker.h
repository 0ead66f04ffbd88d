#ifndef SANDYQ_SERVER_SERVICE_CALL_TRACKER_H_
#define SANDYQ_SERVER_SERVICE_CALL_TRACKER_H_

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sandyq::service {

// Counts calls in flight so shutdown can drain them: once draining starts,
// new calls are refused (UNAVAILABLE) and WaitIdle returns when the last
// running call has finished. gRPC's own graceful shutdown also waits for
// idle client connections to go away, which can take until its deadline.
// Thread-safe.
class CallTracker {
 public:
  // Held by a call from its start until its reply is sent.
  class Token {
   public:
    explicit Token(CallTracker* tracker) : tracker_(tracker) {}
    Token(Token&& other) noexcept : tracker_(std::exchange(other.tracker_, nullptr)) {}
    Token& operator=(Token&&) = delete;
    Token(const Token&) = delete;
    ~Token() {
      if (tracker_ != nullptr) tracker_->End();
    }

   private:
    CallTracker* tracker_;
  };

  // A token for a new call, or nullopt once draining has started.
  std::optional<Token> Begin() {
    absl::MutexLock lock(&mu_);
    if (draining_) return std::nullopt;
    ++in_flight_;
    return Token(this);
  }

  void StartDraining() {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }

  // Waits until no call is in flight or `deadline`; true if idle.
  bool WaitIdle(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(
        absl::Condition(
            +[](int64_t* n) { return *n == 0; }, &in_flight_),
        deadline);
  }

 private:
  void End() {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }

  absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_CALL_TRACKER_H_
