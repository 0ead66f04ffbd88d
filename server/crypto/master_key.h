#ifndef SANDYQ_SERVER_CRYPTO_MASTER_KEY_H_
#define SANDYQ_SERVER_CRYPTO_MASTER_KEY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/crypto/secret.h"
#include "server/platform/random.h"

namespace sandyq::crypto {

// The root of the key hierarchy (master key -> KEKs -> subject DEKs). A
// provider wraps and unwraps keys with a master key that it never exports:
// a file in development, an HSM over PKCS#11 in production.
//
// It also keeps the key-encryption keys (KEKs), each wrapped by the master
// key, OUTSIDE the data store: in a file beside the file master key, or as
// objects in the HSM token. Destroying a KEK here therefore makes every copy
// of the data store, backups included, unable to open the subject keys that
// only that KEK wrapped.
//
// `context` is bound into the wrapping as associated data (e.g. "kek:3"), so
// a wrapped key cannot be swapped for another. Unwrap fails with the generic
// DataLoss("decryption failed") on any mismatch. Thread-safe.
class MasterKeyProvider {
 public:
  virtual ~MasterKeyProvider() = default;

  // A description for logs and errors, with no key material, e.g.
  // "file:/var/lib/sandyq/master.key" or "pkcs11:token=sandyq;key=master".
  virtual std::string Describe() const = 0;

  // Wraps/unwraps a key with the master key (the vault's index root and its
  // audit signing key are kept this way, in the data store).
  virtual absl::StatusOr<std::string> Wrap(const SecretBytes& key,
                                           absl::string_view context) const = 0;
  virtual absl::StatusOr<SecretBytes> Unwrap(
      absl::string_view wrapped, absl::string_view context) const = 0;

  // Stores KEK `version` (wrapped by the master key, context "kek:<version>")
  // durably before returning. AlreadyExists if that version is stored.
  virtual absl::Status PutKek(uint32_t version, const SecretBytes& kek) = 0;
  // NotFound if the version is not stored (never created, or destroyed).
  virtual absl::StatusOr<SecretBytes> GetKek(uint32_t version) const = 0;
  // Removes KEK `version` for good, durably before returning; OK if absent.
  virtual absl::Status DestroyKek(uint32_t version) = 0;
  // The stored versions, ascending.
  virtual absl::StatusOr<std::vector<uint32_t>> ListKeks() const = 0;
};

// File master key (development). The file is text:
//   sandyq-master-key-v1
//   <64 lower-case hex digits>
// Creates a new one with mode 0600; AlreadyExists if `path` exists.
// Its KEKs live in "<path>.keks" (mode 0600, rewritten atomically):
//   sandyq-keks-v1
//   <version> <hex of the wrapped KEK>     one line per KEK, ascending
absl::Status CreateFileMasterKey(const std::string& path,
                                 platform::Random& random);

// Opens a file master key. FailedPrecondition if the file is readable by its
// group or others (it must be 0600 or stricter), NotFound if missing,
// InvalidArgument if malformed. The message names the path, never the key.
absl::StatusOr<std::unique_ptr<MasterKeyProvider>> OpenFileMasterKey(
    const std::string& path, platform::Random& random);

// A master key in a PKCS#11 token (an HSM; SoftHSM2 in tests): a
// non-extractable, sensitive AES-256 secret key object that wraps and unwraps
// inside the token with CKM_AES_GCM. KEKs are token objects too (CKO_DATA,
// private, labelled "<key_label>/kek/<version>", value = the wrapped KEK).
struct Pkcs11Options {
  std::string module_path;  // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;  // the token holding the key
  std::string key_label;    // CKA_LABEL of the master key object
  std::string pin;          // user PIN (from a file or an environment variable)
};

// Generates the master key in the token. AlreadyExists if an object with
// `key_label` exists. Errors name the module, token and label, never the PIN.
absl::Status CreatePkcs11MasterKey(const Pkcs11Options& options);

// Opens the token and finds the master key. Clear errors, never naming the
// PIN: module not loadable, no token with that label, wrong PIN
// (PermissionDenied), no key with that label (NotFound), a key that is
// extractable or not sensitive (FailedPrecondition).
absl::StatusOr<std::unique_ptr<MasterKeyProvider>> OpenPkcs11MasterKey(
    const Pkcs11Options& options, platform::Random& random);

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_MASTER_KEY_H_
