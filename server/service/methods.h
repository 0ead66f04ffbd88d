#ifndef SANDYQ_SERVER_SERVICE_METHODS_H_
#define SANDYQ_SERVER_SERVICE_METHODS_H_

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace sandyq::service {

// Every method of sandyq's own gRPC services (Tokenizer, Audit, KeyAdmin,
// Subjects, Admin), with the path gRPC names it by
// ("/sandyq.v1.Tokenizer/Tokenize"). Interceptor factories look calls up in
// a map built from this once, instead of searching protobuf's descriptor
// pool (which takes its mutex) for every call. Health and reflection are not
// in it.
std::vector<std::pair<std::string, const google::protobuf::MethodDescriptor*>>
SandyqMethods();

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_METHODS_H_
