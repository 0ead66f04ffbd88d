#ifndef SANDYQ_TESTS_UNIT_CRYPTO_TEST_UTIL_H_
#define SANDYQ_TESTS_UNIT_CRYPTO_TEST_UTIL_H_

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/hash.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"

namespace sandyq::crypto::testing {

// Shared with the other suites (tests/fakes/).
using ::sandyq::testing::GetStatus;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;

// The one error every failed decryption returns.
MATCHER(IsDecryptionFailure, "") {
  const absl::Status& s = GetStatus(arg);
  return s.code() == absl::StatusCode::kDataLoss &&
         s.message() == "decryption failed";
}

// Raw bytes from hex; fails the test on bad input.
inline std::string Hex(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = FromHex(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

// Permission bits of `path`, or -1 if it cannot be stat'ed.
inline int FileMode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

}  // namespace sandyq::crypto::testing

#endif  // SANDYQ_TESTS_UNIT_CRYPTO_TEST_UTIL_H_
