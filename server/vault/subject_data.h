#ifndef SANDYQ_SERVER_VAULT_SUBJECT_DATA_H_
#define SANDYQ_SERVER_VAULT_SUBJECT_DATA_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/storage/store.h"

namespace sandyq::vault {

// Everything a store holds about one subject, as deletions: the subject
// record (its data key: deleting it crypto-shreds every copy of its values),
// every field record and its index entries, and its consents.
struct SubjectErasurePlan {
  storage::WriteBatch batch;  // the deletions, plus the DEK counter move
  std::vector<std::pair<storage::Table, std::string>> keys;  // for Store::Purge
  int tokens = 0;
  bool found = false;  // the store held anything of the subject
};

// Reads `store` (the live store, a backup, or a restored copy) and plans
// the deletion of everything of `subject_hash`. Works on stores whose index
// may be older than their subject records (a restore). When re-applying an
// erasure made at `erased_at`, records created (consents recorded) after it
// are kept: the person was collected again since.
absl::StatusOr<SubjectErasurePlan> PlanSubjectErasure(
    const storage::Store& store, absl::string_view subject_hash,
    absl::Time erased_at = absl::InfiniteFuture());

// The index entry of each of the subject's tokens, by token (records.h):
// its value entry, whose value is the token, or, for a token without a value,
// its token entry, whose key ends with the token. Field records do not keep
// the dedup key that names a value entry (since 2026-11-22), so whoever must
// move or delete a token's entry (Rectify, retention) finds it here: a
// subject has a handful of entries, one prefix scan reads them all.
// (A token has one entry; should a stray second one exist, it is listed too,
// so that moving or deleting the token's entries leaves none behind.)
using SubjectEntries = absl::flat_hash_map<std::string, std::vector<std::string>>;
absl::StatusOr<SubjectEntries> SubjectEntryKeys(const storage::Store& store,
                                               absl::string_view subject_hash);

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_SUBJECT_DATA_H_
