#include "server/service/methods.h"

#include "absl/strings/str_cat.h"

namespace sandyq::service {

std::vector<std::pair<std::string, const google::protobuf::MethodDescriptor*>>
SandyqMethods() {
  static constexpr const char* kServices[] = {
      "sandyq.v1.Tokenizer", "sandyq.v1.Audit", "sandyq.v1.KeyAdmin",
      "sandyq.v1.Subjects",  "sandyq.v1.Admin",
  };
  const google::protobuf::DescriptorPool* pool =
      google::protobuf::DescriptorPool::generated_pool();
  std::vector<std::pair<std::string, const google::protobuf::MethodDescriptor*>>
      out;
  for (const char* name : kServices) {
    const google::protobuf::ServiceDescriptor* service =
        pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      out.emplace_back(absl::StrCat("/", service->full_name(), "/",
                                    method->name()),
                       method);
    }
  }
  return out;
}

}  // namespace sandyq::service
