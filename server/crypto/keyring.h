#ifndef SANDYQ_SERVER_CRYPTO_KEYRING_H_
#define SANDYQ_SERVER_CRYPTO_KEYRING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/crypto/aead.h"
#include "server/crypto/secret.h"
#include "server/platform/random.h"

namespace sandyq::crypto {

// A subject data key wrapped by one KEK version.
struct WrappedKey {
  uint32_t kek_version = 0;
  std::string bytes;  // Aead sealed format
};

// The unwrapped key-encryption keys (KEKs), by version, exactly one of them
// primary. New subject data keys (DEKs) are wrapped with the primary; any
// version present can unwrap (the way Tink's keyset wraps with its primary and
// decrypts by key id).
//
// Immutable after Build(); share it as std::shared_ptr<const Keyring> and
// swap in a new one to rotate. Thread-safe.
class Keyring {
 public:
  class Builder {
   public:
    explicit Builder(platform::Random& random) : random_(random) {}
    // InvalidArgument on a duplicate version, version 0 or a key that is not
    // 32 bytes.
    absl::Status Add(uint32_t version, SecretBytes kek, bool primary);
    // FailedPrecondition unless exactly one key is primary.
    absl::StatusOr<std::shared_ptr<const Keyring>> Build();

   private:
    platform::Random& random_;
    std::map<uint32_t, std::unique_ptr<Aead>> keys_;
    uint32_t primary_ = 0;
    int primaries_ = 0;
    absl::Status error_;
  };

  uint32_t primary_version() const { return primary_; }
  bool HasVersion(uint32_t version) const { return keys_.count(version) > 0; }

  // Wraps `dek` under the primary KEK, binding `context` (the subject hash)
  // as associated data.
  absl::StatusOr<WrappedKey> WrapDek(const SecretBytes& dek,
                                     absl::string_view context) const;
  // NotFound if the version is not in the ring (destroyed), DataLoss
  // ("decryption failed") if the bytes or context do not match.
  absl::StatusOr<SecretBytes> UnwrapDek(const WrappedKey& wrapped,
                                        absl::string_view context) const;

 private:
  Keyring() = default;
  std::map<uint32_t, std::unique_ptr<Aead>> keys_;
  uint32_t primary_ = 0;
};

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_KEYRING_H_
