#ifndef SANDYQ_TESTS_FUZZ_VAULT_HARNESS_H_
#define SANDYQ_TESTS_FUZZ_VAULT_HARNESS_H_

// An in-process vault for the fuzz targets that drive the request handlers
// (vault_fuzzer.cc) and the stored-record decoders (records_fuzzer.cc): the
// sample policy, a MemoryStore, a fake clock, fake randomness and a fake
// master key, as in tests/unit/vault/.
//
// A baseline vault holding a few synthetic values (domain/kazakhstan.md test
// vectors) is built once per process. Every fuzz input then gets a fresh
// vault over a copy of the baseline's records, so inputs do not affect each
// other and a crash reproduces from its input alone.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "server/audit/audit_log.h"
#include "server/fields/field_type.h"
#include "server/fields/fields.h"
#include "server/policy/policy.h"
#include "server/storage/store.h"
#include "server/vault/vault.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_master_key.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/memory_store.h"
#include "tests/fuzz/fuzz_check.h"

namespace sandyq::fuzz {

// A value the baseline vault holds.
struct BaselineValue {
  std::string subject_id;
  fields::FieldType type;
  std::string input;       // as tokenized
  std::string normalized;  // as stored and revealed in full
  std::string token;
};

// One stored record of the baseline vault.
struct StoredRecord {
  storage::Table table;
  std::string key;
  std::string value;
};

// The identities and purposes of the sample policy (deploy/dev).
const std::vector<std::string>& SampleIdentities();
const std::vector<std::string>& SamplePurposes();

// Synthetic values of every type, valid and invalid, from the domain test
// vectors: what the request fuzzer mixes with its own bytes.
const std::vector<std::string>& SyntheticValues();

class VaultInstance {
 public:
  // Opens a vault over a copy of the baseline. `before_open` may change the
  // store first (the records fuzzer corrupts a record there). Returns null
  // if the vault refuses to open (a damaged vault record, say): that is a
  // clean refusal, not a finding.
  static std::unique_ptr<VaultInstance> Open(
      const std::function<void(testing::MemoryStore&)>& before_open = {});
  ~VaultInstance();

  vault::Vault& vault() { return *vault_; }
  audit::AuditLog& log() { return *log_; }
  testing::MemoryStore& store() { return store_; }
  testing::FakeClock& clock() { return clock_; }
  const fields::NormalizeOptions& normalize_options() const;

  // The baseline, built on first use.
  static const std::vector<BaselineValue>& Baseline();
  static const std::vector<StoredRecord>& BaselineRecords();

  // Options every instance opens with. Batches are capped at 8 items so
  // that the fuzzer reaches the limit cheaply.
  static vault::Vault::Options Options();

 private:
  VaultInstance() = default;
  testing::MemoryStore store_;
  testing::FakeClock clock_;
  testing::FakeRandom random_{0x5eed};
  std::unique_ptr<testing::FakeMasterKey> master_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<vault::Vault> vault_;
};

// Calls an asynchronous vault method and waits for its callback. A callback
// that never comes hangs the input, which libFuzzer reports as a timeout; a
// second call of the same callback aborts.
template <typename T>
absl::StatusOr<T> Await(
    const std::function<void(vault::Callback<T>)>& start) {
  struct State {
    absl::Notification done;
    std::atomic<int> calls{0};
    absl::StatusOr<T> result = absl::UnknownError("callback not called");
  };
  auto state = std::make_shared<State>();
  start([state](absl::StatusOr<T> r) {
    SANDYQ_FUZZ_CHECK(state->calls.fetch_add(1) == 0);
    state->result = std::move(r);
    state->done.Notify();
  });
  state->done.WaitForNotification();
  return std::move(state->result);
}

}  // namespace sandyq::fuzz

#endif  // SANDYQ_TESTS_FUZZ_VAULT_HARNESS_H_
