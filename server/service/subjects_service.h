#ifndef SANDYQ_SERVER_SERVICE_SUBJECTS_SERVICE_H_
#define SANDYQ_SERVER_SERVICE_SUBJECTS_SERVICE_H_

#include "sandyq/v1/admin.grpc.pb.h"
#include "sandyq/v1/subjects.grpc.pb.h"
#include "server/service/service_deps.h"

namespace sandyq::service {

// sandyq.v1.Subjects on the gRPC callback API; translation only.
class SubjectsService final : public sandyq::v1::Subjects::CallbackService {
 public:
  explicit SubjectsService(ServiceDeps deps) : deps_(std::move(deps)) {}

  grpc::ServerUnaryReactor* RecordConsent(
      grpc::CallbackServerContext* context,
      const sandyq::v1::RecordConsentRequest* request,
      sandyq::v1::RecordConsentResponse* response) override;
  grpc::ServerUnaryReactor* Report(grpc::CallbackServerContext* context,
                                   const sandyq::v1::ReportRequest* request,
                                   sandyq::v1::ReportResponse* response) override;
  grpc::ServerUnaryReactor* Rectify(grpc::CallbackServerContext* context,
                                    const sandyq::v1::RectifyRequest* request,
                                    sandyq::v1::RectifyResponse* response) override;
  grpc::ServerUnaryReactor* Block(grpc::CallbackServerContext* context,
                                  const sandyq::v1::BlockRequest* request,
                                  sandyq::v1::BlockResponse* response) override;
  grpc::ServerUnaryReactor* Unblock(grpc::CallbackServerContext* context,
                                    const sandyq::v1::UnblockRequest* request,
                                    sandyq::v1::UnblockResponse* response) override;
  grpc::ServerUnaryReactor* SetHold(grpc::CallbackServerContext* context,
                                    const sandyq::v1::SetHoldRequest* request,
                                    sandyq::v1::SetHoldResponse* response) override;
  grpc::ServerUnaryReactor* ReleaseHold(
      grpc::CallbackServerContext* context,
      const sandyq::v1::ReleaseHoldRequest* request,
      sandyq::v1::ReleaseHoldResponse* response) override;
  grpc::ServerUnaryReactor* Erase(grpc::CallbackServerContext* context,
                                  const sandyq::v1::EraseRequest* request,
                                  sandyq::v1::EraseResponse* response) override;
  grpc::ServerUnaryReactor* ApplyRetention(
      grpc::CallbackServerContext* context,
      const sandyq::v1::ApplyRetentionRequest* request,
      sandyq::v1::ApplyRetentionResponse* response) override;

 private:
  const ServiceDeps deps_;
};

// sandyq.v1.Admin on the gRPC callback API; translation only.
class AdminService final : public sandyq::v1::Admin::CallbackService {
 public:
  explicit AdminService(ServiceDeps deps) : deps_(std::move(deps)) {}

  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* context,
                                   const sandyq::v1::BackupRequest* request,
                                   sandyq::v1::BackupResponse* response) override;
  grpc::ServerUnaryReactor* ReloadPolicy(
      grpc::CallbackServerContext* context,
      const sandyq::v1::ReloadPolicyRequest* request,
      sandyq::v1::ReloadPolicyResponse* response) override;

 private:
  const ServiceDeps deps_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_SUBJECTS_SERVICE_H_
