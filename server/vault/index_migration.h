#ifndef SANDYQ_SERVER_VAULT_INDEX_MIGRATION_H_
#define SANDYQ_SERVER_VAULT_INDEX_MIGRATION_H_

// From the index layout of vault format 1 to that of format 2 (records.h,
// docs/storage-format.md). Format 1 wrote three index entries per value:
//   d <dedup key> -> token,  s <subject hash> <token> -> "",  b <blind> <token>
// Format 2 folds the first two into one:
//   s <subject hash> <dedup key> -> token
// and keeps s <subject hash> <token> -> "" only for a token without a value
// (depersonalized). Blind-index entries are the same in both.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/storage/store.h"

namespace sandyq::vault {

// The storage format this build writes (VaultRecord.format_version). 1: an
// index entry per value by dedup key plus one per token; 2: one subject entry
// per value; 3: field records may lack the dedup key (docs/storage-format.md,
// "Format versions"). A vault or backup of a later format is refused.
inline constexpr uint32_t kCurrentFormatVersion = 3;

// Reads the FieldRecord stored under a token (NotFound if none).
using FieldRecordReader =
    std::function<absl::StatusOr<std::string>(const std::string& token)>;

// The format-2 entry that replaces index entry (`key`, `value`), or nullopt
// to drop it: a dedup entry becomes its subject's value entry (the subject
// from the token's field record; dropped if the record is gone); a subject
// entry of a token with a value becomes that value's entry (the same one its
// dedup entry gives). Every other entry, format-2 ones included, comes back
// unchanged, so upgrading twice changes nothing.
absl::StatusOr<std::optional<std::pair<std::string, std::string>>>
UpgradeIndexEntry(absl::string_view key, absl::string_view value,
                  const FieldRecordReader& field_record);

// `store`'s vault record (meta `vault`); nullopt if it has none (a store
// being created, or a backup of one); DataLoss if it does not decode.
absl::StatusOr<std::optional<internal::v1::VaultRecord>> ReadVaultRecord(
    const storage::Store& store);

// If `store`'s vault record says format 1, puts into `batch` that record
// saying format 2 with the index migration pending (VaultRecord), so that a
// build that knows only format 1 refuses the vault from then on and the next
// start of this one finishes the rewrite. Nothing if it says anything else.
absl::Status MarkIndexMigrationPending(const storage::Store& store,
                                       storage::WriteBatch& batch);

// For a restore, which brings field records of the current format into a
// live vault of any format: MarkIndexMigrationPending for format 1, and for
// format 2 the record saying format 3 (no entry needs rewriting), so that no
// build of an earlier format opens the vault.
absl::Status MarkCurrentFormat(const storage::Store& store,
                               storage::WriteBatch& batch);

// Rewrites every format-1 entry of `store`'s index table in place, in
// batches; each batch deletes entries and puts their replacements at once,
// so an interrupted migration leaves a consistent index and the next one
// carries on. Returns how many entries it rewrote or dropped.
absl::StatusOr<uint64_t> MigrateIndexToFormat2(storage::Store& store);

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_INDEX_MIGRATION_H_
