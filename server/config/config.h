#ifndef SANDYQ_SERVER_CONFIG_CONFIG_H_
#define SANDYQ_SERVER_CONFIG_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "sandyq/v1/config.pb.h"

namespace sandyq::config {

// Reads a text-format sandyq.v1.ServerConfig (proto/sandyq/v1/config.proto)
// and validates it. Relative paths in it are resolved against the config
// file's directory, and residency_country defaults to "KZ". On any error
// returns InvalidArgument listing every problem as
// "<file>:<line>:<column>: <field>: <problem>"; the server must not start.
absl::StatusOr<sandyq::v1::ServerConfig> LoadServerConfig(
    const std::string& path);

// The same, for a config already in memory (tests, the dev vault).
absl::StatusOr<sandyq::v1::ServerConfig> ParseServerConfig(
    const std::string& text, const std::string& filename,
    const std::string& base_dir);

}  // namespace sandyq::config

#endif  // SANDYQ_SERVER_CONFIG_CONFIG_H_
