#ifndef SANDYQ_SERVER_POLICY_POLICY_H_
#define SANDYQ_SERVER_POLICY_POLICY_H_

#include <map>
#include <memory>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/fields/field_type.h"

namespace sandyq::policy {

enum class LegalBasis { kUnspecified, kConsent, kContract, kLegalObligation, kLegitimateInterest };

struct Purpose {
  std::string name;
  LegalBasis legal_basis = LegalBasis::kUnspecified;
  bool requires_justification = false;
  bool allowed_while_blocked = false;
  bool cross_border = false;
};

enum class RetentionAction { kDestroy, kDepersonalize };

// How long values are kept (a rule for the collection purpose wins over one
// for the field type).
struct RetentionRule {
  std::optional<fields::FieldType> type;
  std::string purpose;
  absl::Duration period;
  RetentionAction action = RetentionAction::kDestroy;
};

// A subject's consent for one purpose, as last recorded.
struct ConsentState {
  bool granted = false;
  bool cross_border = false;
};

// What the policy needs to know about the subject whose data is revealed.
struct SubjectContext {
  bool blocked = false;
  std::optional<ConsentState> consent = std::nullopt;  // none recorded: nullopt
  std::string residency_country;        // the vault's
};

// A cap on the reveals of one identity (policy.proto RevealLimit), with its
// defaults resolved.
struct RevealLimit {
  std::string purpose;    // empty: every purpose together
  double per_second = 0;  // 0: no per-second cap
  uint32_t burst = 0;     // >= 1 when per_second > 0
  uint64_t per_day = 0;   // 0: no daily cap
};

// When an identity's reveals raise a bulk-extraction alarm (policy.proto
// ExtractionAlarms), resolved: identity, then policy, then these defaults.
// A zero threshold turns its alarm off.
struct AlarmThresholds {
  uint32_t denials = 50;
  absl::Duration denials_window = absl::Minutes(1);
  uint32_t subjects = 1000;
  absl::Duration subjects_window = absl::Hours(1);
};

// A known caller, resolved from its certificate identity.
struct Principal {
  std::string identity;
  std::string organisation;
  std::string country;  // ISO 3166-1 alpha-2
  std::vector<std::string> roles;
  std::vector<RevealLimit> reveal_limits;  // at most one per purpose and ""
  AlarmThresholds alarms;
};

enum class Reveal { kDeny, kMasked, kFull };

// The answer to one question put to the policy. `rule` names what decided it
// and goes into the access log, e.g. "support/reveal/customer_support/masked"
// or "default-deny". When !allowed, `code` and `message` are what the caller
// gets: PermissionDenied for a missing grant, FailedPrecondition for a
// missing justification, InvalidArgument for an unregistered purpose.
// Messages name the rule, never a value.
struct Decision {
  bool allowed = false;
  Reveal reveal = Reveal::kDeny;  // for reveal decisions
  std::string rule;
  absl::StatusCode code = absl::StatusCode::kPermissionDenied;
  std::string message;

  absl::Status ToStatus() const {
    return allowed ? absl::OkStatus() : absl::Status(code, message);
  }
};

// The access policy: identities -> roles -> grants (DESIGN.md §4). Pure: no
// I/O, no clock; every answer is a function of the policy and the question.
// Deny by default. Immutable after Parse(), so share it as
// std::shared_ptr<const Policy> and swap a new one in to reload. Thread-safe.
class Policy {
 public:
  // Parses a text-format sandyq.v1.Policy (proto/sandyq/v1/policy.proto) and
  // validates it. On failure returns InvalidArgument whose message lists every
  // problem found, one per line, as "<filename>:<line>:<column>: <field>:
  // <problem>", e.g. "policy.textproto:12:5: identities[2].roles[0]: unknown
  // role \"suport\"". Syntax errors are reported as by ParseTextProto()
  // (server/policy/text_proto.h).
  static absl::StatusOr<std::shared_ptr<const Policy>> Parse(
      absl::string_view text, absl::string_view filename);

  // The principal for a certificate identity, or nullptr if the policy does
  // not know it.
  const Principal* FindIdentity(absl::string_view identity) const;
  const Purpose* FindPurpose(absl::string_view name) const;

  // May `who` tokenize values of `type`?
  Decision Tokenize(const Principal& who, fields::FieldType type) const;

  // Does any of `who`'s roles grant any type for `purpose`? Asked before a
  // token is looked up, so callers without any grant learn nothing about
  // which tokens exist. Also checks that the purpose is registered and, if it
  // requires one, that `has_justification` is true. Checks in this order:
  // unregistered purpose (InvalidArgument), no grant (PermissionDenied),
  // missing justification (FailedPrecondition).
  Decision RevealAnything(const Principal& who, absl::string_view purpose,
                          bool has_justification) const;

  // How may `who` see a value of `type` for `purpose`: FULL, MASKED or deny.
  // The strongest grant across the principal's roles wins. Includes the
  // checks of RevealAnything.
  Decision Reveal(const Principal& who, absl::string_view purpose,
                  fields::FieldType type, bool has_justification) const;

  // May `who` look up tokens of `type` by value for `purpose`?
  Decision Lookup(const Principal& who, absl::string_view purpose,
                  fields::FieldType type) const;

  // May `who` read and verify the access log?
  Decision Audit(const Principal& who) const;

  // May `who` rotate, list and destroy keys (KeyAdmin.*)?
  Decision KeyAdmin(const Principal& who) const;
  // May `who` act on data subjects' rights (Subjects.*)?
  Decision SubjectAdmin(const Principal& who) const;
  // May `who` make backups (Admin.Backup)?
  Decision Backup(const Principal& who) const;
  // May `who` make the server reload the policy (Admin.ReloadPolicy)?
  Decision PolicyAdmin(const Principal& who) const;

  // Whether a reveal for `purpose` by `who` depends on the subject's consent
  // (a consent-based purpose, or a caller outside the residency country), so
  // the caller must look the consent up for SubjectConditions.
  bool ConsentMatters(const Principal& who, absl::string_view purpose,
                      absl::string_view residency_country) const;

  // The conditions on the subject for a reveal `who` is granted: a blocked
  // subject (FailedPrecondition unless the purpose is allowed while
  // blocked); a consent-based purpose needs the subject's active consent
  // (FailedPrecondition); a caller outside the residency country needs a
  // purpose that allows cross-border transfer (else PermissionDenied) and
  // the subject's consent for it with cross_border set (else
  // FailedPrecondition). Asked after Reveal allowed the grant.
  Decision SubjectConditions(const Principal& who, absl::string_view purpose,
                             const SubjectContext& subject) const;

  // May `who` store new data for a subject that is `blocked`, collected for
  // `collection_purpose` (may be empty)? Only for a purpose allowed while
  // blocked that `who` itself has a grant for.
  Decision TokenizeForSubject(const Principal& who,
                              absl::string_view collection_purpose,
                              bool blocked) const;

  // The retention rule for a value of `type` collected for
  // `collection_purpose`, or nullptr if none applies.
  const RetentionRule* RetentionFor(fields::FieldType type,
                                    absl::string_view collection_purpose) const;

  // Whether any retention rule is set (without one, retention has nothing to
  // look for).
  bool HasRetentionRules() const { return !retention_.empty(); }

  // Identity names in file order (deploy/dev issues a certificate for each).
  std::vector<std::string> IdentityNames() const;

 private:
  struct TypeGrant {
    std::set<fields::FieldType> full;
    std::set<fields::FieldType> masked;
  };
  struct Role {
    std::string name;
    std::set<fields::FieldType> tokenize;
    std::map<std::string, TypeGrant> reveal;                 // by purpose
    std::map<std::string, std::set<fields::FieldType>> lookup;  // by purpose
    bool audit = false;
    bool key_admin = false;
    bool subject_admin = false;
    bool backup = false;
    bool policy_admin = false;
  };

  Policy() = default;
  // The roles of `who` that the policy defines, in `who.roles` order.
  std::vector<const Role*> RolesOf(const Principal& who) const;
  // Reveal() for `type`, RevealAnything() when `type` is nullopt.
  Decision DecideReveal(const Principal& who, absl::string_view purpose,
                        std::optional<fields::FieldType> type,
                        bool has_justification) const;

  std::vector<Principal> principals_;             // file order
  std::map<std::string, size_t, std::less<>> by_identity_;
  std::map<std::string, Purpose, std::less<>> purposes_;
  std::map<std::string, Role, std::less<>> roles_;
  std::vector<RetentionRule> retention_;
};

}  // namespace sandyq::policy

#endif  // SANDYQ_SERVER_POLICY_POLICY_H_
