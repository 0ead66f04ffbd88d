#ifndef SANDYQ_SERVER_PLATFORM_LOG_H_
#define SANDYQ_SERVER_PLATFORM_LOG_H_

#include "absl/strings/string_view.h"

namespace sandyq::platform {

// Operational log lines on stderr: "2026-11-22T10:00:00.123Z INFO message".
// Thread-safe. Callers must never pass personal data, key material, tokens'
// values or subject ids: log what happened, not to whom.
void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

// Names the calling thread (shown by top -H, perf, gdb); at most 15 bytes
// are kept.
void NameThread(absl::string_view name);

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_LOG_H_
