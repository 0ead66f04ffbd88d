#ifndef SANDYQ_SERVER_CONFIG_CONFIG_H_
#define SANDYQ_SERVER_CONFIG_CONFIG_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sandyq/v1/config.pb.h"
#include "server/crypto/master_key.h"
#include "server/policy/access_rules.h"

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

// Durations in the config: a number and a unit, "90d", "12h", "30m", "45s",
// "1500ms" (or combinations absl::ParseDuration takes, e.g. "1h30m").
// InvalidArgument otherwise or if not positive.
absl::StatusOr<absl::Duration> ParseConfigDuration(absl::string_view text);

// Reads and validates what calls are checked against: the policy file and,
// if the config names one, the certificate revocation list
// (tls.revoked_serials_file). The server does this at start, on SIGHUP and
// on Admin.ReloadPolicy. Either both files are good and both are returned,
// or InvalidArgument lists every problem of both, one per line, as
// "<file>:<line>[:<column>]: <problem>" (a file that cannot be read is
// named with the reason).
absl::StatusOr<policy::AccessRules> LoadAccessRules(
    const sandyq::v1::ServerConfig& config);

// Opens (or, with `create`, first creates) the master-key provider the config
// names: a file master key, or a key in a PKCS#11 token whose PIN comes from
// pin_file (must be owner-only) or pin_env.
absl::StatusOr<std::unique_ptr<crypto::MasterKeyProvider>> OpenMasterKey(
    const sandyq::v1::MasterKeyConfig& config, bool create = false);

}  // namespace sandyq::config

#endif  // SANDYQ_SERVER_CONFIG_CONFIG_H_
