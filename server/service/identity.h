#ifndef SANDYQ_SERVER_SERVICE_IDENTITY_H_
#define SANDYQ_SERVER_SERVICE_IDENTITY_H_

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/security/auth_context.h"

namespace sandyq::service {

// The caller's identity from its verified client certificate (DESIGN.md §4):
// the <name> of a URI SAN "spiffe://<trust_domain>/<name>", else the subject
// CN. A certificate whose only SPIFFE URIs belong to another trust domain has
// no identity (empty string), which no policy knows.
std::string IdentityFromAuthContext(const grpc::AuthContext& context,
                                    absl::string_view trust_domain);

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_IDENTITY_H_
