#ifndef SANDYQ_SERVER_VAULT_DEK_CACHE_H_
#define SANDYQ_SERVER_VAULT_DEK_CACHE_H_

#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/crypto/aead.h"

namespace sandyq::vault {

// A bounded cache of unwrapped subject data keys, each ready to use as an
// Aead, so a reveal or tokenize for a recent subject skips unwrapping its key
// (an AES-GCM decryption under the KEK). Least recently used entries go
// first; a dropped entry's key bytes are wiped when the last call using it
// finishes (crypto::Aead holds them in SecretBytes). Erasing a subject must
// call Erase: the cache must never outlive the subject's key.
//
// Sharded by subject hash; each shard's lock is held only for the map
// operation, never across I/O. Thread-safe.
class DekCache {
 public:
  // At most `capacity` keys in all (0 disables the cache).
  explicit DekCache(size_t capacity);

  // The subject's key, or nullptr if not cached. An entry is returned only
  // for the same `wrapped_dek` it was put with: a person erased and
  // collected again has a new key, which a stale entry (say, put by a reveal
  // that raced the erasure) can never stand in for.
  std::shared_ptr<const crypto::Aead> Get(absl::string_view subject_hash,
                                          absl::string_view wrapped_dek);
  void Put(const std::string& subject_hash, std::string wrapped_dek,
           std::shared_ptr<const crypto::Aead> aead);
  void Erase(absl::string_view subject_hash);
  size_t size() const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    struct Entry {
      std::string subject_hash;
      std::string wrapped_dek;
      std::shared_ptr<const crypto::Aead> aead;
    };
    // Most recent first.
    std::list<Entry> lru ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<std::string, decltype(lru)::iterator> index
        ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(absl::string_view subject_hash);

  const size_t per_shard_;
  Shard shards_[kShards];
};

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_DEK_CACHE_H_
