// Revoking callers: the certificate revocation list checked on every call,
// and policy reloads (Admin.ReloadPolicy, SIGHUP) that put new rules in force
// for the next call, all or nothing, recorded either way.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/fields/field_type.h"
#include "server/policy/access_rules.h"
#include "server/policy/policy.h"
#include "server/vault/vault.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/vault_fixture.h"

namespace sandyq::vault {
namespace {

using audit::Decision;
using audit::StoredEvent;
using fields::FieldType;
using ::sandyq::testing::Await;
using ::sandyq::testing::DevPolicyText;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::ParsePolicy;
using ::sandyq::testing::StatusIs;
using ::sandyq::testing::VaultFixture;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Synthetic values (domain/kazakhstan.md test vectors).
constexpr char kSubject[] = "crm:test-0001";
constexpr char kPhone[] = "+77012345678";
constexpr char kSupport[] = "customer_support";
constexpr char kSar[] = "subject_access_request";

// Serials as the service reads them from certificates.
constexpr char kRevokedSerial[] = "A1B";
constexpr char kOtherSerial[] = "C0FFEE";

constexpr char kSupportIdentity[] = R"(identities {
  name: "support"
  organisation: "shop"
  country: "KZ"
  roles: ["support"]
}
)";

int Num(FieldType type) { return static_cast<int>(type); }

std::shared_ptr<const policy::RevocationList> Revoked(
    const std::string& text) {
  absl::StatusOr<std::shared_ptr<const policy::RevocationList>> list =
      policy::RevocationList::Parse(text, "revoked.txt");
  EXPECT_THAT(list, IsOk());
  return list.value_or(nullptr);
}

// The development policy without the support identity.
std::string PolicyWithoutSupport() {
  std::string text = DevPolicyText();
  const size_t at = text.find(kSupportIdentity);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos) text.erase(at, sizeof(kSupportIdentity) - 1);
  return text;
}

Caller As(absl::string_view identity, absl::string_view serial = kOtherSerial) {
  return {.identity = std::string(identity),
          .certificate_serial = std::string(serial)};
}

class ReloadTest : public VaultFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(Open(nullptr, /*with_loader=*/true));
  }

  void Open(std::shared_ptr<const policy::RevocationList> revoked,
            bool with_loader) {
    AccessRulesLoader loader = nullptr;
    if (with_loader) loader = [this] { return Load(); };
    OpenLogAndVault({.policy = ParsePolicy(DevPolicyText()),
                     .revoked = std::move(revoked),
                     .load_access_rules = std::move(loader)});
  }

  // What the next reload loads: `policy_text` and `revoked_text` parsed, or
  // `error`.
  void NextLoad(const std::string& policy_text,
                const std::string& revoked_text = "") {
    absl::MutexLock lock(&mu_);
    next_ = policy::AccessRules{.policy = ParsePolicy(policy_text),
                                .revoked = Revoked(revoked_text),
                                .description = "test rules"};
  }
  void NextLoadFails(absl::Status error) {
    absl::MutexLock lock(&mu_);
    next_ = std::move(error);
  }
  absl::StatusOr<policy::AccessRules> Load() {
    absl::MutexLock lock(&mu_);
    ++loads_;
    return next_;
  }
  int loads() {
    absl::MutexLock lock(&mu_);
    return loads_;
  }

  absl::StatusOr<ReloadInfo> Reload(const Caller& caller) {
    return Await<ReloadInfo>([&](Callback<ReloadInfo> done) {
      vault_->ReloadPolicy(caller, std::move(done));
    });
  }
  absl::StatusOr<std::string> Tokenize(const Caller& caller) {
    return Await<std::string>([&](Callback<std::string> done) {
      vault_->Tokenize(caller,
                       {.subject_id = kSubject,
                        .field_type = Num(FieldType::kPhone),
                        .value = kPhone,
                        .source = "",
                        .purpose = ""},
                       std::move(done));
    });
  }
  absl::StatusOr<Revealed> Detokenize(const Caller& caller,
                                      const std::string& token,
                                      absl::string_view purpose) {
    return Await<Revealed>([&](Callback<Revealed> done) {
      vault_->Detokenize(caller,
                         {.token = token,
                          .purpose = std::string(purpose),
                          .justification = ""},
                         std::move(done));
    });
  }
  absl::StatusOr<std::vector<std::string>> Lookup(const Caller& caller) {
    return Await<std::vector<std::string>>(
        [&](Callback<std::vector<std::string>> done) {
          vault_->Lookup(caller,
                         {.field_type = Num(FieldType::kPhone),
                          .value = kPhone,
                          .purpose = kSupport},
                         std::move(done));
        });
  }

  absl::Mutex mu_;
  absl::StatusOr<policy::AccessRules> next_ ABSL_GUARDED_BY(mu_) =
      absl::InternalError("no rules set");
  int loads_ ABSL_GUARDED_BY(mu_) = 0;
};

// --- The revocation list ----------------------------------------------------

TEST_F(ReloadTest, RevokedCertificateIsRefusedOnEveryKindOfCall) {
  ASSERT_NO_FATAL_FAILURE(
      Open(Revoked("serial=0A1B\n"), /*with_loader=*/true));
  absl::StatusOr<std::string> token = Tokenize(As("checkout"));
  ASSERT_THAT(token, IsOk());
  const size_t before = AllEvents().size();

  // The revoked certificate is refused whoever it names and whatever it
  // asks, before the policy is consulted.
  const Caller revoked_checkout = As("checkout", kRevokedSerial);
  EXPECT_THAT(Tokenize(revoked_checkout),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Await<Vault::TokenizeResults>([&](auto done) {
                vault_->TokenizeBatch(revoked_checkout,
                                      {{.subject_id = kSubject,
                                        .field_type = Num(FieldType::kPhone),
                                        .value = kPhone,
                                        .source = "",
                                        .purpose = ""}},
                                      std::move(done));
              }),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Detokenize(As("dpo", kRevokedSerial), *token, kSar),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Await<Vault::DetokenizeResults>([&](auto done) {
                vault_->DetokenizeBatch(As("dpo", kRevokedSerial),
                                        {{.token = *token,
                                          .purpose = kSar,
                                          .justification = ""}},
                                        std::move(done));
              }),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Lookup(As("support", kRevokedSerial)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Await<audit::AuditLog::Filter>([&](auto done) {
                vault_->StartAuditQuery(As("auditor", kRevokedSerial), {},
                                        std::move(done));
              }),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Await<audit::AuditLog::VerifyResult>([&](auto done) {
                vault_->VerifyAudit(As("auditor", kRevokedSerial),
                                    std::move(done));
              }),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Await<Vault::KeyListing>([&](auto done) {
                vault_->ListKeys(As("keyadmin", kRevokedSerial),
                                 std::move(done));
              }),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Await<SubjectReport>([&](auto done) {
                vault_->Report(As("dpo", kRevokedSerial), kSubject,
                               std::move(done));
              }),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Reload(As("keyadmin", kRevokedSerial)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(loads(), 0);

  // Every refusal is in the log, naming the identity and the serial.
  std::vector<StoredEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(before + 10));
  for (size_t i = before; i < events.size(); ++i) {
    SCOPED_TRACE(events[i].event.rpc);
    EXPECT_EQ(events[i].event.decision, Decision::kDenied);
    EXPECT_EQ(events[i].event.code,
              static_cast<int>(absl::StatusCode::kUnauthenticated));
    EXPECT_EQ(events[i].event.rule, "revoked-certificate: serial A1B");
    EXPECT_EQ(events[i].event.organisation, "shop");
  }
  EXPECT_EQ(events[before].event.identity, "checkout");

  // The same identities with other certificates carry on.
  EXPECT_THAT(Tokenize(As("checkout")), IsOk());
  EXPECT_THAT(Detokenize(As("dpo"), *token, kSar), IsOk());
}

TEST_F(ReloadTest, RevokedCertificateOfAnUnknownIdentityIsRefusedAsRevoked) {
  ASSERT_NO_FATAL_FAILURE(Open(Revoked("0A1B\n"), /*with_loader=*/true));
  EXPECT_THAT(Tokenize(As("stranger", kRevokedSerial)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(LastEvent().event.identity, "stranger");
  EXPECT_THAT(LastEvent().event.rule, StartsWith("revoked-certificate"));
}

TEST_F(ReloadTest, WhileSerialsAreRevokedACallerWithoutASerialIsRefused) {
  // Fail closed: a certificate whose serial could not be read might be
  // revoked.
  EXPECT_THAT(Tokenize(As("checkout", "")), IsOk());
  ASSERT_NO_FATAL_FAILURE(Open(Revoked("0A1B\n"), /*with_loader=*/true));
  EXPECT_THAT(Tokenize(As("checkout", "")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(LastEvent().event.rule, "revoked-certificate: serial unknown");
}

// --- Reloads ------------------------------------------------------------------

TEST_F(ReloadTest, ReloadWithoutAnIdentityRefusesItsNextCall) {
  absl::StatusOr<std::string> token = Tokenize(As("checkout"));
  ASSERT_THAT(token, IsOk());
  ASSERT_THAT(Detokenize(As("support"), *token, kSupport), IsOk());

  NextLoad(PolicyWithoutSupport());
  absl::StatusOr<ReloadInfo> info = Reload(As("keyadmin"));
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->identities, 8u);
  EXPECT_EQ(info->revoked_serials, 0u);
  EXPECT_EQ(info->description, "test rules");

  const StoredEvent reload = LastEvent();
  EXPECT_EQ(reload.event.identity, "keyadmin");
  EXPECT_EQ(reload.event.rpc, "Admin.ReloadPolicy");
  EXPECT_EQ(reload.event.decision, Decision::kAllowed);
  EXPECT_EQ(reload.event.rule, "keyadmin/policy_admin; reloaded test rules");

  EXPECT_THAT(Detokenize(As("support"), *token, kSupport),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(LastEvent().event.rule, "unknown-identity");
  EXPECT_THAT(Lookup(As("support")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Everyone else is unaffected.
  EXPECT_THAT(Detokenize(As("dpo"), *token, kSar), IsOk());
  EXPECT_THAT(Tokenize(As("checkout")), IsOk());
}

TEST_F(ReloadTest, ReloadRevokesACertificateForItsNextCall) {
  ASSERT_THAT(Lookup(As("support", kRevokedSerial)), IsOk());
  NextLoad(DevPolicyText(), "serial=0A1B\n");
  absl::StatusOr<ReloadInfo> info = Reload(As("keyadmin"));
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->revoked_serials, 1u);
  EXPECT_THAT(Lookup(As("support", kRevokedSerial)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // A new certificate for the same service works.
  EXPECT_THAT(Lookup(As("support", kOtherSerial)), IsOk());

  // And a later reload without it lets the old certificate back in.
  NextLoad(DevPolicyText(), "");
  ASSERT_THAT(Reload(As("keyadmin")), IsOk());
  EXPECT_THAT(Lookup(As("support", kRevokedSerial)), IsOk());
}

TEST_F(ReloadTest, RejectedReloadKeepsTheRulesInForce) {
  NextLoadFails(absl::InvalidArgumentError(
      "policy.textproto:12:5: identities[2].roles[0]: unknown role \"suport\"\n"
      "revoked.txt:3: not a certificate serial"));
  absl::StatusOr<ReloadInfo> info = Reload(As("keyadmin"));
  ASSERT_THAT(info, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(info.status().message(),
              AllOf(HasSubstr("policy not reloaded"), HasSubstr("stay"),
                    HasSubstr("policy.textproto:12:5: identities[2]"),
                    HasSubstr("revoked.txt:3: ")));

  const StoredEvent reload = LastEvent();
  EXPECT_EQ(reload.event.rpc, "Admin.ReloadPolicy");
  EXPECT_EQ(reload.event.identity, "keyadmin");
  EXPECT_EQ(reload.event.decision, Decision::kInvalid);
  EXPECT_EQ(reload.event.code,
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reload.event.rule,
              AllOf(StartsWith("keyadmin/policy_admin; rejected"),
                    HasSubstr("policy.textproto:12:5"),
                    HasSubstr("(and 1 more)")));

  EXPECT_THAT(Lookup(As("support")), IsOk());
}

TEST_F(ReloadTest, ReloadNeedsPolicyAdmin) {
  NextLoad(PolicyWithoutSupport());
  for (const char* identity : {"support", "auditor", "dpo", "stranger"}) {
    SCOPED_TRACE(identity);
    EXPECT_THAT(Reload(As(identity)),
                StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_EQ(LastEvent().event.rpc, "Admin.ReloadPolicy");
    EXPECT_EQ(LastEvent().event.decision, Decision::kDenied);
  }
  EXPECT_EQ(loads(), 0);
  EXPECT_THAT(Lookup(As("support")), IsOk());
}

TEST_F(ReloadTest, SignalReloadIsRecordedAsTheServer) {
  NextLoad(PolicyWithoutSupport());
  absl::StatusOr<ReloadInfo> info = Await<ReloadInfo>(
      [&](Callback<ReloadInfo> done) {
        vault_->ReloadPolicyOnSignal(std::move(done));
      });
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(LastEvent().event.identity, "sandyqd");
  EXPECT_EQ(LastEvent().event.rpc, "Admin.ReloadPolicy");
  EXPECT_EQ(LastEvent().event.rule, "SIGHUP; reloaded test rules");
  EXPECT_THAT(Lookup(As("support")),
              StatusIs(absl::StatusCode::kPermissionDenied));

  NextLoadFails(absl::InvalidArgumentError("policy.textproto:1:1: broken"));
  EXPECT_THAT(Await<ReloadInfo>([&](Callback<ReloadInfo> done) {
                vault_->ReloadPolicyOnSignal(std::move(done));
              }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(LastEvent().event.identity, "sandyqd");
  EXPECT_EQ(LastEvent().event.decision, Decision::kInvalid);
  EXPECT_THAT(LastEvent().event.rule, StartsWith("SIGHUP; rejected"));
}

TEST_F(ReloadTest, WithoutALoaderThereIsNothingToReload) {
  ASSERT_NO_FATAL_FAILURE(Open(nullptr, /*with_loader=*/false));
  EXPECT_THAT(Reload(As("keyadmin")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(LastEvent().event.rpc, "Admin.ReloadPolicy");
  EXPECT_EQ(LastEvent().event.decision, Decision::kFailed);
}

TEST_F(ReloadTest, ReloadThatCannotBeRecordedChangesNothing) {
  NextLoad(PolicyWithoutSupport(), "0A1B\n");
  store_.FailWrites(absl::UnavailableError("disk gone"));
  EXPECT_THAT(Reload(As("keyadmin")),
              StatusIs(absl::StatusCode::kUnavailable));
  store_.FailWrites(absl::OkStatus());
  EXPECT_THAT(Lookup(As("support", kRevokedSerial)), IsOk());
}

TEST_F(ReloadTest, AnEarlierLoadNeverReplacesALaterOne) {
  // The first reload reads the files, then stalls; a second one reads newer
  // files and finishes first. The first one's rules must not win.
  absl::Notification first_loading, first_may_return;
  std::atomic<int> calls{0};
  ASSERT_NO_FATAL_FAILURE(OpenLogAndVault(
      {.policy = ParsePolicy(DevPolicyText()),
       .load_access_rules = [&]() -> absl::StatusOr<policy::AccessRules> {
         if (calls.fetch_add(1) == 0) {
           first_loading.Notify();
           first_may_return.WaitForNotification();
           return policy::AccessRules{.policy = ParsePolicy(DevPolicyText()),
                                      .revoked = Revoked(""),
                                      .description = "old files"};
         }
         return policy::AccessRules{.policy = ParsePolicy(DevPolicyText()),
                                    .revoked = Revoked("0A1B\n"),
                                    .description = "new files"};
       }}));

  absl::StatusOr<ReloadInfo> first = absl::UnknownError("not run");
  std::thread slow([&] { first = Reload(As("keyadmin")); });
  first_loading.WaitForNotification();
  absl::StatusOr<ReloadInfo> second = Reload(As("keyadmin"));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->description, "new files");
  first_may_return.Notify();
  slow.join();
  EXPECT_THAT(first, IsOk());
  EXPECT_THAT(Lookup(As("support", kRevokedSerial)),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(ReloadTest, SetPolicyKeepsTheRevocationList) {
  ASSERT_NO_FATAL_FAILURE(Open(Revoked("0A1B\n"), /*with_loader=*/true));
  vault_->SetPolicy(ParsePolicy(DevPolicyText()));
  EXPECT_THAT(Lookup(As("support", kRevokedSerial)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Lookup(As("support")), IsOk());
}

}  // namespace
}  // namespace sandyq::vault
