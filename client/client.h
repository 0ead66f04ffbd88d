#ifndef SANDYQ_CLIENT_CLIENT_H_
#define SANDYQ_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include <optional>

#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "sandyq/v1/audit.grpc.pb.h"
#include "sandyq/v1/admin.grpc.pb.h"
#include "sandyq/v1/keyadmin.grpc.pb.h"
#include "sandyq/v1/subjects.grpc.pb.h"
#include "sandyq/v1/tokenizer.grpc.pb.h"

namespace sandyq::client {

struct ClientOptions {
  std::string address = "127.0.0.1:7443";
  // A directory with ca.crt, <identity>.crt and <identity>.key, as
  // `sandyqd --dev` writes into <data_dir>/pki.
  std::string pki_dir = "var/dev/pki";
  std::string identity;
  absl::Duration timeout = absl::Seconds(10);  // deadline of every call
};

// A sandyq client over mTLS. Every call has the configured deadline and
// returns the server's status as an absl::Status with the same code.
// Thread-safe; share one Client (and its channel) across threads.
class Client {
 public:
  // Reads the identity's certificate and key and the CA from the PKI dir.
  // Does not contact the server.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const ClientOptions& options);

  absl::StatusOr<std::string> Tokenize(const std::string& subject_id,
                                       sandyq::v1::FieldType type,
                                       const std::string& value,
                                       const std::string& source = "",
                                       const std::string& purpose = "");
  absl::StatusOr<sandyq::v1::TokenizeBatchResponse> TokenizeBatch(
      const sandyq::v1::TokenizeBatchRequest& request);
  absl::StatusOr<sandyq::v1::DetokenizeResponse> Detokenize(
      const std::string& token, const std::string& purpose,
      const std::string& justification = "");
  absl::StatusOr<sandyq::v1::DetokenizeBatchResponse> DetokenizeBatch(
      const sandyq::v1::DetokenizeBatchRequest& request);
  absl::StatusOr<std::vector<std::string>> Lookup(sandyq::v1::FieldType type,
                                                  const std::string& value,
                                                  const std::string& purpose);
  // Calls `visit` for each streamed event until it returns false.
  absl::Status QueryAudit(
      const sandyq::v1::AuditQueryRequest& request,
      const std::function<bool(const sandyq::v1::AuditEvent&)>& visit);
  absl::StatusOr<sandyq::v1::AuditVerifyResponse> VerifyAudit();
  absl::StatusOr<std::string> AuditSigningKey();  // PEM

  absl::StatusOr<uint32_t> RotateKeys();
  absl::StatusOr<sandyq::v1::ListKeysResponse> ListKeys();
  absl::Status DestroyKey(uint32_t version);

  // Subjects.* (data protection officer) and Admin.Backup.
  absl::StatusOr<sandyq::v1::RecordConsentResponse> RecordConsent(
      const sandyq::v1::RecordConsentRequest& request);
  absl::StatusOr<sandyq::v1::ReportResponse> Report(const std::string& subject_id);
  absl::Status Rectify(const std::string& token, const std::string& value,
                       const std::string& reason);
  absl::Status Block(const std::string& subject_id, const std::string& reason);
  absl::Status Unblock(const std::string& subject_id, const std::string& reason);
  absl::StatusOr<std::string> SetHold(const std::string& subject_id,
                                      const std::string& reason);
  absl::Status ReleaseHold(const std::string& subject_id,
                           const std::string& reason,
                           const std::string& hold_id = "");
  absl::StatusOr<sandyq::v1::EraseResponse> Erase(const std::string& subject_id,
                                                  const std::string& reason);
  absl::StatusOr<sandyq::v1::ApplyRetentionResponse> ApplyRetention();
  absl::StatusOr<sandyq::v1::BackupResponse> Backup(const std::string& dir);
  // Admin.ReloadPolicy: the server re-reads its policy and revocation list.
  absl::StatusOr<sandyq::v1::ReloadPolicyResponse> ReloadPolicy();

  // OK if grpc.health.v1.Health reports SERVING for the whole server.
  absl::Status CheckHealth();

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);
  void SetDeadline(grpc::ClientContext* context) const;
  template <typename Response, typename Request, typename Method>
  absl::StatusOr<Response> Call(Method method, const Request& request);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<sandyq::v1::Tokenizer::Stub> tokenizer_;
  std::unique_ptr<sandyq::v1::Audit::Stub> audit_;
  std::unique_ptr<sandyq::v1::KeyAdmin::Stub> key_admin_;
  std::unique_ptr<sandyq::v1::Subjects::Stub> subjects_;
  std::unique_ptr<sandyq::v1::Admin::Stub> admin_;
  const absl::Duration timeout_;
};

// Verifies an exported access log (events in sequence order, as Audit.Query
// streams them) with only the vault's checkpoint public key (PEM): recomputes
// every hash from the stored bodies, checks every link and every checkpoint
// signature (server/audit/chain.h). Events after the last checkpoint are
// chained but unsigned; the result says where the signed part ends.
struct OfflineVerifyResult {
  bool ok = false;
  uint64_t events_checked = 0;
  uint64_t checkpoints_checked = 0;
  uint64_t last_checkpoint_seq = 0;
  uint64_t first_bad_seq = 0;
  std::string reason;
};
absl::StatusOr<OfflineVerifyResult> VerifyAuditExport(
    const std::vector<sandyq::v1::AuditEvent>& events,
    const std::string& public_key_pem);

// "phone" -> FIELD_TYPE_PHONE etc. (the suffix of the enum name, any case);
// nullopt if unknown.
std::optional<sandyq::v1::FieldType> ParseFieldType(const std::string& name);

// The credentials Connect() uses, for callers that build their own channel
// (the load generator).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadCredentials(
    const ClientOptions& options);

}  // namespace sandyq::client

#endif  // SANDYQ_CLIENT_CLIENT_H_
