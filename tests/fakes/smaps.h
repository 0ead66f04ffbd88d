#ifndef SANDYQ_TESTS_FAKES_SMAPS_H_
#define SANDYQ_TESTS_FAKES_SMAPS_H_

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace sandyq::testing {

// What the kernel says about the mapping holding `address` in process `pid`
// (/proc/<pid>/smaps; 0: this process).
struct Mapping {
  bool found = false;
  bool locked = false;     // VmFlags "lo": mlock'ed (VM_LOCKED)
  bool dont_dump = false;  // VmFlags "dd": MADV_DONTDUMP
  int64_t locked_kb = -1;  // "Locked:" resident locked memory
};

inline Mapping MappingOf(const void* address, pid_t pid = 0) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(address);
  std::ifstream in(pid == 0 ? std::string("/proc/self/smaps")
                            : "/proc/" + std::to_string(pid) + "/smaps");
  Mapping m;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    // A mapping starts with "start-end perms offset dev inode [path]".
    const std::vector<std::string> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!words.empty() && words[0].find('-') != std::string::npos &&
        !absl::EndsWith(words[0], ":")) {
      if (inside) break;
      const std::vector<std::string> range = absl::StrSplit(words[0], '-');
      uint64_t start = 0, end = 0;
      if (range.size() == 2 && absl::SimpleHexAtoi(range[0], &start) &&
          absl::SimpleHexAtoi(range[1], &end)) {
        inside = start <= a && a < end;
        m.found = m.found || inside;
      }
      continue;
    }
    if (!inside || words.empty()) continue;
    if (words[0] == "Locked:" && words.size() >= 2) {
      (void)absl::SimpleAtoi(words[1], &m.locked_kb);
    } else if (words[0] == "VmFlags:") {
      for (size_t i = 1; i < words.size(); ++i) {
        if (words[i] == "lo") m.locked = true;
        if (words[i] == "dd") m.dont_dump = true;
      }
    }
  }
  return m;
}

// Whether this process may lock `bytes` more: it has CAP_IPC_LOCK (root, as
// in CI) or RLIMIT_MEMLOCK leaves room.
inline bool MayLock(size_t bytes) {
  if (::geteuid() == 0) return true;
  struct rlimit limit;
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return false;
  return limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= 4 * bytes;
}

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_SMAPS_H_
