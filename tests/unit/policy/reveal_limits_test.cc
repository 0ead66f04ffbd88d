// The policy's rate limits (Identity.reveal_limits) and bulk-extraction
// alarm thresholds (Policy.alarms, Identity.alarms): how they are read,
// defaulted and inherited, and the line-numbered errors for bad ones.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy/policy.h"
#include "tests/unit/policy/policy_test_util.h"

namespace sandyq::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kHead[] =
    "purposes { name: \"p\" legal_basis: LEGAL_BASIS_CONTRACT }\n"
    "purposes { name: \"q\" legal_basis: LEGAL_BASIS_CONTRACT }\n"
    "roles { name: \"r\" }\n";

TEST(RevealLimitsTest, IdentityWithoutLimitsHasNoneAndDefaultAlarms) {
  std::shared_ptr<const Policy> policy = ParseOrDie(absl::StrCat(
      kHead,
      "identities { name: \"a\" organisation: \"o\" country: \"KZ\" }\n"));
  ASSERT_NE(policy, nullptr);
  const Principal& a = *policy->FindIdentity("a");
  EXPECT_THAT(a.reveal_limits, IsEmpty());
  EXPECT_EQ(a.alarms.denials, 50u);
  EXPECT_EQ(a.alarms.denials_window, absl::Minutes(1));
  EXPECT_EQ(a.alarms.subjects, 1000u);
  EXPECT_EQ(a.alarms.subjects_window, absl::Hours(1));
}

TEST(RevealLimitsTest, ReadsLimitsAndDefaultsTheBurst) {
  std::shared_ptr<const Policy> policy = ParseOrDie(absl::StrCat(kHead, R"pb(
    identities {
      name: "a"
      organisation: "o"
      country: "KZ"
      reveal_limits { per_second: 2.5 per_day: 1000 }
      reveal_limits { purpose: "p" per_second: 0.2 }
      reveal_limits { purpose: "q" per_second: 10 burst: 40 }
    }
    identities {
      name: "b"
      organisation: "o"
      country: "KZ"
      reveal_limits { purpose: "p" per_day: 7 }
    }
  )pb"));
  ASSERT_NE(policy, nullptr);
  const Principal& a = *policy->FindIdentity("a");
  ASSERT_THAT(a.reveal_limits, SizeIs(3));
  EXPECT_EQ(a.reveal_limits[0].purpose, "");
  EXPECT_EQ(a.reveal_limits[0].per_second, 2.5);
  EXPECT_EQ(a.reveal_limits[0].burst, 3u);  // rounded up
  EXPECT_EQ(a.reveal_limits[0].per_day, 1000u);
  EXPECT_EQ(a.reveal_limits[1].purpose, "p");
  EXPECT_EQ(a.reveal_limits[1].burst, 1u);  // at least one
  EXPECT_EQ(a.reveal_limits[1].per_day, 0u);
  EXPECT_EQ(a.reveal_limits[2].burst, 40u);
  const Principal& b = *policy->FindIdentity("b");
  ASSERT_THAT(b.reveal_limits, SizeIs(1));
  EXPECT_EQ(b.reveal_limits[0].per_second, 0);
  EXPECT_EQ(b.reveal_limits[0].burst, 0u);
  EXPECT_EQ(b.reveal_limits[0].per_day, 7u);
}

TEST(RevealLimitsTest, AlarmsAreInheritedFieldByField) {
  std::shared_ptr<const Policy> policy = ParseOrDie(absl::StrCat(kHead, R"pb(
    alarms { denials: 10 denials_window: "5m" }
    identities { name: "plain" organisation: "o" country: "KZ" }
    identities {
      name: "own"
      organisation: "o"
      country: "KZ"
      alarms { denials: 0 subjects: 20000 subjects_window: "1d" }
    }
  )pb"));
  ASSERT_NE(policy, nullptr);
  const AlarmThresholds& plain = policy->FindIdentity("plain")->alarms;
  EXPECT_EQ(plain.denials, 10u);
  EXPECT_EQ(plain.denials_window, absl::Minutes(5));
  EXPECT_EQ(plain.subjects, 1000u);
  EXPECT_EQ(plain.subjects_window, absl::Hours(1));
  const AlarmThresholds& own = policy->FindIdentity("own")->alarms;
  EXPECT_EQ(own.denials, 0u);  // off
  EXPECT_EQ(own.denials_window, absl::Minutes(5));
  EXPECT_EQ(own.subjects, 20000u);
  EXPECT_EQ(own.subjects_window, absl::Hours(24));
}

// Each bad policy has one problem, reported with its location and field
// path; line 1 is the first line after kHead's three.
struct BadLimits {
  std::string name;
  std::string text;   // after kHead
  std::string error;  // the one expected line
};

void PrintTo(const BadLimits& bad, std::ostream* out) { *out << bad.name; }

class RevealLimitsErrorTest : public ::testing::TestWithParam<BadLimits> {};

TEST_P(RevealLimitsErrorTest, ReportsTheProblemWithLocationAndFieldPath) {
  const absl::StatusOr<std::shared_ptr<const Policy>> policy =
      Policy::Parse(absl::StrCat(kHead, GetParam().text), "bad.textproto");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::vector<std::string>(
                  absl::StrSplit(policy.status().message(), '\n')),
              ElementsAre(GetParam().error));
}

// An identity "a" whose body is `body`, starting on line 4.
std::string IdentityA(absl::string_view body) {
  return absl::StrCat(
      "identities {\n  name: \"a\" organisation: \"o\" country: \"KZ\"\n",
      body, "}\n");
}

INSTANTIATE_TEST_SUITE_P(
    Semantic, RevealLimitsErrorTest,
    ::testing::Values(
        BadLimits{"UnregisteredPurpose",
                  IdentityA("  reveal_limits { purpose: \"marketting\" "
                            "per_day: 5 }\n"),
                  "bad.textproto:6:19: identities[0].reveal_limits[0].purpose: "
                  "purpose \"marketting\" is not registered in purposes"},
        BadLimits{"SecondLimitForAPurpose",
                  IdentityA("  reveal_limits { purpose: \"p\" per_day: 5 }\n"
                            "  reveal_limits { purpose: \"q\" per_day: 5 }\n"
                            "  reveal_limits { purpose: \"p\" per_second: 1 "
                            "}\n"),
                  "bad.textproto:8:19: identities[0].reveal_limits[2].purpose: "
                  "a second limit for purpose \"p\" (first at "
                  "identities[0].reveal_limits[0])"},
        BadLimits{"SecondIdentityWideLimit",
                  IdentityA("  reveal_limits { per_day: 5 }\n"
                            "  reveal_limits { per_second: 1 }\n"),
                  "bad.textproto:7:3: identities[0].reveal_limits[1].purpose: "
                  "a second limit for every purpose together (first at "
                  "identities[0].reveal_limits[0])"},
        BadLimits{"NegativeRate",
                  IdentityA("  reveal_limits {\n"
                            "    per_second: -1\n"
                            "  }\n"),
                  "bad.textproto:7:5: identities[0].reveal_limits[0]."
                  "per_second: want reveals per second from 0 to 1000000, "
                  "got -1"},
        BadLimits{"NotANumber",
                  IdentityA("  reveal_limits { per_second: nan }\n"),
                  "bad.textproto:6:19: identities[0].reveal_limits[0]."
                  "per_second: want reveals per second from 0 to 1000000, "
                  "got nan"},
        BadLimits{"BurstWithoutRate",
                  IdentityA("  reveal_limits { burst: 10 per_day: 100 }\n"),
                  "bad.textproto:6:19: identities[0].reveal_limits[0].burst: "
                  "needs per_second (the rate that refills it)"},
        BadLimits{"HugeBurst",
                  IdentityA("  reveal_limits { per_second: 1 burst: "
                            "4000000 }\n"),
                  "bad.textproto:6:33: identities[0].reveal_limits[0].burst: "
                  "want at most 1000000"},
        BadLimits{"NoCapAtAll",
                  IdentityA("  reveal_limits { purpose: \"p\" }\n"),
                  "bad.textproto:6:3: identities[0].reveal_limits[0]: give "
                  "per_second, per_day or both"},
        BadLimits{"ZeroWindow",
                  "alarms {\n  denials_window: \"0s\"\n}\n"
                  "identities { name: \"a\" organisation: \"o\" country: "
                  "\"KZ\" }\n",
                  "bad.textproto:5:3: alarms.denials_window: want a duration "
                  "from 1s to 7d, e.g. \"1m\", got \"0s\""},
        BadLimits{"WindowTooLong",
                  IdentityA("  alarms { subjects_window: \"30d\" }\n"),
                  "bad.textproto:6:12: identities[0].alarms.subjects_window: "
                  "want a duration from 1s to 7d, e.g. \"1m\", got \"30d\""},
        BadLimits{"WindowNotADuration",
                  IdentityA("  alarms { denials_window: \"soon\" }\n"),
                  "bad.textproto:6:12: identities[0].alarms.denials_window: "
                  "want a duration from 1s to 7d, e.g. \"1m\", got \"soon\""},
        BadLimits{"TooManySubjects",
                  IdentityA("  alarms { subjects: 5000000 }\n"),
                  "bad.textproto:6:12: identities[0].alarms.subjects: want at "
                  "most 1000000 (a window's subjects are kept in memory)"}),
    [](const ::testing::TestParamInfo<BadLimits>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace sandyq::policy
