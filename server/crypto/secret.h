#ifndef SANDYQ_SERVER_CRYPTO_SECRET_H_
#define SANDYQ_SERVER_CRYPTO_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "server/platform/random.h"

namespace sandyq::crypto {

// Key material. The bytes live in platform::LockedMemoryPool::Default():
// pages locked in RAM (never swapped, as far as RLIMIT_MEMLOCK allows) and
// left out of core dumps. They are wiped (OPENSSL_cleanse) whenever a
// SecretBytes is destroyed, moved from or assigned over, so keys do not
// linger in freed memory. Copy it only where a second live copy is really
// needed. Allocation failure throws std::bad_alloc, as `new` does.
// Not thread-safe for mutation; const access from many threads is fine.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(absl::string_view bytes);
  explicit SecretBytes(size_t size);  // zero-filled
  SecretBytes(const SecretBytes& other);
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes();

  // `size` bytes from `random`.
  static SecretBytes Random(size_t size, platform::Random& random);

  const uint8_t* data() const { return data_; }
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The bytes as a view; never log or copy it into ordinary strings.
  absl::string_view view() const {
    return absl::string_view(reinterpret_cast<const char*>(data_), size_);
  }
  // Constant-time comparison.
  bool Equals(const SecretBytes& other) const;

  // Tests only: `hook` sees every buffer right after it is wiped and before
  // it is released, on the wiping thread (nullptr: none).
  using WipeHook = void (*)(const uint8_t* data, size_t size);
  static void SetWipeHookForTesting(WipeHook hook);

 private:
  void Allocate();
  void Wipe();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_SECRET_H_
