#include "server/vault/reveal_limiter.h"

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy/policy.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::vault {
namespace {

using ::sandyq::testing::FakeClock;
using ::sandyq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::SizeIs;

policy::RevealLimit PerSecond(double rate, uint32_t burst,
                              std::string purpose = "") {
  return {.purpose = std::move(purpose), .per_second = rate, .burst = burst};
}
policy::RevealLimit PerDay(uint64_t n, std::string purpose = "") {
  return {.purpose = std::move(purpose), .per_day = n};
}

policy::Principal Who(std::vector<policy::RevealLimit> limits,
                      std::string identity = "svc") {
  policy::Principal who;
  who.identity = std::move(identity);
  who.reveal_limits = std::move(limits);
  return who;
}

// A distinct 32-byte subject hash per `n`.
std::string Subject(int n) {
  std::string hash(32, '\0');
  for (int i = 0; i < 4; ++i) hash[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return hash;
}

class RevealLimiterTest : public ::testing::Test {
 protected:
  // Reveals allowed in a row right now, up to `max`.
  int TakeAll(const policy::Principal& who, absl::string_view purpose,
              int max = 1000) {
    int taken = 0;
    while (taken < max && !limiter_.Acquire(who, purpose).has_value()) ++taken;
    return taken;
  }

  // 2026-01-01T00:30:00Z: half past the hour.
  FakeClock clock_{absl::FromUnixSeconds(1767225600) + absl::Minutes(30)};
  std::vector<ExtractionAlarm> alarms_;
  RevealLimiter limiter_{&clock_, [this](const ExtractionAlarm& alarm) {
                           alarms_.push_back(alarm);
                         }};
};

TEST_F(RevealLimiterTest, IdentityWithoutLimitsIsNeverRefused) {
  const policy::Principal who = Who({});
  EXPECT_EQ(TakeAll(who, "p", 10000), 10000);
  EXPECT_THAT(limiter_.Stats(), IsEmpty());  // no state kept at all
}

TEST_F(RevealLimiterTest, BurstIsServedAtOnceThenRefused) {
  const policy::Principal who = Who({PerSecond(2, 5)});
  EXPECT_EQ(TakeAll(who, "p"), 5);
  std::optional<RevealLimiter::Refusal> refused = limiter_.Acquire(who, "p");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rule, "rate-limited:per_second");
  EXPECT_THAT(refused->status,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "rate limit: identity svc is over its limit of 2 "
                       "reveals per second (burst 5); retry later"));
}

TEST_F(RevealLimiterTest, BucketRefillsAtTheRate) {
  const policy::Principal who = Who({PerSecond(2, 5)});
  ASSERT_EQ(TakeAll(who, "p"), 5);
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_EQ(TakeAll(who, "p"), 0);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(TakeAll(who, "p"), 1);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(TakeAll(who, "p"), 4);
  // A long pause refills no more than the burst.
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(TakeAll(who, "p"), 5);
}

TEST_F(RevealLimiterTest, FractionalRateAllowsOneEveryFewSeconds) {
  const policy::Principal who = Who({PerSecond(0.2, 1)});
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(TakeAll(who, "p"), 1) << i;
    clock_.Advance(absl::Seconds(4));
    EXPECT_EQ(TakeAll(who, "p"), 0) << i;
    clock_.Advance(absl::Seconds(1));
  }
}

TEST_F(RevealLimiterTest, ClockGoingBackRefillsNothing) {
  const policy::Principal who = Who({PerSecond(1, 1)});
  ASSERT_EQ(TakeAll(who, "p"), 1);
  clock_.Advance(-absl::Hours(1));
  EXPECT_EQ(TakeAll(who, "p"), 0);
  clock_.Advance(absl::Hours(1) + absl::Seconds(1));
  EXPECT_EQ(TakeAll(who, "p"), 1);
}

TEST_F(RevealLimiterTest, PerDayLimitHoldsForAnyTwentyFourHours) {
  const policy::Principal who = Who({PerDay(3)});
  ASSERT_EQ(TakeAll(who, "p"), 3);  // at 00:30
  std::optional<RevealLimiter::Refusal> refused = limiter_.Acquire(who, "p");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rule, "rate-limited:per_day");
  EXPECT_THAT(refused->status,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "rate limit: identity svc is over its limit of 3 "
                       "reveals in 24 hours; retry later"));
  clock_.Advance(absl::Hours(23));  // 23:30
  EXPECT_EQ(TakeAll(who, "p"), 0);
  clock_.Advance(absl::Hours(1));  // 00:30 next day: exactly 24 hours later
  EXPECT_EQ(TakeAll(who, "p"), 0);
  clock_.Advance(absl::Minutes(30) - absl::Seconds(1));  // 00:59:59
  EXPECT_EQ(TakeAll(who, "p"), 0);
  clock_.Advance(absl::Seconds(1));  // 01:00: the 00:xx hour has expired
  EXPECT_EQ(TakeAll(who, "p"), 3);
}

TEST_F(RevealLimiterTest, PerDayLimitFreesEachHourWhatItUsed) {
  const policy::Principal who = Who({PerDay(4)});
  ASSERT_EQ(TakeAll(who, "p", 1), 1);  // hour 0
  clock_.Advance(absl::Hours(1));
  ASSERT_EQ(TakeAll(who, "p", 2), 2);  // hour 1
  clock_.Advance(absl::Hours(1));
  ASSERT_EQ(TakeAll(who, "p"), 1);  // hour 2: the fourth
  clock_.Advance(absl::Hours(22));  // hour 24: all four still count
  EXPECT_EQ(TakeAll(who, "p"), 0);
  clock_.Advance(absl::Hours(1));  // hour 25: hour 0's one is free
  EXPECT_EQ(TakeAll(who, "p"), 1);
  clock_.Advance(absl::Hours(1));  // hour 26: hour 1's two
  EXPECT_EQ(TakeAll(who, "p"), 2);
}

TEST_F(RevealLimiterTest, PurposeLimitAppliesOnlyToItsPurpose) {
  const policy::Principal who = Who({PerDay(2, "p")});
  EXPECT_EQ(TakeAll(who, "p"), 2);
  EXPECT_EQ(TakeAll(who, "q", 50), 50);
  std::optional<RevealLimiter::Refusal> refused = limiter_.Acquire(who, "p");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rule, "rate-limited:per_day:p");
  EXPECT_THAT(refused->status,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "rate limit: identity svc is over its limit of 2 "
                       "reveals in 24 hours for purpose p; retry later"));
}

TEST_F(RevealLimiterTest, EveryApplicableLimitMustHaveRoomAndOnlyThenIsUsed) {
  // 5 a day in all, of which at most 2 for p.
  const policy::Principal who = Who({PerDay(5), PerDay(2, "p")});
  EXPECT_EQ(TakeAll(who, "p"), 2);
  // The refused p reveals took nothing from the identity-wide limit.
  EXPECT_EQ(TakeAll(who, "p", 10), 0);
  EXPECT_EQ(TakeAll(who, "q"), 3);
  // Now the identity-wide limit is used up, for p too.
  EXPECT_EQ(limiter_.Acquire(who, "p")->rule, "rate-limited:per_day");
}

TEST_F(RevealLimiterTest, IdentitiesHaveTheirOwnBudgets) {
  const policy::Principal a = Who({PerDay(1)}, "a");
  const policy::Principal b = Who({PerDay(1)}, "b");
  EXPECT_EQ(TakeAll(a, "p"), 1);
  EXPECT_EQ(TakeAll(b, "p"), 1);
}

TEST_F(RevealLimiterTest, ReloadedLimitKeepsWhatWasUsed) {
  ASSERT_EQ(TakeAll(Who({PerDay(2)}), "p"), 2);
  // A reload raises the daily cap: only the difference is left today.
  EXPECT_EQ(TakeAll(Who({PerDay(5)}), "p"), 3);
  // ... and lowers it again: nothing left.
  EXPECT_EQ(TakeAll(Who({PerDay(1)}), "p"), 0);
}

TEST_F(RevealLimiterTest, LoweredBurstCapsTheBucket) {
  ASSERT_EQ(TakeAll(Who({PerSecond(1, 10)}), "p", 2), 2);  // 8 left
  EXPECT_EQ(TakeAll(Who({PerSecond(1, 3)}), "p"), 3);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(TakeAll(Who({PerSecond(1, 3)}), "p"), 1);
}

TEST_F(RevealLimiterTest, DailyCapAddedByAReloadCountsTheDayAlreadyRevealed) {
  // A per-second cap is in force; a reload adds a daily one to it.
  ASSERT_EQ(TakeAll(Who({PerSecond(100, 4)}), "p"), 4);
  policy::RevealLimit both = PerSecond(100, 4);
  both.per_day = 6;
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(TakeAll(Who({both}), "p"), 2);
}

TEST_F(RevealLimiterTest, RefusalsAreCounted) {
  const policy::Principal who = Who({PerDay(1)});
  TakeAll(who, "p");
  limiter_.Acquire(who, "p");
  EXPECT_THAT(limiter_.Stats(),
              ElementsAre(AllOf(
                  Field(&RevealLimiter::IdentityStats::identity, "svc"),
                  Field(&RevealLimiter::IdentityStats::rate_limited, 2u))));
}

TEST_F(RevealLimiterTest, ConcurrentCallersNeverTakeMoreThanTheLimit) {
  const policy::Principal who = Who({PerDay(1000)});
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (!limiter_.Acquire(who, "p").has_value()) ++taken;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(taken.load(), 1000);
}

// --- Alarms -------------------------------------------------------------------

policy::Principal Watched(uint32_t denials, uint32_t subjects,
                          absl::Duration window = absl::Minutes(1)) {
  policy::Principal who = Who({}, "support");
  who.alarms = {.denials = denials,
                .denials_window = window,
                .subjects = subjects,
                .subjects_window = window};
  return who;
}

TEST_F(RevealLimiterTest, DenialBurstRaisesOneAlarmPerWindow) {
  const policy::Principal who = Watched(5, 0);
  limiter_.Observe(who, 4, {});
  EXPECT_THAT(alarms_, IsEmpty());
  clock_.Advance(absl::Seconds(59));
  limiter_.Observe(who, 1, {});
  ASSERT_THAT(alarms_, SizeIs(1));
  EXPECT_EQ(alarms_[0].identity, "support");
  EXPECT_EQ(alarms_[0].kind, AlarmKind::kDenials);
  EXPECT_EQ(alarms_[0].count, 5u);
  EXPECT_EQ(alarms_[0].window, absl::Minutes(1));
  // More denials in the same window raise nothing more.
  limiter_.Observe(who, 100, {});
  EXPECT_THAT(alarms_, SizeIs(1));
  // The window started at the first denial; the next one may raise again.
  clock_.Advance(absl::Seconds(1));
  limiter_.Observe(who, 5, {});
  EXPECT_THAT(alarms_, SizeIs(2));
  EXPECT_THAT(limiter_.Stats(),
              ElementsAre(Field(&RevealLimiter::IdentityStats::denial_alarms,
                                2u)));
}

TEST_F(RevealLimiterTest, DenialsSpreadOverWindowsRaiseNothing) {
  const policy::Principal who = Watched(5, 0);
  for (int i = 0; i < 10; ++i) {
    limiter_.Observe(who, 4, {});
    clock_.Advance(absl::Minutes(1));
  }
  EXPECT_THAT(alarms_, IsEmpty());
}

TEST_F(RevealLimiterTest, ManyDistinctSubjectsRaiseOneAlarmPerWindow) {
  const policy::Principal who = Watched(0, 3, absl::Hours(1));
  const std::string s1 = Subject(1), s2 = Subject(2), s3 = Subject(3),
                    s4 = Subject(4);
  // The same people again and again are not many people.
  for (int i = 0; i < 100; ++i) limiter_.Observe(who, 0, {s1, s2, s1});
  EXPECT_THAT(alarms_, IsEmpty());
  limiter_.Observe(who, 0, {s2, s3, s4});
  ASSERT_THAT(alarms_, SizeIs(1));
  EXPECT_EQ(alarms_[0].kind, AlarmKind::kSubjects);
  EXPECT_EQ(alarms_[0].count, 3u);
  EXPECT_EQ(alarms_[0].window, absl::Hours(1));
  limiter_.Observe(who, 0, {Subject(5), Subject(6), Subject(7)});
  EXPECT_THAT(alarms_, SizeIs(1));
  clock_.Advance(absl::Hours(1));
  limiter_.Observe(who, 0, {Subject(8), Subject(9)});
  EXPECT_THAT(alarms_, SizeIs(1));  // a new window: two so far
  limiter_.Observe(who, 0, {s1});
  EXPECT_THAT(alarms_, SizeIs(2));
  EXPECT_THAT(limiter_.Stats(),
              ElementsAre(Field(&RevealLimiter::IdentityStats::subject_alarms,
                                2u)));
}

TEST_F(RevealLimiterTest, ZeroThresholdTurnsAnAlarmOff) {
  const policy::Principal who = Watched(0, 0);
  limiter_.Observe(who, 1000000, {Subject(1), Subject(2)});
  EXPECT_THAT(alarms_, IsEmpty());
}

TEST_F(RevealLimiterTest, LogLineNamesIdentityKindCountAndWindowOnly) {
  EXPECT_EQ(AlarmLogLine({.identity = "support",
                          .kind = AlarmKind::kSubjects,
                          .count = 1000,
                          .window = absl::Hours(1)}),
            "bulk-extraction alarm: identity=support kind=subjects "
            "count=1000 window=1h");
  EXPECT_EQ(AlarmLogLine({.identity = "checkout",
                          .kind = AlarmKind::kDenials,
                          .count = 50,
                          .window = absl::Minutes(1)}),
            "bulk-extraction alarm: identity=checkout kind=denials count=50 "
            "window=1m");
}

}  // namespace
}  // namespace sandyq::vault
