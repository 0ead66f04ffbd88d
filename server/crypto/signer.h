#ifndef SANDYQ_SERVER_CRYPTO_SIGNER_H_
#define SANDYQ_SERVER_CRYPTO_SIGNER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/crypto/secret.h"
#include "server/platform/random.h"

namespace sandyq::crypto {

// Ed25519 signatures (RFC 8032), for the access log's checkpoints.
// Thread-safe.
class Ed25519Signer {
 public:
  static constexpr size_t kSeedSize = 32;       // the private key
  static constexpr size_t kPublicKeySize = 32;
  static constexpr size_t kSignatureSize = 64;

  // A new key pair from `random`.
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> Generate(
      platform::Random& random);
  // The key pair of a 32-byte private seed. InvalidArgument otherwise.
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> FromSeed(
      const SecretBytes& seed);
  ~Ed25519Signer();

  // 64-byte signature of `message`.
  absl::StatusOr<std::string> Sign(absl::string_view message) const;
  const SecretBytes& seed() const { return seed_; }
  // Raw 32-byte public key.
  const std::string& public_key() const { return public_key_; }
  // The public key as PEM (SubjectPublicKeyInfo), for auditors.
  std::string PublicKeyPem() const;

  Ed25519Signer(const Ed25519Signer&) = delete;
  Ed25519Signer& operator=(const Ed25519Signer&) = delete;

 private:
  struct State;
  Ed25519Signer(std::unique_ptr<State> state, SecretBytes seed,
                std::string public_key);
  std::unique_ptr<State> state_;
  const SecretBytes seed_;
  const std::string public_key_;
};

// OK if `signature` is a valid Ed25519 signature of `message` under the raw
// 32-byte `public_key`; DataLoss("signature does not verify") otherwise.
absl::Status Ed25519Verify(absl::string_view public_key,
                           absl::string_view message,
                           absl::string_view signature);

// The raw 32-byte key of a PEM Ed25519 public key; InvalidArgument if `pem`
// is not one.
absl::StatusOr<std::string> Ed25519PublicKeyFromPem(absl::string_view pem);

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_SIGNER_H_
