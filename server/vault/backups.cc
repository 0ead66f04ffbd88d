#include "server/vault/backups.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/platform/files.h"
#include "server/platform/log.h"
#include "server/storage/encoding.h"
#include "server/vault/index_migration.h"
#include "server/vault/records.h"
#include "server/vault/subject_data.h"

namespace sandyq::vault {
namespace {

namespace pb = ::sandyq::internal::v1;
using storage::Table;

constexpr absl::string_view kManifest = "sandyq-backup.binpb";
constexpr absl::string_view kBackupPrefix = "sandyq-backup-";

// `path` without "." and ".." parts and duplicate slashes; empty if it
// climbs above the root or is relative.
std::string Normalize(absl::string_view path) {
  if (!absl::StartsWith(path, "/")) return "";
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") {
      if (parts.empty()) return "";
      parts.pop_back();
      continue;
    }
    parts.emplace_back(p);
  }
  std::string out;
  for (const std::string& p : parts) absl::StrAppend(&out, "/", p);
  return out.empty() ? "/" : out;
}

bool Inside(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir + "/");
}

absl::StatusOr<pb::BackupManifest> ReadManifest(const std::string& backup) {
  absl::StatusOr<std::string> bytes =
      platform::ReadFile(absl::StrCat(backup, "/", kManifest));
  if (!bytes.ok()) return bytes.status();
  pb::BackupManifest manifest;
  if (!manifest.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("backup manifest of ", backup,
                                            " does not decode"));
  }
  return manifest;
}

absl::Status WriteManifest(const std::string& backup,
                           const pb::BackupManifest& manifest) {
  return platform::WriteFileAtomic(absl::StrCat(backup, "/", kManifest),
                                   manifest.SerializeAsString(), 0600);
}

// Applies `erasures` to one store; returns how many subjects were there.
absl::StatusOr<int> EraseAll(storage::Store& store,
                             const std::vector<Erasure>& erasures,
                             audit::AuditLog* log) {
  int erased = 0;
  std::vector<std::pair<Table, std::string>> purge;
  for (const Erasure& e : erasures) {
    // What was collected again after the erasure stays (a restore
    // re-applies every erasure ever made).
    absl::StatusOr<SubjectErasurePlan> plan =
        PlanSubjectErasure(store, e.subject_hash, e.time);
    if (!plan.ok()) return plan.status();
    plan->batch.Put(Table::kMeta, keys::kLedgerApplied,
                    storage::EncodeU64(e.seq));
    std::vector<audit::Event> events;
    if (plan->found) {
      ++erased;
      if (log != nullptr) {
        audit::Event event;
        event.identity = "sandyqd";
        event.rpc = "Subjects.Erase";
        event.subject_hash = e.subject_hash;
        event.decision = audit::Decision::kAllowed;
        event.rule = absl::StrCat("re-applied from the erasure ledger; receipt ",
                                  e.receipt_id, "; ", plan->tokens, " tokens");
        events.push_back(std::move(event));
      }
    }
    absl::Status written =
        log != nullptr ? log->CommitAndWait(std::move(plan->batch), std::move(events))
                       : store.Write(plan->batch, {.sync = true});
    if (!written.ok()) return written;
    purge.insert(purge.end(), plan->keys.begin(), plan->keys.end());
  }
  if (!purge.empty()) {
    if (absl::Status s = store.Purge(purge); !s.ok()) return s;
  }
  return erased;
}

// Appends the backups under `dir` at any depth (Create accepts any directory
// inside a target). Follows no symbolic link into a subdirectory.
void ListBackupsUnder(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> subdirs;
  while (dirent* entry = ::readdir(d)) {
    absl::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = absl::StrCat(dir, "/", name);
    if (absl::StartsWith(name, kBackupPrefix) &&
        platform::PathExists(absl::StrCat(path, "/", kManifest))) {
      out.push_back(path);
      continue;
    }
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      subdirs.push_back(path);
    }
  }
  ::closedir(d);
  for (const std::string& subdir : subdirs) ListBackupsUnder(subdir, out);
}

std::vector<std::string> ListBackups(const std::string& dir) {
  std::vector<std::string> out;
  if (!dir.empty()) ListBackupsUnder(dir, out);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::StatusOr<BackupInfo> Backups::Create(storage::Store& live,
                                           const std::string& dir,
                                           uint64_t audit_seq, absl::Time now) {
  const std::string wanted = Normalize(dir);
  const BackupTarget* target = nullptr;
  for (const BackupTarget& t : targets_) {
    // A target that does not normalize (relative) covers nothing, rather
    // than every absolute directory.
    const std::string root = Normalize(t.path);
    if (!wanted.empty() && !root.empty() && Inside(wanted, root)) target = &t;
  }
  if (target == nullptr) {
    return absl::FailedPreconditionError(
        "dir: not inside a backup target of the configuration (backups stay "
        "in configured places in the residency country)");
  }
  if (target->country != residency_country_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dir: the backup target is in ", target->country,
        ", outside the residency country ", residency_country_));
  }
  if (absl::Status s = platform::MakeDirs(wanted, 0700); !s.ok()) return s;
  const std::string path = absl::StrCat(
      wanted, "/", kBackupPrefix,
      absl::FormatTime("%Y%m%dT%H%M%E6SZ", now, absl::UTCTimeZone()));
  if (absl::Status s = platform::MakeDirs(path, 0700); !s.ok()) return s;
  // The ledger position first: an erasure made while the checkpoint is taken
  // is applied to the backup by the next Scrub.
  const uint64_t ledger_seq = ledger_->last_seq();
  if (absl::Status s = live.Checkpoint(absl::StrCat(path, "/db")); !s.ok()) {
    return s;
  }
  pb::BackupManifest manifest;
  manifest.set_created_micros(absl::ToUnixMicros(now));
  manifest.set_audit_seq(audit_seq);
  manifest.set_ledger_seq(ledger_seq);
  manifest.set_residency_country(residency_country_);
  if (absl::Status s = WriteManifest(path, manifest); !s.ok()) return s;
  return BackupInfo{.path = path, .created = now, .audit_seq = audit_seq};
}

absl::StatusOr<int> Backups::Scrub() {
  int changed = 0;
  for (const BackupTarget& target : targets_) {
    for (const std::string& backup : ListBackups(Normalize(target.path))) {
      absl::StatusOr<pb::BackupManifest> manifest = ReadManifest(backup);
      if (!manifest.ok()) return manifest.status();
      std::vector<Erasure> pending = ledger_->Since(manifest->ledger_seq());
      if (pending.empty()) continue;
      {
        absl::StatusOr<std::unique_ptr<storage::Store>> store =
            storage::OpenRocksDbStore(
                {.path = absl::StrCat(backup, "/db"), .create_if_missing = false});
        if (!store.ok()) return store.status();
        absl::StatusOr<int> erased = EraseAll(**store, pending, nullptr);
        if (!erased.ok()) return erased.status();
      }
      manifest->set_ledger_seq(pending.back().seq);
      if (absl::Status s = WriteManifest(backup, *manifest); !s.ok()) return s;
      ++changed;
    }
  }
  return changed;
}

absl::StatusOr<int> ApplyLedger(storage::Store& store, ErasureLedger& ledger,
                                audit::AuditLog* log) {
  uint64_t applied = 0;
  absl::StatusOr<std::string> mark = store.Get(Table::kMeta, keys::kLedgerApplied);
  if (mark.ok()) {
    applied = storage::DecodeU64(*mark).value_or(0);
  } else if (!absl::IsNotFound(mark.status())) {
    return mark.status();
  }
  return EraseAll(store, ledger.Since(applied), log);
}

absl::Status RestoreBackup(storage::Store& live, const std::string& backup_dir,
                           ErasureLedger& ledger, audit::AuditLog& log) {
  absl::StatusOr<pb::BackupManifest> manifest = ReadManifest(backup_dir);
  if (!manifest.ok()) return manifest.status();
  absl::StatusOr<std::unique_ptr<storage::Store>> backup =
      storage::OpenRocksDbStore(
          {.path = absl::StrCat(backup_dir, "/db"), .create_if_missing = false});
  if (!backup.ok()) return backup.status();
  // Field records of a later format than this build's could be misread.
  absl::StatusOr<std::optional<pb::VaultRecord>> backup_vault =
      ReadVaultRecord(**backup);
  if (!backup_vault.ok()) return backup_vault.status();
  if (*backup_vault && (*backup_vault)->format_version() > kCurrentFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backup: vault format version ", (*backup_vault)->format_version(),
        " is not supported (this build knows up to ", kCurrentFormatVersion,
        ")"));
  }

  size_t restored = 0;
  for (Table table : {Table::kFields, Table::kIndex}) {
    // Drop what the live store has...
    std::vector<std::string> old_keys;
    absl::Status s = live.BulkScan(table, "", "", [&](absl::string_view k, absl::string_view) {
      old_keys.emplace_back(k);
      return true;
    });
    if (!s.ok()) return s;
    for (size_t i = 0; i < old_keys.size(); i += 1000) {
      storage::WriteBatch batch;
      for (size_t j = i; j < std::min(old_keys.size(), i + 1000); ++j) {
        batch.Delete(table, old_keys[j]);
      }
      if (absl::Status w = live.Write(batch, {.sync = false}); !w.ok()) return w;
    }
    // ...and copy the backup's, its index in the current layout (a backup
    // of a format-1 vault has the old one; index_migration.h).
    const FieldRecordReader backup_field = [&](const std::string& token) {
      return (*backup)->Get(Table::kFields, token);
    };
    storage::WriteBatch batch;
    absl::Status copy_status;
    s = (*backup)->BulkScan(table, "", "", [&](absl::string_view k, absl::string_view v) {
      if (table == Table::kIndex) {
        absl::StatusOr<std::optional<std::pair<std::string, std::string>>> entry =
            UpgradeIndexEntry(k, v, backup_field);
        if (!entry.ok()) {
          copy_status = entry.status();
          return false;
        }
        if (!*entry) return true;  // leads nowhere
        batch.Put(table, (*entry)->first, (*entry)->second);
      } else {
        batch.Put(table, k, v);
      }
      ++restored;
      if (batch.size() >= 1000) {
        copy_status = live.Write(batch, {.sync = false});
        batch = storage::WriteBatch();
      }
      return copy_status.ok();
    });
    if (!s.ok()) return s;
    if (!copy_status.ok()) return copy_status;
    if (absl::Status w = live.Write(batch, {.sync = true}); !w.ok()) return w;
  }
  // Every erasure since ever made applies again: the restored index may
  // name subjects that are gone.
  storage::WriteBatch reset;
  reset.Delete(Table::kMeta, keys::kLedgerApplied);
  // The restored records may be past their retention period: the next start
  // runs a retention pass at once.
  reset.Delete(Table::kMeta, keys::kRetentionPass);
  // The index and records are now of the current format; a live vault of an
  // earlier one must not be opened by a build that knows only that (a vault
  // of format 1: its next start finishes the migration, which finds nothing
  // left to rewrite).
  if (absl::Status m = MarkCurrentFormat(live, reset); !m.ok()) return m;
  audit::Event event;
  event.identity = "sandyqd";
  event.rpc = "Admin.Restore";
  event.decision = audit::Decision::kAllowed;
  event.rule = absl::StrCat("field data restored from ", backup_dir,
                            " (backup at audit event ", manifest->audit_seq(),
                            "); ", restored, " records");
  if (absl::Status s = log.CommitAndWait(std::move(reset), {std::move(event)});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<int> erased = ApplyLedger(live, ledger, &log);
  if (!erased.ok()) return erased.status();
  platform::LogInfo(absl::StrCat("restored ", restored, " records from ",
                                 backup_dir, "; re-applied ", *erased,
                                 " erasures"));
  return live.CompactAll();
}

}  // namespace sandyq::vault
