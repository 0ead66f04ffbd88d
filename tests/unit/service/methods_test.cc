#include "server/service/methods.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace sandyq::service {
namespace {

// The interceptors (clear decode errors, per-method metrics) reach exactly
// the methods listed here: a service missing from the list would answer an
// undecodable request with a bare UNIMPLEMENTED.
TEST(SandyqMethodsTest, ListsEveryMethodOfEveryServiceInSandyqsProtoFiles) {
  std::set<std::string> listed;
  for (const auto& [path, method] : SandyqMethods()) {
    ASSERT_NE(method, nullptr) << path;
    EXPECT_EQ(path, absl::StrCat("/", method->service()->full_name(), "/",
                                 method->name()));
    listed.insert(path);
  }
  const google::protobuf::DescriptorPool* pool =
      google::protobuf::DescriptorPool::generated_pool();
  int services = 0;
  for (const char* file :
       {"sandyq/v1/tokenizer.proto", "sandyq/v1/audit.proto",
        "sandyq/v1/keyadmin.proto", "sandyq/v1/subjects.proto",
        "sandyq/v1/admin.proto"}) {
    const google::protobuf::FileDescriptor* f = pool->FindFileByName(file);
    ASSERT_NE(f, nullptr) << file;
    for (int s = 0; s < f->service_count(); ++s, ++services) {
      const google::protobuf::ServiceDescriptor* service = f->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        EXPECT_TRUE(listed.count(absl::StrCat("/", service->full_name(), "/",
                                              service->method(m)->name())))
            << service->full_name() << "." << service->method(m)->name();
      }
    }
  }
  EXPECT_EQ(services, 5);
  EXPECT_FALSE(listed.count("/grpc.health.v1.Health/Check"));
}

}  // namespace
}  // namespace sandyq::service
