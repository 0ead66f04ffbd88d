#include "server/platform/memory_limit.h"

#include <string>

#include "gtest/gtest.h"
#include "server/platform/files.h"
#include "tests/fakes/temp_dir.h"

namespace sandyq::platform {
namespace {

using ::sandyq::testing::ScopedTempDir;

class CgroupMemoryMaxTest : public ::testing::Test {
 protected:
  // Writes `content` as DIR/memory.max under the fake cgroup root.
  void SetMax(const std::string& dir, const std::string& content) {
    const std::string path = root_.File(dir);
    ASSERT_TRUE(MakeDirs(path, 0700).ok());
    ASSERT_TRUE(WriteFileAtomic(path + "/memory.max", content, 0600).ok());
  }
  ScopedTempDir root_;
};

TEST_F(CgroupMemoryMaxTest, TakesTheSmallestLimitOnTheWayDown) {
  SetMax("system.slice", "4294967296\n");
  SetMax("system.slice/sandyqd.service", "1073741824\n");
  EXPECT_EQ(CgroupMemoryMax("0::/system.slice/sandyqd.service\n", root_.path()),
            1073741824u);
  // A parent's limit applies to its children.
  SetMax("system.slice/sandyqd.service", "max\n");
  EXPECT_EQ(CgroupMemoryMax("0::/system.slice/sandyqd.service\n", root_.path()),
            4294967296u);
}

TEST_F(CgroupMemoryMaxTest, NoLimitIsZero) {
  SetMax("user.slice", "max\n");
  EXPECT_EQ(CgroupMemoryMax("0::/user.slice\n", root_.path()), 0u);
  // Files missing, or cgroup v1 only.
  EXPECT_EQ(CgroupMemoryMax("0::/elsewhere\n", root_.path()), 0u);
  EXPECT_EQ(CgroupMemoryMax("12:memory:/user.slice\n", root_.path()), 0u);
  EXPECT_EQ(CgroupMemoryMax("", root_.path()), 0u);
}

TEST(MemoryLimitTest, IsKnownHere) { EXPECT_GT(MemoryLimitBytes(), 0u); }

}  // namespace
}  // namespace sandyq::platform
