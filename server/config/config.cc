#include "server/config/config.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/platform/files.h"
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
    default:
      error("master_key", "a provider is required (file { path: ... })");
  }
  if (config.residency_country().empty()) config.set_residency_country("KZ");
  const std::string& country = config.residency_country();
  if (country.size() != 2 || !absl::ascii_isupper(country[0]) ||
      !absl::ascii_isupper(country[1])) {
    error("residency_country", "must be an ISO 3166-1 alpha-2 code like KZ");
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
  resolve(config.mutable_data_dir());
  resolve(config.mutable_policy_file());
  if (config.master_key().has_file()) {
    resolve(config.mutable_master_key()->mutable_file()->mutable_path());
  }
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  absl::StatusOr<std::string> text = platform::ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseServerConfig(*text, path, platform::DirName(path));
}

}  // namespace sandyq::config
