#ifndef SANDYQ_SERVER_CRYPTO_INTERNAL_HASH_INTERNAL_H_
#define SANDYQ_SERVER_CRYPTO_INTERNAL_HASH_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/crypto/internal/ssl_util.h"
#include "server/crypto/secret.h"

namespace sandyq::crypto::internal {

// HMAC-SHA256 under a key of any length, keyed once (EVP_MAC "HMAC"). Each
// thread keeps its own copies of the keyed context and resets one for every
// call (hash.cc, ThreadMacs), so the request path allocates no OpenSSL
// context. Prf wraps it with a minimum key length; tests use it directly for
// the RFC 4231 vectors, whose keys are shorter. Thread-safe: the keyed
// template is only read after New().
class HmacSha256 {
 public:
  static absl::StatusOr<std::unique_ptr<HmacSha256>> New(absl::string_view key);

  // 32 raw bytes. Aborts if OpenSSL cannot allocate.
  std::string Compute(absl::string_view data) const;

  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

 private:
  HmacSha256(EvpMacCtxPtr keyed, uint64_t id)
      : keyed_(std::move(keyed)), id_(id) {}
  const EvpMacCtxPtr keyed_;
  // Names this key in the threads' context caches; never reused.
  const uint64_t id_;
};

// HKDF-SHA256 (RFC 5869, extract then expand) with an explicit salt (empty:
// none). InvalidArgument unless 1 <= size <= 255 * 32.
absl::StatusOr<SecretBytes> HkdfSha256(absl::string_view ikm,
                                       absl::string_view salt,
                                       absl::string_view info, size_t size);

}  // namespace sandyq::crypto::internal

#endif  // SANDYQ_SERVER_CRYPTO_INTERNAL_HASH_INTERNAL_H_
