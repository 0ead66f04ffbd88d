#ifndef SANDYQ_SERVER_PLATFORM_FILES_H_
#define SANDYQ_SERVER_PLATFORM_FILES_H_

#include <sys/types.h>

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sandyq::platform {

// Reads a whole file. NotFound if it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `content` to `path` with `mode` so that a reader sees either the old
// file or the whole new one, and the new one survives a crash: writes a
// temporary file, fsyncs it, renames it over `path` and fsyncs the directory.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view content,
                             mode_t mode);

// Creates `path` and missing parents with `mode`; OK if it already exists.
absl::Status MakeDirs(const std::string& path, mode_t mode);

bool PathExists(const std::string& path);

// FailedPrecondition unless `path` exists and neither its group nor others may
// read, write or enter it (e.g. mode 0600 or 0700). Key files and data
// directories must pass this before the server uses them.
absl::Status CheckOwnerOnly(const std::string& path);

// Makes the process non-dumpable and its core-file limit zero, so key
// material can never end up in a core dump. Call first thing in main.
absl::Status DisableCoreDumps();

// FailedPrecondition if `euid` is root's (0): a vault process that is root
// could read every other file on the host and write its own files as root,
// which the service user then cannot open. The message says how to run it
// as its own user.
absl::Status CheckNotRoot(uid_t euid);

// `path` if absolute, else `base_dir`/`path`.
std::string ResolvePath(const std::string& base_dir, const std::string& path);

// The directory part of `path` ("." when there is none).
std::string DirName(const std::string& path);

}  // namespace sandyq::platform

#endif  // SANDYQ_SERVER_PLATFORM_FILES_H_
