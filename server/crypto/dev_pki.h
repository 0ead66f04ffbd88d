#ifndef SANDYQ_SERVER_CRYPTO_DEV_PKI_H_
#define SANDYQ_SERVER_CRYPTO_DEV_PKI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sandyq::crypto {

// A development PKI: a CA and certificates signed by it, all ECDSA P-256 with
// SHA-256, written as PEM into one directory:
//   ca.crt, ca.key                  the CA (basicConstraints CA:TRUE)
//   server.crt, server.key          SAN DNS:localhost, IP:127.0.0.1
//   <identity>.crt, <identity>.key  client certs: CN=<identity>,
//                                   SAN URI:spiffe://<trust_domain>/<identity>
// Private keys are written 0600, certificates 0644, the directory 0700.
// Never for production: the CA key sits beside the certificates.
struct DevPkiOptions {
  std::string dir;
  std::string trust_domain = "sandyq.dev";
  std::vector<std::string> identities;
  absl::Duration validity = absl::Hours(24 * 825);
};

// Creates what is missing and keeps what exists, so restarting a dev vault
// reuses its CA and certificates; identities added to the list get new
// certificates from the existing CA. Identities must match [a-z0-9_-]{1,64}.
absl::Status EnsureDevPki(const DevPkiOptions& options);

// Issues (or reissues) <dir>/<identity>.crt/.key from the CA in `dir`, valid
// from `not_before` to `not_after`. Tests use it for unknown identities and
// expired certificates.
absl::Status IssueClientCertificate(const std::string& dir,
                                    const std::string& identity,
                                    const std::string& trust_domain,
                                    absl::Time not_before,
                                    absl::Time not_after);

// What a certificate says about its holder.
struct CertificateInfo {
  std::string common_name;
  std::vector<std::string> uri_sans;
  std::string serial_hex;  // upper-case hex
};

// Parses the first certificate of a PEM string.
absl::StatusOr<CertificateInfo> ParseCertificate(const std::string& pem);

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_DEV_PKI_H_
