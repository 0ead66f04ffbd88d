// The PKCS#11 (HSM) master-key provider declared in master_key.h.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/crypto/internal/pkcs11_util.h"
#include "server/crypto/master_key.h"
#include "server/crypto/secret.h"

namespace sandyq::crypto {
namespace {

using internal::Pkcs11Attribute;
using internal::Pkcs11BoolAttribute;
using internal::Pkcs11Error;
using internal::Pkcs11Session;

// Wrapped format: kFormatVersion || IV (12) || ciphertext || GCM tag (16),
// under CKM_AES_GCM with AAD kWrapAdPrefix + context. The version byte
// differs from the file provider's Aead format (0x01), so a blob of one
// provider is never mistaken for the other's.
constexpr uint8_t kFormatVersion = 0x02;
constexpr size_t kIvSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kOverhead = 1 + kIvSize + kTagSize;
constexpr CK_ULONG kKeySize = 32;
constexpr absl::string_view kWrapAdPrefix = "sandyq master wrap v1:";
constexpr absl::string_view kApplication = "sandyq";  // CKA_APPLICATION of KEKs

absl::Status DecryptionFailed() {
  return absl::DataLossError("decryption failed");
}

std::string KekContext(uint32_t version) {
  return absl::StrCat("kek:", version);
}

// Parses the decimal version of a KEK label "<prefix><version>"; false if
// `label` has another prefix or the rest is not a canonical uint32.
bool ParseKekLabel(absl::string_view label, absl::string_view prefix,
                   uint32_t& version) {
  if (label.size() <= prefix.size() || label.substr(0, prefix.size()) != prefix)
    return false;
  const absl::string_view digits = label.substr(prefix.size());
  if (digits.size() > 1 && digits[0] == '0') return false;
  if (!std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return absl::SimpleAtoi(digits, &version);
}

// Opens a session; errors already name module, token and label, never the
// PIN.
absl::StatusOr<std::unique_ptr<Pkcs11Session>> OpenSession(
    const Pkcs11Options& options) {
  return Pkcs11Session::Open(options.module_path, options.token_label,
                             options.pin);
}

// A master key that never leaves the token; every operation is a PKCS#11
// call on the one session, which a mutex serializes.
class Pkcs11MasterKeyProvider final : public MasterKeyProvider {
 public:
  Pkcs11MasterKeyProvider(const Pkcs11Options& options,
                          std::unique_ptr<Pkcs11Session> session,
                          CK_OBJECT_HANDLE key, platform::Random& random)
      : token_label_(options.token_label),
        key_label_(options.key_label),
        kek_label_prefix_(absl::StrCat(options.key_label, "/kek/")),
        random_(random),
        key_(key),
        session_(std::move(session)) {}

  std::string Describe() const override {
    return absl::StrCat("pkcs11:token=", token_label_, ";key=", key_label_);
  }

  absl::StatusOr<std::string> Wrap(const SecretBytes& key,
                                   absl::string_view context) const override {
    absl::MutexLock lock(&mu_);
    return WrapLocked(key, context);
  }

  absl::StatusOr<SecretBytes> Unwrap(absl::string_view wrapped,
                                     absl::string_view context) const override {
    absl::MutexLock lock(&mu_);
    return UnwrapLocked(wrapped, context);
  }

  absl::Status PutKek(uint32_t version, const SecretBytes& kek) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> existing =
        FindKekLocked(version);
    if (!existing.ok()) return existing.status();
    if (!existing->empty()) {
      return absl::AlreadyExistsError(
          absl::StrCat(Describe(), ": KEK version ", version, " exists"));
    }
    absl::StatusOr<std::string> wrapped = WrapLocked(kek, KekContext(version));
    if (!wrapped.ok()) return wrapped.status();
    const std::string label = KekLabel(version);
    CK_OBJECT_CLASS data_class = CKO_DATA;
    CK_ATTRIBUTE object[] = {
        Pkcs11Attribute(CKA_CLASS, &data_class, sizeof(data_class)),
        Pkcs11BoolAttribute(CKA_TOKEN, true),
        Pkcs11BoolAttribute(CKA_PRIVATE, true),
        Pkcs11Attribute(CKA_APPLICATION, kApplication),
        Pkcs11Attribute(CKA_LABEL, label),
        Pkcs11Attribute(CKA_VALUE, *wrapped),
    };
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    const CK_RV rv = session_->functions()->C_CreateObject(
        session_->handle(), object, std::size(object), &handle);
    if (rv != CKR_OK) {
      return Pkcs11Error(
          absl::StrCat(Describe(), ": cannot store KEK version ", version), rv);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SecretBytes> GetKek(uint32_t version) const override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
        FindKekLocked(version);
    if (!found.ok()) return found.status();
    if (found->empty()) {
      return absl::NotFoundError(
          absl::StrCat(Describe(), ": no KEK version ", version));
    }
    if (found->size() > 1) {
      return absl::DataLossError(absl::StrCat(Describe(), ": ", found->size(),
                                              " objects hold KEK version ",
                                              version));
    }
    absl::StatusOr<std::string> wrapped =
        session_->GetAttribute(found->front(), CKA_VALUE);
    if (!wrapped.ok()) {
      return absl::Status(wrapped.status().code(),
                          absl::StrCat(Describe(), ": KEK version ", version,
                                       ": ", wrapped.status().message()));
    }
    return UnwrapLocked(*wrapped, KekContext(version));
  }

  absl::Status DestroyKek(uint32_t version) override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
        FindKekLocked(version);
    if (!found.ok()) return found.status();
    for (CK_OBJECT_HANDLE object : *found) {
      const CK_RV rv =
          session_->functions()->C_DestroyObject(session_->handle(), object);
      if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID) {
        return Pkcs11Error(
            absl::StrCat(Describe(), ": cannot destroy KEK version ", version),
            rv);
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<uint32_t>> ListKeks() const override {
    absl::MutexLock lock(&mu_);
    CK_OBJECT_CLASS data_class = CKO_DATA;
    absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
        session_->FindObjects({
            Pkcs11Attribute(CKA_CLASS, &data_class, sizeof(data_class)),
            Pkcs11Attribute(CKA_APPLICATION, kApplication),
        });
    if (!found.ok()) return WithDescription(found.status());
    std::vector<uint32_t> versions;
    for (CK_OBJECT_HANDLE object : *found) {
      absl::StatusOr<std::string> label =
          session_->GetAttribute(object, CKA_LABEL);
      if (!label.ok()) return WithDescription(label.status());
      uint32_t version;
      // Other master keys' KEKs may share the token.
      if (!ParseKekLabel(*label, kek_label_prefix_, version)) continue;
      versions.push_back(version);
    }
    std::sort(versions.begin(), versions.end());
    if (std::adjacent_find(versions.begin(), versions.end()) !=
        versions.end()) {
      return absl::DataLossError(
          absl::StrCat(Describe(), ": a KEK version is stored twice"));
    }
    return versions;
  }

 private:
  std::string KekLabel(uint32_t version) const {
    return absl::StrCat(kek_label_prefix_, version);
  }

  absl::Status WithDescription(const absl::Status& status) const {
    return absl::Status(status.code(),
                        absl::StrCat(Describe(), ": ", status.message()));
  }

  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindKekLocked(
      uint32_t version) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string label = KekLabel(version);
    CK_OBJECT_CLASS data_class = CKO_DATA;
    absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
        session_->FindObjects({
            Pkcs11Attribute(CKA_CLASS, &data_class, sizeof(data_class)),
            Pkcs11Attribute(CKA_APPLICATION, kApplication),
            Pkcs11Attribute(CKA_LABEL, label),
        });
    if (!found.ok()) return WithDescription(found.status());
    return found;
  }

  absl::StatusOr<std::string> WrapLocked(const SecretBytes& key,
                                         absl::string_view context) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string out(kOverhead + key.size(), '\0');
    out[0] = static_cast<char>(kFormatVersion);
    random_.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(&out[1]), kIvSize));
    std::string aad = absl::StrCat(kWrapAdPrefix, context);
    CK_GCM_PARAMS params;
    params.pIv = reinterpret_cast<CK_BYTE*>(&out[1]);
    params.ulIvLen = kIvSize;
    params.ulIvBits = kIvSize * 8;
    params.pAAD = reinterpret_cast<CK_BYTE*>(aad.data());
    params.ulAADLen = aad.size();
    params.ulTagBits = kTagSize * 8;
    CK_MECHANISM mechanism = {CKM_AES_GCM, &params, sizeof(params)};
    CK_FUNCTION_LIST* f = session_->functions();
    CK_RV rv = f->C_EncryptInit(session_->handle(), &mechanism, key_);
    if (rv != CKR_OK) {
      return Pkcs11Error(absl::StrCat(Describe(), ": C_EncryptInit"), rv);
    }
    // The input is copied: PKCS#11 takes a non-const pointer.
    SecretBytes input(key);
    CK_ULONG out_size = out.size() - 1 - kIvSize;
    rv = f->C_Encrypt(session_->handle(), input.data(), input.size(),
                      reinterpret_cast<CK_BYTE*>(&out[1 + kIvSize]), &out_size);
    if (rv != CKR_OK) {
      return Pkcs11Error(absl::StrCat(Describe(), ": C_Encrypt"), rv);
    }
    if (out_size != key.size() + kTagSize) {
      return absl::InternalError(absl::StrCat(Describe(),
                                              ": C_Encrypt returned ", out_size,
                                              " bytes for ", key.size()));
    }
    return out;
  }

  // Every failure is the generic DataLoss("decryption failed") (no oracle),
  // except a token or session that is gone (Unavailable), which says nothing
  // about the bytes.
  absl::StatusOr<SecretBytes> UnwrapLocked(absl::string_view wrapped,
                                           absl::string_view context) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (wrapped.size() < kOverhead ||
        static_cast<uint8_t>(wrapped[0]) != kFormatVersion) {
      return DecryptionFailed();
    }
    std::string iv(wrapped.substr(1, kIvSize));
    std::string sealed(wrapped.substr(1 + kIvSize));  // ciphertext || tag
    std::string aad = absl::StrCat(kWrapAdPrefix, context);
    CK_GCM_PARAMS params;
    params.pIv = reinterpret_cast<CK_BYTE*>(iv.data());
    params.ulIvLen = kIvSize;
    params.ulIvBits = kIvSize * 8;
    params.pAAD = reinterpret_cast<CK_BYTE*>(aad.data());
    params.ulAADLen = aad.size();
    params.ulTagBits = kTagSize * 8;
    CK_MECHANISM mechanism = {CKM_AES_GCM, &params, sizeof(params)};
    CK_FUNCTION_LIST* f = session_->functions();
    CK_RV rv = f->C_DecryptInit(session_->handle(), &mechanism, key_);
    if (rv != CKR_OK) return UnwrapFailure(rv);
    // Room for the whole input: some tokens want it for GCM.
    SecretBytes plain(sealed.size());
    CK_ULONG plain_size = plain.size();
    rv = f->C_Decrypt(session_->handle(),
                      reinterpret_cast<CK_BYTE*>(sealed.data()), sealed.size(),
                      plain.data(), &plain_size);
    if (rv != CKR_OK) return UnwrapFailure(rv);
    if (plain_size != sealed.size() - kTagSize) return DecryptionFailed();
    return SecretBytes(plain.view().substr(0, plain_size));
  }

  absl::Status UnwrapFailure(CK_RV rv) const {
    absl::Status status = Pkcs11Error(Describe(), rv);
    if (absl::IsUnavailable(status)) return status;
    return DecryptionFailed();
  }

  // Constant after construction.
  const std::string token_label_;
  const std::string key_label_;
  const std::string kek_label_prefix_;  // "<key_label>/kek/"
  platform::Random& random_;
  const CK_OBJECT_HANDLE key_;

  mutable absl::Mutex mu_;
  // Calls on it are serialized by mu_.
  const std::unique_ptr<Pkcs11Session> session_ ABSL_PT_GUARDED_BY(mu_);
};

// The secret key objects labelled `key_label`.
absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindMasterKeys(
    Pkcs11Session& session, const std::string& key_label) {
  CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
  return session.FindObjects({
      Pkcs11Attribute(CKA_CLASS, &key_class, sizeof(key_class)),
      Pkcs11Attribute(CKA_LABEL, key_label),
  });
}

// FailedPrecondition unless `key` is a sensitive, non-extractable AES-256 key
// allowed to encrypt and decrypt.
absl::Status CheckMasterKey(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                            const Pkcs11Options& options) {
  const std::string what = absl::StrCat("master key '", options.key_label,
                                        "' in token ", options.token_label);
  auto with_what = [&what](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  };
  absl::StatusOr<CK_ULONG> key_type =
      session.GetUlongAttribute(key, CKA_KEY_TYPE);
  if (!key_type.ok()) return with_what(key_type.status());
  absl::StatusOr<CK_ULONG> size = session.GetUlongAttribute(key, CKA_VALUE_LEN);
  if (!size.ok()) return with_what(size.status());
  if (*key_type != CKK_AES || *size != kKeySize) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is not an AES-256 key"));
  }
  struct Required {
    CK_ATTRIBUTE_TYPE type;
    bool value;
    const char* complaint;
  };
  const Required required[] = {
      {CKA_EXTRACTABLE, false, "is extractable"},
      {CKA_SENSITIVE, true, "is not sensitive"},
      {CKA_ENCRYPT, true, "may not encrypt"},
      {CKA_DECRYPT, true, "may not decrypt"},
  };
  for (const Required& r : required) {
    absl::StatusOr<bool> value = session.GetBoolAttribute(key, r.type);
    if (!value.ok()) return with_what(value.status());
    if (*value != r.value) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " ", r.complaint,
                       "; it must be a sensitive, non-extractable "
                       "AES-256 key (see CreatePkcs11MasterKey)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CreatePkcs11MasterKey(const Pkcs11Options& options) {
  absl::StatusOr<std::unique_ptr<Pkcs11Session>> session = OpenSession(options);
  if (!session.ok()) return session.status();
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> existing =
      (*session)->FindObjects({Pkcs11Attribute(CKA_LABEL, options.key_label)});
  if (!existing.ok()) return existing.status();
  if (!existing->empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "token ", options.token_label, " already has an object labelled '",
        options.key_label, "'"));
  }
  CK_MECHANISM mechanism = {CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_AES;
  CK_ULONG size = kKeySize;
  CK_ATTRIBUTE key_template[] = {
      Pkcs11Attribute(CKA_CLASS, &key_class, sizeof(key_class)),
      Pkcs11Attribute(CKA_KEY_TYPE, &key_type, sizeof(key_type)),
      Pkcs11Attribute(CKA_VALUE_LEN, &size, sizeof(size)),
      Pkcs11BoolAttribute(CKA_TOKEN, true),
      Pkcs11BoolAttribute(CKA_PRIVATE, true),
      Pkcs11BoolAttribute(CKA_SENSITIVE, true),
      Pkcs11BoolAttribute(CKA_EXTRACTABLE, false),
      Pkcs11BoolAttribute(CKA_ENCRYPT, true),
      Pkcs11BoolAttribute(CKA_DECRYPT, true),
      Pkcs11BoolAttribute(CKA_WRAP, false),
      Pkcs11BoolAttribute(CKA_UNWRAP, false),
      Pkcs11Attribute(CKA_LABEL, options.key_label),
  };
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  const CK_RV rv = (*session)->functions()->C_GenerateKey(
      (*session)->handle(), &mechanism, key_template, std::size(key_template),
      &key);
  if (rv != CKR_OK) {
    return Pkcs11Error(
        absl::StrCat("cannot generate master key '", options.key_label,
                     "' in token ", options.token_label),
        rv);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MasterKeyProvider>> OpenPkcs11MasterKey(
    const Pkcs11Options& options, platform::Random& random) {
  absl::StatusOr<std::unique_ptr<Pkcs11Session>> session = OpenSession(options);
  if (!session.ok()) return session.status();
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> keys =
      FindMasterKeys(**session, options.key_label);
  if (!keys.ok()) return keys.status();
  if (keys->empty()) {
    return absl::NotFoundError(absl::StrCat("no master key labelled '",
                                            options.key_label, "' in token ",
                                            options.token_label));
  }
  if (keys->size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(keys->size(), " keys are labelled '", options.key_label,
                     "' in token ", options.token_label));
  }
  if (absl::Status s = CheckMasterKey(**session, keys->front(), options);
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<MasterKeyProvider>(new Pkcs11MasterKeyProvider(
      options, *std::move(session), keys->front(), random));
}

}  // namespace sandyq::crypto
