#include "server/crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "server/crypto/internal/aead_internal.h"
#include "server/crypto/internal/ssl_util.h"

namespace sandyq::crypto {
namespace {

constexpr size_t kMaxInputSize =
    static_cast<size_t>(std::numeric_limits<int>::max());

// AES-256-GCM, fetched from the default provider once per process. Never
// freed: threads may still seal while the process exits. Null if the
// provider lacks it.
const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* const cipher =
      EVP_CIPHER_fetch(/*libctx=*/nullptr, "AES-256-GCM", /*propq=*/nullptr);
  return cipher;
}

// One of this thread's cipher contexts (one per direction), reused by every
// call: a fresh context per message costs the allocation, the provider setup
// and the key schedule. `keyed_for` is the id of the Aead whose key the
// context holds (0: none), so a call with the same Aead re-initializes only
// the nonce. Null `ctx` only if allocation failed.
struct ThreadCipher {
  const internal::EvpCipherCtxPtr ctx{EVP_CIPHER_CTX_new()};
  uint64_t keyed_for = 0;
};

ThreadCipher& ThreadEncrypter() {
  thread_local ThreadCipher cipher;
  return cipher;
}

ThreadCipher& ThreadDecrypter() {
  thread_local ThreadCipher cipher;
  return cipher;
}

// Prepares `tc` for one message under `key` (kKeySize bytes, belonging to the
// Aead with `id`; 0: an anonymous key that is never cached) and `nonce`.
bool InitForMessage(ThreadCipher& tc, bool encrypt, uint64_t id,
                    const uint8_t* key, const uint8_t* nonce) {
  const EVP_CIPHER* cipher = Aes256Gcm();
  if (tc.ctx == nullptr || cipher == nullptr) return false;
  const bool keyed = id != 0 && tc.keyed_for == id;
  tc.keyed_for = 0;  // until this init succeeds
  const EVP_CIPHER* init_cipher = keyed ? nullptr : cipher;
  const uint8_t* init_key = keyed ? nullptr : key;
  const int ok =
      encrypt ? EVP_EncryptInit_ex2(tc.ctx.get(), init_cipher, init_key, nonce,
                                    /*params=*/nullptr)
              : EVP_DecryptInit_ex2(tc.ctx.get(), init_cipher, init_key, nonce,
                                    /*params=*/nullptr);
  if (ok != 1) return false;
  tc.keyed_for = id;
  return true;
}

absl::Status DecryptionFailed() {
  // Whatever OpenSSL queued must not surface later in an unrelated message.
  ERR_clear_error();
  return absl::DataLossError("decryption failed");
}

// Seals with `nonce` (kNonceSize bytes) under `key` (kKeySize bytes) of the
// Aead with `id` (see InitForMessage).
absl::StatusOr<std::string> Seal(uint64_t id, const uint8_t* key,
                                 const uint8_t* nonce,
                                 absl::string_view plaintext,
                                 absl::string_view associated_data) {
  if (plaintext.size() > kMaxInputSize ||
      associated_data.size() > kMaxInputSize) {
    return absl::InvalidArgumentError("AEAD input too large");
  }
  std::string sealed(Aead::kOverhead + plaintext.size(), '\0');
  uint8_t* out = reinterpret_cast<uint8_t*>(sealed.data());
  out[0] = Aead::kAeadFormatVersion;
  std::memcpy(out + 1, nonce, Aead::kNonceSize);
  uint8_t* ciphertext = out + 1 + Aead::kNonceSize;
  uint8_t* tag = ciphertext + plaintext.size();

  ThreadCipher& tc = ThreadEncrypter();
  EVP_CIPHER_CTX* ctx = tc.ctx.get();
  int len = 0;
  if (!InitForMessage(tc, /*encrypt=*/true, id, key, nonce)) {
    return internal::OpenSslInternalError("AES-256-GCM init");
  }
  if (!associated_data.empty() &&
      EVP_EncryptUpdate(
          ctx, nullptr, &len,
          reinterpret_cast<const uint8_t*>(associated_data.data()),
          static_cast<int>(associated_data.size())) != 1) {
    return internal::OpenSslInternalError("AES-256-GCM associated data");
  }
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx, ciphertext, &len,
                        reinterpret_cast<const uint8_t*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    return internal::OpenSslInternalError("AES-256-GCM encrypt");
  }
  // GCM is a stream mode: Final emits no bytes, it completes the tag.
  if (EVP_EncryptFinal_ex(ctx, tag, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
                          static_cast<int>(Aead::kTagSize), tag) != 1) {
    return internal::OpenSslInternalError("AES-256-GCM tag");
  }
  return sealed;
}

}  // namespace

uint64_t Aead::NewId() {
  static std::atomic<uint64_t> next_id{1};
  return next_id.fetch_add(1, std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<Aead>> Aead::New(const SecretBytes& key,
                                                platform::Random& random) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError("AES-256-GCM key must be 32 bytes");
  }
  if (Aes256Gcm() == nullptr) {
    return internal::OpenSslInternalError("EVP_CIPHER_fetch(AES-256-GCM)");
  }
  return std::unique_ptr<Aead>(new Aead(key, random));
}

absl::StatusOr<std::string> Aead::Encrypt(
    absl::string_view plaintext, absl::string_view associated_data) const {
  uint8_t nonce[kNonceSize];
  random_.Fill(absl::MakeSpan(nonce));
  return Seal(id_, key_.data(), nonce, plaintext, associated_data);
}

absl::StatusOr<std::string> Aead::Decrypt(
    absl::string_view sealed, absl::string_view associated_data) const {
  if (sealed.size() < kOverhead ||
      static_cast<uint8_t>(sealed[0]) != kAeadFormatVersion) {
    return DecryptionFailed();
  }
  const size_t ciphertext_size = sealed.size() - kOverhead;
  if (ciphertext_size > kMaxInputSize ||
      associated_data.size() > kMaxInputSize) {
    return DecryptionFailed();
  }
  ThreadCipher& tc = ThreadDecrypter();
  EVP_CIPHER_CTX* ctx = tc.ctx.get();

  const uint8_t* in = reinterpret_cast<const uint8_t*>(sealed.data());
  const uint8_t* nonce = in + 1;
  const uint8_t* ciphertext = nonce + kNonceSize;
  uint8_t tag[kTagSize];
  std::memcpy(tag, ciphertext + ciphertext_size, kTagSize);

  std::string plaintext(ciphertext_size, '\0');
  uint8_t* out = reinterpret_cast<uint8_t*>(plaintext.data());
  int len = 0;
  bool ok =
      InitForMessage(tc, /*encrypt=*/false, id_, key_.data(), nonce) &&
      (associated_data.empty() ||
       EVP_DecryptUpdate(
           ctx, nullptr, &len,
           reinterpret_cast<const uint8_t*>(associated_data.data()),
           static_cast<int>(associated_data.size())) == 1) &&
      (ciphertext_size == 0 ||
       EVP_DecryptUpdate(ctx, out, &len, ciphertext,
                         static_cast<int>(ciphertext_size)) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
                          static_cast<int>(kTagSize), tag) == 1 &&
      EVP_DecryptFinal_ex(ctx, out + ciphertext_size, &len) == 1;
  if (!ok) {
    // The bytes were decrypted before the tag was checked: unauthenticated
    // plaintext must not linger.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return DecryptionFailed();
  }
  return plaintext;
}

namespace internal {

absl::StatusOr<std::string> SealWithNonceForTesting(
    const SecretBytes& key, absl::string_view nonce,
    absl::string_view plaintext, absl::string_view associated_data) {
  if (key.size() != Aead::kKeySize || nonce.size() != Aead::kNonceSize) {
    return absl::InvalidArgumentError("bad key or nonce size");
  }
  return Seal(/*id=*/0, key.data(),
              reinterpret_cast<const uint8_t*>(nonce.data()), plaintext,
              associated_data);
}

}  // namespace internal
}  // namespace sandyq::crypto
