#ifndef SANDYQ_TESTS_FUZZ_FUZZ_CHECK_H_
#define SANDYQ_TESTS_FUZZ_FUZZ_CHECK_H_

// Invariant checks for the fuzz targets: a broken invariant aborts, which
// libFuzzer records as a crash with the input that caused it. Messages name
// the check, never the input (the input file is what reproduces it).

#include <cstdio>
#include <cstdlib>

#define SANDYQ_FUZZ_CHECK(condition)                                     \
  do {                                                                   \
    if (!(condition)) {                                                  \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, \
                   __LINE__, #condition);                                \
      std::abort();                                                      \
    }                                                                    \
  } while (false)

#endif  // SANDYQ_TESTS_FUZZ_FUZZ_CHECK_H_
