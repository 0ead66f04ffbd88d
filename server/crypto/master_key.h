#ifndef SANDYQ_SERVER_CRYPTO_MASTER_KEY_H_
#define SANDYQ_SERVER_CRYPTO_MASTER_KEY_H_

#include <memory>
#include <string>

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
// `context` is bound into the wrapping as associated data (e.g. "kek:3"), so
// a wrapped key cannot be swapped for another. Unwrap fails with the generic
// DataLoss("decryption failed") on any mismatch. Thread-safe.
class MasterKeyProvider {
 public:
  virtual ~MasterKeyProvider() = default;

  // A description for logs and errors, with no key material, e.g.
  // "file:/var/lib/sandyq/master.key".
  virtual std::string Describe() const = 0;

  virtual absl::StatusOr<std::string> Wrap(const SecretBytes& key,
                                           absl::string_view context) const = 0;
  virtual absl::StatusOr<SecretBytes> Unwrap(
      absl::string_view wrapped, absl::string_view context) const = 0;
};

// File master key (development). The file is text:
//   sandyq-master-key-v1
//   <64 lower-case hex digits>
// Creates a new one with mode 0600; AlreadyExists if `path` exists.
absl::Status CreateFileMasterKey(const std::string& path,
                                 platform::Random& random);

// Opens a file master key. FailedPrecondition if the file is readable by its
// group or others (it must be 0600 or stricter), NotFound if missing,
// InvalidArgument if malformed. The message names the path, never the key.
absl::StatusOr<std::unique_ptr<MasterKeyProvider>> OpenFileMasterKey(
    const std::string& path, platform::Random& random);

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_MASTER_KEY_H_
