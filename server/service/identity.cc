#include "server/service/identity.h"

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/crypto/certificate.h"

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

std::string CertificateSerialCache::SerialOf(const grpc::AuthContext& context) {
  if (!context.IsPeerAuthenticated()) return "";
  for (const grpc::string_ref& value :
       context.FindPropertyValues("x509_pem_cert")) {
    const absl::string_view pem(value.data(), value.size());
    {
      absl::ReaderMutexLock lock(&mu_);
      if (auto it = by_pem_.find(pem); it != by_pem_.end()) return it->second;
    }
    absl::StatusOr<std::string> serial = crypto::CertificateSerial(pem);
    if (!serial.ok()) return "";
    absl::MutexLock lock(&mu_);
    if (by_pem_.size() >= capacity_) by_pem_.clear();
    by_pem_.emplace(pem, *serial);
    return *serial;
  }
  return "";
}

}  // namespace sandyq::service
