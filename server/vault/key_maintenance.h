#ifndef SANDYQ_SERVER_VAULT_KEY_MAINTENANCE_H_
#define SANDYQ_SERVER_VAULT_KEY_MAINTENANCE_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/audit/audit_log.h"
#include "server/storage/store.h"
#include "server/vault/key_manager.h"
#include "server/vault/sequencer.h"

namespace sandyq::vault {

// Key work that runs by itself in the background:
//  - scheduled rotation: a new primary KEK once the primary is older than
//    `rotate_every`, recorded in the access log;
//  - the re-wrap of every subject data key still wrapped by an older KEK to
//    the primary, in chunks, each chunk one durable write that also records
//    a cursor, so the job resumes where it stopped after a restart or a
//    crash. Field data is never re-encrypted. Each subject is held (through
//    the subject sequencer) while its key is re-wrapped, so it never races a
//    write to the same subject. Throttled to `rewrap_per_second`.
//  - retiring versions that wrap nothing any more.
class KeyMaintenance {
 public:
  struct Options {
    absl::Duration rotate_every = absl::ZeroDuration();  // zero: never
    int rewrap_per_second = 2000;                        // 0: unthrottled
    size_t chunk = 256;                                  // subjects per write
    absl::Duration check_every = absl::Minutes(1);       // schedule check
  };

  KeyMaintenance(storage::Store* store, audit::AuditLog* log, KeyManager* keys,
                 KeyedSequencer* subjects, Options options);
  // Stops the thread; a re-wrap in progress stops after its current chunk.
  ~KeyMaintenance();

  // Starts the background thread.
  void Start();
  // Asks the thread to look for work now (after a rotation).
  void Wake();

  // One round, on the calling thread: rotate if due, re-wrap until nothing
  // is pending, retire empty versions. Returns how many keys were re-wrapped.
  absl::StatusOr<int64_t> RunOnce();

  // Data keys re-wrapped (durably) by this object since it was made.
  int64_t rewrapped() const { return rewrapped_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  // One pass over all subjects from the saved cursor.
  absl::StatusOr<int64_t> RewrapPass();
  bool stopping() const;
  // Sleeps so that `done` keys since `start` keep to the rate; false if
  // stopping.
  bool Throttle(absl::Time start, int64_t done);

  storage::Store* const store_;
  audit::AuditLog* const log_;
  KeyManager* const keys_;
  KeyedSequencer* const subjects_;
  const Options options_;

  std::atomic<int64_t> rewrapped_{0};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_KEY_MAINTENANCE_H_
