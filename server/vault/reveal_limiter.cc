#include "server/vault/reveal_limiter.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/platform/log.h"

namespace sandyq::vault {
namespace {

constexpr size_t kSubjectHashBytes = 32;
// Slack for the bucket's floating-point refill (5 x 0.2 is not always 1).
constexpr double kEpsilon = 1e-9;

int64_t ClockHour(absl::Time now) {
  const int64_t seconds = absl::ToUnixSeconds(now);
  return seconds >= 0 ? seconds / 3600 : (seconds - 3599) / 3600;
}

std::string LimitRule(const policy::RevealLimit& limit, bool per_day) {
  return absl::StrCat("rate-limited:", per_day ? "per_day" : "per_second",
                      limit.purpose.empty() ? "" : ":", limit.purpose);
}

absl::Status LimitStatus(absl::string_view identity,
                         const policy::RevealLimit& limit, bool per_day) {
  const std::string scope =
      limit.purpose.empty() ? ""
                            : absl::StrCat(" for purpose ", limit.purpose);
  if (per_day) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "rate limit: identity ", identity, " is over its limit of ",
        limit.per_day, " reveals in 24 hours", scope, "; retry later"));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "rate limit: identity ", identity, " is over its limit of ",
      limit.per_second, " reveals per second (burst ", limit.burst, ")", scope,
      "; retry later"));
}

}  // namespace

absl::string_view AlarmKindName(AlarmKind kind) {
  switch (kind) {
    case AlarmKind::kDenials:
      return "denials";
    case AlarmKind::kSubjects:
      return "subjects";
  }
  return "unknown";
}

std::string AlarmLogLine(const ExtractionAlarm& alarm) {
  return absl::StrCat("bulk-extraction alarm: identity=", alarm.identity,
                      " kind=", AlarmKindName(alarm.kind),
                      " count=", alarm.count,
                      " window=", absl::FormatDuration(alarm.window));
}

RevealLimiter::RevealLimiter(
    const platform::Clock* clock,
    std::function<void(const ExtractionAlarm&)> on_alarm)
    : clock_(clock),
      on_alarm_(on_alarm != nullptr
                    ? std::move(on_alarm)
                    : [](const ExtractionAlarm& alarm) {
                        platform::LogWarning(AlarmLogLine(alarm));
                      }) {}

RevealLimiter::IdentityState& RevealLimiter::StateOf(
    const std::string& identity) {
  {
    absl::ReaderMutexLock lock(&mu_);
    const auto it = states_.find(identity);
    if (it != states_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<IdentityState>& state = states_[identity];
  if (state == nullptr) {
    state = std::make_unique<IdentityState>();
    absl::MutexLock state_lock(&state->mu);
    state->stats.identity = identity;
  }
  return *state;
}

std::optional<RevealLimiter::Refusal> RevealLimiter::Acquire(
    const policy::Principal& who, absl::string_view purpose) {
  if (who.reveal_limits.empty()) return std::nullopt;
  // The policy allows one identity-wide limit and one per purpose.
  std::array<const policy::RevealLimit*, 2> applies{};
  size_t n = 0;
  for (const policy::RevealLimit& limit : who.reveal_limits) {
    if ((limit.purpose.empty() || limit.purpose == purpose) &&
        n < applies.size()) {
      applies[n++] = &limit;
    }
  }
  if (n == 0) return std::nullopt;

  const absl::Time now = clock_->Now();
  const int64_t hour = ClockHour(now);
  IdentityState& state = StateOf(who.identity);
  const policy::RevealLimit* over = nullptr;
  bool over_per_day = false;
  {
    absl::MutexLock lock(&state.mu);
    std::array<Usage*, 2> usage{};
    for (size_t i = 0; i < n && over == nullptr; ++i) {
      const policy::RevealLimit& limit = *applies[i];
      Usage& u = state.usage[limit.purpose];
      usage[i] = &u;
      if (limit.per_second > 0) {
        const double burst = limit.burst;
        if (!u.bucket_started) {
          u.bucket_started = true;
          u.tokens = burst;
          u.refilled = now;
        } else if (now > u.refilled) {
          u.tokens += absl::ToDoubleSeconds(now - u.refilled) * limit.per_second;
          u.refilled = now;
        }
        // Also caps a bucket whose burst a reload lowered.
        u.tokens = std::min(u.tokens, burst);
        if (u.tokens + kEpsilon < 1) {
          over = &limit;
          break;
        }
      }
      if (limit.per_day > 0) {
        uint64_t in_day = 0;
        for (int s = 0; s < Usage::kHours; ++s) {
          if (u.hour_of[s] > hour - Usage::kHours && u.hour_of[s] <= hour) {
            in_day += u.in_hour[s];
          }
        }
        if (in_day >= limit.per_day) {
          over = &limit;
          over_per_day = true;
        }
      }
    }
    if (over != nullptr) {
      ++state.stats.rate_limited;
    } else {
      // Hours are counted whether or not the limit has a per-day cap, so a
      // reload that adds one counts what was revealed before it.
      const int slot = static_cast<int>(
          ((hour % Usage::kHours) + Usage::kHours) % Usage::kHours);
      for (size_t i = 0; i < n; ++i) {
        Usage& u = *usage[i];
        if (applies[i]->per_second > 0) u.tokens -= 1;
        if (u.hour_of[slot] != hour) {
          u.hour_of[slot] = hour;
          u.in_hour[slot] = 0;
        }
        ++u.in_hour[slot];
      }
    }
  }
  if (over == nullptr) return std::nullopt;
  return Refusal{.rule = LimitRule(*over, over_per_day),
                 .status = LimitStatus(who.identity, *over, over_per_day)};
}

void RevealLimiter::Observe(
    const policy::Principal& who, uint64_t denied,
    const std::vector<absl::string_view>& subject_hashes) {
  const policy::AlarmThresholds& alarms = who.alarms;
  const bool count_denials = denied > 0 && alarms.denials > 0;
  const bool count_subjects = !subject_hashes.empty() && alarms.subjects > 0;
  if (!count_denials && !count_subjects) return;

  const absl::Time now = clock_->Now();
  IdentityState& state = StateOf(who.identity);
  std::optional<ExtractionAlarm> denials_alarm;
  std::optional<ExtractionAlarm> subjects_alarm;
  {
    absl::MutexLock lock(&state.mu);
    if (count_denials) {
      if (now >= state.denials_since + alarms.denials_window) {
        state.denials_since = now;
        state.denials = 0;
        state.denials_raised = false;
      }
      state.denials += denied;
      if (!state.denials_raised && state.denials >= alarms.denials) {
        state.denials_raised = true;
        ++state.stats.denial_alarms;
        denials_alarm = ExtractionAlarm{.identity = who.identity,
                                        .kind = AlarmKind::kDenials,
                                        .count = state.denials,
                                        .window = alarms.denials_window};
      }
    }
    if (count_subjects) {
      if (now >= state.subjects_since + alarms.subjects_window) {
        state.subjects_since = now;
        absl::flat_hash_set<uint64_t>().swap(state.subjects);
        state.subjects_raised = false;
      }
      // Once raised, the window's subjects are no longer needed.
      for (size_t i = 0; i < subject_hashes.size() && !state.subjects_raised;
           ++i) {
        if (subject_hashes[i].size() != kSubjectHashBytes) continue;
        uint64_t key;
        std::memcpy(&key, subject_hashes[i].data(), sizeof(key));
        state.subjects.insert(key);
        if (state.subjects.size() >= alarms.subjects) {
          state.subjects_raised = true;
          ++state.stats.subject_alarms;
          subjects_alarm = ExtractionAlarm{.identity = who.identity,
                                           .kind = AlarmKind::kSubjects,
                                           .count = state.subjects.size(),
                                           .window = alarms.subjects_window};
          absl::flat_hash_set<uint64_t>().swap(state.subjects);
        }
      }
    }
  }
  if (denials_alarm.has_value()) on_alarm_(*denials_alarm);
  if (subjects_alarm.has_value()) on_alarm_(*subjects_alarm);
}

std::vector<RevealLimiter::IdentityStats> RevealLimiter::Stats() const {
  std::vector<IdentityStats> stats;
  {
    absl::ReaderMutexLock lock(&mu_);
    stats.reserve(states_.size());
    for (const auto& [identity, state] : states_) {
      absl::MutexLock state_lock(&state->mu);
      stats.push_back(state->stats);
    }
  }
  std::sort(stats.begin(), stats.end(),
            [](const IdentityStats& a, const IdentityStats& b) {
              return a.identity < b.identity;
            });
  return stats;
}

}  // namespace sandyq::vault
