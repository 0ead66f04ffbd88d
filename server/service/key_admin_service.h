#ifndef SANDYQ_SERVER_SERVICE_KEY_ADMIN_SERVICE_H_
#define SANDYQ_SERVER_SERVICE_KEY_ADMIN_SERVICE_H_

#include <string>

#include "sandyq/v1/keyadmin.grpc.pb.h"
#include "server/service/service_deps.h"

namespace sandyq::service {

// sandyq.v1.KeyAdmin on the gRPC callback API; translation only.
// `vault` must outlive the service.
class KeyAdminService final : public sandyq::v1::KeyAdmin::CallbackService {
 public:
  explicit KeyAdminService(ServiceDeps deps) : deps_(std::move(deps)) {}

  grpc::ServerUnaryReactor* RotateKeys(
      grpc::CallbackServerContext* context,
      const sandyq::v1::RotateKeysRequest* request,
      sandyq::v1::RotateKeysResponse* response) override;
  grpc::ServerUnaryReactor* ListKeys(
      grpc::CallbackServerContext* context,
      const sandyq::v1::ListKeysRequest* request,
      sandyq::v1::ListKeysResponse* response) override;
  grpc::ServerUnaryReactor* DestroyKey(
      grpc::CallbackServerContext* context,
      const sandyq::v1::DestroyKeyRequest* request,
      sandyq::v1::DestroyKeyResponse* response) override;

 private:
  const ServiceDeps deps_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_KEY_ADMIN_SERVICE_H_
