#include "server/vault/key_manager.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/platform/log.h"
#include "server/storage/encoding.h"
#include "server/vault/records.h"

namespace sandyq::vault {
namespace {

using storage::Table;
namespace pb = ::sandyq::internal::v1;

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kKeySize = 32;

std::string KekContext(uint32_t version) { return absl::StrCat("kek:", version); }
constexpr absl::string_view kIndexRootContext = "index-root";

absl::Status CreateVault(const KeyManager::Deps& deps,
                         const std::string& residency_country) {
  crypto::SecretBytes root = crypto::SecretBytes::Random(kKeySize, *deps.random);
  crypto::SecretBytes kek = crypto::SecretBytes::Random(kKeySize, *deps.random);
  absl::StatusOr<std::string> wrapped_root =
      deps.master->Wrap(root, kIndexRootContext);
  if (!wrapped_root.ok()) return wrapped_root.status();
  absl::StatusOr<std::string> wrapped_kek = deps.master->Wrap(kek, KekContext(1));
  if (!wrapped_kek.ok()) return wrapped_kek.status();

  const int64_t now = absl::ToUnixMicros(deps.clock->Now());
  pb::VaultRecord vault;
  vault.set_format_version(kFormatVersion);
  vault.set_wrapped_index_root(*wrapped_root);
  vault.set_created_micros(now);
  vault.set_residency_country(residency_country);
  pb::KekRecord kek_record;
  kek_record.set_version(1);
  kek_record.set_wrapped_key(*wrapped_kek);
  kek_record.set_state(pb::KEY_STATE_PRIMARY);
  kek_record.set_created_micros(now);

  storage::WriteBatch batch;
  batch.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  batch.Put(Table::kKeys, storage::EncodeU32(1), kek_record.SerializeAsString());
  audit::Event event;
  event.identity = "sandyqd";
  event.rpc = "Vault.Create";
  event.decision = audit::Decision::kAllowed;
  event.rule = absl::StrCat("master key ", deps.master->Describe(),
                            "; KEK 1 primary; residency ", residency_country);
  return deps.log->CommitAndWait(std::move(batch), {std::move(event)});
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyManager>> KeyManager::Open(
    const Deps& deps, const std::string& residency_country) {
  absl::StatusOr<std::string> vault_bytes =
      deps.store->Get(Table::kMeta, keys::kVaultRecord);
  if (absl::IsNotFound(vault_bytes.status())) {
    if (absl::Status s = CreateVault(deps, residency_country); !s.ok()) {
      return s;
    }
    platform::LogInfo("created a new vault: index root and KEK 1");
    vault_bytes = deps.store->Get(Table::kMeta, keys::kVaultRecord);
  }
  if (!vault_bytes.ok()) return vault_bytes.status();
  pb::VaultRecord vault;
  if (!vault.ParseFromString(*vault_bytes)) {
    return absl::DataLossError("vault record does not decode");
  }
  if (vault.format_version() != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vault format version ", vault.format_version(), " is not supported"));
  }
  absl::StatusOr<crypto::SecretBytes> root =
      deps.master->Unwrap(vault.wrapped_index_root(), kIndexRootContext);
  if (!root.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the master key (", deps.master->Describe(),
        ") does not open this vault"));
  }

  crypto::Keyring::Builder builder(*deps.random);
  absl::Status scan_status;
  absl::Status s = deps.store->Scan(
      Table::kKeys, "", "", [&](absl::string_view, absl::string_view value) {
        pb::KekRecord rec;
        if (!rec.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          scan_status = absl::DataLossError("KEK record does not decode");
          return false;
        }
        if (rec.state() == pb::KEY_STATE_DESTROYED) return true;
        absl::StatusOr<crypto::SecretBytes> kek =
            deps.master->Unwrap(rec.wrapped_key(), KekContext(rec.version()));
        if (!kek.ok()) {
          scan_status = absl::FailedPreconditionError(absl::StrCat(
              "the master key does not open KEK ", rec.version()));
          return false;
        }
        scan_status = builder.Add(rec.version(), std::move(*kek),
                                  rec.state() == pb::KEY_STATE_PRIMARY);
        return scan_status.ok();
      });
  if (!s.ok()) return s;
  if (!scan_status.ok()) return scan_status;
  absl::StatusOr<std::shared_ptr<const crypto::Keyring>> keyring =
      builder.Build();
  if (!keyring.ok()) return keyring.status();

  auto subject = crypto::Prf::New(crypto::DeriveKey(*root, "sandyq subject hash v1", kKeySize));
  auto blind = crypto::Prf::New(crypto::DeriveKey(*root, "sandyq blind index v1", kKeySize));
  auto dedup = crypto::Prf::New(crypto::DeriveKey(*root, "sandyq dedup v1", kKeySize));
  if (!subject.ok()) return subject.status();
  if (!blind.ok()) return blind.status();
  if (!dedup.ok()) return dedup.status();
  return std::unique_ptr<KeyManager>(
      new KeyManager(deps, std::move(*subject), std::move(*blind),
                     std::move(*dedup), std::move(*keyring)));
}

KeyManager::KeyManager(const Deps& deps,
                       std::unique_ptr<crypto::Prf> subject_prf,
                       std::unique_ptr<crypto::Prf> blind_prf,
                       std::unique_ptr<crypto::Prf> dedup_prf,
                       std::shared_ptr<const crypto::Keyring> keyring)
    : deps_(deps),
      subject_prf_(std::move(subject_prf)),
      blind_prf_(std::move(blind_prf)),
      dedup_prf_(std::move(dedup_prf)),
      keyring_(std::move(keyring)) {}

std::string KeyManager::SubjectHash(absl::string_view subject_id) const {
  return subject_prf_->Compute(subject_id);
}

std::string KeyManager::BlindIndex(fields::FieldType type,
                                   absl::string_view search_key) const {
  const char t = static_cast<char>(type);
  return blind_prf_->Compute(absl::StrCat(absl::string_view(&t, 1), search_key));
}

std::string KeyManager::DedupKey(absl::string_view subject_hash,
                                 fields::FieldType type,
                                 absl::string_view normalized) const {
  const char t = static_cast<char>(type);
  return dedup_prf_->Compute(
      absl::StrCat(subject_hash, absl::string_view(&t, 1), normalized));
}

crypto::SecretBytes KeyManager::NewDek() const {
  return crypto::SecretBytes::Random(kKeySize, *deps_.random);
}

absl::StatusOr<crypto::WrappedKey> KeyManager::WrapDek(
    const crypto::SecretBytes& dek, absl::string_view subject_hash) const {
  return keyring()->WrapDek(dek, subject_hash);
}

absl::StatusOr<crypto::SecretBytes> KeyManager::UnwrapDek(
    const crypto::WrappedKey& wrapped, absl::string_view subject_hash) const {
  return keyring()->UnwrapDek(wrapped, subject_hash);
}

std::shared_ptr<const crypto::Keyring> KeyManager::keyring() const {
  absl::MutexLock lock(&mu_);
  return keyring_;
}

}  // namespace sandyq::vault
