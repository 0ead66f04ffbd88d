#ifndef SANDYQ_SERVER_SERVICE_CALL_TRACKER_H_
#define SANDYQ_SERVER_SERVICE_CALL_TRACKER_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sandyq::service {

// Counts calls in flight so shutdown can drain them: once draining starts,
// new calls are refused (UNAVAILABLE) and WaitIdle returns when the last
// running call has sent its reply. Refusals are counted apart: WaitQuiet
// then lets them out too, and waits for a moment without new ones, before
// shutdown closes the connections (a call cut off by the close reaches its
// client as CANCELLED, which clients do not retry, instead of UNAVAILABLE).
// Thread-safe.
class CallTracker {
 public:
  // Held by a call from its start until its reply is sent.
  class Token {
   public:
    Token(Token&& other) noexcept
        : tracker_(std::exchange(other.tracker_, nullptr)),
          count_(other.count_) {}
    Token& operator=(Token&&) = delete;
    Token(const Token&) = delete;
    ~Token() {
      if (tracker_ != nullptr) tracker_->End(count_);
    }

   private:
    friend class CallTracker;
    Token(CallTracker* tracker, int64_t* count)
        : tracker_(tracker), count_(count) {}
    CallTracker* tracker_;
    int64_t* count_;  // what End() decrements
  };

  // A token for a new call, or nullopt once draining has started.
  std::optional<Token> Begin() {
    absl::MutexLock lock(&mu_);
    if (draining_) return std::nullopt;
    ++in_flight_;
    ++activity_;
    return Token(this, &in_flight_);
  }

  // A token for a call refused while draining, held until its refusal is
  // sent.
  Token BeginRefusal() {
    absl::MutexLock lock(&mu_);
    ++refusing_;
    ++activity_;
    last_activity_ = absl::Now();
    return Token(this, &refusing_);
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

  // Waits until no refusal is being sent and no call has begun or ended
  // for `quiet` (so callers that just got their last reply have had time to
  // call again and be refused), or until `deadline`. Clients that keep
  // calling keep refusals coming: bound the wait.
  void WaitQuiet(absl::Duration quiet, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    for (;;) {
      if (!mu_.AwaitWithDeadline(
              absl::Condition(
                  +[](int64_t* n) { return *n == 0; }, &refusing_),
              deadline)) {
        return;
      }
      const absl::Time quiet_until = last_activity_ + quiet;
      if (absl::Now() >= std::min(quiet_until, deadline)) return;
      const uint64_t seen = activity_;
      auto active = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return activity_ != seen;
      };
      mu_.AwaitWithDeadline(absl::Condition(&active),
                            std::min(quiet_until, deadline));
    }
  }

 private:
  void End(int64_t* count) {
    absl::MutexLock lock(&mu_);
    --*count;
    ++activity_;
    last_activity_ = absl::Now();
  }

  absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refusing_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Calls begun and ended, and when the last refusal began or a call ended
  // (for WaitQuiet).
  uint64_t activity_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_activity_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_CALL_TRACKER_H_
