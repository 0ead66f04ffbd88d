#include "server/platform/files.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"

namespace sandyq::platform {
namespace {

using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;
using ::testing::HasSubstr;

TEST(CheckOwnerOnlyTest, AcceptsOwnerOnlyFilesAndDirectories) {
  ScopedTempDir dir;
  const std::string file = dir.File("key");
  std::ofstream(file) << "secret";
  for (mode_t mode : {0600, 0400, 0700}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    EXPECT_TRUE(CheckOwnerOnly(file).ok()) << std::oct << mode;
  }
  const std::string sub = dir.File("db");
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(sub.c_str(), 0700), 0);
  EXPECT_TRUE(CheckOwnerOnly(sub).ok());
}

TEST(CheckOwnerOnlyTest, RefusesAnythingGroupOrOthersMayUse) {
  ScopedTempDir dir;
  const std::string file = dir.File("key");
  std::ofstream(file) << "secret";
  for (mode_t mode : {0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    const absl::Status s = CheckOwnerOnly(file);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition))
        << std::oct << mode;
    EXPECT_THAT(std::string(s.message()), HasSubstr("chmod go= " + file));
  }
  const std::string sub = dir.File("db");
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  for (mode_t mode : {0750, 0705, 0710, 0701, 0755}) {
    ASSERT_EQ(::chmod(sub.c_str(), mode), 0);
    const absl::Status s = CheckOwnerOnly(sub);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition))
        << std::oct << mode;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("accessible to its group or others"));
  }
}

TEST(CheckOwnerOnlyTest, MissingPathIsNotFound) {
  ScopedTempDir dir;
  EXPECT_THAT(CheckOwnerOnly(dir.File("absent")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(CheckNotRootTest, RefusesRootOnly) {
  const absl::Status root = CheckNotRoot(0);
  EXPECT_THAT(root, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(root.message()), HasSubstr("--allow_root"));
  EXPECT_TRUE(CheckNotRoot(1000).ok());
  EXPECT_TRUE(CheckNotRoot(65534).ok());
}

// In a child, so the test process keeps its settings.
TEST(DisableCoreDumpsDeathTest, MakesTheProcessNonDumpableWithNoCoreLimit) {
  EXPECT_EXIT(
      {
        if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) std::_Exit(10);
        if (!DisableCoreDumps().ok()) std::_Exit(11);
        if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) std::_Exit(12);
        struct rlimit core;
        if (::getrlimit(RLIMIT_CORE, &core) != 0) std::_Exit(13);
        if (core.rlim_cur != 0 || core.rlim_max != 0) std::_Exit(14);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace sandyq::platform
