#ifndef SANDYQ_SERVER_CRYPTO_AEAD_H_
#define SANDYQ_SERVER_CRYPTO_AEAD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/crypto/secret.h"
#include "server/platform/random.h"

namespace sandyq::crypto {

// Authenticated encryption with associated data: AES-256-GCM with a fresh
// random 96-bit nonce per message and a 128-bit tag.
//
// Sealed format (docs/storage-format.md):
//   byte 0       kAeadFormatVersion (0x01)
//   bytes 1..12  nonce
//   then         ciphertext (same length as the plaintext)
//   last 16      GCM tag
//
// Decryption fails with one generic DataLoss("decryption failed") for every
// cause (wrong key, wrong associated data, altered bytes, truncation), so
// errors are no oracle. Thread-safe: OpenSSL cipher contexts are reused per
// thread, and the cipher is fetched once per process.
class Aead {
 public:
  static constexpr uint8_t kAeadFormatVersion = 0x01;
  static constexpr size_t kKeySize = 32;
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kOverhead = 1 + kNonceSize + kTagSize;

  // InvalidArgument unless key.size() == kKeySize. `random` supplies nonces
  // and must outlive the Aead.
  static absl::StatusOr<std::unique_ptr<Aead>> New(const SecretBytes& key,
                                                   platform::Random& random);

  absl::StatusOr<std::string> Encrypt(absl::string_view plaintext,
                                      absl::string_view associated_data) const;
  absl::StatusOr<std::string> Decrypt(absl::string_view sealed,
                                      absl::string_view associated_data) const;

  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;

 private:
  Aead(SecretBytes key, platform::Random& random)
      : key_(std::move(key)), random_(random), id_(NewId()) {}
  // A process-unique, non-zero id: a thread's cipher context remembers which
  // Aead's key it holds and then re-initializes only the nonce.
  static uint64_t NewId();

  const SecretBytes key_;
  platform::Random& random_;
  const uint64_t id_;
};

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_AEAD_H_
