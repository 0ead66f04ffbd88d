#include "server/vault/key_manager.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/platform/log.h"
#include "server/storage/encoding.h"
#include "server/vault/index_migration.h"
#include "server/vault/records.h"

namespace sandyq::vault {
namespace {

using storage::Table;
namespace pb = ::sandyq::internal::v1;

// 2: the index layout of records.h. 1: the same with a separate dedup entry
// per value (index_migration.h), rewritten when such a vault is opened.
constexpr size_t kKeySize = 32;
constexpr absl::string_view kIndexRootContext = "index-root";
constexpr absl::string_view kSigningKeyContext = "audit-signing-key";

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// KEK records by version (counters and other keys skipped).
absl::StatusOr<std::map<uint32_t, pb::KekRecord>> ReadKekRecords(
    const storage::Store& store) {
  std::map<uint32_t, pb::KekRecord> records;
  absl::Status bad;
  absl::Status s = store.Scan(
      Table::kKeys, "", "", [&](absl::string_view key, absl::string_view value) {
        std::optional<uint32_t> version = storage::DecodeU32(key);
        if (!version) return true;  // a counter
        pb::KekRecord rec;
        if (!rec.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
            rec.version() != *version) {
          bad = absl::DataLossError("KEK record does not decode");
          return false;
        }
        records[*version] = std::move(rec);
        return true;
      });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  return records;
}

absl::StatusOr<int64_t> ReadCounter(const storage::Store& store,
                                    absl::string_view key) {
  absl::StatusOr<std::string> v = store.Get(Table::kKeys, key);
  if (absl::IsNotFound(v.status())) return 0;
  if (!v.ok()) return v.status();
  std::optional<int64_t> n = storage::DecodeCounter(*v);
  if (!n) return absl::DataLossError("DEK counter does not decode");
  return *n;
}

KeyState FromProto(pb::KeyState s) {
  switch (s) {
    case pb::KEY_STATE_PRIMARY:
      return KeyState::kPrimary;
    case pb::KEY_STATE_RETIRED:
      return KeyState::kRetired;
    case pb::KEY_STATE_DESTROYED:
      return KeyState::kDestroyed;
    default:
      return KeyState::kActive;
  }
}

audit::Event SystemEvent(absl::string_view rpc, std::string rule) {
  audit::Event event;
  event.identity = "sandyqd";
  event.rpc = std::string(rpc);
  event.decision = audit::Decision::kAllowed;
  event.rule = std::move(rule);
  return event;
}

absl::Status CreateVault(const KeyManager::Deps& deps,
                         const std::string& residency_country) {
  crypto::SecretBytes root = crypto::SecretBytes::Random(kKeySize, *deps.random);
  absl::StatusOr<std::unique_ptr<crypto::Ed25519Signer>> signer =
      crypto::Ed25519Signer::Generate(*deps.random);
  if (!signer.ok()) return signer.status();
  absl::StatusOr<std::string> wrapped_root =
      deps.master->Wrap(root, kIndexRootContext);
  if (!wrapped_root.ok()) return wrapped_root.status();
  absl::StatusOr<std::string> wrapped_signing =
      deps.master->Wrap((*signer)->seed(), kSigningKeyContext);
  if (!wrapped_signing.ok()) return wrapped_signing.status();

  // KEK 1 goes to the provider first: a crash before the record is written
  // leaves an unused KEK there, never a record without its key.
  absl::Status put = deps.master->PutKek(
      1, crypto::SecretBytes::Random(kKeySize, *deps.random));
  if (!put.ok() && !absl::IsAlreadyExists(put)) return put;

  const int64_t now = Micros(deps.clock->Now());
  pb::VaultRecord vault;
  vault.set_format_version(kCurrentFormatVersion);
  vault.set_wrapped_index_root(*wrapped_root);
  vault.set_created_micros(now);
  vault.set_residency_country(residency_country);
  vault.set_wrapped_signing_key(*wrapped_signing);
  vault.set_signing_public_key((*signer)->public_key());
  pb::KekRecord kek;
  kek.set_version(1);
  kek.set_state(pb::KEY_STATE_PRIMARY);
  kek.set_created_micros(now);
  kek.set_state_changed_micros(now);

  storage::WriteBatch batch;
  batch.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  batch.Put(Table::kKeys, keys::KekKey(1), kek.SerializeAsString());
  return deps.log->CommitAndWait(
      std::move(batch),
      {SystemEvent("Vault.Create",
                   absl::StrCat("master key ", deps.master->Describe(),
                                "; KEK 1 primary; residency ",
                                residency_country))});
}

absl::StatusOr<std::shared_ptr<const crypto::Keyring>> BuildKeyring(
    const KeyManager::Deps& deps,
    const std::map<uint32_t, pb::KekRecord>& records) {
  crypto::Keyring::Builder builder(*deps.random);
  for (const auto& [version, rec] : records) {
    if (rec.state() == pb::KEY_STATE_DESTROYED) continue;
    absl::StatusOr<crypto::SecretBytes> kek = deps.master->GetKek(version);
    if (absl::IsNotFound(kek.status()) &&
        rec.state() != pb::KEY_STATE_PRIMARY) {
      // Destroyed after this copy of the store was made (a backup, a stale
      // copy): what only it wrapped stays unreadable, the rest works.
      platform::LogWarning(absl::StrCat(
          "KEK ", version, " is not held by the master key provider (",
          deps.master->Describe(),
          "); data keys wrapped only by it cannot be opened"));
      continue;
    }
    if (!kek.ok() && !absl::IsNotFound(kek.status()) &&
        !absl::IsDataLoss(kek.status())) {
      // The provider could not be used at all (a KEK file that group or
      // others may read, an HSM error): say that, not "wrong provider".
      return absl::Status(kek.status().code(),
                          absl::StrCat("KEK ", version, ": ",
                                       kek.status().message()));
    }
    if (!kek.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the primary KEK ", version,
          " is not held by the master key provider (", deps.master->Describe(),
          "): wrong provider, a lost key file, or a vault from an older "
          "development build"));
    }
    if (absl::Status s = builder.Add(version, std::move(*kek),
                                     rec.state() == pb::KEY_STATE_PRIMARY);
        !s.ok()) {
      return s;
    }
  }
  return builder.Build();
}

// Rewrites a format-1 vault's index (index_migration.h). The vault record
// first says format 2 with the migration pending, so that an older build
// refuses the half-rewritten vault, and a start that is interrupted is
// finished by the next one; it is cleared, with a Vault.Migrate event, once
// the whole index is rewritten.
absl::Status MigrateToFormat2(const KeyManager::Deps& deps,
                              pb::VaultRecord& vault) {
  if (vault.format_version() == 1) {
    storage::WriteBatch mark;
    if (absl::Status s = MarkIndexMigrationPending(*deps.store, mark); !s.ok()) {
      return s;
    }
    if (absl::Status s = deps.log->CommitAndWait(std::move(mark), {}); !s.ok()) {
      return s;
    }
    vault.set_format_version(2);
    vault.set_index_migration_pending(true);
  }
  if (!vault.index_migration_pending()) return absl::OkStatus();
  platform::LogInfo(
      "vault format 1 (or a rewrite left unfinished): rewriting the index to "
      "format 2");
  const absl::Time start = absl::Now();
  absl::StatusOr<uint64_t> changed = MigrateIndexToFormat2(*deps.store);
  if (!changed.ok()) return changed.status();
  vault.set_index_migration_pending(false);
  storage::WriteBatch batch;
  batch.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  if (absl::Status s = deps.log->CommitAndWait(
          std::move(batch),
          {SystemEvent("Vault.Migrate",
                       absl::StrCat("format 1 to 2: ", *changed,
                                    " index entries rewritten"))});
      !s.ok()) {
    return s;
  }
  platform::LogInfo(absl::StrCat("vault is format 2: ", *changed,
                                 " index entries rewritten in ",
                                 absl::FormatDuration(absl::Now() - start)));
  return absl::OkStatus();
}

// Marks a format-2 vault as format 3 before this build writes to it: field
// records written from now on have no dedup key, and a build of format 2
// would miss such a record's subject entry in Rectify and retention. Nothing
// stored needs rewriting.
absl::Status MarkFormat3(const KeyManager::Deps& deps, pb::VaultRecord& vault) {
  if (vault.format_version() != 2 || vault.index_migration_pending()) {
    return absl::OkStatus();
  }
  vault.set_format_version(3);
  storage::WriteBatch batch;
  batch.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  return deps.log->CommitAndWait(
      std::move(batch),
      {SystemEvent("Vault.Migrate",
                   "format 2 to 3: new field records omit the dedup key")});
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyManager>> KeyManager::Open(
    const Deps& deps, const std::string& residency_country) {
  absl::StatusOr<std::string> vault_bytes =
      deps.store->Get(Table::kMeta, keys::kVaultRecord);
  if (absl::IsNotFound(vault_bytes.status())) {
    if (absl::Status s = CreateVault(deps, residency_country); !s.ok()) {
      return s;
    }
    platform::LogInfo("created a new vault: index root, signing key, KEK 1");
    vault_bytes = deps.store->Get(Table::kMeta, keys::kVaultRecord);
  }
  if (!vault_bytes.ok()) return vault_bytes.status();
  pb::VaultRecord vault;
  if (!vault.ParseFromString(*vault_bytes)) {
    return absl::DataLossError("vault record does not decode");
  }
  if (vault.format_version() < 1 || vault.format_version() > kCurrentFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vault format version ", vault.format_version(), " is not supported"));
  }
  if (!vault.residency_country().empty() &&
      vault.residency_country() != residency_country) {
    return absl::FailedPreconditionError(absl::StrCat(
        "residency_country: this vault was created to keep its data in ",
        vault.residency_country(), "; the configuration says ",
        residency_country));
  }
  absl::StatusOr<crypto::SecretBytes> root =
      deps.master->Unwrap(vault.wrapped_index_root(), kIndexRootContext);
  if (!root.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the master key (", deps.master->Describe(),
        ") does not open this vault"));
  }
  absl::StatusOr<crypto::SecretBytes> seed =
      deps.master->Unwrap(vault.wrapped_signing_key(), kSigningKeyContext);
  if (!seed.ok()) {
    return absl::FailedPreconditionError(
        "the vault's audit signing key cannot be opened (a vault from an "
        "older development build?)");
  }
  absl::StatusOr<std::unique_ptr<crypto::Ed25519Signer>> signer =
      crypto::Ed25519Signer::FromSeed(*seed);
  if (!signer.ok()) return signer.status();
  // Only a vault this configuration may open is rewritten.
  if (absl::Status s = MigrateToFormat2(deps, vault); !s.ok()) return s;
  if (absl::Status s = MarkFormat3(deps, vault); !s.ok()) return s;

  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*deps.store);
  if (!records.ok()) return records.status();
  // Finish destructions a crash interrupted: recorded, not yet removed.
  for (const auto& [version, rec] : *records) {
    if (rec.state() == pb::KEY_STATE_DESTROYED) {
      if (absl::Status s = deps.master->DestroyKek(version); !s.ok()) return s;
    }
  }
  absl::StatusOr<std::shared_ptr<const crypto::Keyring>> keyring =
      BuildKeyring(deps, *records);
  if (!keyring.ok()) return keyring.status();

  auto derive = [&](absl::string_view label) {
    return crypto::Prf::New(crypto::DeriveKey(*root, label, kKeySize));
  };
  auto subject = derive("sandyq subject hash v1");
  auto blind = derive("sandyq blind index v1");
  auto dedup = derive("sandyq dedup v1");
  if (!subject.ok()) return subject.status();
  if (!blind.ok()) return blind.status();
  if (!dedup.ok()) return dedup.status();
  return std::unique_ptr<KeyManager>(new KeyManager(
      deps, std::move(*subject), std::move(*blind), std::move(*dedup),
      std::shared_ptr<const crypto::Ed25519Signer>(std::move(*signer)),
      std::move(*keyring)));
}

KeyManager::KeyManager(const Deps& deps,
                       std::unique_ptr<crypto::Prf> subject_prf,
                       std::unique_ptr<crypto::Prf> blind_prf,
                       std::unique_ptr<crypto::Prf> dedup_prf,
                       std::shared_ptr<const crypto::Ed25519Signer> signer,
                       std::shared_ptr<const crypto::Keyring> keyring)
    : deps_(deps),
      subject_prf_(std::move(subject_prf)),
      blind_prf_(std::move(blind_prf)),
      dedup_prf_(std::move(dedup_prf)),
      signer_(std::move(signer)),
      keyring_(std::move(keyring)) {}

std::string KeyManager::SubjectHash(absl::string_view subject_id) const {
  return subject_prf_->Compute(subject_id);
}

std::string KeyManager::BlindIndex(fields::FieldType type,
                                   absl::string_view search_key) const {
  const char t = static_cast<char>(type);
  return blind_prf_->Compute(absl::StrCat(absl::string_view(&t, 1), search_key));
}

std::string KeyManager::DedupKey(absl::string_view subject_hash,
                                 fields::FieldType type,
                                 absl::string_view normalized) const {
  const char t = static_cast<char>(type);
  return dedup_prf_->Compute(
      absl::StrCat(subject_hash, absl::string_view(&t, 1), normalized));
}

crypto::SecretBytes KeyManager::NewDek() const {
  return crypto::SecretBytes::Random(kKeySize, *deps_.random);
}

std::shared_ptr<const crypto::Keyring> KeyManager::keyring() const {
  absl::MutexLock lock(&mu_);
  return keyring_;
}

absl::StatusOr<std::vector<KeyInfo>> KeyManager::ListKeys() const {
  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*deps_.store);
  if (!records.ok()) return records.status();
  std::vector<KeyInfo> out;
  for (const auto& [version, rec] : *records) {
    absl::StatusOr<int64_t> count =
        ReadCounter(*deps_.store, keys::DekCountKey(version));
    if (!count.ok()) return count.status();
    out.push_back({.version = version,
                   .state = FromProto(rec.state()),
                   .created = absl::FromUnixMicros(rec.created_micros()),
                   .wrapped_deks = *count});
  }
  return out;
}

absl::StatusOr<absl::Time> KeyManager::PrimaryCreated() const {
  absl::StatusOr<std::vector<KeyInfo>> keys = ListKeys();
  if (!keys.ok()) return keys.status();
  for (const KeyInfo& k : *keys) {
    if (k.state == KeyState::kPrimary) return k.created;
  }
  return absl::FailedPreconditionError("no primary KEK");
}

absl::StatusOr<int64_t> KeyManager::RewrapPending() const {
  absl::StatusOr<std::vector<KeyInfo>> keys = ListKeys();
  if (!keys.ok()) return keys.status();
  int64_t pending = 0;
  for (const KeyInfo& k : *keys) {
    if (k.state != KeyState::kPrimary) pending += k.wrapped_deks;
  }
  return pending;
}

absl::Status KeyManager::ReloadKeyring() {
  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*deps_.store);
  if (!records.ok()) return records.status();
  absl::StatusOr<std::shared_ptr<const crypto::Keyring>> keyring =
      BuildKeyring(deps_, *records);
  if (!keyring.ok()) return keyring.status();
  absl::MutexLock lock(&mu_);
  handed_out_.push_back(keyring_);
  keyring_ = std::move(*keyring);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> KeyManager::Rotate(audit::Event event) {
  absl::MutexLock lock(&admin_mu_);
  return RotateLocked(std::move(event));
}

absl::StatusOr<uint32_t> KeyManager::RotateLocked(audit::Event event) {
  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*deps_.store);
  if (!records.ok()) return records.status();
  absl::StatusOr<std::vector<uint32_t>> held = deps_.master->ListKeks();
  if (!held.ok()) return held.status();
  // Never reuse a version, not even one a crash left unrecorded.
  uint32_t next = records->empty() ? 1 : records->rbegin()->first + 1;
  if (!held->empty()) next = std::max(next, held->back() + 1);

  if (absl::Status s = deps_.master->PutKek(
          next, crypto::SecretBytes::Random(kKeySize, *deps_.random));
      !s.ok()) {
    return s;
  }
  const int64_t now = Micros(deps_.clock->Now());
  storage::WriteBatch batch;
  uint32_t old_primary = 0;
  for (auto& [version, rec] : *records) {
    if (rec.state() != pb::KEY_STATE_PRIMARY) continue;
    old_primary = version;
    rec.set_state(pb::KEY_STATE_ACTIVE);
    rec.set_state_changed_micros(now);
    batch.Put(Table::kKeys, keys::KekKey(version), rec.SerializeAsString());
  }
  pb::KekRecord fresh;
  fresh.set_version(next);
  fresh.set_state(pb::KEY_STATE_PRIMARY);
  fresh.set_created_micros(now);
  fresh.set_state_changed_micros(now);
  batch.Put(Table::kKeys, keys::KekKey(next), fresh.SerializeAsString());

  event.decision = audit::Decision::kAllowed;
  absl::StrAppend(&event.rule, event.rule.empty() ? "" : "; ", "KEK ", next,
                  " primary", old_primary ? absl::StrCat("; KEK ", old_primary, " active") : "");
  if (absl::Status s = deps_.log->CommitAndWait(std::move(batch), {event});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReloadKeyring(); !s.ok()) return s;
  platform::LogInfo(absl::StrCat("key rotation: KEK ", next, " is primary"));
  return next;
}

absl::StatusOr<uint32_t> KeyManager::RotateIfOlderThan(absl::Duration every,
                                                       audit::Event event) {
  absl::MutexLock lock(&admin_mu_);
  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*deps_.store);
  if (!records.ok()) return records.status();
  for (const auto& [version, rec] : *records) {
    if (rec.state() != pb::KEY_STATE_PRIMARY) continue;
    if (absl::FromUnixMicros(rec.created_micros()) + every >
        deps_.clock->Now()) {
      return 0;
    }
  }
  return RotateLocked(std::move(event));
}

absl::StatusOr<int> KeyManager::RetireEmpty() {
  absl::MutexLock lock(&admin_mu_);
  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*deps_.store);
  if (!records.ok()) return records.status();
  int retired = 0;
  for (auto& [version, rec] : *records) {
    if (rec.state() != pb::KEY_STATE_ACTIVE) continue;
    absl::StatusOr<int64_t> count =
        ReadCounter(*deps_.store, keys::DekCountKey(version));
    if (!count.ok()) return count.status();
    if (*count != 0) continue;
    rec.set_state(pb::KEY_STATE_RETIRED);
    rec.set_state_changed_micros(Micros(deps_.clock->Now()));
    storage::WriteBatch batch;
    batch.Put(Table::kKeys, keys::KekKey(version), rec.SerializeAsString());
    if (absl::Status s = deps_.log->CommitAndWait(
            std::move(batch),
            {SystemEvent("KeyAdmin.Retire",
                         absl::StrCat("KEK ", version,
                                      " wraps no data key; retired"))});
        !s.ok()) {
      return s;
    }
    ++retired;
  }
  return retired;
}

absl::Status KeyManager::Destroy(uint32_t version, audit::Event event) {
  absl::MutexLock lock(&admin_mu_);
  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*deps_.store);
  if (!records.ok()) return records.status();
  auto it = records->find(version);
  if (it == records->end()) {
    return absl::NotFoundError(absl::StrCat("version: no KEK ", version));
  }
  pb::KekRecord& rec = it->second;
  if (rec.state() == pb::KEY_STATE_DESTROYED) {
    // Destroyed before: finish a removal from the provider that failed, and
    // record this call like any other.
    if (absl::Status s = deps_.master->DestroyKek(version); !s.ok()) return s;
    event.decision = audit::Decision::kAllowed;
    absl::StrAppend(&event.rule, event.rule.empty() ? "" : "; ", "KEK ",
                    version, " already destroyed");
    if (absl::Status s = deps_.log->CommitAndWait({}, {event}); !s.ok()) {
      return s;
    }
    return ReloadKeyring();
  }
  if (rec.state() == pb::KEY_STATE_PRIMARY) {
    return absl::FailedPreconditionError(absl::StrCat(
        "version: KEK ", version, " is primary; rotate first"));
  }
  // Calls still holding a keyring in which this version is primary may be
  // wrapping new DEKs with it right now.
  {
    absl::MutexLock keyring_lock(&mu_);
    std::erase_if(handed_out_, [](const auto& w) { return w.expired(); });
    for (const auto& weak : handed_out_) {
      auto ring = weak.lock();
      if (ring != nullptr && ring->primary_version() == version) {
        return absl::FailedPreconditionError(absl::StrCat(
            "version: KEK ", version,
            " may still be in use by calls in flight; retry"));
      }
    }
  }
  absl::StatusOr<int64_t> count =
      ReadCounter(*deps_.store, keys::DekCountKey(version));
  if (!count.ok()) return count.status();
  if (*count != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "version: KEK ", version, " still wraps ", *count,
        " data keys; wait for the re-wrap to finish"));
  }
  rec.set_state(pb::KEY_STATE_DESTROYED);
  rec.set_state_changed_micros(Micros(deps_.clock->Now()));
  storage::WriteBatch batch;
  batch.Put(Table::kKeys, keys::KekKey(version), rec.SerializeAsString());
  event.decision = audit::Decision::kAllowed;
  absl::StrAppend(&event.rule, event.rule.empty() ? "" : "; ", "KEK ",
                  version, " destroyed");
  // Record first, then remove: after a crash in between, Open finishes the
  // removal.
  if (absl::Status s = deps_.log->CommitAndWait(std::move(batch), {event});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = deps_.master->DestroyKek(version); !s.ok()) return s;
  platform::LogInfo(absl::StrCat("KEK ", version, " destroyed"));
  return ReloadKeyring();
}

absl::StatusOr<bool> KeyManager::RewrapSubject(
    const crypto::Keyring& keyring, absl::string_view subject_hash,
    absl::string_view subject_record, storage::WriteBatch& batch) const {
  pb::SubjectRecord subject;
  if (!subject.ParseFromArray(subject_record.data(),
                              static_cast<int>(subject_record.size()))) {
    return absl::DataLossError("subject record does not decode");
  }
  const uint32_t from = subject.kek_version();
  if (subject.wrapped_dek().empty() || from == keyring.primary_version()) {
    return false;
  }
  absl::StatusOr<crypto::SecretBytes> dek =
      keyring.UnwrapDek({from, subject.wrapped_dek()}, subject_hash);
  if (!dek.ok()) return dek.status();
  absl::StatusOr<crypto::WrappedKey> wrapped =
      keyring.WrapDek(*dek, subject_hash);
  if (!wrapped.ok()) return wrapped.status();
  subject.set_kek_version(wrapped->kek_version);
  subject.set_wrapped_dek(wrapped->bytes);
  batch.Put(Table::kSubjects, subject_hash, subject.SerializeAsString());
  batch.Add(Table::kKeys, keys::DekCountKey(from), -1);
  batch.Add(Table::kKeys, keys::DekCountKey(wrapped->kek_version), +1);
  return true;
}

absl::Status MigrateMasterKey(storage::Store* store, audit::AuditLog* log,
                              crypto::MasterKeyProvider* from,
                              crypto::MasterKeyProvider* to) {
  absl::StatusOr<std::string> vault_bytes =
      store->Get(Table::kMeta, keys::kVaultRecord);
  if (!vault_bytes.ok()) return vault_bytes.status();
  pb::VaultRecord vault;
  if (!vault.ParseFromString(*vault_bytes)) {
    return absl::DataLossError("vault record does not decode");
  }
  absl::StatusOr<crypto::SecretBytes> root =
      from->Unwrap(vault.wrapped_index_root(), kIndexRootContext);
  absl::StatusOr<crypto::SecretBytes> seed =
      from->Unwrap(vault.wrapped_signing_key(), kSigningKeyContext);
  if (!root.ok() || !seed.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the current master key (", from->Describe(),
        ") does not open this vault"));
  }
  absl::StatusOr<std::map<uint32_t, pb::KekRecord>> records =
      ReadKekRecords(*store);
  if (!records.ok()) return records.status();
  int copied = 0;
  for (const auto& [version, rec] : *records) {
    if (rec.state() == pb::KEY_STATE_DESTROYED) continue;
    absl::StatusOr<crypto::SecretBytes> kek = from->GetKek(version);
    if (!kek.ok()) return kek.status();
    absl::Status put = to->PutKek(version, *kek);
    if (absl::IsAlreadyExists(put)) {
      // A migration that was interrupted: the copy must be the same key.
      absl::StatusOr<crypto::SecretBytes> there = to->GetKek(version);
      if (!there.ok()) return there.status();
      if (!there->Equals(*kek)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the new provider already holds a different KEK ", version));
      }
    } else if (!put.ok()) {
      return put;
    }
    ++copied;
  }
  absl::StatusOr<std::string> new_root = to->Wrap(*root, kIndexRootContext);
  absl::StatusOr<std::string> new_seed = to->Wrap(*seed, kSigningKeyContext);
  if (!new_root.ok()) return new_root.status();
  if (!new_seed.ok()) return new_seed.status();
  vault.set_wrapped_index_root(*new_root);
  vault.set_wrapped_signing_key(*new_seed);
  storage::WriteBatch batch;
  batch.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  return log->CommitAndWait(
      std::move(batch),
      {SystemEvent("Vault.MigrateMasterKey",
                   absl::StrCat("from ", from->Describe(), " to ",
                                to->Describe(), "; ", copied,
                                " KEKs copied"))});
}

}  // namespace sandyq::vault
