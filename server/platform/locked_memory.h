#ifndef SANDYQ_SERVER_PLATFORM_LOCKED_MEMORY_H_
#define SANDYQ_SERVER_PLATFORM_LOCKED_MEMORY_H_

#include <cstddef>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace sandyq::platform {

// Memory for key material. Its pages are locked in RAM (mlock: never written
// to swap) and excluded from core dumps (MADV_DONTDUMP), and a block is
// zeroed when it is freed, so a later Allocate always returns zeros.
//
// mlock is bounded by RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK.
// When the kernel refuses to lock a mapping the pool still hands the memory
// out (a vault that cannot start is worse than keys that may be swapped) and
// reports it through `Options::warn` once per pool; `stats()` says how much
// is locked. Give the service enough (systemd: LimitMEMLOCK=).
//
// Small blocks come from per-size-class chunks (16 bytes to 4 KiB, rounded
// up to a power of two) mapped `chunk_size` bytes at a time; chunks are
// never unmapped, so the pool holds its peak. A larger block gets a mapping
// of its own, unmapped when freed. Thread-safe.
class LockedMemoryPool {
 public:
  struct Options {
    // Bytes mapped at a time for a size class; a multiple of the page size.
    size_t chunk_size = 16 * 1024;
    // Called once, the first time a mapping cannot be locked, with the
    // reason. Default: platform::LogWarning.
    std::function<void(absl::string_view)> warn;
  };

  struct Stats {
    size_t locked_bytes = 0;    // mapped and locked in RAM
    size_t unlocked_bytes = 0;  // mapped, but mlock was refused
    size_t lock_failures = 0;   // mappings mlock refused
    size_t blocks_in_use = 0;
  };

  explicit LockedMemoryPool(Options options);
  LockedMemoryPool() : LockedMemoryPool(Options()) {}
  // Unmaps everything: every block must have been freed.
  ~LockedMemoryPool();

  LockedMemoryPool(const LockedMemoryPool&) = delete;
  LockedMemoryPool& operator=(const LockedMemoryPool&) = delete;

  // `size` (> 0) zeroed bytes, aligned to 16. nullptr if the system has no
  // memory to map.
  void* Allocate(size_t size);
  // Zeroes and releases a block from Allocate(size), with the same size.
  void Free(void* block, size_t size);

  Stats stats() const;

  // The process-wide pool key material lives in. Never destroyed.
  static LockedMemoryPool& Default();

  static constexpr size_t kMinBlock = 16;
  static constexpr size_t kMaxPooledBlock = 4096;

 private:
  static constexpr int kClasses = 9;  // 16, 32, ..., 4096
  static int ClassOf(size_t size);

  // mmaps `bytes` (a multiple of the page size), excludes them from core
  // dumps and tries to lock them; `*locked` says whether that worked.
  void* Map(size_t bytes, bool* locked) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t chunk_size_;
  const std::function<void(absl::string_view)> warn_;

  mutable absl::Mutex mu_;
  // Free blocks of each size class, outside the blocks themselves so that a
  // freed block stays all zeros.
  std::vector<void*> free_[kClasses] ABSL_GUARDED_BY(mu_);
  std::vector<void*> chunks_ ABSL_GUARDED_BY(mu_);
  // Blocks larger than kMaxPooledBlock: whether their mapping is locked,
  // to account for it when it is unmapped.
  absl::flat_hash_map<void*, bool> large_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  bool warned_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_LOCKED_MEMORY_H_
