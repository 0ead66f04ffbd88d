#include "server/crypto/signer.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/crypto/internal/ssl_util.h"

namespace sandyq::crypto {

using internal::BioPtr;
using internal::EvpMdCtxPtr;
using internal::EvpPkeyPtr;

struct Ed25519Signer::State {
  EvpPkeyPtr key;  // private; only read after construction
};

namespace {

absl::Status DoesNotVerify() {
  return absl::DataLossError("signature does not verify");
}

}  // namespace

Ed25519Signer::Ed25519Signer(std::unique_ptr<State> state, SecretBytes seed,
                             std::string public_key)
    : state_(std::move(state)),
      seed_(std::move(seed)),
      public_key_(std::move(public_key)) {}

Ed25519Signer::~Ed25519Signer() = default;

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::Generate(
    platform::Random& random) {
  return FromSeed(SecretBytes::Random(kSeedSize, random));
}

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::FromSeed(
    const SecretBytes& seed) {
  if (seed.size() != kSeedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 seed is ", kSeedSize, " bytes"));
  }
  EvpPkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                              seed.data(), seed.size()));
  if (key == nullptr) {
    return internal::OpenSslInternalError("EVP_PKEY_new_raw_private_key");
  }
  std::string public_key(kPublicKeySize, '\0');
  size_t public_size = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(),
                                  reinterpret_cast<uint8_t*>(public_key.data()),
                                  &public_size) != 1 ||
      public_size != kPublicKeySize) {
    return internal::OpenSslInternalError("EVP_PKEY_get_raw_public_key");
  }
  auto state = std::make_unique<State>();
  state->key = std::move(key);
  return std::unique_ptr<Ed25519Signer>(
      new Ed25519Signer(std::move(state), seed, std::move(public_key)));
}

absl::StatusOr<std::string> Ed25519Signer::Sign(
    absl::string_view message) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return internal::OpenSslInternalError("EVP_MD_CTX_new");
  // Ed25519 hashes internally: no digest, one-shot only.
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr,
                         state_->key.get()) != 1) {
    return internal::OpenSslInternalError("EVP_DigestSignInit");
  }
  std::string signature(kSignatureSize, '\0');
  size_t size = signature.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<uint8_t*>(signature.data()),
                     &size, reinterpret_cast<const uint8_t*>(message.data()),
                     message.size()) != 1 ||
      size != kSignatureSize) {
    return internal::OpenSslInternalError("EVP_DigestSign");
  }
  return signature;
}

std::string Ed25519Signer::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) internal::OpenSslFatal("BIO_new");
  // Writes the public part only (SubjectPublicKeyInfo).
  if (PEM_write_bio_PUBKEY(bio.get(), state_->key.get()) != 1) {
    internal::OpenSslFatal("PEM_write_bio_PUBKEY");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  if (size <= 0 || data == nullptr) internal::OpenSslFatal("BIO_get_mem_data");
  return std::string(data, static_cast<size_t>(size));
}

absl::Status Ed25519Verify(absl::string_view public_key,
                           absl::string_view message,
                           absl::string_view signature) {
  if (public_key.size() != Ed25519Signer::kPublicKeySize ||
      signature.size() != Ed25519Signer::kSignatureSize) {
    return DoesNotVerify();
  }
  EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const uint8_t*>(public_key.data()), public_key.size()));
  if (key == nullptr) {
    internal::ConsumeOpenSslErrors();
    return DoesNotVerify();
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return internal::OpenSslInternalError("EVP_MD_CTX_new");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) !=
      1) {
    internal::ConsumeOpenSslErrors();
    return DoesNotVerify();
  }
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const uint8_t*>(signature.data()),
      signature.size(), reinterpret_cast<const uint8_t*>(message.data()),
      message.size());
  if (ok != 1) {
    internal::ConsumeOpenSslErrors();
    return DoesNotVerify();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ed25519PublicKeyFromPem(absl::string_view pem) {
  const absl::Status not_ed25519 =
      absl::InvalidArgumentError("not a PEM Ed25519 public key");
  if (pem.size() > (1 << 16)) return not_ed25519;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return internal::OpenSslInternalError("BIO_new_mem_buf");
  EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr || EVP_PKEY_is_a(key.get(), "ED25519") != 1) {
    internal::ConsumeOpenSslErrors();
    return not_ed25519;
  }
  std::string public_key(Ed25519Signer::kPublicKeySize, '\0');
  size_t size = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(),
                                  reinterpret_cast<uint8_t*>(public_key.data()),
                                  &size) != 1 ||
      size != Ed25519Signer::kPublicKeySize) {
    internal::ConsumeOpenSslErrors();
    return not_ed25519;
  }
  return public_key;
}

}  // namespace sandyq::crypto
