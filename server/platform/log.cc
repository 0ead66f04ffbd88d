#include "server/platform/log.h"

#include <pthread.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sandyq::platform {
namespace {

void Emit(absl::string_view level, absl::string_view message) {
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " ", level, " ", message, "\n");
  // One fwrite per line: stdio locks the stream, so lines do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

void NameThread(absl::string_view name) {
  std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

void LogInfo(absl::string_view message) { Emit("INFO", message); }
void LogWarning(absl::string_view message) { Emit("WARN", message); }
void LogError(absl::string_view message) { Emit("ERROR", message); }

}  // namespace sandyq::platform
