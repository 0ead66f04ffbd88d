#ifndef SANDYQ_SERVER_VAULT_KEY_MANAGER_H_
#define SANDYQ_SERVER_VAULT_KEY_MANAGER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/audit/audit_log.h"
#include "server/crypto/hash.h"
#include "server/crypto/keyring.h"
#include "server/crypto/master_key.h"
#include "server/crypto/secret.h"
#include "server/fields/field_type.h"
#include "server/platform/clock.h"
#include "server/platform/random.h"
#include "server/storage/store.h"

namespace sandyq::vault {

// The vault's key hierarchy as stored (DESIGN.md §3):
//   master key (provider) wraps
//     - the index root, from which HKDF derives the subject-hash, blind-index
//       and dedup keys (never rotated: rotating them would re-index);
//     - versioned KEKs, which wrap each subject's data key (DEK).
// Opening a new vault creates the index root and KEK 1 in one audited write.
// Opening an existing one unwraps them; a master key that does not open the
// vault fails with FailedPrecondition and the server refuses to start.
// Thread-safe.
class KeyManager {
 public:
  struct Deps {
    storage::Store* store;
    audit::AuditLog* log;
    const crypto::MasterKeyProvider* master;
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
  absl::StatusOr<crypto::WrappedKey> WrapDek(
      const crypto::SecretBytes& dek, absl::string_view subject_hash) const;
  absl::StatusOr<crypto::SecretBytes> UnwrapDek(
      const crypto::WrappedKey& wrapped, absl::string_view subject_hash) const;

  std::shared_ptr<const crypto::Keyring> keyring() const;

 private:
  KeyManager(const Deps& deps, std::unique_ptr<crypto::Prf> subject_prf,
             std::unique_ptr<crypto::Prf> blind_prf,
             std::unique_ptr<crypto::Prf> dedup_prf,
             std::shared_ptr<const crypto::Keyring> keyring);

  const Deps deps_;
  const std::unique_ptr<crypto::Prf> subject_prf_;
  const std::unique_ptr<crypto::Prf> blind_prf_;
  const std::unique_ptr<crypto::Prf> dedup_prf_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const crypto::Keyring> keyring_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_KEY_MANAGER_H_
