#include "client/client.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/audit/chain.h"
#include "server/crypto/hash.h"
#include "server/crypto/signer.h"

namespace sandyq::client {
namespace {

namespace v1 = ::sandyq::v1;

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::optional<v1::FieldType> ParseFieldType(const std::string& name) {
  v1::FieldType type;
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, "FIELD_TYPE_")) {
    upper = absl::StrCat("FIELD_TYPE_", upper);
  }
  if (!v1::FieldType_Parse(upper, &type) ||
      type == v1::FIELD_TYPE_UNSPECIFIED) {
    return std::nullopt;
  }
  return type;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadCredentials(
    const ClientOptions& options) {
  if (options.identity.empty()) {
    return absl::InvalidArgumentError("identity: required");
  }
  absl::StatusOr<std::string> ca = Slurp(options.pki_dir + "/ca.crt");
  absl::StatusOr<std::string> cert =
      Slurp(absl::StrCat(options.pki_dir, "/", options.identity, ".crt"));
  absl::StatusOr<std::string> key =
      Slurp(absl::StrCat(options.pki_dir, "/", options.identity, ".key"));
  for (const auto* s : {&ca, &cert, &key}) {
    if (!s->ok()) return s->status();
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *ca;
  ssl.pem_cert_chain = *cert;
  ssl.pem_private_key = *key;
  return grpc::SslCredentials(ssl);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(
    const ClientOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      LoadCredentials(options);
  if (!creds.ok()) return creds.status();
  return std::unique_ptr<Client>(
      new Client(grpc::CreateChannel(options.address, *creds), options.timeout));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
    : channel_(std::move(channel)),
      tokenizer_(v1::Tokenizer::NewStub(channel_)),
      audit_(v1::Audit::NewStub(channel_)),
      key_admin_(v1::KeyAdmin::NewStub(channel_)),
      subjects_(v1::Subjects::NewStub(channel_)),
      admin_(v1::Admin::NewStub(channel_)),
      timeout_(timeout) {}

void Client::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
}

absl::StatusOr<std::string> Client::Tokenize(const std::string& subject_id,
                                             v1::FieldType type,
                                             const std::string& value,
                                             const std::string& source,
                                             const std::string& purpose) {
  v1::TokenizeRequest request;
  request.set_subject_id(subject_id);
  request.set_type(type);
  request.set_value(value);
  request.set_source(source);
  request.set_purpose(purpose);
  v1::TokenizeResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(tokenizer_->Tokenize(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return response.token();
}

absl::StatusOr<v1::TokenizeBatchResponse> Client::TokenizeBatch(
    const v1::TokenizeBatchRequest& request) {
  v1::TokenizeBatchResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(tokenizer_->TokenizeBatch(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return response;
}

absl::StatusOr<v1::DetokenizeResponse> Client::Detokenize(
    const std::string& token, const std::string& purpose,
    const std::string& justification) {
  v1::DetokenizeRequest request;
  request.set_token(token);
  request.set_purpose(purpose);
  request.set_justification(justification);
  v1::DetokenizeResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(tokenizer_->Detokenize(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return response;
}

absl::StatusOr<v1::DetokenizeBatchResponse> Client::DetokenizeBatch(
    const v1::DetokenizeBatchRequest& request) {
  v1::DetokenizeBatchResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s =
          FromGrpc(tokenizer_->DetokenizeBatch(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return response;
}

absl::StatusOr<std::vector<std::string>> Client::Lookup(
    v1::FieldType type, const std::string& value, const std::string& purpose) {
  v1::LookupRequest request;
  request.set_type(type);
  request.set_value(value);
  request.set_purpose(purpose);
  v1::LookupResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(tokenizer_->Lookup(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return std::vector<std::string>(response.tokens().begin(),
                                  response.tokens().end());
}

absl::Status Client::QueryAudit(
    const v1::AuditQueryRequest& request,
    const std::function<bool(const v1::AuditEvent&)>& visit) {
  grpc::ClientContext context;
  SetDeadline(&context);
  std::unique_ptr<grpc::ClientReader<v1::AuditEvent>> reader =
      audit_->Query(&context, request);
  v1::AuditEvent event;
  while (reader->Read(&event)) {
    if (!visit(event)) {
      context.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (s.error_code() == grpc::StatusCode::CANCELLED) return absl::OkStatus();
  return FromGrpc(s);
}

absl::StatusOr<v1::AuditVerifyResponse> Client::VerifyAudit() {
  v1::AuditVerifyResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(
          audit_->Verify(&context, v1::AuditVerifyRequest(), &response));
      !s.ok()) {
    return s;
  }
  return response;
}

absl::StatusOr<std::string> Client::AuditSigningKey() {
  v1::SigningKeyResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(
          audit_->SigningKey(&context, v1::SigningKeyRequest(), &response));
      !s.ok()) {
    return s;
  }
  return response.public_key_pem();
}

absl::StatusOr<uint32_t> Client::RotateKeys() {
  v1::RotateKeysResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(
          key_admin_->RotateKeys(&context, v1::RotateKeysRequest(), &response));
      !s.ok()) {
    return s;
  }
  return response.primary_version();
}

absl::StatusOr<v1::ListKeysResponse> Client::ListKeys() {
  v1::ListKeysResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(
          key_admin_->ListKeys(&context, v1::ListKeysRequest(), &response));
      !s.ok()) {
    return s;
  }
  return response;
}

absl::Status Client::DestroyKey(uint32_t version) {
  v1::DestroyKeyRequest request;
  request.set_version(version);
  v1::DestroyKeyResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  return FromGrpc(key_admin_->DestroyKey(&context, request, &response));
}

// One unary call: a fresh context with the deadline, the reply or the error.
template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Client::Call(Method method, const Request& request) {
  Response response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(method(&context, request, &response)); !s.ok()) return s;
  return response;
}

absl::StatusOr<v1::RecordConsentResponse> Client::RecordConsent(
    const v1::RecordConsentRequest& request) {
  return Call<v1::RecordConsentResponse>(
      [&](auto* c, const auto& r, auto* o) { return subjects_->RecordConsent(c, r, o); },
      request);
}

absl::StatusOr<v1::ReportResponse> Client::Report(const std::string& subject_id) {
  v1::ReportRequest request;
  request.set_subject_id(subject_id);
  return Call<v1::ReportResponse>(
      [&](auto* c, const auto& r, auto* o) { return subjects_->Report(c, r, o); },
      request);
}

absl::Status Client::Rectify(const std::string& token, const std::string& value,
                             const std::string& reason) {
  v1::RectifyRequest request;
  request.set_token(token);
  request.set_value(value);
  request.set_reason(reason);
  return Call<v1::RectifyResponse>(
             [&](auto* c, const auto& r, auto* o) { return subjects_->Rectify(c, r, o); },
             request)
      .status();
}

absl::Status Client::Block(const std::string& subject_id, const std::string& reason) {
  v1::BlockRequest request;
  request.set_subject_id(subject_id);
  request.set_reason(reason);
  return Call<v1::BlockResponse>(
             [&](auto* c, const auto& r, auto* o) { return subjects_->Block(c, r, o); },
             request)
      .status();
}

absl::Status Client::Unblock(const std::string& subject_id,
                             const std::string& reason) {
  v1::UnblockRequest request;
  request.set_subject_id(subject_id);
  request.set_reason(reason);
  return Call<v1::UnblockResponse>(
             [&](auto* c, const auto& r, auto* o) { return subjects_->Unblock(c, r, o); },
             request)
      .status();
}

absl::StatusOr<std::string> Client::SetHold(const std::string& subject_id,
                                            const std::string& reason) {
  v1::SetHoldRequest request;
  request.set_subject_id(subject_id);
  request.set_reason(reason);
  auto response = Call<v1::SetHoldResponse>(
      [&](auto* c, const auto& r, auto* o) { return subjects_->SetHold(c, r, o); },
      request);
  if (!response.ok()) return response.status();
  return response->hold_id();
}

absl::Status Client::ReleaseHold(const std::string& subject_id,
                                 const std::string& reason,
                                 const std::string& hold_id) {
  v1::ReleaseHoldRequest request;
  request.set_subject_id(subject_id);
  request.set_reason(reason);
  request.set_hold_id(hold_id);
  return Call<v1::ReleaseHoldResponse>(
             [&](auto* c, const auto& r, auto* o) { return subjects_->ReleaseHold(c, r, o); },
             request)
      .status();
}

absl::StatusOr<v1::EraseResponse> Client::Erase(const std::string& subject_id,
                                                const std::string& reason) {
  v1::EraseRequest request;
  request.set_subject_id(subject_id);
  request.set_reason(reason);
  return Call<v1::EraseResponse>(
      [&](auto* c, const auto& r, auto* o) { return subjects_->Erase(c, r, o); },
      request);
}

absl::StatusOr<v1::ApplyRetentionResponse> Client::ApplyRetention() {
  return Call<v1::ApplyRetentionResponse>(
      [&](auto* c, const auto& r, auto* o) { return subjects_->ApplyRetention(c, r, o); },
      v1::ApplyRetentionRequest());
}

absl::StatusOr<v1::BackupResponse> Client::Backup(const std::string& dir) {
  v1::BackupRequest request;
  request.set_dir(dir);
  return Call<v1::BackupResponse>(
      [&](auto* c, const auto& r, auto* o) { return admin_->Backup(c, r, o); },
      request);
}

absl::StatusOr<v1::ReloadPolicyResponse> Client::ReloadPolicy() {
  return Call<v1::ReloadPolicyResponse>(
      [&](auto* c, const auto& r, auto* o) { return admin_->ReloadPolicy(c, r, o); },
      v1::ReloadPolicyRequest());
}

absl::StatusOr<OfflineVerifyResult> VerifyAuditExport(
    const std::vector<v1::AuditEvent>& events,
    const std::string& public_key_pem) {
  absl::StatusOr<std::string> key = crypto::Ed25519PublicKeyFromPem(public_key_pem);
  if (!key.ok()) return key.status();
  audit::ChainVerifier chain(*key);
  for (const v1::AuditEvent& e : events) {
    absl::StatusOr<std::string> hash = crypto::FromHex(e.hash());
    if (!chain.Add(e.seq(), e.body(), hash.ok() ? *hash : "")) break;
  }
  chain.Finish();
  const audit::ChainResult& r = chain.result();
  return OfflineVerifyResult{.ok = r.ok,
                             .events_checked = r.events_checked,
                             .checkpoints_checked = r.checkpoints_checked,
                             .last_checkpoint_seq = r.last_checkpoint_seq,
                             .first_bad_seq = r.first_bad_seq,
                             .reason = r.reason};
}

absl::Status Client::CheckHealth() {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (auto s = FromGrpc(stub->Check(&context, request, &response)); !s.ok()) {
    return s;
  }
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError("server is not serving");
  }
  return absl::OkStatus();
}

}  // namespace sandyq::client
