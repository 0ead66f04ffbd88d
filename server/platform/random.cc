#include "server/platform/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace sandyq::platform {

std::string Random::Bytes(size_t n) {
  std::string out(n, '\0');
  Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

uint64_t Random::Uniform(uint64_t bound) {
  // Rejection sampling: draw from the largest multiple of `bound`.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() -
                         std::numeric_limits<uint64_t>::max() % bound;
  for (;;) {
    uint64_t x;
    Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(&x), sizeof(x)));
    if (x < limit) return x % bound;
  }
}

namespace {

class KernelRandom final : public Random {
 public:
  void Fill(absl::Span<uint8_t> out) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fputs("sandyq: getrandom failed; refusing to continue\n", stderr);
        std::abort();
      }
      done += static_cast<size_t>(n);
    }
  }
};

}  // namespace

Random& SystemRandom() {
  static KernelRandom* random = new KernelRandom;
  return *random;
}

}  // namespace sandyq::platform
