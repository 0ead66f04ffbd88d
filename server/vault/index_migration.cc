#include "server/vault/index_migration.h"

#include <vector>

#include "absl/status/status.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/vault/records.h"

namespace sandyq::vault {

namespace pb = ::sandyq::internal::v1;
using storage::Table;

namespace {

constexpr size_t kSubjectHashSize = 32;
constexpr size_t kBatchEntries = 1000;

// The field record of `token`: nullopt if there is none, or it does not
// decode (its index entries then lead nowhere and are dropped).
absl::StatusOr<std::optional<pb::FieldRecord>> ReadRecord(
    const FieldRecordReader& field_record, const std::string& token) {
  absl::StatusOr<std::string> bytes = field_record(token);
  if (absl::IsNotFound(bytes.status())) return std::nullopt;
  if (!bytes.ok()) return bytes.status();
  pb::FieldRecord record;
  if (!record.ParseFromString(*bytes)) return std::nullopt;
  return record;
}

bool IsLegacy(absl::string_view key, absl::string_view value) {
  if (key.empty()) return false;
  return key[0] == keys::kLegacyDedupTag ||
         (key[0] == keys::kSubjectTokensTag && value.empty());
}

}  // namespace

absl::StatusOr<std::optional<std::pair<std::string, std::string>>>
UpgradeIndexEntry(absl::string_view key, absl::string_view value,
                  const FieldRecordReader& field_record) {
  using Entry = std::pair<std::string, std::string>;
  if (!IsLegacy(key, value)) return Entry(key, value);
  if (key[0] == keys::kLegacyDedupTag) {
    const std::string token(value);
    absl::StatusOr<std::optional<pb::FieldRecord>> record =
        ReadRecord(field_record, token);
    if (!record.ok()) return record.status();
    if (!*record || (*record)->subject_hash().empty()) return std::nullopt;
    return Entry(keys::SubjectValueKey((*record)->subject_hash(), key.substr(1)),
                 token);
  }
  // s <subject> <token> -> "": a value entry if the token has a value.
  if (key.size() <= 1 + kSubjectHashSize) return Entry(key, value);
  const absl::string_view subject_hash = key.substr(1, kSubjectHashSize);
  const std::string token(key.substr(1 + kSubjectHashSize));
  absl::StatusOr<std::optional<pb::FieldRecord>> record =
      ReadRecord(field_record, token);
  if (!record.ok()) return record.status();
  if (!*record || (*record)->dedup_key().empty()) return Entry(key, value);
  return Entry(keys::SubjectValueKey(subject_hash, (*record)->dedup_key()),
               token);
}

absl::StatusOr<std::optional<pb::VaultRecord>> ReadVaultRecord(
    const storage::Store& store) {
  absl::StatusOr<std::string> bytes = store.Get(Table::kMeta, keys::kVaultRecord);
  if (absl::IsNotFound(bytes.status())) return std::nullopt;
  if (!bytes.ok()) return bytes.status();
  pb::VaultRecord vault;
  if (!vault.ParseFromString(*bytes)) {
    return absl::DataLossError("vault record does not decode");
  }
  return vault;
}

absl::Status MarkIndexMigrationPending(const storage::Store& store,
                                       storage::WriteBatch& batch) {
  absl::StatusOr<std::optional<pb::VaultRecord>> read = ReadVaultRecord(store);
  if (!read.ok()) return read.status();
  if (!*read || (*read)->format_version() != 1) return absl::OkStatus();
  pb::VaultRecord& vault = **read;
  vault.set_format_version(2);
  vault.set_index_migration_pending(true);
  batch.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  return absl::OkStatus();
}

absl::Status MarkCurrentFormat(const storage::Store& store,
                               storage::WriteBatch& batch) {
  absl::StatusOr<std::optional<pb::VaultRecord>> read = ReadVaultRecord(store);
  if (!read.ok()) return read.status();
  if (!*read) return absl::OkStatus();
  pb::VaultRecord& vault = **read;
  if (vault.format_version() == 1) return MarkIndexMigrationPending(store, batch);
  if (vault.format_version() != 2 || vault.index_migration_pending()) {
    return absl::OkStatus();
  }
  vault.set_format_version(kCurrentFormatVersion);
  batch.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> MigrateIndexToFormat2(storage::Store& store) {
  const FieldRecordReader field_record = [&store](const std::string& token) {
    return store.Get(Table::kFields, token);
  };
  uint64_t changed = 0;
  for (const char tag : {keys::kLegacyDedupTag, keys::kSubjectTokensTag}) {
    const std::string prefix(1, tag);
    std::string after;
    for (;;) {
      std::vector<std::pair<std::string, std::string>> legacy;
      absl::Status scanned = store.BulkScan(
          Table::kIndex, prefix, after,
          [&](absl::string_view key, absl::string_view value) {
            after = std::string(key);
            if (IsLegacy(key, value)) legacy.emplace_back(key, value);
            return legacy.size() < kBatchEntries;
          });
      if (!scanned.ok()) return scanned;
      if (legacy.empty()) break;
      storage::WriteBatch batch;
      for (const auto& [key, value] : legacy) {
        absl::StatusOr<std::optional<std::pair<std::string, std::string>>> entry =
            UpgradeIndexEntry(key, value, field_record);
        if (!entry.ok()) return entry.status();
        if (*entry && (*entry)->first == key) continue;  // kept as it is
        batch.Delete(Table::kIndex, key);
        if (*entry) batch.Put(Table::kIndex, (*entry)->first, (*entry)->second);
        ++changed;
      }
      if (!batch.empty()) {
        if (absl::Status s = store.Write(batch, {.sync = false}); !s.ok()) {
          return s;
        }
      }
    }
  }
  return changed;
}

}  // namespace sandyq::vault
