#include "server/crypto/dev_pki.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/crypto/internal/ssl_util.h"
#include "server/platform/files.h"
#include "server/platform/random.h"

namespace sandyq::crypto {
namespace {

using internal::BignumPtr;
using internal::BioPtr;
using internal::EvpPkeyPtr;
using internal::GeneralNamesPtr;
using internal::OpenSslInternalError;
using internal::X509ExtensionPtr;
using internal::X509Ptr;

constexpr mode_t kDirMode = 0700;
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertMode = 0644;
constexpr absl::string_view kCaName = "ca";
constexpr absl::string_view kServerName = "server";
constexpr absl::string_view kOrganization = "sandyq development";
constexpr size_t kSerialBytes = 16;  // 128 random bits
// Leaf and CA certificates start an hour in the past, to tolerate skew.
constexpr absl::Duration kBackdate = absl::Hours(1);

// Wipes a std::string that held key material when it goes out of scope.
class StringWiper {
 public:
  explicit StringWiper(std::string& s) : s_(s) {}
  ~StringWiper() { OPENSSL_cleanse(s_.data(), s_.size()); }
  StringWiper(const StringWiper&) = delete;
  StringWiper& operator=(const StringWiper&) = delete;

 private:
  std::string& s_;
};

absl::Status ValidateIdentity(absl::string_view identity) {
  bool ok = !identity.empty() && identity.size() <= 64;
  for (char c : identity) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        "identity must match [a-z0-9_-]{1,64}");
  }
  // These names would overwrite the CA's or the server's files.
  if (identity == kCaName || identity == kServerName) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity '", identity, "' is reserved for the dev PKI's own files"));
  }
  return absl::OkStatus();
}

// SPIFFE trust domains: lower-case letters, digits, '.', '-' and '_'.
absl::Status ValidateTrustDomain(absl::string_view trust_domain) {
  bool ok = !trust_domain.empty() && trust_domain.size() <= 255;
  for (char c : trust_domain) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '-' || c == '_');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        "trust domain must match [a-z0-9._-]{1,255}");
  }
  return absl::OkStatus();
}

std::string FilePath(const std::string& dir, absl::string_view name,
                     absl::string_view extension) {
  return absl::StrCat(dir, "/", name, extension);
}

// Never prompts for a passphrase: dev keys are unencrypted.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::StatusOr<X509Ptr> CertFromPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslInternalError("BIO_new_mem_buf");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) {
    internal::ConsumeOpenSslErrors();
    return absl::InvalidArgumentError("not a PEM certificate");
  }
  return cert;
}

absl::StatusOr<EvpPkeyPtr> KeyFromPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslInternalError("BIO_new_mem_buf");
  EvpPkeyPtr key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    internal::ConsumeOpenSslErrors();
    return absl::InvalidArgumentError("not a PEM private key");
  }
  return key;
}

absl::StatusOr<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int)
  if (size < 0 || data == nullptr) return OpenSslInternalError("BIO data");
  return std::string(data, static_cast<size_t>(size));
}

absl::Status WriteCert(const std::string& path, X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslInternalError("PEM_write_bio_X509");
  }
  absl::StatusOr<std::string> pem = BioContents(bio.get());
  if (!pem.ok()) return pem.status();
  return platform::WriteFileAtomic(path, *pem, kCertMode);
}

absl::Status WriteKey(const std::string& path, EVP_PKEY* key) {
  // BIO_s_secmem clears its buffer when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslInternalError("PEM_write_bio_PrivateKey");
  }
  absl::StatusOr<std::string> pem = BioContents(bio.get());
  if (!pem.ok()) return pem.status();
  StringWiper wipe(*pem);
  return platform::WriteFileAtomic(path, *pem, kKeyMode);
}

struct CertAndKey {
  X509Ptr cert;
  EvpPkeyPtr key;
};

// Reads <dir>/<name>.crt and .key. NotFound if either is missing,
// FailedPrecondition if the key file is open to group/others or the key
// does not belong to the certificate, InvalidArgument if unparsable.
absl::StatusOr<CertAndKey> ReadCertAndKey(const std::string& dir,
                                          absl::string_view name) {
  const std::string cert_path = FilePath(dir, name, ".crt");
  const std::string key_path = FilePath(dir, name, ".key");
  absl::StatusOr<std::string> cert_pem = platform::ReadFile(cert_path);
  if (!cert_pem.ok()) return cert_pem.status();
  if (absl::Status s = platform::CheckOwnerOnly(key_path); !s.ok()) return s;
  absl::StatusOr<std::string> key_pem = platform::ReadFile(key_path);
  if (!key_pem.ok()) return key_pem.status();
  StringWiper wipe(*key_pem);
  CertAndKey out;
  absl::StatusOr<X509Ptr> cert = CertFromPem(*cert_pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_path, ": ", cert.status().message()));
  }
  absl::StatusOr<EvpPkeyPtr> key = KeyFromPem(*key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, ": ", key.status().message()));
  }
  out.cert = *std::move(cert);
  out.key = *std::move(key);
  if (X509_check_private_key(out.cert.get(), out.key.get()) != 1) {
    internal::ConsumeOpenSslErrors();
    return absl::FailedPreconditionError(
        absl::StrCat(key_path, " does not match ", cert_path));
  }
  return out;
}

absl::StatusOr<CertAndKey> LoadCa(const std::string& dir) {
  absl::StatusOr<CertAndKey> ca = ReadCertAndKey(dir, kCaName);
  if (!ca.ok()) return ca.status();
  time_t now = absl::ToTimeT(absl::Now());
  if (X509_cmp_time(X509_get0_notAfter(ca->cert.get()), &now) <= 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the dev CA in ", dir, " has expired; remove ", dir,
        " to create a new one"));
  }
  return ca;
}

absl::StatusOr<EvpPkeyPtr> GenerateP256Key() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) return OpenSslInternalError("P-256 key generation");
  return key;
}

absl::Status SetRandomSerial(X509* cert) {
  uint8_t bytes[kSerialBytes];
  do {
    platform::SystemRandom().Fill(absl::MakeSpan(bytes));
  } while (bytes[0] == 0);  // keep all 128 bits significant (and non-zero)
  // A BIGNUM from unsigned bytes is positive, so the DER INTEGER is too.
  BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (bn == nullptr ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslInternalError("certificate serial");
  }
  return absl::OkStatus();
}

struct Extension {
  int nid;
  const char* value;
};

// Issues a certificate for `subject_key` named CN=`common_name`, signed with
// SHA-256 by `issuer` (`issuer_cert` null: self-signed).
absl::StatusOr<X509Ptr> IssueCertificate(absl::string_view common_name,
                                         EVP_PKEY* subject_key,
                                         X509* issuer_cert, EVP_PKEY* issuer_key,
                                         absl::Time not_before,
                                         absl::Time not_after,
                                         absl::Span<const Extension> extensions) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslInternalError("X509_new");
  X509* x = cert.get();
  if (X509_set_version(x, X509_VERSION_3) != 1) {
    return OpenSslInternalError("X509_set_version");
  }
  if (absl::Status s = SetRandomSerial(x); !s.ok()) return s;
  if (ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(not_before)) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(not_after)) ==
          nullptr) {
    return OpenSslInternalError("certificate validity");
  }
  X509_NAME* name = X509_get_subject_name(x);
  const std::string cn(common_name);
  const std::string org(kOrganization);
  if (X509_NAME_add_entry_by_txt(
          name, "O", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1) {
    return OpenSslInternalError("certificate subject");
  }
  X509* issuer = issuer_cert != nullptr ? issuer_cert : x;
  if (X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
      X509_set_pubkey(x, subject_key) != 1) {
    return OpenSslInternalError("certificate issuer or key");
  }
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer, x, nullptr, nullptr, 0);
  for (const Extension& e : extensions) {
    X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &v3, e.nid, e.value));
    if (ext == nullptr || X509_add_ext(x, ext.get(), -1) != 1) {
      return OpenSslInternalError(
          absl::StrCat("certificate extension ", OBJ_nid2sn(e.nid)));
    }
  }
  if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
    return OpenSslInternalError("certificate signature");
  }
  return cert;
}

// Generates a key and a certificate and writes <dir>/<name>.key, then .crt.
absl::Status IssueAndWrite(const std::string& dir, absl::string_view name,
                           absl::string_view common_name, const CertAndKey* ca,
                           absl::Time not_before, absl::Time not_after,
                           absl::Span<const Extension> extensions,
                           CertAndKey* issued = nullptr) {
  absl::StatusOr<EvpPkeyPtr> key = GenerateP256Key();
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> cert = IssueCertificate(
      common_name, key->get(), ca != nullptr ? ca->cert.get() : nullptr,
      ca != nullptr ? ca->key.get() : key->get(), not_before, not_after,
      extensions);
  if (!cert.ok()) return cert.status();
  // The key first: a crash in between leaves a pair that does not match,
  // which EnsureDevPki replaces.
  if (absl::Status s = WriteKey(FilePath(dir, name, ".key"), key->get());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteCert(FilePath(dir, name, ".crt"), cert->get());
      !s.ok()) {
    return s;
  }
  if (issued != nullptr) {
    issued->cert = *std::move(cert);
    issued->key = *std::move(key);
  }
  return absl::OkStatus();
}

absl::StatusOr<CertAndKey> CreateCa(const std::string& dir,
                                    absl::Time not_before,
                                    absl::Time not_after) {
  static constexpr Extension kCaExtensions[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,keyCertSign,cRLSign"},
      {NID_subject_key_identifier, "hash"},
  };
  CertAndKey ca;
  if (absl::Status s =
          IssueAndWrite(dir, kCaName, "sandyq development CA", nullptr,
                        not_before, not_after, kCaExtensions, &ca);
      !s.ok()) {
    return s;
  }
  return ca;
}

absl::Status IssueServer(const std::string& dir, const CertAndKey& ca,
                         absl::Time not_before, absl::Time not_after) {
  static constexpr Extension kServerExtensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  return IssueAndWrite(dir, kServerName, "localhost", &ca, not_before,
                       not_after, kServerExtensions);
}

// Identity and trust domain must have been validated.
absl::Status IssueClient(const std::string& dir, const CertAndKey& ca,
                         absl::string_view identity,
                         absl::string_view trust_domain, absl::Time not_before,
                         absl::Time not_after) {
  const std::string san =
      absl::StrCat("URI:spiffe://", trust_domain, "/", identity);
  const Extension extensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "clientAuth"},
      {NID_subject_alt_name, san.c_str()},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  return IssueAndWrite(dir, identity, identity, &ca, not_before, not_after,
                       extensions);
}

// True if <dir>/<name>.crt/.key exist, match, are signed by `ca` and have
// not expired at `now`.
bool LeafIsUsable(const std::string& dir, absl::string_view name,
                  const CertAndKey& ca, absl::Time now) {
  absl::StatusOr<CertAndKey> leaf = ReadCertAndKey(dir, name);
  if (!leaf.ok()) return false;
  time_t now_t = absl::ToTimeT(now);
  const bool usable =
      X509_verify(leaf->cert.get(), ca.key.get()) == 1 &&
      X509_check_issued(ca.cert.get(), leaf->cert.get()) == X509_V_OK &&
      X509_cmp_time(X509_get0_notAfter(leaf->cert.get()), &now_t) > 0;
  internal::ConsumeOpenSslErrors();
  return usable;
}

}  // namespace

absl::Status EnsureDevPki(const DevPkiOptions& options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("dev PKI directory is empty");
  }
  if (options.validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("dev PKI validity must be positive");
  }
  if (absl::Status s = ValidateTrustDomain(options.trust_domain); !s.ok()) {
    return s;
  }
  for (const std::string& identity : options.identities) {
    if (absl::Status s = ValidateIdentity(identity); !s.ok()) return s;
  }

  const std::string& dir = options.dir;
  if (platform::PathExists(dir)) {
    // An existing directory is the user's: check it, never chmod it.
    if (absl::Status s = platform::CheckOwnerOnly(dir); !s.ok()) return s;
  }
  if (absl::Status s = platform::MakeDirs(dir, kDirMode); !s.ok()) return s;

  const absl::Time now = absl::Now();
  const absl::Time not_before = now - kBackdate;
  const absl::Time not_after = now + options.validity;

  const bool has_ca_cert = platform::PathExists(FilePath(dir, kCaName, ".crt"));
  const bool has_ca_key = platform::PathExists(FilePath(dir, kCaName, ".key"));
  CertAndKey ca;
  bool new_ca = false;
  if (has_ca_cert && has_ca_key) {
    absl::StatusOr<CertAndKey> loaded = LoadCa(dir);
    if (!loaded.ok()) return loaded.status();
    ca = *std::move(loaded);
  } else if (!has_ca_cert && !has_ca_key) {
    absl::StatusOr<CertAndKey> created = CreateCa(dir, not_before, not_after);
    if (!created.ok()) return created.status();
    ca = *std::move(created);
    new_ca = true;
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " holds only one of ca.crt and ca.key; remove ", dir,
        " to create a new dev PKI"));
  }

  if (new_ca || !LeafIsUsable(dir, kServerName, ca, now)) {
    if (absl::Status s = IssueServer(dir, ca, not_before, not_after);
        !s.ok()) {
      return s;
    }
  }
  for (const std::string& identity : options.identities) {
    if (!new_ca && LeafIsUsable(dir, identity, ca, now)) continue;
    if (absl::Status s = IssueClient(dir, ca, identity, options.trust_domain,
                                     not_before, not_after);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status IssueClientCertificate(const std::string& dir,
                                    const std::string& identity,
                                    const std::string& trust_domain,
                                    absl::Time not_before,
                                    absl::Time not_after) {
  if (absl::Status s = ValidateIdentity(identity); !s.ok()) return s;
  if (absl::Status s = ValidateTrustDomain(trust_domain); !s.ok()) return s;
  if (not_after <= not_before) {
    return absl::InvalidArgumentError("not_after must be after not_before");
  }
  // Tests issue expired certificates on purpose, so the CA's own expiry is
  // not checked here.
  absl::StatusOr<CertAndKey> ca = ReadCertAndKey(dir, kCaName);
  if (!ca.ok()) return ca.status();
  return IssueClient(dir, *ca, identity, trust_domain, not_before, not_after);
}

absl::StatusOr<CertificateInfo> ParseCertificate(const std::string& pem) {
  absl::StatusOr<X509Ptr> cert = CertFromPem(pem);
  if (!cert.ok()) return cert.status();
  CertificateInfo info;

  X509_NAME* subject = X509_get_subject_name(cert->get());
  const int cn_index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (cn_index >= 0) {
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(
        &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn_index)));
    if (len < 0) {
      internal::ConsumeOpenSslErrors();
      return absl::InvalidArgumentError("certificate common name is not text");
    }
    info.common_name.assign(reinterpret_cast<const char*>(utf8),
                            static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }

  GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(
      cert->get(), NID_subject_alt_name, nullptr, nullptr)));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      info.uri_sans.emplace_back(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
          static_cast<size_t>(ASN1_STRING_length(uri)));
    }
  }

  BignumPtr serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->get()), nullptr));
  if (serial == nullptr) return OpenSslInternalError("certificate serial");
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return OpenSslInternalError("certificate serial");
  info.serial_hex = hex;
  OPENSSL_free(hex);
  internal::ConsumeOpenSslErrors();
  return info;
}

}  // namespace sandyq::crypto
