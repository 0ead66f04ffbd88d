#ifndef SANDYQ_SERVER_SERVICE_AUDIT_SERVICE_H_
#define SANDYQ_SERVER_SERVICE_AUDIT_SERVICE_H_

#include <string>

#include "sandyq/v1/audit.grpc.pb.h"
#include "server/service/service_deps.h"

namespace sandyq::service {

// sandyq.v1.Audit on the gRPC callback API. Query streams events in pages,
// reading the next page only when the previous one has been sent, so a slow
// reader never makes the server buffer the whole log. `vault` must outlive
// the service.
class AuditService final : public sandyq::v1::Audit::CallbackService {
 public:
  explicit AuditService(ServiceDeps deps) : deps_(std::move(deps)) {}

  grpc::ServerWriteReactor<sandyq::v1::AuditEvent>* Query(
      grpc::CallbackServerContext* context,
      const sandyq::v1::AuditQueryRequest* request) override;
  grpc::ServerUnaryReactor* Verify(
      grpc::CallbackServerContext* context,
      const sandyq::v1::AuditVerifyRequest* request,
      sandyq::v1::AuditVerifyResponse* response) override;
  grpc::ServerUnaryReactor* SigningKey(
      grpc::CallbackServerContext* context,
      const sandyq::v1::SigningKeyRequest* request,
      sandyq::v1::SigningKeyResponse* response) override;

 private:
  const ServiceDeps deps_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_AUDIT_SERVICE_H_
