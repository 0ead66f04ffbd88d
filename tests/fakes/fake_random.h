#ifndef SANDYQ_TESTS_FAKES_FAKE_RANDOM_H_
#define SANDYQ_TESTS_FAKES_FAKE_RANDOM_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "server/platform/random.h"

namespace sandyq::testing {

// Deterministic "randomness" (SplitMix64 from a seed), so tests are
// repeatable. Never use outside tests. Thread-safe.
class FakeRandom final : public platform::Random {
 public:
  explicit FakeRandom(uint64_t seed = 1) : state_(seed) {}

  void Fill(absl::Span<uint8_t> out) override {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < out.size(); ++i) {
      if (i % 8 == 0) word_ = Next();
      out[i] = static_cast<uint8_t>(word_ >> (8 * (i % 8)));
    }
  }

 private:
  uint64_t Next() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  absl::Mutex mu_;
  uint64_t state_ ABSL_GUARDED_BY(mu_);
  uint64_t word_ ABSL_GUARDED_BY(mu_) = 0;
};

// Always returns the same bytes: for testing collision handling.
class ConstantRandom final : public platform::Random {
 public:
  explicit ConstantRandom(uint8_t byte) : byte_(byte) {}
  void Fill(absl::Span<uint8_t> out) override {
    for (auto& b : out) b = byte_;
  }

 private:
  const uint8_t byte_;
};

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_FAKE_RANDOM_H_
