// Regression tests for what the fuzz targets (tests/fuzz/) found in the
// vault, each with its minimized input. Synthetic values only.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/vault/input.h"
#include "server/vault/vault.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/vault_fixture.h"

namespace sandyq::vault {
namespace {

using ::sandyq::testing::Await;
using ::sandyq::testing::DevPolicy;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::StatusIs;
using ::sandyq::testing::VaultFixture;

class HostileInputTest : public VaultFixture {
 protected:
  void SetUp() override {
    policy_ = DevPolicy();
    ASSERT_NE(policy_, nullptr);
    ASSERT_NO_FATAL_FAILURE(OpenLogAndVault({}));
  }

  absl::StatusOr<std::string> Tokenize(const std::string& identity) {
    return Await<std::string>([&](Callback<std::string> done) {
      vault_->Tokenize({identity},
                       {.subject_id = "crm:test-0001",
                        .field_type = 2,  // iin
                        .value = "850315300019",
                        .source = "",
                        .purpose = ""},
                       std::move(done));
    });
  }

  // Every event's identity, in log order.
  std::vector<std::string> LoggedIdentities() {
    std::vector<std::string> out;
    EXPECT_THAT(log_->Query({}, [&](const audit::StoredEvent& e) {
      out.push_back(e.event.identity);
      return true;
    }),
                IsOk());
    return out;
  }
};

// vault_fuzzer, minimized: a call from an identity of bytes that are not
// UTF-8 (0xb4 repeated; a certificate CN or URI SAN can hold any bytes).
// The refused call's event carried the identity verbatim in a proto3 string
// field, which protobuf then refused to parse: Audit.Verify reported the
// chain broken and Audit.Query stopped at that event.
TEST_F(HostileInputTest, IdentityThatIsNotUtf8KeepsTheLogReadable) {
  const std::string identity(6, '\xb4');
  EXPECT_THAT(Tokenize(identity),
              StatusIs(absl::StatusCode::kPermissionDenied));
  absl::StatusOr<audit::AuditLog::VerifyResult> verified = log_->Verify();
  ASSERT_THAT(verified, IsOk());
  EXPECT_TRUE(verified->ok) << verified->reason;
  EXPECT_EQ(LoggedIdentities().back(),
            "invalid:\\xb4\\xb4\\xb4\\xb4\\xb4\\xb4");
}

TEST_F(HostileInputTest, IdentityWithControlCharactersOrOversizedIsEscaped) {
  EXPECT_THAT(Tokenize(std::string("ops\0\n", 5)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Tokenize(std::string(1000, 'x')),
              StatusIs(absl::StatusCode::kPermissionDenied));
  absl::StatusOr<audit::AuditLog::VerifyResult> verified = log_->Verify();
  ASSERT_THAT(verified, IsOk());
  EXPECT_TRUE(verified->ok) << verified->reason;
  std::vector<std::string> identities = LoggedIdentities();
  ASSERT_GE(identities.size(), 2u);
  EXPECT_EQ(identities[identities.size() - 2], "invalid:ops\\x00\\n");
  EXPECT_EQ(identities.back(),
            absl::StrCat("invalid:", std::string(kMaxIdentityBytes, 'x')));
}

TEST_F(HostileInputTest, IdentitiesThatAreTextAreLoggedAsTheyAre) {
  EXPECT_EQ(LoggedIdentity("checkout"), "checkout");
  EXPECT_EQ(LoggedIdentity("партнёр-kz"), "партнёр-kz");
  EXPECT_EQ(LoggedIdentity(""), "");
  ASSERT_THAT(Tokenize("checkout"), IsOk());
  EXPECT_EQ(LoggedIdentities().back(), "checkout");
}

}  // namespace
}  // namespace sandyq::vault
