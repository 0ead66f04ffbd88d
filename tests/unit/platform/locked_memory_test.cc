#include "server/platform/locked_memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fakes/smaps.h"

namespace sandyq::platform {
namespace {

using ::sandyq::testing::MappingOf;
using ::sandyq::testing::MayLock;

bool AllZero(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

TEST(LockedMemoryPoolTest, BlocksAreLockedAndLeftOutOfCoreDumps) {
  if (!MayLock(64 * 1024)) GTEST_SKIP() << "RLIMIT_MEMLOCK too small to lock";
  LockedMemoryPool pool;
  for (size_t size : {1, 16, 32, 33, 4096, 4097, 100000}) {
    SCOPED_TRACE(size);
    void* p = pool.Allocate(size);
    ASSERT_NE(p, nullptr);
    const auto m = MappingOf(p);
    ASSERT_TRUE(m.found);
    EXPECT_TRUE(m.locked);
    EXPECT_GT(m.locked_kb, 0);
    EXPECT_TRUE(m.dont_dump);
    pool.Free(p, size);
  }
  EXPECT_EQ(pool.stats().lock_failures, 0u);
  EXPECT_EQ(pool.stats().unlocked_bytes, 0u);
  EXPECT_GT(pool.stats().locked_bytes, 0u);
}

TEST(LockedMemoryPoolTest, BlocksAreZeroedAlignedAndDistinct) {
  LockedMemoryPool pool({.chunk_size = 4096, .warn = {}});
  std::vector<std::pair<void*, size_t>> blocks;
  for (size_t size : {1, 16, 17, 32, 31, 64, 500, 4096, 5000}) {
    for (int i = 0; i < 300; ++i) {  // several chunks per class
      void* p = pool.Allocate(size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
      ASSERT_TRUE(AllZero(p, size)) << size;
      std::memset(p, 0xA5, size);
      blocks.emplace_back(p, size);
    }
  }
  EXPECT_EQ(pool.stats().blocks_in_use, blocks.size());
  // No two blocks overlap: each still holds its own pattern after all were
  // written.
  for (size_t i = 0; i < blocks.size(); ++i) {
    std::memset(blocks[i].first, static_cast<int>(i % 251) + 1, blocks[i].second);
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto* b = static_cast<const uint8_t*>(blocks[i].first);
    for (size_t j = 0; j < blocks[i].second; ++j) {
      ASSERT_EQ(b[j], static_cast<uint8_t>(i % 251 + 1)) << i;
    }
  }
  for (auto [p, size] : blocks) pool.Free(p, size);
  EXPECT_EQ(pool.stats().blocks_in_use, 0u);
}

TEST(LockedMemoryPoolTest, FreedBlocksAreZeroedAndReused) {
  LockedMemoryPool pool;
  void* p = pool.Allocate(32);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5A, 32);
  pool.Free(p, 32);
  // Still mapped (chunks stay with the pool): what a later user of the block
  // or a memory scan would see.
  EXPECT_TRUE(AllZero(p, 32));
  void* again = pool.Allocate(20);  // same size class
  EXPECT_EQ(again, p);
  EXPECT_TRUE(AllZero(again, 20));
  pool.Free(again, 20);
}

TEST(LockedMemoryPoolTest, LargeBlocksAreUnmappedWhenFreed) {
  LockedMemoryPool pool;
  void* p = pool.Allocate(10000);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(MappingOf(p).found);
  const auto before = pool.stats();
  pool.Free(p, 10000);
  EXPECT_FALSE(MappingOf(p).found);
  const auto after = pool.stats();
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(before.locked_bytes + before.unlocked_bytes,
            after.locked_bytes + after.unlocked_bytes +
                (10000 + page - 1) / page * page);
}

TEST(LockedMemoryPoolTest, ZeroSizeIsNull) {
  LockedMemoryPool pool;
  EXPECT_EQ(pool.Allocate(0), nullptr);
  pool.Free(nullptr, 0);
  EXPECT_EQ(pool.stats().blocks_in_use, 0u);
}

// In a child process, which may not lock memory (and, if the tests run as
// root, no longer has CAP_IPC_LOCK): allocations still work, the pool warns
// once and says what is not locked. Exit codes tell the failed check.
void RunWithoutMemlock(rlim_t limit) {
  if (::geteuid() == 0) {
    // nobody: an unprivileged user, so RLIMIT_MEMLOCK applies.
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) std::_Exit(10);
  }
  struct rlimit r = {limit, limit};
  if (::setrlimit(RLIMIT_MEMLOCK, &r) != 0) std::_Exit(11);
  int warnings = 0;
  std::string warning;
  LockedMemoryPool pool({.chunk_size = 16 * 1024,
                         .warn = [&](absl::string_view m) {
                           ++warnings;
                           warning = std::string(m);
                         }});
  std::vector<std::pair<void*, size_t>> blocks;
  for (size_t size : {32, 64, 128, 256, 20000, 32}) {
    for (int i = 0; i < 600; ++i) {
      void* p = pool.Allocate(size);
      if (p == nullptr) std::_Exit(12);
      if (!AllZero(p, size)) std::_Exit(13);
      std::memset(p, 0x77, size);
      blocks.emplace_back(p, size);
    }
  }
  const auto stats = pool.stats();
  if (warnings != 1) std::_Exit(14);
  if (warning.find("RLIMIT_MEMLOCK") == std::string::npos) std::_Exit(15);
  if (stats.lock_failures == 0 || stats.unlocked_bytes == 0) std::_Exit(16);
  if (!MappingOf(blocks.back().first).dont_dump) std::_Exit(17);
  if (limit == 0 && stats.locked_bytes != 0) std::_Exit(18);
  if (limit > 0 && stats.locked_bytes == 0) std::_Exit(19);
  for (auto [p, size] : blocks) pool.Free(p, size);
  std::fputs(warning.c_str(), stderr);
  std::_Exit(0);
}

TEST(LockedMemoryPoolDeathTest, WarnsOnceAndWorksWhenLockingIsRefused) {
  // RLIMIT_MEMLOCK 0: every mlock fails with EPERM.
  EXPECT_EXIT(RunWithoutMemlock(0), ::testing::ExitedWithCode(0),
              "key memory cannot be locked in RAM");
}

TEST(LockedMemoryPoolDeathTest, LocksWhatTheLimitAllowsThenWarnsOnce) {
  // Room for two chunks: later mlocks fail with ENOMEM.
  EXPECT_EXIT(RunWithoutMemlock(32 * 1024), ::testing::ExitedWithCode(0),
              "RLIMIT_MEMLOCK 32768 bytes");
}

}  // namespace
}  // namespace sandyq::platform
