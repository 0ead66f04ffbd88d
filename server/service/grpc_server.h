#ifndef SANDYQ_SERVER_SERVICE_GRPC_SERVER_H_
#define SANDYQ_SERVER_SERVICE_GRPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/vault/vault.h"

namespace grpc {
class Server;
}

namespace sandyq::service {

class ServerMetrics;

struct ServerOptions {
  std::string listen;           // host:port; port 0 picks a free one
  std::string cert_pem;         // server certificate chain
  std::string key_pem;          // server private key
  std::string client_ca_pem;    // CA that must have issued client certs
  std::string trust_domain;     // for identities in SPIFFE URI SANs
  // If set, every call is counted and timed in it (must outlive the server).
  ServerMetrics* metrics = nullptr;
};

// The gRPC front of the vault: Tokenizer, Audit, KeyAdmin, Subjects and Admin
// services, the standard health service and server reflection, over TLS with
// client certificates required and verified against `client_ca_pem` (a call
// without a valid certificate never reaches a handler). TLS 1.2 is the
// minimum version (gRPC's TLS stack refuses anything older). Each call
// carries its certificate's serial to the vault, which refuses revoked ones.
class GrpcServer {
 public:
  // Binds and starts serving; health reports SERVING once this returns.
  // `vault` must outlive the server.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const ServerOptions& options, vault::Vault* vault);
  ~GrpcServer();

  // The address actually bound, e.g. "127.0.0.1:43117".
  const std::string& address() const { return address_; }

  // Health turns NOT_SERVING, new calls are refused (UNAVAILABLE), calls in
  // flight get until `deadline` to finish and send their replies before
  // being cancelled; then, after a quiet moment (at most 0.5 s) that lets
  // the refusals out, every connection is closed.
  void Shutdown(absl::Time deadline);
  // Blocks until the server has shut down.
  void Wait();

 private:
  struct Services;
  GrpcServer() = default;

  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_GRPC_SERVER_H_
