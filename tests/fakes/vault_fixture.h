#ifndef SANDYQ_TESTS_FAKES_VAULT_FIXTURE_H_
#define SANDYQ_TESTS_FAKES_VAULT_FIXTURE_H_

// A Vault over the fakes, for the tests of the vault's use cases
// (tests/unit/vault/): a MemoryStore, a FakeClock, a FakeRandom, a
// FakeMasterKey and an AuditLog over the same store. Each test fixture
// derives from VaultFixture, chooses the policy (and whatever else its vault
// needs) and adds the calls it speaks in. Await and the development policy
// serve other tests that drive a vault too.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/crypto/master_key.h"
#include "server/platform/random.h"
#include "server/policy/access_rules.h"
#include "server/policy/policy.h"
#include "server/vault/erasure_ledger.h"
#include "server/vault/vault.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_master_key.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/memory_store.h"

namespace sandyq::testing {

// The text of the development policy, deploy/dev/policy.textproto (tests run
// with the repository root as the working directory); "" and a test failure
// if it cannot be read.
std::string DevPolicyText();

// `text` parsed as a policy; null and a test failure if it is not valid.
std::shared_ptr<const policy::Policy> ParsePolicy(absl::string_view text);

// The development policy, parsed.
std::shared_ptr<const policy::Policy> DevPolicy();

// Whether `text` holds any `run`-byte window of `value`: whether a value
// shows, even in part, in stored bytes or a message.
bool ContainsRunOf(absl::string_view text, absl::string_view value,
                   size_t run = 4);

// Calls an asynchronous vault method and waits for its callback.
template <typename T>
absl::StatusOr<T> Await(const std::function<void(vault::Callback<T>)>& start) {
  absl::Notification done;
  absl::StatusOr<T> result = absl::UnknownError("callback not called");
  start([&](absl::StatusOr<T> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

class VaultFixture : public ::testing::Test {
 protected:
  // What a vault opens with besides store_, log_ and clock_ (see
  // vault::Vault::Deps). Null: master_, random_, policy_; no ledger, no
  // revocation list, no loader.
  struct Deps {
    crypto::MasterKeyProvider* master = nullptr;
    platform::Random* random = nullptr;
    std::shared_ptr<const policy::Policy> policy = nullptr;
    vault::ErasureLedger* ledger = nullptr;
    std::shared_ptr<const policy::RevocationList> revoked = nullptr;
    vault::AccessRulesLoader load_access_rules = nullptr;
  };

  explicit VaultFixture(uint64_t random_seed = 1) : random_(random_seed) {}

  // Closes the vault, then the log (which seals it with a checkpoint), then
  // opens the log again over store_. Fails the test if it does not open.
  void OpenLog();

  // Vault::Open over store_, log_, clock_ and `deps`. Key maintenance and
  // retention do not run on their own threads: tests call them.
  absl::StatusOr<std::unique_ptr<vault::Vault>> NewVault(Deps deps);

  // OpenLog, then vault_ = NewVault(deps). Fails the test if either fails.
  void OpenLogAndVault(Deps deps);

  // Closes the vault, then the log. For fixtures whose own members (an
  // erasure ledger, say) must outlive the vault: their destructor calls it.
  void CloseVault();

  // Every stored access-log event, in order. Fixtures may leave some out.
  virtual std::vector<audit::StoredEvent> AllEvents() const;
  // The last of AllEvents(); a test failure if there is none.
  audit::StoredEvent LastEvent() const;

  // Every stored key and value, of every table, concatenated.
  std::string AllStoredBytes() const;

  MemoryStore store_;
  FakeClock clock_;
  FakeRandom random_;
  FakeMasterKey master_;
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<vault::Vault> vault_;  // after log_: destroyed first
};

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_VAULT_FIXTURE_H_
