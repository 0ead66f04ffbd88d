#ifndef SANDYQ_TESTS_UNIT_CRYPTO_TEST_UTIL_H_
#define SANDYQ_TESTS_UNIT_CRYPTO_TEST_UTIL_H_

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/hash.h"

namespace sandyq::crypto::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an absl::Status or absl::StatusOr<T> with `code` (and, when given,
// exactly `message`).
MATCHER_P(StatusIs, code, "") { return GetStatus(arg).code() == code; }
MATCHER_P2(StatusIs, code, message, "") {
  const absl::Status& s = GetStatus(arg);
  return s.code() == code && s.message() == message;
}
MATCHER(IsOk, "") { return GetStatus(arg).ok(); }

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

// A fresh empty directory under ::testing::TempDir(), unique to the running
// test and process, removed when the object dies.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    std::string base = ::testing::TempDir();
    if (!base.empty() && base.back() == '/') base.pop_back();
    path_ = absl::StrCat(base, "/sandyq_crypto_", info->test_suite_name(), "_",
                         info->name(), "_", ::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
    ::chmod(path_.c_str(), 0700);
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(absl::string_view name) const {
    return absl::StrCat(path_, "/", name);
  }

 private:
  std::string path_;
};

// Permission bits of `path`, or -1 if it cannot be stat'ed.
inline int FileMode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

}  // namespace sandyq::crypto::testing

#endif  // SANDYQ_TESTS_UNIT_CRYPTO_TEST_UTIL_H_
