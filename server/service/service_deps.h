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
};

// The authenticated caller of `context`.
inline vault::Caller CallerOf(grpc::CallbackServerContext* context,
                              const ServiceDeps& deps) {
  return {.identity = IdentityFromAuthContext(*context->auth_context(),
                                              deps.trust_domain)};
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
