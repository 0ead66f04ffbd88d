#include "server/service/tokenizer_service.h"

#include <utility>

#include "server/service/identity.h"
#include "server/service/status.h"

namespace sandyq::service {
namespace {

namespace v1 = ::sandyq::v1;

vault::TokenizeInput ToInput(const v1::TokenizeRequest& r) {
  return {.subject_id = r.subject_id(),
          .field_type = static_cast<int>(r.type()),
          .value = r.value(),
          .source = r.source(),
          .purpose = r.purpose()};
}

vault::DetokenizeInput ToInput(const v1::DetokenizeRequest& r) {
  return {.token = r.token(),
          .purpose = r.purpose(),
          .justification = r.justification()};
}

void SetError(const absl::Status& status, v1::ItemError* error) {
  error->set_code(static_cast<int>(status.code()));
  error->set_message(std::string(status.message()));
}

}  // namespace

grpc::ServerUnaryReactor* TokenizerService::Tokenize(
    grpc::CallbackServerContext* context, const v1::TokenizeRequest* request,
    v1::TokenizeResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->Tokenize(CallerOf(context, deps_), ToInput(*request),
                   [reactor, response](absl::StatusOr<std::string> token) {
                     if (token.ok()) response->set_token(std::move(*token));
                     reactor->Finish(ToGrpcStatus(token.status()));
                   });
  return reactor;
}

grpc::ServerUnaryReactor* TokenizerService::TokenizeBatch(
    grpc::CallbackServerContext* context,
    const v1::TokenizeBatchRequest* request,
    v1::TokenizeBatchResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  std::vector<vault::TokenizeInput> inputs;
  inputs.reserve(request->items_size());
  for (const auto& item : request->items()) inputs.push_back(ToInput(item));
  deps_.vault->TokenizeBatch(
      CallerOf(context, deps_), std::move(inputs),
      [reactor, response](absl::StatusOr<vault::Vault::TokenizeResults> results) {
        if (results.ok()) {
          for (auto& result : *results) {
            v1::TokenizeResult* out = response->add_results();
            if (result.ok()) {
              out->set_token(std::move(*result));
            } else {
              SetError(result.status(), out->mutable_error());
            }
          }
        }
        reactor->Finish(ToGrpcStatus(results.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* TokenizerService::Detokenize(
    grpc::CallbackServerContext* context,
    const v1::DetokenizeRequest* request, v1::DetokenizeResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->Detokenize(CallerOf(context, deps_), ToInput(*request),
                     [reactor, response](absl::StatusOr<vault::Revealed> r) {
                       if (r.ok()) {
                         response->set_value(std::move(r->value));
                         response->set_type(
                             static_cast<v1::FieldType>(r->type));
                         response->set_masked(r->masked);
                       }
                       reactor->Finish(ToGrpcStatus(r.status()));
                     });
  return reactor;
}

grpc::ServerUnaryReactor* TokenizerService::DetokenizeBatch(
    grpc::CallbackServerContext* context,
    const v1::DetokenizeBatchRequest* request,
    v1::DetokenizeBatchResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  std::vector<vault::DetokenizeInput> inputs;
  inputs.reserve(request->items_size());
  for (const auto& item : request->items()) inputs.push_back(ToInput(item));
  deps_.vault->DetokenizeBatch(
      CallerOf(context, deps_), std::move(inputs),
      [reactor, response](absl::StatusOr<vault::Vault::DetokenizeResults> results) {
        if (results.ok()) {
          for (auto& r : *results) {
            v1::DetokenizeResult* out = response->add_results();
            if (r.ok()) {
              out->set_value(std::move(r->value));
              out->set_type(static_cast<v1::FieldType>(r->type));
              out->set_masked(r->masked);
            } else {
              SetError(r.status(), out->mutable_error());
            }
          }
        }
        reactor->Finish(ToGrpcStatus(results.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* TokenizerService::Lookup(
    grpc::CallbackServerContext* context, const v1::LookupRequest* request,
    v1::LookupResponse* response) {
  const UnaryCall call = StartUnary(deps_);
  if (call.refused) return call.reactor;
  grpc::ServerUnaryReactor* reactor = call.reactor;
  deps_.vault->Lookup(
      CallerOf(context, deps_),
      {.field_type = static_cast<int>(request->type()),
       .value = request->value(),
       .purpose = request->purpose()},
      [reactor, response](absl::StatusOr<std::vector<std::string>> tokens) {
        if (tokens.ok()) {
          for (auto& t : *tokens) response->add_tokens(std::move(t));
        }
        reactor->Finish(ToGrpcStatus(tokens.status()));
      });
  return reactor;
}

}  // namespace sandyq::service
