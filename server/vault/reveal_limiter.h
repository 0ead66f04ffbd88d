#ifndef SANDYQ_SERVER_VAULT_REVEAL_LIMITER_H_
#define SANDYQ_SERVER_VAULT_REVEAL_LIMITER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/platform/clock.h"
#include "server/policy/policy.h"

namespace sandyq::vault {

// The kinds of bulk-extraction alarm.
enum class AlarmKind {
  kDenials,   // a burst of refused reveals
  kSubjects,  // reveals across many distinct subjects
};
// "denials" / "subjects": the `kind` of the log line (and a metric label).
absl::string_view AlarmKindName(AlarmKind kind);

// One alarm, as raised: who, what, how many in which window. Holds no
// subject, token or value by construction.
struct ExtractionAlarm {
  std::string identity;
  AlarmKind kind = AlarmKind::kDenials;
  uint64_t count = 0;
  absl::Duration window;
};

// The operational log line for `alarm`, e.g. "bulk-extraction alarm:
// identity=support kind=subjects count=1000 window=1h".
std::string AlarmLogLine(const ExtractionAlarm& alarm);

// Rate limits and bulk-extraction alarms on reveals, per identity: the
// RevealLimit and ExtractionAlarms of the policy (proto/sandyq/v1/
// policy.proto), read from the Principal on every call, so a reloaded policy
// applies at once. A limit keeps what was used across a reload (its bucket
// capped at the new burst); a limit new to an identity starts full.
//
// Per-second limits are token buckets (full at start, refilled continuously
// at the rate). Per-day limits count reveals in 25 clock-hour slots: a
// reveal counts until the start of the 25th hour after its own, so no 24
// hours ever hold more than the limit. Alarms count in consecutive windows
// (one starts at the first event after the previous one ended) and fire at
// most once per window. Everything lives in memory; a restart starts afresh.
//
// Thread-safe. Each identity's state has its own mutex, held only for a few
// arithmetic steps and never across logging or I/O; the map of identities is
// read under a shared lock and only grows (bounded by the identities the
// policies ever named).
class RevealLimiter {
 public:
  // `on_alarm` (default: a WARN line through platform::LogWarning) runs on
  // the thread that crossed the threshold, with no lock held.
  explicit RevealLimiter(
      const platform::Clock* clock,
      std::function<void(const ExtractionAlarm&)> on_alarm = nullptr);
  RevealLimiter(const RevealLimiter&) = delete;
  RevealLimiter& operator=(const RevealLimiter&) = delete;

  // What a refused Acquire is recorded as in the access log, e.g.
  // "rate-limited:per_second" or "rate-limited:per_day:customer_support".
  struct Refusal {
    std::string rule;
    absl::Status status;  // ResourceExhausted naming the limit
  };

  // Takes one reveal for `purpose` from every limit of `who` that applies
  // (the identity-wide one and the purpose's own): from all of them or, if
  // any is used up, from none. Returns nullopt if it was taken, else the
  // refusal (and counts it in Stats()). Costs no lock when `who` has no
  // limit.
  std::optional<Refusal> Acquire(const policy::Principal& who,
                                 absl::string_view purpose);

  // Feeds the alarms with what one call did: `denied` reveals refused as
  // DENIED, and the keyed hashes (32 bytes; others are skipped) of the
  // subjects whose data it revealed or found. Raises at most one alarm of
  // each kind per window.
  void Observe(const policy::Principal& who, uint64_t denied,
               const std::vector<absl::string_view>& subject_hashes);

  // Totals since start, per identity that has been seen, for metrics.
  struct IdentityStats {
    std::string identity;
    uint64_t rate_limited = 0;    // reveals refused over a limit
    uint64_t denial_alarms = 0;   // AlarmKind::kDenials raised
    uint64_t subject_alarms = 0;  // AlarmKind::kSubjects raised
  };
  // Sorted by identity.
  std::vector<IdentityStats> Stats() const;

 private:
  // One limit's usage: the token bucket and the hourly counts.
  struct Usage {
    static constexpr int kHours = 25;
    bool bucket_started = false;
    double tokens = 0;
    absl::Time refilled;
    std::array<int64_t, kHours> hour_of{};  // the clock hour each slot counts
    std::array<uint64_t, kHours> in_hour{};
  };
  struct IdentityState {
    absl::Mutex mu;
    // By the limit's purpose ("" for every purpose together). Node-based:
    // Acquire holds pointers to two entries while it may insert.
    absl::node_hash_map<std::string, Usage> usage ABSL_GUARDED_BY(mu);
    absl::Time denials_since ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    uint64_t denials ABSL_GUARDED_BY(mu) = 0;
    bool denials_raised ABSL_GUARDED_BY(mu) = false;
    absl::Time subjects_since ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    // The first 8 bytes of each subject hash (keyed hashes are uniform).
    absl::flat_hash_set<uint64_t> subjects ABSL_GUARDED_BY(mu);
    bool subjects_raised ABSL_GUARDED_BY(mu) = false;
    IdentityStats stats ABSL_GUARDED_BY(mu);
  };

  IdentityState& StateOf(const std::string& identity);

  const platform::Clock* const clock_;
  const std::function<void(const ExtractionAlarm&)> on_alarm_;

  mutable absl::Mutex mu_;
  // Never erased, so references stay valid.
  absl::flat_hash_map<std::string, std::unique_ptr<IdentityState>> states_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_REVEAL_LIMITER_H_
