#ifndef SANDYQ_SERVER_CRYPTO_CERTIFICATE_H_
#define SANDYQ_SERVER_CRYPTO_CERTIFICATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sandyq::crypto {

// The serial number of the first certificate in `pem`, as upper-case hex
// without leading zeros (the form policy::RevocationList keeps).
// InvalidArgument if `pem` holds no certificate. Slow: OpenSSL 3 decodes the
// whole certificate, public key included (about 0.2 ms on a 2-core machine,
// more than a whole gRPC round trip), so callers on the request path cache
// the answer. Thread-safe.
absl::StatusOr<std::string> CertificateSerial(absl::string_view pem);

}  // namespace sandyq::crypto

#endif  // SANDYQ_SERVER_CRYPTO_CERTIFICATE_H_
