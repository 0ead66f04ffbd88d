#include "server/crypto/secret.h"

#include <openssl/crypto.h>

#include <cstring>
#include <utility>

#include "absl/types/span.h"

namespace sandyq::crypto {

SecretBytes::SecretBytes(absl::string_view bytes) : size_(bytes.size()) {
  if (size_ == 0) return;
  data_ = new uint8_t[size_];
  std::memcpy(data_, bytes.data(), size_);
}

SecretBytes::SecretBytes(size_t size) : size_(size) {
  if (size_ == 0) return;
  data_ = new uint8_t[size_]();
}

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

void SecretBytes::Wipe() {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_, size_);
    delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
}

}  // namespace sandyq::crypto
