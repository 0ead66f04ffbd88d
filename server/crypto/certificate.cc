#include "server/crypto/certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server/crypto/internal/ssl_util.h"

namespace sandyq::crypto {
namespace {

// Certificates are never encrypted: no passphrase prompt, ever.
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

absl::StatusOr<std::string> CertificateSerial(absl::string_view pem) {
  internal::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return internal::OpenSslInternalError("BIO_new_mem_buf");
  internal::X509Ptr cert(
      PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) {
    internal::ConsumeOpenSslErrors();
    return absl::InvalidArgumentError("not a PEM certificate");
  }
  internal::BignumPtr serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (serial == nullptr) {
    return internal::OpenSslInternalError("certificate serial");
  }
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return internal::OpenSslInternalError("certificate serial");
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

}  // namespace sandyq::crypto
