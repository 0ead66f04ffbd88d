#include "server/crypto/keyring.h"

#include <openssl/crypto.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sandyq::crypto {
namespace {

constexpr absl::string_view kDekAdPrefix = "sandyq dek v1:";

}  // namespace

absl::Status Keyring::Builder::Add(uint32_t version, SecretBytes kek,
                                   bool primary) {
  absl::Status status;
  if (version == 0) {
    status = absl::InvalidArgumentError("KEK version 0 is reserved");
  } else if (keys_.count(version) > 0) {
    status = absl::InvalidArgumentError(
        absl::StrCat("duplicate KEK version ", version));
  } else if (kek.size() != Aead::kKeySize) {
    status = absl::InvalidArgumentError(
        absl::StrCat("KEK version ", version, " is not 32 bytes"));
  } else {
    absl::StatusOr<std::unique_ptr<Aead>> aead = Aead::New(kek, random_);
    if (!aead.ok()) {
      status = aead.status();
    } else {
      keys_.emplace(version, *std::move(aead));
      if (primary) {
        primary_ = version;
        ++primaries_;
      }
    }
  }
  if (!status.ok() && error_.ok()) error_ = status;
  return status;
}

absl::StatusOr<std::shared_ptr<const Keyring>> Keyring::Builder::Build() {
  if (!error_.ok()) return error_;
  if (primaries_ != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a keyring needs exactly one primary KEK, got ", primaries_));
  }
  std::shared_ptr<Keyring> ring(new Keyring());
  ring->keys_ = std::move(keys_);
  ring->primary_ = primary_;
  keys_.clear();
  primary_ = 0;
  primaries_ = 0;
  return std::shared_ptr<const Keyring>(std::move(ring));
}

absl::StatusOr<WrappedKey> Keyring::WrapDek(const SecretBytes& dek,
                                            absl::string_view context) const {
  auto it = keys_.find(primary_);
  if (it == keys_.end()) {
    return absl::InternalError("keyring has no primary KEK");
  }
  absl::StatusOr<std::string> sealed =
      it->second->Encrypt(dek.view(), absl::StrCat(kDekAdPrefix, context));
  if (!sealed.ok()) return sealed.status();
  return WrappedKey{primary_, *std::move(sealed)};
}

absl::StatusOr<SecretBytes> Keyring::UnwrapDek(const WrappedKey& wrapped,
                                               absl::string_view context) const {
  auto it = keys_.find(wrapped.kek_version);
  if (it == keys_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "KEK version ", wrapped.kek_version, " is not in the keyring"));
  }
  absl::StatusOr<std::string> plain =
      it->second->Decrypt(wrapped.bytes, absl::StrCat(kDekAdPrefix, context));
  if (!plain.ok()) return plain.status();
  SecretBytes dek(*plain);
  OPENSSL_cleanse(plain->data(), plain->size());
  return dek;
}

}  // namespace sandyq::crypto
