#include "server/service/audit_service.h"

#include <deque>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/time_util.h"
#include "server/crypto/hash.h"
#include "server/service/identity.h"
#include "server/service/status.h"

namespace sandyq::service {
namespace {

namespace v1 = ::sandyq::v1;
using google::protobuf::util::TimeUtil;

constexpr size_t kPageSize = 256;

absl::Time FromProto(const google::protobuf::Timestamp& ts, absl::Time unset) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return unset;
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

v1::AuditEvent ToProto(const audit::StoredEvent& e) {
  v1::AuditEvent out;
  out.set_seq(e.seq);
  const int64_t micros = absl::ToUnixMicros(e.time);
  *out.mutable_time() = TimeUtil::MicrosecondsToTimestamp(micros);
  out.set_identity(e.event.identity);
  out.set_organisation(e.event.organisation);
  out.set_country(e.event.country);
  out.set_rpc(e.event.rpc);
  if (!e.event.subject_hash.empty()) {
    out.set_subject_hash(crypto::ToHex(e.event.subject_hash));
  }
  out.set_token(e.event.token);
  out.set_field_type(static_cast<v1::FieldType>(e.event.field_type));
  out.set_purpose(e.event.purpose);
  out.set_justification(e.event.justification);
  out.set_decision(static_cast<v1::Decision>(e.event.decision));
  out.set_rule(e.event.rule);
  out.set_code(e.event.code);
  out.set_hash(crypto::ToHex(e.hash));
  out.set_prev_hash(crypto::ToHex(e.prev_hash));
  out.set_body(e.body);
  out.set_signature(e.signature);
  return out;
}

// Streams the events of one query, a page at a time.
class QueryReactor final : public grpc::ServerWriteReactor<v1::AuditEvent> {
 public:
  QueryReactor(vault::Vault* vault, vault::Caller caller,
               vault::AuditQueryInput input,
               std::optional<CallTracker::Token> token)
      : vault_(vault), token_(std::move(token)) {
    if (!token_) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server: shutting down; retry elsewhere"));
      return;
    }
    vault_->StartAuditQuery(
        std::move(caller), std::move(input),
        [this](absl::StatusOr<audit::AuditLog::Filter> filter) {
          if (!filter.ok()) {
            Finish(ToGrpcStatus(filter.status()));
            return;
          }
          filter_ = std::move(*filter);
          remaining_ = filter_.limit;
          SendNextPage();
        });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    page_.pop_front();
    if (page_.empty()) {
      SendNextPage();
    } else {
      StartWrite(&page_.front());
    }
  }

  void OnDone() override { delete this; }

 private:
  void SendNextPage() {
    if (filter_.limit != 0 && remaining_ == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    audit::AuditLog::Filter page_filter = filter_;
    page_filter.limit =
        filter_.limit == 0 ? kPageSize : std::min(kPageSize, remaining_);
    absl::Status s = vault_->ReadAudit(
        page_filter, [this](const audit::StoredEvent& e) {
          page_.push_back(ToProto(e));
          filter_.after_seq = e.seq;
          return true;
        });
    if (!s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    if (page_.empty()) {
      Finish(grpc::Status::OK);
      return;
    }
    if (filter_.limit != 0) remaining_ -= page_.size();
    StartWrite(&page_.front());
  }

  vault::Vault* const vault_;
  // Held until the stream is done (OnDone deletes the reactor).
  const std::optional<CallTracker::Token> token_;
  audit::AuditLog::Filter filter_;
  size_t remaining_ = 0;
  std::deque<v1::AuditEvent> page_;
};

}  // namespace

grpc::ServerWriteReactor<v1::AuditEvent>* AuditService::Query(
    grpc::CallbackServerContext* context, const v1::AuditQueryRequest* request) {
  vault::AuditQueryInput input{
      .subject_id = request->subject_id(),
      .identity = request->identity(),
      .since = FromProto(request->since(), absl::InfinitePast()),
      .until = FromProto(request->until(), absl::InfiniteFuture()),
      .after_seq = request->after_seq(),
      .limit = request->limit()};
  return new QueryReactor(deps_.vault, CallerOf(context, deps_),
                          std::move(input), deps_.tracker->Begin());
}

grpc::ServerUnaryReactor* AuditService::Verify(
    grpc::CallbackServerContext* context, const v1::AuditVerifyRequest*,
    v1::AuditVerifyResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->VerifyAudit(
      CallerOf(context, deps_),
      [reactor, response](absl::StatusOr<audit::AuditLog::VerifyResult> result) {
        if (result.ok()) {
          response->set_ok(result->ok);
          response->set_events_checked(result->events_checked);
          response->set_first_bad_seq(result->first_bad_seq);
          response->set_reason(result->reason);
          response->set_checkpoints_checked(result->checkpoints_checked);
          response->set_last_checkpoint_seq(result->last_checkpoint_seq);
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AuditService::SigningKey(
    grpc::CallbackServerContext* context, const v1::SigningKeyRequest*,
    v1::SigningKeyResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->SigningKey(
      CallerOf(context, deps_),
      [reactor, response](absl::StatusOr<std::string> pem) {
        if (pem.ok()) response->set_public_key_pem(std::move(*pem));
        reactor->Finish(ToGrpcStatus(pem.status()));
      });
  return reactor;
}

}  // namespace sandyq::service
