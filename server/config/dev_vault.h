#ifndef SANDYQ_SERVER_CONFIG_DEV_VAULT_H_
#define SANDYQ_SERVER_CONFIG_DEV_VAULT_H_

#include <string>

#include "absl/status/statusor.h"

namespace sandyq::config {

// The sample policy from deploy/dev/policy.textproto, built into the binary.
extern const char kSamplePolicy[];

// Prepares a development vault in `data_dir` (mode 0700), creating what is
// missing and reusing what exists:
//   pki/          dev CA, server cert (localhost, 127.0.0.1), one client
//                 cert per identity of the policy (crypto/dev_pki.h)
//   master.key    file master key, mode 0600
//   policy.textproto  the sample policy (edit it; it is not overwritten)
//   sandyqd.textproto the server config pointing at all of the above
//   db/           RocksDB (created by the server)
//   erasures.ledger  the erasure ledger (created by the server)
//   backups/      the backup target (Admin.Backup writes here)
// `listen` is written into the config on every call. Returns the path of
// the config file, for config::LoadServerConfig.
absl::StatusOr<std::string> PrepareDevVault(const std::string& data_dir,
                                            const std::string& listen);

}  // namespace sandyq::config

#endif  // SANDYQ_SERVER_CONFIG_DEV_VAULT_H_
