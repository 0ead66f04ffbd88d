#include "server/service/decode_errors.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/interceptor.h"
#include "grpcpp/support/status.h"
#include "server/service/methods.h"

namespace sandyq::service {
namespace {

using grpc::experimental::InterceptionHookPoints;

class DecodeErrorInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit DecodeErrorInterceptor(const google::protobuf::MethodDescriptor* method)
      : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("request: does not decode as ",
                         method_->input_type()->full_name(),
                         ": a string field is not valid UTF-8, or the bytes "
                         "are not that message")));
      }
    }
    methods->Proceed();
  }

 private:
  // Descriptors live as long as the process.
  const google::protobuf::MethodDescriptor* const method_;
};

}  // namespace

DecodeErrorInterceptorFactory::DecodeErrorInterceptorFactory() {
  for (auto& [path, method] : SandyqMethods()) {
    methods_.emplace(std::move(path), method);
  }
}

grpc::experimental::Interceptor*
DecodeErrorInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (info->method() == nullptr) return nullptr;
  auto it = methods_.find(absl::string_view(info->method()));
  if (it == methods_.end()) return nullptr;  // not a method sandyq serves
  return new DecodeErrorInterceptor(it->second);
}

}  // namespace sandyq::service
