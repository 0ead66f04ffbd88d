#ifndef SANDYQ_SERVER_VAULT_BACKUPS_H_
#define SANDYQ_SERVER_VAULT_BACKUPS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/audit/audit_log.h"
#include "server/storage/store.h"
#include "server/vault/erasure_ledger.h"

namespace sandyq::vault {

// Where backups may be written: a directory and the country it is in. The
// config refuses targets outside the vault's residency country.
struct BackupTarget {
  std::string path;
  std::string country;
};

struct BackupInfo {
  std::string path;
  absl::Time created;
  uint64_t audit_seq = 0;
};

// Backups that honour erasure. A backup is a directory
//   <target dir>/sandyq-backup-<UTC time>/db/        a RocksDB checkpoint
//   <target dir>/sandyq-backup-<UTC time>/sandyq-backup.binpb   its manifest
// holding no master key and no KEK (those stay with the provider). Every
// erasure in the ledger is applied to every backup under the targets
// (Scrub), and a restore re-applies them to the restored data, so an erased
// person never comes back. Thread-safe for concurrent Create and Scrub.
class Backups {
 public:
  Backups(std::vector<BackupTarget> targets, ErasureLedger* ledger,
          std::string residency_country)
      : targets_(std::move(targets)),
        ledger_(ledger),
        residency_country_(std::move(residency_country)) {}

  // A new backup of `live` under `dir`, which must lie inside a target
  // (FailedPrecondition otherwise). `audit_seq`: the log's durable head.
  absl::StatusOr<BackupInfo> Create(storage::Store& live, const std::string& dir,
                                    uint64_t audit_seq, absl::Time now);

  // Applies every erasure a backup has not seen yet to every backup under
  // the targets, and purges it from their files. Returns how many backups
  // changed.
  absl::StatusOr<int> Scrub();

  const std::vector<BackupTarget>& targets() const { return targets_; }

 private:
  const std::vector<BackupTarget> targets_;
  ErasureLedger* const ledger_;
  const std::string residency_country_;
};

// Applies every erasure of `ledger` after the one `store` records as applied
// (meta "ledger_applied") to `store`: deletes and purges the subjects' data,
// logging each re-applied erasure in `log` when given. Returns how many
// subjects were found and erased.
absl::StatusOr<int> ApplyLedger(storage::Store& store, ErasureLedger& ledger,
                                audit::AuditLog* log);

// Restores the data of a backup into `live` (server stopped): replaces the
// field records and their index with the backup's, keeps everything else as
// it is now (subject keys and state, consents, KEK records and the access
// log, which is never rolled back), then re-applies every erasure in the
// ledger and records the restore in `log`.
absl::Status RestoreBackup(storage::Store& live, const std::string& backup_dir,
                           ErasureLedger& ledger, audit::AuditLog& log);

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_BACKUPS_H_
