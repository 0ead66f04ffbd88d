#include "server/vault/dek_cache.h"

namespace sandyq::vault {

DekCache::DekCache(size_t capacity)
    : per_shard_(capacity == 0 ? 0 : (capacity + kShards - 1) / kShards) {}

DekCache::Shard& DekCache::ShardOf(absl::string_view subject_hash) {
  // Subject hashes are uniform HMAC outputs: any byte picks a shard.
  const unsigned char b = subject_hash.empty()
                              ? 0
                              : static_cast<unsigned char>(subject_hash[0]);
  return shards_[b % kShards];
}

std::shared_ptr<const crypto::Aead> DekCache::Get(absl::string_view subject_hash,
                                                  absl::string_view wrapped_dek) {
  if (per_shard_ == 0) return nullptr;
  Shard& shard = ShardOf(subject_hash);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.index.find(subject_hash);
  if (it == shard.index.end() || it->second->wrapped_dek != wrapped_dek) {
    return nullptr;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return it->second->aead;
}

void DekCache::Put(const std::string& subject_hash, std::string wrapped_dek,
                   std::shared_ptr<const crypto::Aead> aead) {
  if (per_shard_ == 0) return;
  std::shared_ptr<const crypto::Aead> dropped;  // released outside the lock
  Shard& shard = ShardOf(subject_hash);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.index.find(subject_hash);
  if (it != shard.index.end()) {
    dropped = std::move(it->second->aead);
    it->second->wrapped_dek = std::move(wrapped_dek);
    it->second->aead = std::move(aead);
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return;
  }
  shard.lru.push_front({subject_hash, std::move(wrapped_dek), std::move(aead)});
  shard.index.emplace(subject_hash, shard.lru.begin());
  if (shard.lru.size() > per_shard_) {
    dropped = std::move(shard.lru.back().aead);
    shard.index.erase(shard.lru.back().subject_hash);
    shard.lru.pop_back();
  }
}

void DekCache::Erase(absl::string_view subject_hash) {
  if (per_shard_ == 0) return;
  Shard& shard = ShardOf(subject_hash);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.index.find(subject_hash);
  if (it == shard.index.end()) return;
  shard.lru.erase(it->second);
  shard.index.erase(it);
}

size_t DekCache::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.lru.size();
  }
  return n;
}

}  // namespace sandyq::vault
