#include "server/config/dev_vault.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "server/crypto/dev_pki.h"
#include "server/crypto/master_key.h"
#include "server/platform/files.h"
#include "server/platform/random.h"
#include "server/policy/policy.h"

namespace sandyq::config {

constexpr absl::string_view kTrustDomain = "sandyq.dev";

absl::StatusOr<std::string> PrepareDevVault(const std::string& data_dir,
                                            const std::string& listen) {
  if (absl::Status s = platform::MakeDirs(data_dir, 0700); !s.ok()) return s;

  const std::string policy_path = absl::StrCat(data_dir, "/policy.textproto");
  if (!platform::PathExists(policy_path)) {
    if (absl::Status s =
            platform::WriteFileAtomic(policy_path, kSamplePolicy, 0600);
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::string> policy_text = platform::ReadFile(policy_path);
  if (!policy_text.ok()) return policy_text.status();
  absl::StatusOr<std::shared_ptr<const policy::Policy>> policy =
      policy::Policy::Parse(*policy_text, policy_path);
  if (!policy.ok()) return policy.status();

  crypto::DevPkiOptions pki;
  pki.dir = absl::StrCat(data_dir, "/pki");
  pki.trust_domain = std::string(kTrustDomain);
  pki.identities = (*policy)->IdentityNames();
  if (absl::Status s = crypto::EnsureDevPki(pki); !s.ok()) return s;

  const std::string key_path = absl::StrCat(data_dir, "/master.key");
  if (!platform::PathExists(key_path)) {
    if (absl::Status s =
            crypto::CreateFileMasterKey(key_path, platform::SystemRandom());
        !s.ok()) {
      return s;
    }
  }

  const std::string revoked_path =
      absl::StrCat(data_dir, "/revoked-serials.txt");
  if (!platform::PathExists(revoked_path)) {
    if (absl::Status s = platform::WriteFileAtomic(revoked_path, R"(# Revoked client-certificate serials, one per line, as
#   openssl x509 -in pki/<identity>.crt -noout -serial
# prints them. Calls with a listed certificate are refused. Takes effect on
# SIGHUP or `sandyq admin reload-policy` (docs/operations.md).
)", 0600);
        !s.ok()) {
      return s;
    }
  }

  const std::string config_path = absl::StrCat(data_dir, "/sandyqd.textproto");
  const std::string config = absl::Substitute(
      R"(# Development vault written by `sandyqd --dev`; rewritten on each start.
# Paths are relative to this file. Never use this layout in production:
# the CA key and the master key sit beside the data.
listen: "$0"
tls {
  cert_file: "pki/server.crt"
  key_file: "pki/server.key"
  client_ca_file: "pki/ca.crt"
  trust_domain: "$1"
  revoked_serials_file: "revoked-serials.txt"
}
data_dir: "db"
master_key { file { path: "master.key" } }
policy_file: "policy.textproto"
residency_country: "KZ"
erasure_ledger: "erasures.ledger"
backups { targets { path: "backups" country: "KZ" } }
metrics { listen: "127.0.0.1:0" }
)",
      listen, kTrustDomain);
  if (absl::Status s = platform::WriteFileAtomic(config_path, config, 0600);
      !s.ok()) {
    return s;
  }
  return config_path;
}

}  // namespace sandyq::config
