#include "server/vault/vault.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/platform/log.h"
#include "server/storage/encoding.h"
#include "server/vault/input.h"
#include "server/vault/periodic.h"
#include "server/vault/records.h"

namespace sandyq::vault {

absl::StatusOr<std::unique_ptr<Vault>> Vault::Open(const Deps& deps,
                                                   const Options& options) {
  if (deps.policy == nullptr) {
    return absl::InvalidArgumentError("vault needs a policy");
  }
  absl::StatusOr<std::unique_ptr<KeyManager>> keys = KeyManager::Open(
      {deps.store, deps.log, deps.master, deps.clock, deps.random},
      options.residency_country);
  if (!keys.ok()) return keys.status();
  // The log signs checkpoints with the vault's key from now on.
  deps.log->SetSigner((*keys)->signer());
  // Erasures this store has not seen (a restored copy, or a crash between
  // the ledger and the data write) are applied before anything is served.
  if (deps.ledger != nullptr) {
    absl::StatusOr<int> reapplied = ApplyLedger(*deps.store, *deps.ledger, deps.log);
    if (!reapplied.ok()) return reapplied.status();
    if (*reapplied > 0) {
      platform::LogInfo(absl::StrCat("re-applied ", *reapplied,
                                     " erasures from the erasure ledger"));
    }
  }
  return std::unique_ptr<Vault>(new Vault(deps, options, std::move(*keys)));
}

Vault::Vault(const Deps& deps, const Options& options,
             std::unique_ptr<KeyManager> keys)
    : deps_(deps),
      options_(options),
      keys_(std::move(keys)),
      deks_(options.dek_cache_size),
      backups_(options.backup_targets, deps.ledger, options.residency_country),
      limiter_(deps.clock),
      policy_(deps.policy),
      revoked_(deps.revoked != nullptr
                   ? deps.revoked
                   : std::make_shared<const policy::RevocationList>()),
      maintenance_(std::make_unique<KeyMaintenance>(
          deps.store, deps.log, keys_.get(), &subjects_,
          KeyMaintenance::Options{
              .rotate_every = options.rotate_every,
              .rewrap_per_second = options.rewrap_per_second})),
      background_(std::make_unique<BackgroundQueue>()),
      readers_(std::make_unique<BackgroundQueue>("vault-read",
                                                 options.reader_threads)) {
  if (options.background_key_maintenance) {
    maintenance_->Start();
    retention_ = std::make_unique<PeriodicTask>("retention", [this] {
      absl::StatusOr<absl::Duration> next = RunRetentionIfDue();
      if (next.ok()) return *next;
      platform::LogError(absl::StrCat("retention: ", next.status().message()));
      return options_.retention_every;
    });
    if (deps.ledger != nullptr && !options.backup_targets.empty()) {
      // Erasures a crash kept from the backups.
      background_->Post([this] {
        absl::StatusOr<int> scrubbed = backups_.Scrub();
        if (!scrubbed.ok()) {
          platform::LogError(absl::StrCat("backup scrub: ",
                                          scrubbed.status().message()));
        }
      });
    }
  }
}

Vault::~Vault() = default;

std::string Vault::HashIfValid(absl::string_view subject_id) const {
  return CheckText("subject_id", subject_id, kMaxSubjectIdBytes, true).ok()
             ? keys_->SubjectHash(subject_id)
             : "";
}

absl::StatusOr<std::shared_ptr<const crypto::Aead>> Vault::SubjectAead(
    const crypto::Keyring& keyring, const std::string& subject_hash,
    uint32_t kek_version, absl::string_view wrapped_dek) const {
  if (std::shared_ptr<const crypto::Aead> cached =
          deks_.Get(subject_hash, wrapped_dek)) {
    return cached;
  }
  absl::StatusOr<crypto::SecretBytes> dek = keyring.UnwrapDek(
      {kek_version, std::string(wrapped_dek)}, subject_hash);
  if (!dek.ok()) return dek.status();
  absl::StatusOr<std::unique_ptr<crypto::Aead>> aead =
      crypto::Aead::New(*dek, *deps_.random);
  if (!aead.ok()) return aead.status();
  std::shared_ptr<const crypto::Aead> shared = std::move(*aead);
  deks_.Put(subject_hash, std::string(wrapped_dek), shared);
  return shared;
}

absl::StatusOr<int64_t> Vault::RunKeyMaintenance() {
  return maintenance_->RunOnce();
}

absl::StatusOr<absl::Duration> Vault::RunRetentionIfDue() {
  const absl::Time now = deps_.clock->Now();
  const absl::Duration every = options_.retention_every;
  // Without a rule there is nothing to look for; no pass is recorded, so a
  // policy that adds rules gets a pass at the next start.
  if (!policy()->HasRetentionRules()) return every;
  absl::StatusOr<std::string> saved =
      deps_.store->Get(storage::Table::kMeta, keys::kRetentionPass);
  if (!saved.ok() && !absl::IsNotFound(saved.status())) return saved.status();
  if (saved.ok()) {
    std::optional<uint64_t> micros = storage::DecodeU64(*saved);
    if (!micros) {
      // Retention must not stop over its own bookkeeping: sweep, and the
      // pass's record replaces the bad one.
      platform::LogError(
          "retention: meta retention_pass is not 8 bytes; running a pass now");
    } else {
      const absl::Time last =
          absl::FromUnixMicros(static_cast<int64_t>(*micros));
      // A last pass "in the future" (the clock was set back) counts as due.
      if (last <= now && now < last + every) return last + every - now;
    }
  }
  absl::StatusOr<RetentionResult> result = RunRetention();
  if (!result.ok()) return result.status();
  storage::WriteBatch batch;
  batch.Put(storage::Table::kMeta, keys::kRetentionPass,
            storage::EncodeU64(static_cast<uint64_t>(absl::ToUnixMicros(now))));
  if (absl::Status s = deps_.log->CommitAndWait(std::move(batch), {}); !s.ok()) {
    return s;
  }
  return every;
}

void Vault::SetPolicy(std::shared_ptr<const policy::Policy> policy) {
  absl::MutexLock lock(&policy_mu_);
  policy_ = std::move(policy);
}

std::shared_ptr<const policy::Policy> Vault::policy() const {
  absl::MutexLock lock(&policy_mu_);
  return policy_;
}

std::vector<RevealLimiter::IdentityStats> Vault::RevealStats() const {
  return limiter_.Stats();
}

audit::Event Vault::NewEvent(const Caller& caller,
                             const policy::Principal* who,
                             absl::string_view rpc) const {
  audit::Event event;
  event.identity = LoggedIdentity(caller.identity);
  event.rpc = std::string(rpc);
  if (who != nullptr) {
    event.organisation = who->organisation;
    event.country = who->country;
  }
  return event;
}

}  // namespace sandyq::vault
