#ifndef SANDYQ_SERVER_SERVICE_SERVICE_DEPS_H_
#define SANDYQ_SERVER_SERVICE_SERVICE_DEPS_H_

#include <string>

#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/service/call_tracker.h"
#include "server/service/identity.h"
#include "server/vault/vault.h"

namespace sandyq::service {

// What every service needs; all must outlive the services.
struct ServiceDeps {
  vault::Vault* vault;
  std::string trust_domain;  // for identities in SPIFFE URI SANs
  CallTracker* tracker;
  // Serials for the revocation check; without it callers have none, and
  // are refused while any serial is revoked.
  CertificateSerialCache* serials = nullptr;
};

// The authenticated caller of `context`.
inline vault::Caller CallerOf(grpc::CallbackServerContext* context,
                              const ServiceDeps& deps) {
  const std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  return {.identity = IdentityFromAuthContext(*auth, deps.trust_domain),
          .certificate_serial =
              deps.serials != nullptr ? deps.serials->SerialOf(*auth) : ""};
}

// Finishes `reactor` at once because the server is draining.
inline grpc::ServerUnaryReactor* RefuseDraining(
    grpc::ServerUnaryReactor* reactor) {
  reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "server: shutting down; retry elsewhere"));
  return reactor;
}

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_SERVICE_DEPS_H_
