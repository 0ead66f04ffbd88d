#ifndef SANDYQ_TESTS_UNIT_POLICY_POLICY_TEST_UTIL_H_
#define SANDYQ_TESTS_UNIT_POLICY_POLICY_TEST_UTIL_H_

// What the policy's tests share: the sample policy as a fixture, small
// policies parsed from text, and parse errors split into their lines.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "server/policy/policy.h"

namespace sandyq::policy {

// Tests run with the repository root as working directory.
inline constexpr char kSamplePolicyPath[] = "deploy/dev/policy.textproto";

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The lines of `status`'s message: one problem a line.
inline std::vector<std::string> Lines(const absl::Status& status) {
  return absl::StrSplit(status.message(), '\n');
}

// `text` parsed as "test.textproto"; null and a test failure if it is not a
// valid policy.
inline std::shared_ptr<const Policy> ParseOrDie(absl::string_view text) {
  absl::StatusOr<std::shared_ptr<const Policy>> policy =
      Policy::Parse(text, "test.textproto");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : nullptr;
}

// The sample policy (deploy/dev/policy.textproto), parsed afresh for each
// test.
class SamplePolicyFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::shared_ptr<const Policy>> parsed =
        Policy::Parse(ReadFileOrDie(kSamplePolicyPath), kSamplePolicyPath);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    policy_ = *std::move(parsed);
  }

  // The principal named `identity`; fails the test if there is none.
  const Principal& Who(const std::string& identity) {
    const Principal* principal = policy_->FindIdentity(identity);
    if (principal == nullptr) {
      ADD_FAILURE() << "no identity " << identity;
      return unknown_;
    }
    return *principal;
  }

  std::shared_ptr<const Policy> policy_;
  const Principal unknown_;
};

}  // namespace sandyq::policy

#endif  // SANDYQ_TESTS_UNIT_POLICY_POLICY_TEST_UTIL_H_
