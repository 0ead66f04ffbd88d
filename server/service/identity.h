#ifndef SANDYQ_SERVER_SERVICE_IDENTITY_H_
#define SANDYQ_SERVER_SERVICE_IDENTITY_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/security/auth_context.h"

namespace sandyq::service {

// The caller's identity from its verified client certificate (DESIGN.md §4):
// the <name> of a URI SAN "spiffe://<trust_domain>/<name>", else the subject
// CN. A certificate whose only SPIFFE URIs belong to another trust domain has
// no identity (empty string), which no policy knows.
std::string IdentityFromAuthContext(const grpc::AuthContext& context,
                                    absl::string_view trust_domain);

// The serial numbers of callers' client certificates, for the revocation
// check on every call. gRPC gives the peer certificate as PEM
// ("x509_pem_cert"); decoding it costs more than a whole call, and every
// call on a connection presents the same certificate, so serials are
// remembered by certificate. Bounded: forgets everything once it holds
// `capacity` certificates. Thread-safe.
class CertificateSerialCache {
 public:
  explicit CertificateSerialCache(size_t capacity = 1024)
      : capacity_(capacity) {}

  // The serial (upper-case hex) of the verified peer certificate of
  // `context`; "" if there is none or it cannot be decoded.
  std::string SerialOf(const grpc::AuthContext& context);

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> by_pem_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_IDENTITY_H_
