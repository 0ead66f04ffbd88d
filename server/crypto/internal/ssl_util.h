#ifndef SANDYQ_SERVER_CRYPTO_INTERNAL_SSL_UTIL_H_
#define SANDYQ_SERVER_CRYPTO_INTERNAL_SSL_UTIL_H_

// OpenSSL handles owned by std::unique_ptr (after Tink's
// internal/ssl_unique_ptr.h), and helpers shared by the files of crypto/.
// For crypto/ and its tests only.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sandyq::crypto::internal {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* ptr) const { Free(ptr); }
};

template <typename T, void (*Free)(T*)>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<T, Free>>;

using EvpCipherPtr = OpenSslPtr<EVP_CIPHER, EVP_CIPHER_free>;
using EvpCipherCtxPtr = OpenSslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using EvpMdPtr = OpenSslPtr<EVP_MD, EVP_MD_free>;
using EvpMdCtxPtr = OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpMacPtr = OpenSslPtr<EVP_MAC, EVP_MAC_free>;
using EvpMacCtxPtr = OpenSslPtr<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using EvpKdfPtr = OpenSslPtr<EVP_KDF, EVP_KDF_free>;
using EvpKdfCtxPtr = OpenSslPtr<EVP_KDF_CTX, EVP_KDF_CTX_free>;
using EvpPkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using BioPtr = OpenSslPtr<BIO, BIO_free_all>;
using BignumPtr = OpenSslPtr<BIGNUM, BN_free>;
using Asn1IntegerPtr = OpenSslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using X509NamePtr = OpenSslPtr<X509_NAME, X509_NAME_free>;
using X509ExtensionPtr = OpenSslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509StorePtr = OpenSslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OpenSslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;

// Pops and clears this thread's OpenSSL error queue and returns its oldest
// entry as text (empty if none). Never call it where the text could reveal
// why a decryption failed to a caller.
std::string ConsumeOpenSslErrors();

// Internal(`what` + OpenSSL's reason), for failures that are not the
// caller's fault (allocation, provider errors).
absl::Status OpenSslInternalError(absl::string_view what);

// Aborts the process with `what`: for OpenSSL failures that cannot happen on
// a working system (allocation failure, missing default provider) in
// functions whose contract has no error path.
[[noreturn]] void OpenSslFatal(absl::string_view what);

}  // namespace sandyq::crypto::internal

#endif  // SANDYQ_SERVER_CRYPTO_INTERNAL_SSL_UTIL_H_
