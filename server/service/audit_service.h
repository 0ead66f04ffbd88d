#ifndef SANDYQ_SERVER_SERVICE_AUDIT_SERVICE_H_
#define SANDYQ_SERVER_SERVICE_AUDIT_SERVICE_H_

#include <string>

#include "sandyq/v1/audit.grpc.pb.h"
#include "server/vault/vault.h"

namespace sandyq::service {

// sandyq.v1.Audit on the gRPC callback API. Query streams events in pages,
// reading the next page only when the previous one has been sent, so a slow
// reader never makes the server buffer the whole log. `vault` must outlive
// the service.
class AuditService final : public sandyq::v1::Audit::CallbackService {
 public:
  AuditService(vault::Vault* vault, std::string trust_domain)
      : vault_(vault), trust_domain_(std::move(trust_domain)) {}

  grpc::ServerWriteReactor<sandyq::v1::AuditEvent>* Query(
      grpc::CallbackServerContext* context,
      const sandyq::v1::AuditQueryRequest* request) override;
  grpc::ServerUnaryReactor* Verify(
      grpc::CallbackServerContext* context,
      const sandyq::v1::AuditVerifyRequest* request,
      sandyq::v1::AuditVerifyResponse* response) override;

 private:
  vault::Vault* const vault_;
  const std::string trust_domain_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_AUDIT_SERVICE_H_
