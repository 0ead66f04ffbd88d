#include "server/config/config.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/crypto/hash.h"
#include "server/platform/duration.h"
#include "server/platform/files.h"
#include "server/platform/random.h"
#include "server/policy/text_proto.h"

namespace sandyq::config {
namespace {

using sandyq::v1::ServerConfig;

bool ValidListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port;
  return absl::SimpleAtoi(listen.substr(colon + 1), &port) && port >= 0 &&
         port <= 65535;
}

}  // namespace

absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& text,
                                               const std::string& filename,
                                               const std::string& base_dir) {
  ServerConfig config;
  google::protobuf::TextFormat::ParseInfoTree tree;
  if (absl::Status s = policy::ParseTextProto(text, filename, &config, &tree);
      !s.ok()) {
    return s;
  }
  std::vector<std::string> errors;
  auto error = [&](absl::string_view path, absl::string_view problem) {
    errors.push_back(absl::StrCat(
        policy::TextFieldLocation(text, tree, *ServerConfig::descriptor(),
                                  path, filename),
        ": ", path, ": ", problem));
  };

  if (config.listen().empty()) {
    error("listen", "required (host:port)");
  } else if (!ValidListen(config.listen())) {
    error("listen", "must be host:port with a port from 0 to 65535");
  }
  if (config.tls().cert_file().empty()) error("tls.cert_file", "required");
  if (config.tls().key_file().empty()) error("tls.key_file", "required");
  if (config.tls().client_ca_file().empty()) {
    error("tls.client_ca_file", "required");
  }
  if (config.tls().trust_domain().empty()) {
    error("tls.trust_domain", "required (e.g. \"sandyq.dev\")");
  }
  if (config.data_dir().empty()) error("data_dir", "required");
  if (config.policy_file().empty()) error("policy_file", "required");
  switch (config.master_key().provider_case()) {
    case sandyq::v1::MasterKeyConfig::kFile:
      if (config.master_key().file().path().empty()) {
        error("master_key.file.path", "required");
      }
      break;
    case sandyq::v1::MasterKeyConfig::kPkcs11: {
      const auto& p = config.master_key().pkcs11();
      if (p.module().empty()) error("master_key.pkcs11.module", "required");
      if (p.token_label().empty()) {
        error("master_key.pkcs11.token_label", "required");
      }
      if (p.key_label().empty()) error("master_key.pkcs11.key_label", "required");
      if (p.pin_file().empty() == p.pin_env().empty()) {
        error("master_key.pkcs11",
              "give the PIN in exactly one of pin_file and pin_env");
      }
      break;
    }
    default:
      error("master_key",
            "a provider is required (file { ... } or pkcs11 { ... })");
  }
  if (!config.keys().rotate_every().empty() &&
      !ParseConfigDuration(config.keys().rotate_every()).ok()) {
    error("keys.rotate_every", "must be a duration like \"90d\" or \"12h\"");
  }
  if (config.audit().checkpoint_every_events() > 10000) {
    error("audit.checkpoint_every_events", "must be at most 10000");
  }
  if (!config.audit().checkpoint_every().empty() &&
      !ParseConfigDuration(config.audit().checkpoint_every()).ok()) {
    error("audit.checkpoint_every", "must be a duration like \"60s\"");
  }
  if (config.residency_country().empty()) config.set_residency_country("KZ");
  const std::string& country = config.residency_country();
  if (country.size() != 2 || !absl::ascii_isupper(country[0]) ||
      !absl::ascii_isupper(country[1])) {
    error("residency_country", "must be an ISO 3166-1 alpha-2 code like KZ");
  }
  for (int i = 0; i < config.backups().targets_size(); ++i) {
    const auto& t = config.backups().targets(i);
    const std::string path = absl::StrCat("backups.targets[", i, "]");
    if (t.path().empty()) error(absl::StrCat(path, ".path"), "required");
    if (t.country() != config.residency_country()) {
      error(absl::StrCat(path, ".country"),
            absl::StrCat("backups must stay in the residency country ",
                         config.residency_country(), ", not \"", t.country(),
                         "\""));
    }
  }
  if (!config.retention_every().empty() &&
      !ParseConfigDuration(config.retention_every()).ok()) {
    error("retention_every", "must be a duration like \"1h\"");
  }
  if (!config.metrics().listen().empty() &&
      !ValidListen(config.metrics().listen())) {
    error("metrics.listen",
          "must be host:port with a port from 0 to 65535 (or empty: off)");
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }

  auto resolve = [&](std::string* path) {
    *path = platform::ResolvePath(base_dir, *path);
  };
  resolve(config.mutable_tls()->mutable_cert_file());
  resolve(config.mutable_tls()->mutable_key_file());
  resolve(config.mutable_tls()->mutable_client_ca_file());
  if (!config.tls().revoked_serials_file().empty()) {
    resolve(config.mutable_tls()->mutable_revoked_serials_file());
  }
  resolve(config.mutable_data_dir());
  resolve(config.mutable_policy_file());
  if (config.erasure_ledger().empty()) {
    config.set_erasure_ledger(absl::StrCat(config.data_dir(), ".erasures"));
  } else {
    resolve(config.mutable_erasure_ledger());
  }
  for (auto& t : *config.mutable_backups()->mutable_targets()) {
    resolve(t.mutable_path());
  }
  if (config.master_key().has_file()) {
    resolve(config.mutable_master_key()->mutable_file()->mutable_path());
  }
  if (config.master_key().has_pkcs11()) {
    auto* p = config.mutable_master_key()->mutable_pkcs11();
    resolve(p->mutable_module());
    if (!p->pin_file().empty()) resolve(p->mutable_pin_file());
  }
  return config;
}

absl::StatusOr<absl::Duration> ParseConfigDuration(absl::string_view text) {
  return platform::ParseDuration(text);
}

absl::StatusOr<std::unique_ptr<crypto::MasterKeyProvider>> OpenMasterKey(
    const sandyq::v1::MasterKeyConfig& config, bool create) {
  if (config.has_file()) {
    if (create) {
      if (absl::Status s = crypto::CreateFileMasterKey(
              config.file().path(), platform::SystemRandom());
          !s.ok()) {
        return s;
      }
    }
    return crypto::OpenFileMasterKey(config.file().path(),
                                     platform::SystemRandom());
  }
  if (!config.has_pkcs11()) {
    return absl::InvalidArgumentError("master_key: no provider configured");
  }
  const auto& p = config.pkcs11();
  crypto::Pkcs11Options options{.module_path = p.module(),
                                .token_label = p.token_label(),
                                .key_label = p.key_label()};
  if (!p.pin_file().empty()) {
    if (absl::Status s = platform::CheckOwnerOnly(p.pin_file()); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> pin = platform::ReadFile(p.pin_file());
    if (!pin.ok()) return pin.status();
    options.pin = std::string(absl::StripTrailingAsciiWhitespace(*pin));
  } else {
    const char* pin = std::getenv(p.pin_env().c_str());
    if (pin == nullptr || *pin == '\0') {
      return absl::FailedPreconditionError(absl::StrCat(
          "master_key.pkcs11.pin_env: environment variable ", p.pin_env(),
          " is not set"));
    }
    options.pin = pin;
  }
  if (create) {
    if (absl::Status s = crypto::CreatePkcs11MasterKey(options); !s.ok()) {
      return s;
    }
  }
  return crypto::OpenPkcs11MasterKey(options, platform::SystemRandom());
}

absl::StatusOr<policy::AccessRules> LoadAccessRules(
    const ServerConfig& config) {
  std::vector<std::string> problems;
  policy::AccessRules rules;
  std::string policy_digest;
  absl::StatusOr<std::string> policy_text =
      platform::ReadFile(config.policy_file());
  if (!policy_text.ok()) {
    problems.push_back(
        absl::StrCat("policy_file: ", policy_text.status().message()));
  } else {
    absl::StatusOr<std::shared_ptr<const policy::Policy>> policy =
        policy::Policy::Parse(*policy_text, config.policy_file());
    if (policy.ok()) {
      rules.policy = *std::move(policy);
      // Names the file's version in the access log (64 bits suffice to tell
      // versions apart; this is no integrity check).
      policy_digest =
          crypto::ToHex(crypto::Sha256(*policy_text)).substr(0, 16);
    } else {
      problems.push_back(std::string(policy.status().message()));
    }
  }
  if (const std::string& path = config.tls().revoked_serials_file();
      path.empty()) {
    rules.revoked = std::make_shared<const policy::RevocationList>();
  } else {
    absl::StatusOr<std::string> text = platform::ReadFile(path);
    if (!text.ok()) {
      problems.push_back(absl::StrCat("tls.revoked_serials_file: ",
                                      text.status().message()));
    } else {
      absl::StatusOr<std::shared_ptr<const policy::RevocationList>> revoked =
          policy::RevocationList::Parse(*text, path);
      if (revoked.ok()) {
        rules.revoked = *std::move(revoked);
      } else {
        problems.push_back(std::string(revoked.status().message()));
      }
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  }
  rules.description = absl::StrCat(
      "policy sha256:", policy_digest, " (",
      rules.policy->IdentityNames().size(), " identities); ",
      rules.revoked->size(), " revoked certificate serials");
  return rules;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  absl::StatusOr<std::string> text = platform::ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseServerConfig(*text, path, platform::DirName(path));
}

}  // namespace sandyq::config
