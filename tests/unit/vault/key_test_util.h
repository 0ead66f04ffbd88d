#ifndef SANDYQ_TESTS_UNIT_VAULT_KEY_TEST_UTIL_H_
#define SANDYQ_TESTS_UNIT_VAULT_KEY_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/audit_log.h"
#include "server/crypto/keyring.h"
#include "server/crypto/secret.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "server/vault/key_manager.h"
#include "server/vault/records.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_master_key.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/memory_store.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::vault {

// For gtest's messages: "{KEK 2 primary, 1 DEKs}".
inline void PrintTo(const KeyInfo& k, std::ostream* os) {
  const char* state = "?";
  switch (k.state) {
    case KeyState::kPrimary:
      state = "primary";
      break;
    case KeyState::kActive:
      state = "active";
      break;
    case KeyState::kRetired:
      state = "retired";
      break;
    case KeyState::kDestroyed:
      state = "destroyed";
      break;
  }
  *os << "{KEK " << k.version << " " << state << ", " << k.wrapped_deks
      << " DEKs}";
}

// Matches a KeyInfo with this version, state and DEK count.
MATCHER_P3(IsKey, version, state, wrapped_deks, "") {
  return arg.version == static_cast<uint32_t>(version) && arg.state == state &&
         arg.wrapped_deks == static_cast<int64_t>(wrapped_deks);
}

// The DEK counter of `version` as stored in `store` (0 if absent); a test
// failure if it cannot be read.
inline int64_t StoredDekCounter(const storage::Store& store, uint32_t version) {
  absl::StatusOr<std::string> bytes =
      store.Get(storage::Table::kKeys, keys::DekCountKey(version));
  if (absl::IsNotFound(bytes.status())) return 0;
  EXPECT_THAT(bytes, ::sandyq::testing::IsOk());
  return storage::DecodeCounter(bytes.value_or("")).value_or(-999);
}

inline audit::Event AdminEvent(absl::string_view rpc) {
  audit::Event e;
  e.identity = "keyadmin";
  e.rpc = std::string(rpc);
  e.rule = "keyadmin/key_admin";
  return e;
}

// Base fixture for key tests: a KeyManager over a MemoryStore, an AuditLog and
// a FakeMasterKey. Subjects are added the way Tokenize adds them: a
// SubjectRecord wrapped by the primary and +1 on its version's DEK counter, in
// one write.
class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
        audit::AuditLog::Open(&store_, &clock_, {});
    ASSERT_THAT(log, ::sandyq::testing::IsOk());
    log_ = std::move(*log);
    ASSERT_NO_FATAL_FAILURE(OpenKeys());
  }

  absl::StatusOr<std::unique_ptr<KeyManager>> Open(
      crypto::MasterKeyProvider* master) {
    return KeyManager::Open({.store = &store_,
                             .log = log_.get(),
                             .master = master,
                             .clock = &clock_,
                             .random = &random_},
                            "KZ");
  }
  void OpenKeys(crypto::MasterKeyProvider* master = nullptr) {
    keys_.reset();
    absl::StatusOr<std::unique_ptr<KeyManager>> keys =
        Open(master != nullptr ? master : &master_);
    ASSERT_THAT(keys, ::sandyq::testing::IsOk());
    keys_ = std::move(*keys);
  }

  // Returns the subject's hash; remembers its DEK.
  std::string AddSubject(absl::string_view subject_id) {
    const std::string hash = keys_->SubjectHash(subject_id);
    crypto::SecretBytes dek = keys_->NewDek();
    absl::StatusOr<crypto::WrappedKey> wrapped =
        keys_->keyring()->WrapDek(dek, hash);
    EXPECT_THAT(wrapped, ::sandyq::testing::IsOk());
    ::sandyq::internal::v1::SubjectRecord record;
    record.set_kek_version(wrapped->kek_version);
    record.set_wrapped_dek(wrapped->bytes);
    storage::WriteBatch batch;
    batch.Put(storage::Table::kSubjects, hash, record.SerializeAsString());
    batch.Add(storage::Table::kKeys, keys::DekCountKey(wrapped->kek_version),
              +1);
    EXPECT_THAT(log_->CommitAndWait(std::move(batch), {}),
                ::sandyq::testing::IsOk());
    deks_.emplace(hash, std::move(dek));
    return hash;
  }

  ::sandyq::internal::v1::SubjectRecord SubjectRecordOf(
      const std::string& hash) const {
    ::sandyq::internal::v1::SubjectRecord record;
    absl::StatusOr<std::string> bytes =
        store_.Get(storage::Table::kSubjects, hash);
    EXPECT_THAT(bytes, ::sandyq::testing::IsOk());
    EXPECT_TRUE(record.ParseFromString(bytes.value_or("")));
    return record;
  }

  // The subject's DEK as the current keyring unwraps it.
  absl::StatusOr<crypto::SecretBytes> Unwrap(const std::string& hash) const {
    ::sandyq::internal::v1::SubjectRecord record = SubjectRecordOf(hash);
    return keys_->keyring()->UnwrapDek(
        {record.kek_version(), record.wrapped_dek()}, hash);
  }
  // Whether the subject's DEK still unwraps to the one it was created with.
  bool DekIntact(const std::string& hash) const {
    absl::StatusOr<crypto::SecretBytes> dek = Unwrap(hash);
    return dek.ok() && dek->Equals(deks_.at(hash));
  }

  // The DEK counter of `version` as stored (0 if absent).
  int64_t Counter(uint32_t version) const {
    return StoredDekCounter(store_, version);
  }

  std::vector<KeyInfo> Keys() const {
    absl::StatusOr<std::vector<KeyInfo>> keys = keys_->ListKeys();
    EXPECT_THAT(keys, ::sandyq::testing::IsOk());
    return keys.value_or(std::vector<KeyInfo>{});
  }

  std::vector<audit::StoredEvent> AllEvents() const {
    std::vector<audit::StoredEvent> events;
    EXPECT_THAT(store_.Scan(storage::Table::kAudit, "", "",
                            [&](absl::string_view, absl::string_view value) {
                              absl::StatusOr<audit::StoredEvent> e =
                                  audit::DecodeEvent(value);
                              EXPECT_THAT(e, ::sandyq::testing::IsOk());
                              if (e.ok()) events.push_back(*e);
                              return true;
                            }),
                ::sandyq::testing::IsOk());
    return events;
  }
  audit::StoredEvent LastEvent() const {
    std::vector<audit::StoredEvent> events = AllEvents();
    return events.empty() ? audit::StoredEvent{} : events.back();
  }

  ::sandyq::testing::MemoryStore store_;
  ::sandyq::testing::FakeClock clock_;
  ::sandyq::testing::FakeRandom random_{42};
  ::sandyq::testing::FakeMasterKey master_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<KeyManager> keys_;  // after log_: destroyed first
  std::map<std::string, crypto::SecretBytes> deks_;
};

}  // namespace sandyq::vault

namespace sandyq::audit {

// For gtest's messages: "{3 KeyAdmin.RotateKeys keyadmin 1 rule}".
inline void PrintTo(const StoredEvent& e, std::ostream* os) {
  *os << "{" << e.seq << " " << e.event.rpc << " " << e.event.identity << " "
      << static_cast<int>(e.event.decision) << " " << e.event.rule << "}";
}

}  // namespace sandyq::audit

#endif  // SANDYQ_TESTS_UNIT_VAULT_KEY_TEST_UTIL_H_
