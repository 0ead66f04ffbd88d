#ifndef SANDYQ_SERVER_VAULT_INPUT_H_
#define SANDYQ_SERVER_VAULT_INPUT_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sandyq::vault {

// Limits on request fields other than values (values are checked by fields/).
inline constexpr size_t kMaxSubjectIdBytes = 256;
inline constexpr size_t kMaxSourceBytes = 128;
inline constexpr size_t kMaxPurposeBytes = 64;
inline constexpr size_t kMaxJustificationBytes = 512;
inline constexpr size_t kMaxIdentityBytes = 128;

// OK if `text` is valid UTF-8 of at most `max_bytes` bytes without control
// characters, and non-empty when `required`. Otherwise InvalidArgument
// "<field>: <rule>"; the message never contains the text.
absl::Status CheckText(absl::string_view field, absl::string_view text,
                       size_t max_bytes, bool required);

// The caller's identity as the access log records it. An identity comes
// from the caller's certificate (URI SAN or CN) and may hold any bytes; the
// log's string fields must be valid UTF-8 or its records would not decode
// again (Audit.Verify would report a broken chain, Audit.Query would stop).
// So an identity that is not valid text of at most kMaxIdentityBytes (no
// identity the policy can name) is recorded as "invalid:" followed by its
// first kMaxIdentityBytes bytes, C-escaped.
std::string LoggedIdentity(absl::string_view identity);

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_INPUT_H_
