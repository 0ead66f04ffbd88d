#ifndef SANDYQ_SERVER_SERVICE_DECODE_ERRORS_H_
#define SANDYQ_SERVER_SERVICE_DECODE_ERRORS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/server_interceptor.h"

namespace sandyq::service {

// A request that gRPC cannot decode never reaches a handler: most often a
// proto3 string field (a value, subject id, purpose...) that is not valid
// UTF-8, which protobuf refuses to parse; or truncated, garbled bytes. gRPC's
// callback API then answers UNIMPLEMENTED with an empty message, which reads
// as "no such method". For the methods of sandyq's own services this
// interceptor turns that answer into INVALID_ARGUMENT
//   "request: does not decode as sandyq.v1.TokenizeRequest: a string field is
//    not valid UTF-8, or the bytes are not that message"
// (the rule, never any of the bytes). Nothing else is changed: sandyq's
// handlers never answer UNIMPLEMENTED.
class DecodeErrorInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  DecodeErrorInterceptorFactory();

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  // By path, e.g. "/sandyq.v1.Tokenizer/Tokenize". Constant after
  // construction.
  absl::flat_hash_map<std::string, const google::protobuf::MethodDescriptor*>
      methods_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_DECODE_ERRORS_H_
