#include "server/service/grpc_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/platform/log.h"
#include "server/service/audit_service.h"
#include "server/service/decode_errors.h"
#include "server/service/key_admin_service.h"
#include "server/service/metrics_interceptor.h"
#include "server/service/subjects_service.h"
#include "server/service/tokenizer_service.h"

namespace sandyq::service {
namespace {

// Once the calls in flight are done: a moment without calls that shutdown
// waits for, and how long it waits for one at most.
constexpr absl::Duration kQuiet = absl::Milliseconds(50);
constexpr absl::Duration kQuietGrace = absl::Milliseconds(500);

}  // namespace

struct GrpcServer::Services {
  Services(vault::Vault* vault, const std::string& trust_domain)
      : tokenizer({vault, trust_domain, &tracker, &serials}),
        audit({vault, trust_domain, &tracker, &serials}),
        key_admin({vault, trust_domain, &tracker, &serials}),
        subjects({vault, trust_domain, &tracker, &serials}),
        admin({vault, trust_domain, &tracker, &serials}) {}
  CallTracker tracker;
  CertificateSerialCache serials;
  TokenizerService tokenizer;
  AuditService audit;
  KeyAdminService key_admin;
  SubjectsService subjects;
  AdminService admin;
};

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const ServerOptions& options, vault::Vault* vault) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::SslServerCredentialsOptions ssl(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({options.key_pem, options.cert_pem});

  std::unique_ptr<GrpcServer> server(new GrpcServer);
  server->services_ = std::make_unique<Services>(vault, options.trust_domain);

  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::SslServerCredentials(ssl),
                           &port);
  builder.RegisterService(&server->services_->tokenizer);
  builder.RegisterService(&server->services_->audit);
  builder.RegisterService(&server->services_->key_admin);
  builder.RegisterService(&server->services_->subjects);
  builder.RegisterService(&server->services_->admin);
  // Values are small; refuse oversized messages before they are parsed.
  builder.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  // One list: a second SetInterceptorCreators would replace the first.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  if (options.metrics != nullptr) {
    interceptors.push_back(
        NewMetricsInterceptorFactory(options.metrics, options.trust_domain));
  }
  // Requests that do not decode get INVALID_ARGUMENT naming the rule.
  interceptors.push_back(std::make_unique<DecodeErrorInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        " (address in use, or bad TLS certificate or key)"));
  }
  const std::string host =
      options.listen.substr(0, options.listen.rfind(':'));
  server->address_ = absl::StrCat(host, ":", port);
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

GrpcServer::~GrpcServer() {
  if (server_ != nullptr) {
    Shutdown(absl::Now());
    Wait();
  }
}

void GrpcServer::Shutdown(absl::Time deadline) {
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // Refuse new calls, let the running ones finish and send their replies
  // (until the deadline), let the refusals out too and wait for a quiet
  // moment (briefly: clients that keep calling keep refusals coming), then
  // close every connection. gRPC's own graceful shutdown is no help here:
  // calls that arrive while it runs are held until its deadline and then
  // cancelled, and clients do not retry CANCELLED as they do UNAVAILABLE.
  services_->tracker.StartDraining();
  if (!services_->tracker.WaitIdle(deadline)) {
    platform::LogWarning("drain deadline passed; cancelling calls in flight");
  }
  services_->tracker.WaitQuiet(kQuiet,
                               std::min(deadline, absl::Now() + kQuietGrace));
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
}

void GrpcServer::Wait() { server_->Wait(); }

}  // namespace sandyq::service
