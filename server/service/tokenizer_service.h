#ifndef SANDYQ_SERVER_SERVICE_TOKENIZER_SERVICE_H_
#define SANDYQ_SERVER_SERVICE_TOKENIZER_SERVICE_H_

#include <string>

#include "sandyq/v1/tokenizer.grpc.pb.h"
#include "server/service/service_deps.h"

namespace sandyq::service {

// sandyq.v1.Tokenizer on the gRPC callback API. Each handler translates the
// request, calls the vault and finishes the call from the vault's callback;
// no handler blocks. `vault` must outlive the service.
class TokenizerService final : public sandyq::v1::Tokenizer::CallbackService {
 public:
  explicit TokenizerService(ServiceDeps deps) : deps_(std::move(deps)) {}

  grpc::ServerUnaryReactor* Tokenize(
      grpc::CallbackServerContext* context,
      const sandyq::v1::TokenizeRequest* request,
      sandyq::v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* TokenizeBatch(
      grpc::CallbackServerContext* context,
      const sandyq::v1::TokenizeBatchRequest* request,
      sandyq::v1::TokenizeBatchResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(
      grpc::CallbackServerContext* context,
      const sandyq::v1::DetokenizeRequest* request,
      sandyq::v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* DetokenizeBatch(
      grpc::CallbackServerContext* context,
      const sandyq::v1::DetokenizeBatchRequest* request,
      sandyq::v1::DetokenizeBatchResponse* response) override;
  grpc::ServerUnaryReactor* Lookup(
      grpc::CallbackServerContext* context,
      const sandyq::v1::LookupRequest* request,
      sandyq::v1::LookupResponse* response) override;

 private:
  const ServiceDeps deps_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_TOKENIZER_SERVICE_H_
