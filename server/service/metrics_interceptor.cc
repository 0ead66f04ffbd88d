#include "server/service/metrics_interceptor.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/interceptor.h"
#include "sandyq/v1/tokenizer.pb.h"
#include "server/service/identity.h"
#include "server/service/methods.h"

namespace sandyq::service {
namespace {

namespace v1 = ::sandyq::v1;
using grpc::experimental::InterceptionHookPoints;

// The purpose a request names ("" for none), read from the deserialized
// request the interceptor is shown (of the method's request type).
using PurposeOf = absl::string_view (*)(const void* request);

template <typename Request>
absl::string_view SinglePurpose(const void* request) {
  return static_cast<const Request*>(request)->purpose();
}

template <typename Request>
absl::string_view BatchPurpose(const void* request) {
  const auto& items = static_cast<const Request*>(request)->items();
  if (items.empty()) return "";
  const absl::string_view first = items[0].purpose();
  for (const auto& item : items) {
    if (item.purpose() != first) return ServerMetrics::kMixedPurposes;
  }
  return first;
}

struct Method {
  std::string label;  // "Tokenizer.Tokenize"
  PurposeOf purpose = nullptr;
};

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info,
                     const Method* method, ServerMetrics* metrics,
                     const std::string* trust_domain)
      : info_(info),
        method_(method),
        metrics_(metrics),
        trust_domain_(trust_domain),
        start_(absl::Now()) {
    metrics_->CallStarted();
  }

  // A call that never sent a status (cancelled before its handler
  // finished) still counts.
  ~MetricsInterceptor() override {
    if (!recorded_) Record(static_cast<int>(grpc::StatusCode::CANCELLED));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Before the handler runs: the request is whole and nothing else
      // touches the call's context now.
      ResolveLabels(methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(static_cast<int>(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  void ResolveLabels(const void* request) {
    policy_ = metrics_->policy();
    identity_ = ServerMetrics::IdentityLabel(
        *policy_, IdentityFromAuthContext(*info_->server_context()->auth_context(),
                                          *trust_domain_));
    if (request != nullptr && method_->purpose != nullptr) {
      purpose_ = ServerMetrics::PurposeLabel(*policy_, method_->purpose(request));
    }
  }

  void Record(int code) {
    if (policy_ == nullptr) ResolveLabels(nullptr);  // refused before a message
    recorded_ = true;
    metrics_->CallFinished(method_->label, code, identity_, purpose_,
                           absl::Now() - start_);
  }

  grpc::experimental::ServerRpcInfo* const info_;
  const Method* const method_;
  ServerMetrics* const metrics_;
  const std::string* const trust_domain_;
  const absl::Time start_;
  // The labels point into `policy_` (or static strings).
  std::shared_ptr<const policy::Policy> policy_;
  absl::string_view identity_;
  absl::string_view purpose_;
  bool recorded_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  MetricsInterceptorFactory(ServerMetrics* metrics, std::string trust_domain)
      : metrics_(metrics), trust_domain_(std::move(trust_domain)) {
    // The calls of sandyq's own services are counted.
    for (const auto& [path, m] : SandyqMethods()) {
      methods_[path] =
          Method{.label = absl::StrCat(m->service()->name(), ".", m->name())};
    }
    auto set = [&](absl::string_view path, PurposeOf purpose) {
      if (auto it = methods_.find(path); it != methods_.end()) {
        it->second.purpose = purpose;
      }
    };
    set("/sandyq.v1.Tokenizer/Tokenize", &SinglePurpose<v1::TokenizeRequest>);
    set("/sandyq.v1.Tokenizer/Detokenize", &SinglePurpose<v1::DetokenizeRequest>);
    set("/sandyq.v1.Tokenizer/Lookup", &SinglePurpose<v1::LookupRequest>);
    set("/sandyq.v1.Tokenizer/TokenizeBatch",
        &BatchPurpose<v1::TokenizeBatchRequest>);
    set("/sandyq.v1.Tokenizer/DetokenizeBatch",
        &BatchPurpose<v1::DetokenizeBatchRequest>);
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (info->method() == nullptr) return nullptr;
    auto it = methods_.find(absl::string_view(info->method()));
    if (it == methods_.end()) return nullptr;  // health, reflection
    return new MetricsInterceptor(info, &it->second, metrics_, &trust_domain_);
  }

 private:
  ServerMetrics* const metrics_;
  const std::string trust_domain_;
  // By path, e.g. "/sandyq.v1.Tokenizer/Tokenize". Constant after
  // construction.
  absl::flat_hash_map<std::string, Method> methods_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewMetricsInterceptorFactory(ServerMetrics* metrics, std::string trust_domain) {
  return std::make_unique<MetricsInterceptorFactory>(metrics,
                                                     std::move(trust_domain));
}

}  // namespace sandyq::service
