#ifndef SANDYQ_TESTS_FAKES_TEMP_DIR_H_
#define SANDYQ_TESTS_FAKES_TEMP_DIR_H_

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace sandyq::testing {

// A fresh empty directory (mode 0700) under ::testing::TempDir(), unique to
// the running test and process, removed with everything in it when the
// object dies. Construct it inside a test (it names itself after the test).
class ScopedTempDir {
 public:
  ScopedTempDir() {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    std::string base = ::testing::TempDir();
    if (!base.empty() && base.back() == '/') base.pop_back();
    path_ = absl::StrCat(base, "/sandyq_", info->test_suite_name(), "_",
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

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_TEMP_DIR_H_
