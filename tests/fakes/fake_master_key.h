#ifndef SANDYQ_TESTS_FAKES_FAKE_MASTER_KEY_H_
#define SANDYQ_TESTS_FAKES_FAKE_MASTER_KEY_H_

// Needs sandyq_crypto linked (the fake wraps with the real AES-GCM Aead).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/crypto/aead.h"
#include "server/crypto/master_key.h"
#include "server/crypto/secret.h"
#include "tests/fakes/fake_random.h"

namespace sandyq::testing {

// A master-key provider for unit tests: no file, no HSM. Wraps with AES-GCM
// under a fixed test key (32 copies of `key_byte`), binding the context as
// associated data like the real providers do, so a wrong context or another
// FakeMasterKey (other `key_byte`) fails to unwrap. Nonces come from a
// deterministic FakeRandom. KEKs are kept wrapped (context "kek:<version>") in
// memory, for the life of the object. SetUnavailable(true) makes every call
// but Describe fail with Unavailable (an HSM that cannot be reached).
// Thread-safe.
class FakeMasterKey final : public crypto::MasterKeyProvider {
 public:
  explicit FakeMasterKey(uint8_t key_byte = 0x4b) : key_byte_(key_byte) {
    absl::StatusOr<std::unique_ptr<crypto::Aead>> aead = crypto::Aead::New(
        crypto::SecretBytes(
            std::string(crypto::Aead::kKeySize, static_cast<char>(key_byte))),
        random_);
    aead_ = std::move(aead).value();
  }

  std::string Describe() const override {
    return absl::StrCat("fake:", static_cast<int>(key_byte_));
  }

  absl::StatusOr<std::string> Wrap(const crypto::SecretBytes& key,
                                   absl::string_view context) const override {
    if (unavailable_.load()) return absl::UnavailableError("fake HSM down");
    return aead_->Encrypt(key.view(), absl::StrCat("fake wrap:", context));
  }

  absl::StatusOr<crypto::SecretBytes> Unwrap(
      absl::string_view wrapped, absl::string_view context) const override {
    if (unavailable_.load()) return absl::UnavailableError("fake HSM down");
    absl::StatusOr<std::string> plain =
        aead_->Decrypt(wrapped, absl::StrCat("fake wrap:", context));
    if (!plain.ok()) return plain.status();
    return crypto::SecretBytes(*plain);
  }

  absl::Status PutKek(uint32_t version,
                      const crypto::SecretBytes& kek) override {
    if (unavailable_.load()) return absl::UnavailableError("fake HSM down");
    absl::MutexLock lock(&mu_);
    if (keks_.count(version) > 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("fake: KEK version ", version, " exists"));
    }
    absl::StatusOr<std::string> wrapped =
        Wrap(kek, absl::StrCat("kek:", version));
    if (!wrapped.ok()) return wrapped.status();
    keks_.emplace(version, *std::move(wrapped));
    return absl::OkStatus();
  }

  absl::StatusOr<crypto::SecretBytes> GetKek(uint32_t version) const override {
    if (unavailable_.load()) return absl::UnavailableError("fake HSM down");
    std::string wrapped;
    {
      absl::MutexLock lock(&mu_);
      auto it = keks_.find(version);
      if (it == keks_.end()) {
        return absl::NotFoundError(
            absl::StrCat("fake: no KEK version ", version));
      }
      wrapped = it->second;
    }
    return Unwrap(wrapped, absl::StrCat("kek:", version));
  }

  absl::Status DestroyKek(uint32_t version) override {
    if (unavailable_.load()) return absl::UnavailableError("fake HSM down");
    absl::MutexLock lock(&mu_);
    keks_.erase(version);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<uint32_t>> ListKeks() const override {
    if (unavailable_.load()) return absl::UnavailableError("fake HSM down");
    absl::MutexLock lock(&mu_);
    std::vector<uint32_t> versions;
    for (const auto& entry : keks_) versions.push_back(entry.first);
    return versions;
  }

  void SetUnavailable(bool unavailable) { unavailable_.store(unavailable); }

 private:
  const uint8_t key_byte_;
  FakeRandom random_{0x6d6b};
  std::unique_ptr<crypto::Aead> aead_;
  std::atomic<bool> unavailable_{false};
  mutable absl::Mutex mu_;
  std::map<uint32_t, std::string> keks_ ABSL_GUARDED_BY(mu_);  // wrapped
};

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_FAKE_MASTER_KEY_H_
