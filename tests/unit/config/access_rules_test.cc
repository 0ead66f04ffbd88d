// config::LoadAccessRules: the policy and the revocation list as the server
// loads them at start, on SIGHUP and on Admin.ReloadPolicy.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config.h"
#include "server/config/dev_vault.h"
#include "server/crypto/hash.h"
#include "server/platform/files.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"

namespace sandyq::config {
namespace {

using ::sandyq::testing::IsOk;
using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Tests run with the repository root as the working directory.
std::string SamplePolicy() {
  absl::StatusOr<std::string> text =
      platform::ReadFile("deploy/dev/policy.textproto");
  EXPECT_THAT(text, IsOk());
  return text.value_or("");
}

class AccessRulesTest : public ::testing::Test {
 protected:
  // A config whose relative paths resolve into the test's directory.
  sandyq::v1::ServerConfig Config(const std::string& revoked_file) {
    std::string text = absl::StrCat(
        "listen: \"127.0.0.1:0\"\n"
        "tls { cert_file: \"s.crt\" key_file: \"s.key\" client_ca_file: "
        "\"ca.crt\" trust_domain: \"sandyq.dev\"",
        revoked_file.empty()
            ? ""
            : absl::StrCat(" revoked_serials_file: \"", revoked_file, "\""),
        " }\n"
        "data_dir: \"db\"\n"
        "policy_file: \"policy.textproto\"\n"
        "master_key { file { path: \"master.key\" } }\n");
    absl::StatusOr<sandyq::v1::ServerConfig> config =
        ParseServerConfig(text, "sandyqd.textproto", dir_.path());
    EXPECT_THAT(config, IsOk());
    return config.value_or(sandyq::v1::ServerConfig());
  }
  void Write(const std::string& name, const std::string& text) {
    ASSERT_THAT(platform::WriteFileAtomic(dir_.File(name), text, 0600), IsOk());
  }

  ScopedTempDir dir_;
};

TEST_F(AccessRulesTest, RelativeRevocationFileIsResolvedAgainstTheConfig) {
  EXPECT_EQ(Config("revoked.txt").tls().revoked_serials_file(),
            dir_.File("revoked.txt"));
  EXPECT_EQ(Config("").tls().revoked_serials_file(), "");
}

TEST_F(AccessRulesTest, LoadsThePolicyAndTheRevokedSerials) {
  const std::string policy = SamplePolicy();
  Write("policy.textproto", policy);
  Write("revoked.txt", "# cut off\nserial=0A1B\n");
  absl::StatusOr<policy::AccessRules> rules =
      LoadAccessRules(Config("revoked.txt"));
  ASSERT_THAT(rules, IsOk());
  EXPECT_NE(rules->policy->FindIdentity("support"), nullptr);
  EXPECT_TRUE(rules->revoked->Contains("A1B"));
  EXPECT_EQ(rules->description,
            absl::StrCat("policy sha256:",
                         crypto::ToHex(crypto::Sha256(policy)).substr(0, 16),
                         " (9 identities); 1 revoked certificate serials"));
}

TEST_F(AccessRulesTest, WithoutARevocationFileNothingIsRevoked) {
  Write("policy.textproto", SamplePolicy());
  absl::StatusOr<policy::AccessRules> rules = LoadAccessRules(Config(""));
  ASSERT_THAT(rules, IsOk());
  ASSERT_NE(rules->revoked, nullptr);
  EXPECT_TRUE(rules->revoked->empty());
}

TEST_F(AccessRulesTest, ListsTheProblemsOfBothFilesByLine) {
  Write("policy.textproto",
        SamplePolicy() +
            "identities { name: \"ghost\" organisation: \"shop\" country: "
            "\"KZ\" roles: \"no-such-role\" }\n");
  Write("revoked.txt", "0A1B\nnot-a-serial\n");
  absl::StatusOr<policy::AccessRules> rules =
      LoadAccessRules(Config("revoked.txt"));
  ASSERT_THAT(rules, StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<std::string> lines =
      absl::StrSplit(rules.status().message(), '\n');
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0], AllOf(StartsWith(dir_.File("policy.textproto:")),
                              HasSubstr("no-such-role")));
  EXPECT_THAT(lines[1], StartsWith(dir_.File("revoked.txt:2: ")));
}

TEST_F(AccessRulesTest, MissingFilesAreNamed) {
  absl::StatusOr<policy::AccessRules> rules =
      LoadAccessRules(Config("revoked.txt"));
  ASSERT_THAT(rules, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(rules.status().message(),
              AllOf(HasSubstr("policy_file: "),
                    HasSubstr(dir_.File("policy.textproto")),
                    HasSubstr("tls.revoked_serials_file: "),
                    HasSubstr(dir_.File("revoked.txt"))));
}

TEST_F(AccessRulesTest, DevVaultHasARevocationFileItNeverOverwrites) {
  const std::string dev = dir_.File("dev");
  absl::StatusOr<std::string> path = PrepareDevVault(dev, "127.0.0.1:0");
  ASSERT_THAT(path, IsOk());
  absl::StatusOr<sandyq::v1::ServerConfig> config = LoadServerConfig(*path);
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->tls().revoked_serials_file(), dev + "/revoked-serials.txt");
  absl::StatusOr<policy::AccessRules> rules = LoadAccessRules(*config);
  ASSERT_THAT(rules, IsOk());
  EXPECT_TRUE(rules->revoked->empty());

  ASSERT_THAT(platform::WriteFileAtomic(dev + "/revoked-serials.txt",
                                        "serial=0A1B\n", 0600),
              IsOk());
  ASSERT_THAT(PrepareDevVault(dev, "127.0.0.1:0"), IsOk());
  rules = LoadAccessRules(*config);
  ASSERT_THAT(rules, IsOk());
  EXPECT_TRUE(rules->revoked->Contains("A1B"));
}

}  // namespace
}  // namespace sandyq::config
