#include "server/service/subjects_service.h"

#include <utility>

#include "google/protobuf/util/time_util.h"
#include "server/crypto/hash.h"
#include "server/service/status.h"

namespace sandyq::service {
namespace {

namespace v1 = ::sandyq::v1;
using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// Starts a unary call whose reply carries nothing but its status.
template <typename T>
auto StatusOnly(grpc::ServerUnaryReactor* reactor) {
  return [reactor](absl::StatusOr<T> result) {
    reactor->Finish(ToGrpcStatus(result.status()));
  };
}

}  // namespace

#define SANDYQ_BEGIN_CALL()                   \
  const UnaryCall call = StartUnary(deps_);   \
  if (call.refused) return call.reactor;      \
  grpc::ServerUnaryReactor* reactor = call.reactor

grpc::ServerUnaryReactor* SubjectsService::RecordConsent(
    grpc::CallbackServerContext* context, const v1::RecordConsentRequest* request,
    v1::RecordConsentResponse* response) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->RecordConsent(
      CallerOf(context, deps_),
      {.subject_id = request->subject_id(),
       .purpose = request->purpose(),
       .granted = request->granted(),
       .cross_border = request->cross_border(),
       .policy_version = request->policy_version(),
       .channel = request->channel()},
      [reactor, response](absl::StatusOr<absl::Time> at) {
        if (at.ok()) *response->mutable_recorded_at() = ToProto(*at);
        reactor->Finish(ToGrpcStatus(at.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::Report(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::ReportResponse* response) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->Report(
      CallerOf(context, deps_), request->subject_id(),
      [reactor, response](absl::StatusOr<vault::SubjectReport> report) {
        if (report.ok()) {
          response->set_subject_hash(crypto::ToHex(report->subject_hash));
          for (const auto& f : report->fields) {
            v1::ReportField* out = response->add_fields();
            out->set_token(f.token);
            out->set_type(static_cast<v1::FieldType>(f.type));
            out->set_source(f.source);
            *out->mutable_created_at() = ToProto(f.created);
            *out->mutable_updated_at() = ToProto(f.updated);
            out->set_collection_purpose(f.collection_purpose);
            out->set_depersonalized(f.depersonalized);
            if (f.retention_deadline) {
              *out->mutable_retention_deadline() = ToProto(*f.retention_deadline);
              out->set_retention_action(f.retention_action);
            }
          }
          for (const auto& c : report->consents) {
            v1::Consent* out = response->add_consents();
            out->set_purpose(c.purpose);
            out->set_granted(c.granted);
            out->set_cross_border(c.cross_border);
            out->set_policy_version(c.policy_version);
            out->set_channel(c.channel);
            *out->mutable_recorded_at() = ToProto(c.recorded);
          }
          for (const auto& e : report->accesses) {
            v1::Access* out = response->add_accesses();
            out->set_identity(e.event.identity);
            out->set_organisation(e.event.organisation);
            out->set_country(e.event.country);
            out->set_purpose(e.event.purpose);
            out->set_decision(static_cast<v1::Decision>(e.event.decision));
            *out->mutable_time() = ToProto(e.time);
            out->set_token(e.event.token);
            out->set_rpc(e.event.rpc);
            out->set_field_type(static_cast<v1::FieldType>(e.event.field_type));
            out->set_justification(e.event.justification);
          }
          for (const auto& e : report->erasures) {
            v1::ErasureReceipt* out = response->add_erasures();
            out->set_receipt_id(e.receipt_id);
            *out->mutable_erased_at() = ToProto(e.time);
          }
          response->set_blocked(report->blocked);
          response->set_block_reason(report->block_reason);
          for (const auto& h : report->holds) {
            v1::Hold* out = response->add_holds();
            out->set_hold_id(h.id);
            out->set_reason(h.reason);
            *out->mutable_set_at() = ToProto(h.set);
          }
          response->set_residency_country(report->residency_country);
        }
        reactor->Finish(ToGrpcStatus(report.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::Rectify(
    grpc::CallbackServerContext* context, const v1::RectifyRequest* request,
    v1::RectifyResponse*) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->Rectify(CallerOf(context, deps_), request->token(),
                       request->value(), request->reason(),
                       StatusOnly<bool>(reactor));
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::Block(
    grpc::CallbackServerContext* context, const v1::BlockRequest* request,
    v1::BlockResponse*) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->SetBlocked(CallerOf(context, deps_), request->subject_id(),
                          request->reason(), /*block=*/true,
                          StatusOnly<bool>(reactor));
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::Unblock(
    grpc::CallbackServerContext* context, const v1::UnblockRequest* request,
    v1::UnblockResponse*) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->SetBlocked(CallerOf(context, deps_), request->subject_id(),
                          request->reason(), /*block=*/false,
                          StatusOnly<bool>(reactor));
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::SetHold(
    grpc::CallbackServerContext* context, const v1::SetHoldRequest* request,
    v1::SetHoldResponse* response) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->SetHold(
      CallerOf(context, deps_), request->subject_id(), request->reason(),
      [reactor, response](absl::StatusOr<std::string> id) {
        if (id.ok()) response->set_hold_id(*id);
        reactor->Finish(ToGrpcStatus(id.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::ReleaseHold(
    grpc::CallbackServerContext* context, const v1::ReleaseHoldRequest* request,
    v1::ReleaseHoldResponse*) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->ReleaseHold(CallerOf(context, deps_), request->subject_id(),
                           request->reason(), request->hold_id(),
                           StatusOnly<bool>(reactor));
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::Erase(
    grpc::CallbackServerContext* context, const v1::EraseRequest* request,
    v1::EraseResponse* response) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->Erase(
      CallerOf(context, deps_), request->subject_id(), request->reason(),
      [reactor, response](absl::StatusOr<vault::EraseResult> result) {
        if (result.ok()) {
          response->set_receipt_id(result->receipt_id);
          *response->mutable_erased_at() = ToProto(result->erased);
          response->set_tokens_erased(static_cast<uint32_t>(result->tokens));
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* SubjectsService::ApplyRetention(
    grpc::CallbackServerContext* context, const v1::ApplyRetentionRequest*,
    v1::ApplyRetentionResponse* response) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->ApplyRetention(
      CallerOf(context, deps_),
      [reactor, response](absl::StatusOr<vault::RetentionResult> result) {
        if (result.ok()) {
          response->set_destroyed(static_cast<uint32_t>(result->destroyed));
          response->set_depersonalized(static_cast<uint32_t>(result->depersonalized));
          response->set_skipped_for_holds(
              static_cast<uint32_t>(result->skipped_for_holds));
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Backup(
    grpc::CallbackServerContext* context, const v1::BackupRequest* request,
    v1::BackupResponse* response) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->Backup(
      CallerOf(context, deps_), request->dir(),
      [reactor, response](absl::StatusOr<vault::BackupInfo> info) {
        if (info.ok()) {
          response->set_path(info->path);
          *response->mutable_created_at() = ToProto(info->created);
          response->set_audit_seq(info->audit_seq);
        }
        reactor->Finish(ToGrpcStatus(info.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ReloadPolicy(
    grpc::CallbackServerContext* context, const v1::ReloadPolicyRequest*,
    v1::ReloadPolicyResponse* response) {
  SANDYQ_BEGIN_CALL();
  deps_.vault->ReloadPolicy(
      CallerOf(context, deps_),
      [reactor, response](absl::StatusOr<vault::ReloadInfo> info) {
        if (info.ok()) {
          response->set_identities(static_cast<uint32_t>(info->identities));
          response->set_revoked_serials(
              static_cast<uint32_t>(info->revoked_serials));
          response->set_description(info->description);
        }
        reactor->Finish(ToGrpcStatus(info.status()));
      });
  return reactor;
}

#undef SANDYQ_BEGIN_CALL

}  // namespace sandyq::service
