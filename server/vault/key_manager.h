#ifndef SANDYQ_SERVER_VAULT_KEY_MANAGER_H_
#define SANDYQ_SERVER_VAULT_KEY_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/audit/audit_log.h"
#include "server/crypto/hash.h"
#include "server/crypto/keyring.h"
#include "server/crypto/master_key.h"
#include "server/crypto/secret.h"
#include "server/crypto/signer.h"
#include "server/fields/field_type.h"
#include "server/platform/clock.h"
#include "server/platform/random.h"
#include "server/storage/store.h"

namespace sandyq::vault {

enum class KeyState { kPrimary = 1, kActive = 2, kRetired = 3, kDestroyed = 4 };

struct KeyInfo {
  uint32_t version = 0;
  KeyState state = KeyState::kActive;
  absl::Time created;
  int64_t wrapped_deks = 0;
};

// The vault's key hierarchy (DESIGN.md §3, docs/storage-format.md):
//   master key (provider) wraps
//     - the index root, from which HKDF derives the subject-hash, blind-index
//       and dedup keys (never rotated: rotating them would re-index);
//     - the access log's Ed25519 signing key;
//     - versioned KEKs, kept by the provider outside the data store, each
//       wrapping subject data keys (DEKs). The data store holds each KEK's
//       state and a counter of the DEKs it wraps.
// Opening a new vault creates the index root, signing key and KEK 1 in one
// audited write. Opening an existing one unwraps them; a master key that
// does not open the vault fails with FailedPrecondition and the server
// refuses to start.
//
// Key administration (Rotate, Retire, Destroy) is serialized and does
// blocking I/O (provider, synced writes): call it from a background thread,
// never from a request handler. Everything else is fast and thread-safe.
class KeyManager {
 public:
  struct Deps {
    storage::Store* store;
    audit::AuditLog* log;
    crypto::MasterKeyProvider* master;
    const platform::Clock* clock;
    platform::Random* random;
  };
  static absl::StatusOr<std::unique_ptr<KeyManager>> Open(
      const Deps& deps, const std::string& residency_country);

  // Keyed hash of a caller's subject id (32 raw bytes): the only form in
  // which subjects are stored.
  std::string SubjectHash(absl::string_view subject_id) const;
  // Blind index of a value for Lookup (32 raw bytes).
  std::string BlindIndex(fields::FieldType type,
                         absl::string_view search_key) const;
  // Dedup key: same (subject, type, normalized value) -> same key.
  std::string DedupKey(absl::string_view subject_hash, fields::FieldType type,
                       absl::string_view normalized) const;

  crypto::SecretBytes NewDek() const;

  // The current KEKs. A call that wraps a new DEK must hold the keyring it
  // wrapped with until its write is durable: DestroyKey refuses a version
  // that a live keyring still has as primary.
  std::shared_ptr<const crypto::Keyring> keyring() const;

  // The access log's checkpoint signing key.
  std::shared_ptr<const crypto::Ed25519Signer> signer() const { return signer_; }

  std::string DescribeMasterKey() const { return deps_.master->Describe(); }

  // Every KEK version, ascending, with its state and DEK count.
  absl::StatusOr<std::vector<KeyInfo>> ListKeys() const;
  // When the primary KEK was created.
  absl::StatusOr<absl::Time> PrimaryCreated() const;
  // DEKs still wrapped by a non-primary version.
  absl::StatusOr<int64_t> RewrapPending() const;

  // Makes a new KEK primary: stores it with the provider, then records it
  // (and the old primary as active) with `event` in one durable write, then
  // swaps the keyring. Returns the new version.
  absl::StatusOr<uint32_t> Rotate(audit::Event event);

  // Rotates, with `event`, if the primary is older than `every`.
  // Returns the new version, or 0 if no rotation was due.
  absl::StatusOr<uint32_t> RotateIfOlderThan(absl::Duration every,
                                             audit::Event event);

  // Marks every active version that wraps no DEK as retired (one audited
  // write per version). Returns how many were retired.
  absl::StatusOr<int> RetireEmpty();

  // Destroys a non-primary version that wraps no DEK: records it destroyed,
  // then removes it from the provider and the keyring. FailedPrecondition if
  // it is primary, wraps a DEK, or calls in flight may still wrap with it;
  // NotFound if there is no such version.
  absl::Status Destroy(uint32_t version, audit::Event event);

  // Re-wraps one subject's data key under the primary KEK: adds the new
  // record and the counter moves to `batch`. Returns false if it already
  // is under the primary.
  absl::StatusOr<bool> RewrapSubject(const crypto::Keyring& keyring,
                                     absl::string_view subject_hash,
                                     absl::string_view subject_record,
                                     storage::WriteBatch& batch) const;

 private:
  KeyManager(const Deps& deps, std::unique_ptr<crypto::Prf> subject_prf,
             std::unique_ptr<crypto::Prf> blind_prf,
             std::unique_ptr<crypto::Prf> dedup_prf,
             std::shared_ptr<const crypto::Ed25519Signer> signer,
             std::shared_ptr<const crypto::Keyring> keyring);
  // Rebuilds the keyring from the stored records; caller holds admin_mu_.
  absl::Status ReloadKeyring() ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_);
  absl::StatusOr<uint32_t> RotateLocked(audit::Event event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_);

  const Deps deps_;
  const std::unique_ptr<crypto::Prf> subject_prf_;
  const std::unique_ptr<crypto::Prf> blind_prf_;
  const std::unique_ptr<crypto::Prf> dedup_prf_;
  const std::shared_ptr<const crypto::Ed25519Signer> signer_;

  // Serializes key administration.
  absl::Mutex admin_mu_;
  // Every keyring handed out since start; Destroy checks that none still
  // alive has the version as primary.
  std::vector<std::weak_ptr<const crypto::Keyring>> handed_out_
      ABSL_GUARDED_BY(admin_mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const crypto::Keyring> keyring_ ABSL_GUARDED_BY(mu_);
};

// Moves a vault to another master-key provider without touching data: copies
// every KEK from `from` to `to` (re-wrapped by the new master key) and
// re-wraps the index root and the signing key, recording the move in the
// access log. Run with the server stopped. The old provider keeps its copy
// until the operator removes it.
absl::Status MigrateMasterKey(storage::Store* store, audit::AuditLog* log,
                              crypto::MasterKeyProvider* from,
                              crypto::MasterKeyProvider* to);

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_KEY_MANAGER_H_
