#ifndef SANDYQ_SERVER_PLATFORM_RANDOM_H_
#define SANDYQ_SERVER_PLATFORM_RANDOM_H_

#include <cstdint>
#include <string>

#include "absl/types/span.h"

namespace sandyq::platform {

// A source of cryptographically secure random bytes: key material, nonces and
// tokens all come from here. Implementations are thread-safe.
// Tests use tests/fakes/fake_random.h, which is deterministic.
class Random {
 public:
  virtual ~Random() = default;

  // Fills `out` completely. Aborts the process if the kernel's generator
  // fails: continuing without randomness would be unsafe.
  virtual void Fill(absl::Span<uint8_t> out) = 0;

  // `n` random bytes.
  std::string Bytes(size_t n);

  // A uniform integer in [0, bound); bound > 0. No modulo bias.
  uint64_t Uniform(uint64_t bound);
};

// The kernel's CSPRNG through getrandom(2). Never destroyed.
Random& SystemRandom();

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_RANDOM_H_
