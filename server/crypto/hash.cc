#include "server/crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/crypto/internal/hash_internal.h"
#include "server/crypto/internal/ssl_util.h"

namespace sandyq::crypto {
namespace {

// Algorithms fetched once per process and never freed (threads may still
// use them while the process exits).
const EVP_MD* FetchedSha256() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) internal::OpenSslFatal("EVP_MD_fetch(SHA256)");
  return md;
}

EVP_MAC* FetchedHmac() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

EVP_KDF* FetchedHkdf() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

// OSSL_PARAM takes non-const pointers even for inputs it only reads.
OSSL_PARAM OctetParam(const char* name, absl::string_view bytes) {
  return OSSL_PARAM_construct_octet_string(
      name, const_cast<char*>(bytes.data()), bytes.size());
}

OSSL_PARAM DigestParam() {
  static char kSha256Name[] = "SHA256";
  return OSSL_PARAM_construct_utf8_string(OSSL_ALG_PARAM_DIGEST, kSha256Name,
                                          0);
}

// This thread's HMAC contexts: copies of a few HmacSha256 objects' keyed
// templates, each reset to its key (EVP_MAC_init without a key) for every
// call. Duplicating the template instead costs three digest contexts and a
// copy of the key per call. A tokenize uses three keys in turn (subject hash,
// blind index, dedup key); a fifth key replaces the least recently used slot.
// A slot of a destroyed HmacSha256 keeps its copy until it is replaced or the
// thread ends; OpenSSL clears the key when it frees the context.
struct ThreadMacs {
  struct Slot {
    uint64_t id = 0;  // the HmacSha256 whose key `ctx` holds; 0: none
    uint64_t last_used = 0;
    internal::EvpMacCtxPtr ctx;
  };
  std::array<Slot, 4> slots;
  uint64_t calls = 0;
};

ThreadMacs& ThreadMacContexts() {
  thread_local ThreadMacs macs;
  return macs;
}

}  // namespace

std::string Sha256(absl::string_view data) { return Sha256(data, ""); }

std::string Sha256(absl::string_view a, absl::string_view b) {
  // One digest context per thread, re-initialized per call (EVP_Digest would
  // allocate a fresh one every time).
  thread_local const internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  std::string out(kSha256Size, '\0');
  unsigned int len = 0;
  if (ctx == nullptr ||
      EVP_DigestInit_ex2(ctx.get(), FetchedSha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(
                                        out.data()),
                         &len) != 1 ||
      len != kSha256Size) {
    internal::OpenSslFatal("SHA-256");
  }
  return out;
}

namespace internal {

absl::StatusOr<std::unique_ptr<HmacSha256>> HmacSha256::New(
    absl::string_view key) {
  EVP_MAC* mac = FetchedHmac();
  if (mac == nullptr) return OpenSslInternalError("EVP_MAC_fetch(HMAC)");
  EvpMacCtxPtr keyed(EVP_MAC_CTX_new(mac));
  if (keyed == nullptr) return OpenSslInternalError("EVP_MAC_CTX_new");
  OSSL_PARAM params[] = {DigestParam(), OSSL_PARAM_construct_end()};
  // A zero-length key is valid HMAC, but OpenSSL wants a non-null pointer.
  static const unsigned char kEmpty[1] = {0};
  const unsigned char* key_bytes =
      key.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(keyed.get(), key_bytes, key.size(), params) != 1) {
    return OpenSslInternalError("HMAC-SHA256 init");
  }
  static std::atomic<uint64_t> next_id{1};
  return std::unique_ptr<HmacSha256>(new HmacSha256(
      std::move(keyed), next_id.fetch_add(1, std::memory_order_relaxed)));
}

std::string HmacSha256::Compute(absl::string_view data) const {
  ThreadMacs& macs = ThreadMacContexts();
  ThreadMacs::Slot* slot = nullptr;
  for (ThreadMacs::Slot& s : macs.slots) {
    if (s.id == id_) slot = &s;
  }
  bool ready = false;
  if (slot != nullptr) {
    // Back to the state right after keying: the key's inner and outer pads
    // are kept, only the running digest is reset.
    ready = EVP_MAC_init(slot->ctx.get(), nullptr, 0, nullptr) == 1;
  } else {
    slot = &macs.slots[0];
    for (ThreadMacs::Slot& s : macs.slots) {
      if (s.last_used < slot->last_used) slot = &s;
    }
    slot->id = 0;
    // The template was keyed and never used: its copy is ready as it is.
    slot->ctx.reset(EVP_MAC_CTX_dup(keyed_.get()));
    ready = slot->ctx != nullptr;
    if (ready) slot->id = id_;
  }
  slot->last_used = ++macs.calls;
  EVP_MAC_CTX* ctx = slot->ctx.get();
  std::string out(kSha256Size, '\0');
  size_t len = 0;
  if (!ready ||
      EVP_MAC_update(ctx, reinterpret_cast<const uint8_t*>(data.data()),
                     data.size()) != 1 ||
      EVP_MAC_final(ctx, reinterpret_cast<uint8_t*>(out.data()), &len,
                    out.size()) != 1 ||
      len != kSha256Size) {
    OpenSslFatal("HMAC-SHA256");
  }
  return out;
}

absl::StatusOr<SecretBytes> HkdfSha256(absl::string_view ikm,
                                       absl::string_view salt,
                                       absl::string_view info, size_t size) {
  if (size == 0 || size > 255 * kSha256Size) {
    return absl::InvalidArgumentError(
        absl::StrCat("HKDF-SHA256 output size ", size, " not in [1, 8160]"));
  }
  EVP_KDF* kdf = FetchedHkdf();
  if (kdf == nullptr) return OpenSslInternalError("EVP_KDF_fetch(HKDF)");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (ctx == nullptr) return OpenSslInternalError("EVP_KDF_CTX_new");
  OSSL_PARAM params[5];
  OSSL_PARAM* p = params;
  *p++ = DigestParam();
  *p++ = OctetParam(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) *p++ = OctetParam(OSSL_KDF_PARAM_SALT, salt);
  if (!info.empty()) *p++ = OctetParam(OSSL_KDF_PARAM_INFO, info);
  *p = OSSL_PARAM_construct_end();
  SecretBytes out(size);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return OpenSslInternalError("HKDF-SHA256");
  }
  return out;
}

}  // namespace internal

struct Prf::State {
  std::unique_ptr<internal::HmacSha256> hmac;
};

Prf::Prf(std::unique_ptr<State> state) : state_(std::move(state)) {}
Prf::~Prf() = default;

absl::StatusOr<std::unique_ptr<Prf>> Prf::New(const SecretBytes& key) {
  if (key.size() < kSha256Size) {
    return absl::InvalidArgumentError("PRF key must be at least 32 bytes");
  }
  absl::StatusOr<std::unique_ptr<internal::HmacSha256>> hmac =
      internal::HmacSha256::New(key.view());
  if (!hmac.ok()) return hmac.status();
  auto state = std::make_unique<State>();
  state->hmac = *std::move(hmac);
  return std::unique_ptr<Prf>(new Prf(std::move(state)));
}

std::string Prf::Compute(absl::string_view data) const {
  return state_->hmac->Compute(data);
}

SecretBytes DeriveKey(const SecretBytes& root, absl::string_view label,
                      size_t size) {
  absl::StatusOr<SecretBytes> key =
      internal::HkdfSha256(root.view(), /*salt=*/"", label, size);
  if (!key.ok()) internal::OpenSslFatal(key.status().message());
  return *std::move(key);
}

std::string ToHex(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 0x0f];
  }
  return out;
}

absl::StatusOr<std::string> FromHex(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError("hex string has an odd length");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("non-hex character at offset ", hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sandyq::crypto
