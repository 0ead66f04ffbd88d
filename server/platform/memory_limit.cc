#include "server/platform/memory_limit.h"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/platform/files.h"

namespace sandyq::platform {

uint64_t CgroupMemoryMax(absl::string_view self_cgroup,
                         const std::string& cgroup_root) {
  // cgroup v2 has one line, "0::/path/of/the/cgroup".
  std::string path;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(self_cgroup, '\n')) {
    if (absl::ConsumePrefix(&line, "0::")) {
      path = std::string(absl::StripAsciiWhitespace(line));
      found = true;
    }
  }
  if (!found) return 0;
  uint64_t limit = 0;
  std::string dir = cgroup_root;
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (size_t i = 0;; ++i) {
    absl::StatusOr<std::string> max = ReadFile(dir + "/memory.max");
    uint64_t bytes = 0;
    if (max.ok() &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(*max), &bytes) &&
        bytes > 0) {
      limit = limit == 0 ? bytes : std::min(limit, bytes);
    }
    if (i == parts.size()) break;
    if (parts[i] == "..") return limit;  // not below the root we were given
    dir += "/" + parts[i];
  }
  return limit;
}

uint64_t MemoryLimitBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  const uint64_t physical =
      pages > 0 && page_size > 0
          ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size)
          : 0;
  absl::StatusOr<std::string> self = ReadFile("/proc/self/cgroup");
  const uint64_t cgroup =
      self.ok() ? CgroupMemoryMax(*self, "/sys/fs/cgroup") : 0;
  if (cgroup == 0) return physical;
  if (physical == 0) return cgroup;
  return std::min(physical, cgroup);
}

}  // namespace sandyq::platform
