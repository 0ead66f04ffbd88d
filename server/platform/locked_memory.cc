#include "server/platform/locked_memory.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/platform/log.h"

namespace sandyq::platform {
namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUpToPages(size_t bytes) {
  const size_t page = PageSize();
  return (bytes + page - 1) / page * page;
}

std::string MemlockLimit() {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
  return absl::StrCat(limit.rlim_cur, " bytes");
}

}  // namespace

LockedMemoryPool::LockedMemoryPool(Options options)
    : chunk_size_(RoundUpToPages(options.chunk_size < kMaxPooledBlock
                                     ? kMaxPooledBlock
                                     : options.chunk_size)),
      warn_(options.warn ? std::move(options.warn)
                         : [](absl::string_view m) { LogWarning(m); }) {}

LockedMemoryPool::~LockedMemoryPool() {
  absl::MutexLock lock(&mu_);
  for (void* chunk : chunks_) ::munmap(chunk, chunk_size_);
  // Large blocks still in use would be a caller's bug; their sizes are
  // unknown here, so they stay mapped.
}

LockedMemoryPool& LockedMemoryPool::Default() {
  static LockedMemoryPool* const pool = new LockedMemoryPool();
  return *pool;
}

int LockedMemoryPool::ClassOf(size_t size) {
  int c = 0;
  for (size_t block = kMinBlock; block < size; block <<= 1) ++c;
  return c;
}

void* LockedMemoryPool::Map(size_t bytes, bool* locked) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  // Kernels without MADV_DONTDUMP (before 3.4) refuse it; the process is
  // non-dumpable anyway (DisableCoreDumps), so that is not worth failing for.
  (void)::madvise(p, bytes, MADV_DONTDUMP);
  *locked = ::mlock(p, bytes) == 0;
  if (*locked) {
    stats_.locked_bytes += bytes;
  } else {
    const int err = errno;
    stats_.unlocked_bytes += bytes;
    ++stats_.lock_failures;
    if (!warned_) {
      warned_ = true;
      warn_(absl::StrCat(
          "key memory cannot be locked in RAM (mlock: ", std::strerror(err),
          "; RLIMIT_MEMLOCK ", MemlockLimit(),
          "): keys may be written to swap. Raise the limit (systemd "
          "LimitMEMLOCK=, ulimit -l) or give the process CAP_IPC_LOCK"));
    }
  }
  return p;
}

void* LockedMemoryPool::Allocate(size_t size) {
  if (size == 0) return nullptr;
  absl::MutexLock lock(&mu_);
  if (size > kMaxPooledBlock) {
    bool locked = false;
    void* p = Map(RoundUpToPages(size), &locked);
    if (p == nullptr) return nullptr;
    large_[p] = locked;
    ++stats_.blocks_in_use;
    return p;
  }
  const int c = ClassOf(size);
  std::vector<void*>& free = free_[c];
  if (free.empty()) {
    bool locked = false;
    char* chunk = static_cast<char*>(Map(chunk_size_, &locked));
    if (chunk == nullptr) return nullptr;
    chunks_.push_back(chunk);
    const size_t block = kMinBlock << c;
    // Highest first, so blocks are handed out in address order.
    for (size_t off = chunk_size_; off >= block; off -= block) {
      free.push_back(chunk + off - block);
    }
  }
  void* p = free.back();
  free.pop_back();
  ++stats_.blocks_in_use;
  return p;
}

void LockedMemoryPool::Free(void* block, size_t size) {
  if (block == nullptr) return;
  if (size > kMaxPooledBlock) {
    const size_t bytes = RoundUpToPages(size);
    ::explicit_bzero(block, bytes);
    absl::MutexLock lock(&mu_);
    auto it = large_.find(block);
    if (it != large_.end()) {
      (it->second ? stats_.locked_bytes : stats_.unlocked_bytes) -= bytes;
      large_.erase(it);
    }
    --stats_.blocks_in_use;
    // munmap also unlocks.
    ::munmap(block, bytes);
    return;
  }
  const int c = ClassOf(size);
  // The whole block, not just `size`: the next user gets zeros throughout.
  ::explicit_bzero(block, kMinBlock << c);
  absl::MutexLock lock(&mu_);
  free_[c].push_back(block);
  --stats_.blocks_in_use;
}

LockedMemoryPool::Stats LockedMemoryPool::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace sandyq::platform
