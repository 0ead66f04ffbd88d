#ifndef SANDYQ_SERVER_PLATFORM_MEMORY_LIMIT_H_
#define SANDYQ_SERVER_PLATFORM_MEMORY_LIMIT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace sandyq::platform {

// How much memory this process may use, in bytes: the machine's, or less if
// its cgroup (v2) or a parent of it sets memory.max, as systemd's MemoryMax=
// and container runtimes do. 0 if not even the machine's is known.
uint64_t MemoryLimitBytes();

// The smallest memory.max on the way from `cgroup_root` (e.g. /sys/fs/cgroup)
// down to the cgroup that `self_cgroup` (the text of /proc/self/cgroup) names;
// 0 if none sets a number (no cgroup v2, or "max" all the way).
uint64_t CgroupMemoryMax(absl::string_view self_cgroup,
                         const std::string& cgroup_root);

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_MEMORY_LIMIT_H_
