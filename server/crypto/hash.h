#ifndef SANDYQ_SERVER_CRYPTO_HASH_H_
#define SANDYQ_SERVER_CRYPTO_HASH_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/crypto/secret.h"

namespace sandyq::crypto {

inline constexpr size_t kSha256Size = 32;

// SHA-256 of `data`: 32 raw bytes. Thread-safe.
std::string Sha256(absl::string_view data);

// SHA-256 over the concatenation of `a` and `b`, without copying them.
std::string Sha256(absl::string_view a, absl::string_view b);

// A keyed pseudo-random function: HMAC-SHA256 (32-byte output). Used for the
// subject hash, the blind index and the dedup key, each under its own key.
// Thread-safe; the keyed OpenSSL context is prepared once, and each thread
// reuses its own copy for every call.
class Prf {
 public:
  // InvalidArgument if the key is shorter than 32 bytes.
  static absl::StatusOr<std::unique_ptr<Prf>> New(const SecretBytes& key);
  ~Prf();

  // 32 raw bytes.
  std::string Compute(absl::string_view data) const;

  Prf(const Prf&) = delete;
  Prf& operator=(const Prf&) = delete;

 private:
  struct State;
  explicit Prf(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// HKDF-SHA256 (RFC 5869) with an empty salt: `size` bytes derived from `root`
// for the purpose named by `label`. Distinct labels give independent keys.
// `size` must be in [1, 255 * 32]; anything else is a programming error and
// aborts the process.
SecretBytes DeriveKey(const SecretBytes& root, absl::string_view label,
                      size_t size);

// Lower-case hex of raw bytes, for display (hashes, never keys).
std::string ToHex(absl::string_view bytes);
// Inverse of ToHex; InvalidArgument on odd length or a non-hex character.
absl::StatusOr<std::string> FromHex(absl::string_view hex);

// Constant-time equality of two byte strings of equal length; false if the
// lengths differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_HASH_H_
