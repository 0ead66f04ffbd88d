#include "tests/fakes/vault_fixture.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/platform/files.h"
#include "server/policy/policy.h"
#include "server/storage/store.h"
#include "server/vault/vault.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::testing {

std::string DevPolicyText() {
  absl::StatusOr<std::string> text =
      platform::ReadFile("deploy/dev/policy.textproto");
  EXPECT_THAT(text, IsOk());
  return text.value_or("");
}

std::shared_ptr<const policy::Policy> ParsePolicy(absl::string_view text) {
  absl::StatusOr<std::shared_ptr<const policy::Policy>> policy =
      policy::Policy::Parse(text, "policy.textproto");
  EXPECT_THAT(policy, IsOk());
  return policy.value_or(nullptr);
}

std::shared_ptr<const policy::Policy> DevPolicy() {
  return ParsePolicy(DevPolicyText());
}

bool ContainsRunOf(absl::string_view text, absl::string_view value,
                   size_t run) {
  if (value.size() < run) return absl::StrContains(text, value);
  for (size_t i = 0; i + run <= value.size(); ++i) {
    if (absl::StrContains(text, value.substr(i, run))) return true;
  }
  return false;
}

void VaultFixture::OpenLog() {
  CloseVault();
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
      audit::AuditLog::Open(&store_, &clock_, {});
  ASSERT_THAT(log, IsOk());
  log_ = std::move(*log);
}

absl::StatusOr<std::unique_ptr<vault::Vault>> VaultFixture::NewVault(
    Deps deps) {
  return vault::Vault::Open(
      {.store = &store_,
       .log = log_.get(),
       .master = deps.master != nullptr ? deps.master : &master_,
       .clock = &clock_,
       .random = deps.random != nullptr ? deps.random : &random_,
       .policy = deps.policy != nullptr ? std::move(deps.policy) : policy_,
       .ledger = deps.ledger,
       .revoked = std::move(deps.revoked),
       .load_access_rules = std::move(deps.load_access_rules)},
      {.background_key_maintenance = false});
}

void VaultFixture::OpenLogAndVault(Deps deps) {
  ASSERT_NO_FATAL_FAILURE(OpenLog());
  absl::StatusOr<std::unique_ptr<vault::Vault>> vault =
      NewVault(std::move(deps));
  ASSERT_THAT(vault, IsOk());
  vault_ = std::move(*vault);
}

void VaultFixture::CloseVault() {
  vault_.reset();
  log_.reset();
}

std::vector<audit::StoredEvent> VaultFixture::AllEvents() const {
  std::vector<audit::StoredEvent> events;
  EXPECT_THAT(store_.Scan(storage::Table::kAudit, "", "",
                          [&](absl::string_view, absl::string_view value) {
                            absl::StatusOr<audit::StoredEvent> e =
                                audit::DecodeEvent(value);
                            EXPECT_THAT(e, IsOk());
                            if (e.ok()) events.push_back(*e);
                            return true;
                          }),
              IsOk());
  return events;
}

audit::StoredEvent VaultFixture::LastEvent() const {
  std::vector<audit::StoredEvent> all = AllEvents();
  EXPECT_THAT(all, ::testing::Not(::testing::IsEmpty()));
  return all.empty() ? audit::StoredEvent{} : all.back();
}

std::string VaultFixture::AllStoredBytes() const {
  std::string all;
  for (int t = 0; t < storage::kTableCount; ++t) {
    EXPECT_THAT(store_.Scan(static_cast<storage::Table>(t), "", "",
                            [&](absl::string_view k, absl::string_view v) {
                              absl::StrAppend(&all, k, "\n", v, "\n");
                              return true;
                            }),
                IsOk());
  }
  return all;
}

}  // namespace sandyq::testing
