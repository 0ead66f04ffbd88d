#ifndef SANDYQ_SERVER_CRYPTO_INTERNAL_AEAD_INTERNAL_H_
#define SANDYQ_SERVER_CRYPTO_INTERNAL_AEAD_INTERNAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/crypto/secret.h"

namespace sandyq::crypto::internal {

// Seals `plaintext` in the Aead sealed format (version || nonce ||
// ciphertext || tag) under a caller-chosen nonce. For checking published
// AES-256-GCM vectors only: reusing a nonce under one key destroys GCM's
// security, so production code must use Aead::Encrypt, which draws a fresh
// random nonce. InvalidArgument unless key is Aead::kKeySize bytes and nonce
// Aead::kNonceSize bytes.
absl::StatusOr<std::string> SealWithNonceForTesting(
    const SecretBytes& key, absl::string_view nonce,
    absl::string_view plaintext, absl::string_view associated_data);

}  // namespace sandyq::crypto::internal

#endif  // SANDYQ_SERVER_CRYPTO_INTERNAL_AEAD_INTERNAL_H_
