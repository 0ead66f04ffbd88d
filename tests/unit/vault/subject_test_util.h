#ifndef SANDYQ_TESTS_UNIT_VAULT_SUBJECT_TEST_UTIL_H_
#define SANDYQ_TESTS_UNIT_VAULT_SUBJECT_TEST_UTIL_H_

// Raw subject data for tests of the code that deletes, backs up and restores
// it (subject_data, backups): the records the vault writes for a subject,
// without any crypto (PlanSubjectErasure and the backups never decrypt).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "server/vault/records.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::vault::subject_test {

// A subject hash: 32 bytes of `b`.
inline std::string SubjectHashOf(char b) { return std::string(32, b); }

// A 32-byte key derived from `token` and a tag (blind index, dedup key).
inline std::string KeyOf(char tag, absl::string_view token) {
  std::string key = absl::StrCat(std::string(1, tag), token);
  key.resize(32, '.');
  return key;
}

// Writes, in one batch, what Tokenize and RecordConsent write for a subject
// with `tokens` (phone numbers; the ciphertext is `value` + token): its
// record with a data key under `kek_version` (and +1 on that version's DEK
// counter), each field with its blind-index and subject (value) index
// entries, and a consent for "marketing" with its history entry; all of them
// created (recorded) at `created_micros`. The field records hold their dedup
// keys, as builds before 2026-11-22 wrote them (DropDedupKeys: as today).
inline void PlantSubject(storage::Store& store, absl::string_view hash,
                         const std::vector<std::string>& tokens,
                         absl::string_view value = "v1",
                         uint32_t kek_version = 1, int64_t created_micros = 1) {
  namespace pb = ::sandyq::internal::v1;
  using storage::Table;
  storage::WriteBatch batch;
  pb::SubjectRecord subject;
  subject.set_kek_version(kek_version);
  subject.set_wrapped_dek(absl::StrCat("wrapped dek of ", hash));
  subject.set_created_micros(created_micros);
  batch.Put(Table::kSubjects, hash, subject.SerializeAsString());
  batch.Add(Table::kKeys, keys::DekCountKey(kek_version), +1);
  for (const std::string& token : tokens) {
    pb::FieldRecord field;
    field.set_subject_hash(std::string(hash));
    field.set_field_type(4);  // phone
    field.set_ciphertext(absl::StrCat(value, ":", token));
    field.set_blind_index(KeyOf('b', token));
    field.set_dedup_key(KeyOf('d', token));
    field.set_created_micros(created_micros);
    field.set_updated_micros(created_micros);
    batch.Put(Table::kFields, token, field.SerializeAsString());
    batch.Put(Table::kIndex, keys::BlindIndexKey(KeyOf('b', token), token), "");
    batch.Put(Table::kIndex, keys::SubjectValueKey(hash, KeyOf('d', token)),
              token);
  }
  pb::ConsentRecord consent;
  consent.set_purpose("marketing");
  consent.set_granted(true);
  consent.set_recorded_micros(created_micros);
  batch.Put(Table::kConsents, keys::ConsentKey(hash, "marketing"),
            consent.SerializeAsString());
  batch.Put(Table::kConsents,
            keys::ConsentHistoryKey(hash, created_micros, "marketing"),
            consent.SerializeAsString());
  EXPECT_THAT(store.Write(batch, {.sync = true}), ::sandyq::testing::IsOk());
}

// Rewrites the field records of `tokens` without their dedup keys, as
// builds since 2026-11-22 write them.
inline void DropDedupKeys(storage::Store& store,
                          const std::vector<std::string>& tokens) {
  namespace pb = ::sandyq::internal::v1;
  storage::WriteBatch batch;
  for (const std::string& token : tokens) {
    pb::FieldRecord field;
    EXPECT_TRUE(field.ParseFromString(
        store.Get(storage::Table::kFields, token).value_or("")));
    field.clear_dedup_key();
    batch.Put(storage::Table::kFields, token, field.SerializeAsString());
  }
  EXPECT_THAT(store.Write(batch, {.sync = true}), ::sandyq::testing::IsOk());
}

// Every key of `table`, with its value.
inline std::map<std::string, std::string> TableContents(
    const storage::Store& store, storage::Table table) {
  std::map<std::string, std::string> out;
  EXPECT_THAT(store.Scan(table, "", "",
                         [&](absl::string_view k, absl::string_view v) {
                           out.emplace(std::string(k), std::string(v));
                           return true;
                         }),
              ::sandyq::testing::IsOk());
  return out;
}

// Whether `store` holds anything of the subject: its record, a field, an
// index entry naming it or one of `tokens`, a consent.
inline bool HoldsAnythingOf(const storage::Store& store, absl::string_view hash,
                            const std::vector<std::string>& tokens) {
  using storage::Table;
  bool found = store.Get(Table::kSubjects, hash).ok();
  for (const std::string& token : tokens) {
    found |= store.Get(Table::kFields, token).ok();
    found |= store.Get(Table::kIndex, keys::SubjectTokenKey(hash, token)).ok();
    found |=
        store.Get(Table::kIndex, keys::BlindIndexKey(KeyOf('b', token), token))
            .ok();
    found |=
        store.Get(Table::kIndex, keys::SubjectValueKey(hash, KeyOf('d', token)))
            .ok();
    found |= store.Get(Table::kIndex, keys::LegacyDedupKey(KeyOf('d', token))).ok();
  }
  for (const std::string& prefix :
       {keys::ConsentPrefix(hash), keys::ConsentHistoryPrefix(hash)}) {
    EXPECT_THAT(store.Scan(Table::kConsents, prefix, "",
                           [&](absl::string_view, absl::string_view) {
                             found = true;
                             return false;
                           }),
                ::sandyq::testing::IsOk());
  }
  return found;
}

// Whether `store` holds everything PlantSubject wrote for the subject (at
// `created_micros`).
inline bool HoldsAllOf(const storage::Store& store, absl::string_view hash,
                       const std::vector<std::string>& tokens,
                       int64_t created_micros = 1) {
  using storage::Table;
  bool all =
      store.Get(Table::kSubjects, hash).ok() &&
      store.Get(Table::kConsents, keys::ConsentKey(hash, "marketing")).ok() &&
      store
          .Get(Table::kConsents,
               keys::ConsentHistoryKey(hash, created_micros, "marketing"))
          .ok();
  for (const std::string& token : tokens) {
    all &=
        store.Get(Table::kFields, token).ok() &&
        store.Get(Table::kIndex, keys::BlindIndexKey(KeyOf('b', token), token))
            .ok() &&
        store.Get(Table::kIndex, keys::SubjectValueKey(hash, KeyOf('d', token)))
            .ok();
  }
  return all;
}

// Rewrites `store`'s index into the layout of vault format 1
// (server/vault/index_migration.h): every value entry
// s <subject> <dedup> -> token becomes d <dedup> -> token plus
// s <subject> <token> -> "", and the token's field record holds the dedup
// key, as every record of format 1 did. Only `subject_hash`'s entries if it
// is given.
inline void RewriteIndexToFormat1(storage::Store& store,
                                  absl::string_view subject_hash = "") {
  namespace pb = ::sandyq::internal::v1;
  using storage::Table;
  const std::string prefix = keys::SubjectTokensPrefix(subject_hash);
  std::vector<std::pair<std::string, std::string>> entries;
  EXPECT_THAT(
      store.Scan(Table::kIndex, prefix, "",
                 [&](absl::string_view key, absl::string_view value) {
                   if (value.empty()) return true;  // a token entry
                   entries.emplace_back(key, value);
                   return true;
                 }),
      ::sandyq::testing::IsOk());
  storage::WriteBatch batch;
  for (const auto& [key, token] : entries) {
    const absl::string_view subject = absl::string_view(key).substr(1, 32);
    const absl::string_view dedup = absl::string_view(key).substr(33);
    batch.Delete(Table::kIndex, key);
    batch.Put(Table::kIndex, keys::LegacyDedupKey(dedup), token);
    batch.Put(Table::kIndex, keys::SubjectTokenKey(subject, token), "");
    pb::FieldRecord field;
    if (field.ParseFromString(store.Get(Table::kFields, token).value_or(""))) {
      field.set_dedup_key(std::string(dedup));
      batch.Put(Table::kFields, token, field.SerializeAsString());
    }
  }
  EXPECT_THAT(store.Write(batch, {.sync = true}), ::sandyq::testing::IsOk());
}

// The DEK counter of `version` (0 if absent).
inline int64_t DekCount(const storage::Store& store, uint32_t version) {
  absl::StatusOr<std::string> bytes =
      store.Get(storage::Table::kKeys, keys::DekCountKey(version));
  if (!bytes.ok()) return 0;
  return storage::DecodeCounter(*bytes).value_or(-999);
}

}  // namespace sandyq::vault::subject_test

#endif  // SANDYQ_TESTS_UNIT_VAULT_SUBJECT_TEST_UTIL_H_
