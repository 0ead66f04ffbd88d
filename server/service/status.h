#ifndef SANDYQ_SERVER_SERVICE_STATUS_H_
#define SANDYQ_SERVER_SERVICE_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace sandyq::service {

// absl and gRPC status codes share their numbers (google.rpc.Code).
inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_STATUS_H_
