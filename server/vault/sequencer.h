#ifndef SANDYQ_SERVER_VAULT_SEQUENCER_H_
#define SANDYQ_SERVER_VAULT_SEQUENCER_H_

#include <deque>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace sandyq::vault {

// Runs tasks one at a time per key, without blocking any thread.
//
// Writes that read a subject's state and then change it (create its data key,
// reuse an existing token) must not interleave for the same subject. Such a
// task holds its key from the moment it starts until it calls its Release
// (typically once its commit is durable), while tasks for other keys run
// freely. A task queued behind a busy key runs on the thread that releases
// the key. Thread-safe.
class KeyedSequencer {
 public:
  class Release {
   public:
    Release(KeyedSequencer* owner, std::string key)
        : owner_(owner), key_(std::move(key)) {}
    Release(Release&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)),
          key_(std::move(other.key_)) {}
    Release(const Release&) = delete;
    Release& operator=(const Release&) = delete;
    // Releasing twice is a no-op; destroying an unreleased handle releases.
    ~Release() { (*this)(); }
    void operator()() {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->Next(key_);
    }

   private:
    KeyedSequencer* owner_;
    std::string key_;
  };
  using Task = absl::AnyInvocable<void(Release) &&>;

  // Runs `task` now if no task holds `key`, else after every earlier task
  // for `key` has released it.
  void Run(const std::string& key, Task task);

  // Takes `key`, waiting for earlier holders. Blocks: only for background
  // threads, never for gRPC or audit-log threads.
  Release Acquire(const std::string& key);

  // Number of keys held right now (for tests and metrics).
  size_t busy_keys() const;

 private:
  void Next(const std::string& key);

  mutable absl::Mutex mu_;
  // A key is present while a task holds it; its value is the queue behind it.
  absl::flat_hash_map<std::string, std::deque<Task>> busy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_SEQUENCER_H_
