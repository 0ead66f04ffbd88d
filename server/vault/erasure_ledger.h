#ifndef SANDYQ_SERVER_VAULT_ERASURE_LEDGER_H_
#define SANDYQ_SERVER_VAULT_ERASURE_LEDGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sandyq::vault {

// One erasure: which subject (its keyed hash, never the id), when, and the
// receipt given to the data protection officer.
struct Erasure {
  uint64_t seq = 0;
  std::string subject_hash;  // 32 raw bytes
  absl::Time time;
  std::string receipt_id;
};

// Every erasure ever made, kept apart from the data (a file beside the data
// directory, never inside it or its backups), so that restoring an older
// backup, or opening an older copy of the store, re-applies every erasure
// made since: an erased person never comes back.
//
// File format, text, one erasure per line, appended and fsynced before the
// erasure itself is written:
//   sandyq-erasures-v1
//   <seq> <hex subject hash> <unix micros> <receipt id>
// A torn last line (a crash mid-append, so the erasure was never
// acknowledged) is ignored. Thread-safe.
class ErasureLedger {
 public:
  // Opens or creates the ledger at `path` (mode 0600).
  static absl::StatusOr<std::unique_ptr<ErasureLedger>> Open(
      const std::string& path);

  // Appends an erasure durably; returns it with its sequence number.
  absl::StatusOr<Erasure> Append(std::string subject_hash, absl::Time time,
                                 std::string receipt_id);

  // The erasures of one subject.
  std::vector<Erasure> ForSubject(absl::string_view subject_hash) const;
  // Every erasure with seq > `after`, in order.
  std::vector<Erasure> Since(uint64_t after) const;
  uint64_t last_seq() const;
  const std::string& path() const { return path_; }

 private:
  explicit ErasureLedger(std::string path) : path_(std::move(path)) {}

  const std::string path_;
  mutable absl::Mutex mu_;
  std::vector<Erasure> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_ERASURE_LEDGER_H_
