#ifndef SANDYQ_SERVER_POLICY_ACCESS_RULES_H_
#define SANDYQ_SERVER_POLICY_ACCESS_RULES_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/policy/policy.h"

namespace sandyq::policy {

// Client-certificate serial numbers that are refused whatever the policy
// says: a stolen certificate is cut off at once, before it expires and
// without waiting for a new one to be issued to the service. Serials are
// those of certificates issued by the server's client CA (a serial is unique
// per issuer). Immutable after Parse(); thread-safe.
class RevocationList {
 public:
  // The most significant hex digits a serial may have (RFC 5280 4.1.2.2:
  // at most 20 octets).
  static constexpr size_t kMaxSerialDigits = 40;

  // An empty list.
  RevocationList() = default;

  // Parses a revocation list file: one serial per line, in hexadecimal, as
  // `openssl x509 -noout -serial` prints it ("serial=0A1B..."), with or
  // without the "serial=" prefix and colons between bytes ("0a:1b:..."), in
  // either case; leading zeros do not matter. '#' starts a comment (a whole
  // line, or the rest of a line); blank lines are ignored. Listing a serial
  // twice is allowed.
  //
  // On failure returns InvalidArgument listing every bad line as
  // "<filename>:<line>: <problem>", one per line. Messages never repeat the
  // line's text.
  static absl::StatusOr<std::shared_ptr<const RevocationList>> Parse(
      absl::string_view text, absl::string_view filename);

  // The canonical form of a serial: upper-case hex without separators,
  // prefix or leading zeros ("0" for zero); "" if `serial` is not a hex
  // serial of at most kMaxSerialDigits significant digits.
  static std::string Canonical(absl::string_view serial);

  // Whether `serial` (hex in any form Canonical() takes) is listed.
  bool Contains(absl::string_view serial) const;

  size_t size() const { return serials_.size(); }
  bool empty() const { return serials_.empty(); }

 private:
  absl::flat_hash_set<std::string> serials_;  // canonical forms
};

// What every call is checked against, loaded and swapped in as one on a
// reload: the policy and the revoked client-certificate serials.
struct AccessRules {
  std::shared_ptr<const Policy> policy;
  std::shared_ptr<const RevocationList> revoked;  // never null
  // Names the loaded files' versions for the logs and the access log, e.g.
  // "policy sha256:1a2b3c4d5e6f7081 (9 identities); 2 revoked serials".
  std::string description;
};

}  // namespace sandyq::policy

#endif  // SANDYQ_SERVER_POLICY_ACCESS_RULES_H_
