#include "server/crypto/secret.h"

#include <openssl/crypto.h>

#include <atomic>
#include <cstring>
#include <new>
#include <utility>

#include "absl/types/span.h"
#include "server/platform/locked_memory.h"

namespace sandyq::crypto {
namespace {

std::atomic<SecretBytes::WipeHook> wipe_hook{nullptr};

}  // namespace

void SecretBytes::Allocate() {
  if (size_ == 0) return;
  // The pool returns zeroed memory.
  data_ = static_cast<uint8_t*>(
      platform::LockedMemoryPool::Default().Allocate(size_));
  if (data_ == nullptr) {
    size_ = 0;
    throw std::bad_alloc();
  }
}

SecretBytes::SecretBytes(absl::string_view bytes) : size_(bytes.size()) {
  Allocate();
  if (size_ != 0) std::memcpy(data_, bytes.data(), size_);
}

SecretBytes::SecretBytes(size_t size) : size_(size) { Allocate(); }

SecretBytes::SecretBytes(const SecretBytes& other)
    : SecretBytes(other.view()) {}

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this == &other) return *this;
  SecretBytes copy(other);
  *this = std::move(copy);
  return *this;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this == &other) return *this;
  Wipe();
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

SecretBytes SecretBytes::Random(size_t size, platform::Random& random) {
  SecretBytes out(size);
  if (size > 0) random.Fill(absl::MakeSpan(out.data_, out.size_));
  return out;
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  // The length is not secret; the contents are compared in constant time.
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_, other.data_, size_) == 0;
}

void SecretBytes::SetWipeHookForTesting(WipeHook hook) { wipe_hook = hook; }

void SecretBytes::Wipe() {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_, size_);
    if (WipeHook hook = wipe_hook.load(std::memory_order_relaxed)) {
      hook(data_, size_);
    }
    platform::LockedMemoryPool::Default().Free(data_, size_);
  }
  data_ = nullptr;
  size_ = 0;
}

}  // namespace sandyq::crypto
