#include "server/service/identity.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sandyq::service {

std::string IdentityFromAuthContext(const grpc::AuthContext& context,
                                    absl::string_view trust_domain) {
  if (!context.IsPeerAuthenticated()) return "";
  const std::string prefix = absl::StrCat("spiffe://", trust_domain, "/");
  bool foreign_spiffe = false;
  for (const grpc::string_ref& san :
       context.FindPropertyValues("x509_subject_alternative_name")) {
    absl::string_view value(san.data(), san.size());
    if (absl::StartsWith(value, prefix)) {
      absl::string_view name = value.substr(prefix.size());
      // One path segment only.
      if (!name.empty() && !absl::StrContains(name, '/')) {
        return std::string(name);
      }
    }
    if (absl::StartsWith(value, "spiffe://")) foreign_spiffe = true;
  }
  if (foreign_spiffe) return "";
  for (const grpc::string_ref& cn :
       context.FindPropertyValues("x509_common_name")) {
    return std::string(cn.data(), cn.size());
  }
  return "";
}

}  // namespace sandyq::service
