#ifndef SANDYQ_SERVER_SERVICE_SERVICE_DEPS_H_
#define SANDYQ_SERVER_SERVICE_SERVICE_DEPS_H_

#include <optional>
#include <string>
#include <utility>

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

// The reactor of one unary call. It holds the call's tracker token until
// gRPC is done with the call (its reply sent, or the call cancelled), so a
// drain waits for replies to leave, not just for handlers to call Finish.
// Deletes itself.
class TrackedReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit TrackedReactor(CallTracker::Token token)
      : token_(std::move(token)) {}
  void OnDone() override { delete this; }

 private:
  const CallTracker::Token token_;
};

// A unary call as its handler starts it.
struct UnaryCall {
  grpc::ServerUnaryReactor* reactor;
  // The server is draining: `reactor` has already answered UNAVAILABLE and
  // the handler returns it at once.
  bool refused;
};

inline UnaryCall StartUnary(const ServiceDeps& deps) {
  if (std::optional<CallTracker::Token> token = deps.tracker->Begin()) {
    return {new TrackedReactor(*std::move(token)), false};
  }
  auto* reactor = new TrackedReactor(deps.tracker->BeginRefusal());
  reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "server: shutting down; retry elsewhere"));
  return {reactor, true};
}

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_SERVICE_DEPS_H_
