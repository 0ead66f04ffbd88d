#include "server/policy/policy.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"
#include "sandyq/v1/policy.pb.h"
#include "server/platform/duration.h"
#include "server/policy/text_proto.h"

namespace sandyq::policy {
namespace {

using fields::FieldType;
using fields::FieldTypeName;
using ::google::protobuf::TextFormat;

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxQuotedLength = 64;

// Bounds on rate limits and alarms: beyond them a value is a typo, and the
// subjects of one alarm window are held in memory.
constexpr double kMaxPerSecond = 1e6;
constexpr uint32_t kMaxBurst = 1000000;
constexpr uint32_t kMaxAlarmSubjects = 1000000;
constexpr absl::Duration kMinAlarmWindow = absl::Seconds(1);
constexpr absl::Duration kMaxAlarmWindow = absl::Hours(7 * 24);

constexpr absl::string_view kDefaultDenyRule = "default-deny";
constexpr absl::string_view kJustificationRequiredRule =
    "justification-required";
constexpr absl::string_view kUnknownPurposeRule = "unknown-purpose";

// [a-z0-9_]{1,64}, plus '-' when `allow_hyphen`.
bool IsValidName(absl::string_view name, bool allow_hyphen) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    const bool ok = absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
                    c == '_' || (allow_hyphen && c == '-');
    if (!ok) return false;
  }
  return true;
}

bool IsCountryCode(absl::string_view country) {
  return country.size() == 2 && absl::ascii_isupper(country[0]) &&
         absl::ascii_isupper(country[1]);
}

// A name from the policy file, quoted and escaped for one error line.
std::string Quote(absl::string_view text) {
  const bool cut = text.size() > kMaxQuotedLength;
  return absl::StrCat("\"", absl::CEscape(text.substr(0, kMaxQuotedLength)),
                      cut ? "...\"" : "\"");
}

std::optional<LegalBasis> LegalBasisFromProto(int number) {
  switch (number) {
    case v1::LEGAL_BASIS_CONSENT:
      return LegalBasis::kConsent;
    case v1::LEGAL_BASIS_CONTRACT:
      return LegalBasis::kContract;
    case v1::LEGAL_BASIS_LEGAL_OBLIGATION:
      return LegalBasis::kLegalObligation;
    case v1::LEGAL_BASIS_LEGITIMATE_INTEREST:
      return LegalBasis::kLegitimateInterest;
    default:
      return std::nullopt;
  }
}

// The problems found in one policy file, each as
// "<filename>:<line>:<column>: <path>: <problem>".
class Problems {
 public:
  // `text` and `tree` must outlive this.
  Problems(absl::string_view text, const TextFormat::ParseInfoTree& tree,
           absl::string_view filename)
      : text_(text), tree_(tree), filename_(filename) {}

  void Add(absl::string_view path, absl::string_view problem) {
    lines_.push_back(
        absl::StrCat(TextFieldLocation(text_, tree_, *v1::Policy::descriptor(),
                                       path, filename_),
                     ": ", path, ": ", problem));
  }

  bool empty() const { return lines_.empty(); }
  std::string Joined() const { return absl::StrJoin(lines_, "\n"); }

 private:
  const absl::string_view text_;
  const TextFormat::ParseInfoTree& tree_;
  const absl::string_view filename_;
  std::vector<std::string> lines_;
};

// The field types `set` (at `path`) stands for. An empty set stands for no
// type, or for every type when `empty_means_all`. Invalid entries are
// reported and left out.
std::set<FieldType> ReadTypeSet(const v1::TypeSet& set, absl::string_view path,
                                bool empty_means_all, Problems& problems) {
  std::set<FieldType> types;
  if (set.all() && set.types_size() > 0) {
    problems.Add(absl::StrCat(path, ".types"),
                 "must be empty when \"all: true\" is set");
  }
  for (int i = 0; i < set.types_size(); ++i) {
    const int number = set.types(i);
    const std::string type_path = absl::StrCat(path, ".types[", i, "]");
    if (number == v1::FIELD_TYPE_UNSPECIFIED) {
      problems.Add(type_path, "FIELD_TYPE_UNSPECIFIED is not allowed");
      continue;
    }
    const std::optional<FieldType> type = fields::FieldTypeFromNumber(number);
    if (!type.has_value()) {
      problems.Add(type_path, absl::StrCat("unknown field type ", number));
      continue;
    }
    types.insert(*type);
  }
  if (set.all() || (empty_means_all && set.types_size() == 0)) {
    types.insert(fields::kAllFieldTypes.begin(), fields::kAllFieldTypes.end());
  }
  return types;
}

// Lays the thresholds set in `in` (at `path`) over `out`; fields left out
// keep what `out` has.
void ReadAlarms(const v1::ExtractionAlarms& in, absl::string_view path,
                AlarmThresholds& out, Problems& problems) {
  if (in.has_denials()) out.denials = in.denials();
  if (in.has_subjects()) {
    if (in.subjects() > kMaxAlarmSubjects) {
      problems.Add(absl::StrCat(path, ".subjects"),
                   absl::StrCat("want at most ", kMaxAlarmSubjects,
                                " (a window's subjects are kept in memory)"));
    } else {
      out.subjects = in.subjects();
    }
  }
  auto window = [&](const std::string& text, absl::string_view field,
                    absl::Duration& to) {
    if (text.empty()) return;
    absl::StatusOr<absl::Duration> d = platform::ParseDuration(text);
    if (!d.ok() || *d < kMinAlarmWindow || *d > kMaxAlarmWindow) {
      problems.Add(absl::StrCat(path, ".", field),
                   absl::StrCat("want a duration from 1s to 7d, e.g. \"1m\", "
                                "got ",
                                Quote(text)));
      return;
    }
    to = *d;
  };
  window(in.denials_window(), "denials_window", out.denials_window);
  window(in.subjects_window(), "subjects_window", out.subjects_window);
}

Decision Allow(std::string rule, enum Reveal reveal = Reveal::kDeny) {
  Decision decision;
  decision.allowed = true;
  decision.reveal = reveal;
  decision.rule = std::move(rule);
  decision.code = absl::StatusCode::kOk;
  return decision;
}

Decision Refuse(absl::string_view rule, absl::StatusCode code,
                std::string message) {
  Decision decision;
  decision.allowed = false;
  decision.reveal = Reveal::kDeny;
  decision.rule = std::string(rule);
  decision.code = code;
  decision.message = std::move(message);
  return decision;
}

Decision UnknownPurpose() {
  return Refuse(kUnknownPurposeRule, absl::StatusCode::kInvalidArgument,
                "purpose: not registered in the policy");
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Parse(
    absl::string_view text, absl::string_view filename) {
  v1::Policy proto;
  TextFormat::ParseInfoTree tree;
  absl::Status syntax = ParseTextProto(text, filename, &proto, &tree);
  if (!syntax.ok()) return syntax;

  Problems problems(text, tree, filename);
  std::shared_ptr<Policy> policy(new Policy());

  // Purposes. Names declared twice or invalid are still "declared", so that
  // grants naming them do not produce a second, misleading error.
  std::map<std::string, int, std::less<>> purpose_index;
  for (int i = 0; i < proto.purposes_size(); ++i) {
    const v1::Purpose& in = proto.purposes(i);
    const std::string path = absl::StrCat("purposes[", i, "]");
    if (!IsValidName(in.name(), /*allow_hyphen=*/false)) {
      problems.Add(absl::StrCat(path, ".name"),
                   absl::StrCat("invalid purpose name ", Quote(in.name()),
                                " (want [a-z0-9_]{1,64})"));
    }
    const auto [it, inserted] = purpose_index.emplace(in.name(), i);
    if (!inserted) {
      problems.Add(absl::StrCat(path, ".name"),
                   absl::StrCat("duplicate purpose ", Quote(in.name()),
                                " (first at purposes[", it->second, "])"));
    }
    Purpose purpose;
    purpose.name = in.name();
    purpose.requires_justification = in.requires_justification();
    purpose.allowed_while_blocked = in.allowed_while_blocked();
    purpose.cross_border = in.cross_border();
    if (in.legal_basis() == v1::LEGAL_BASIS_UNSPECIFIED) {
      problems.Add(absl::StrCat(path, ".legal_basis"),
                   "required (consent, contract, legal obligation or "
                   "legitimate interest)");
    } else if (std::optional<LegalBasis> basis =
                   LegalBasisFromProto(in.legal_basis());
               basis.has_value()) {
      purpose.legal_basis = *basis;
    } else {
      problems.Add(absl::StrCat(path, ".legal_basis"),
                   absl::StrCat("unknown legal basis ",
                                static_cast<int>(in.legal_basis())));
    }
    if (inserted) policy->purposes_.emplace(purpose.name, std::move(purpose));
  }
  auto check_purpose = [&](absl::string_view purpose, absl::string_view path) {
    if (purpose.empty()) {
      problems.Add(path, "required");
    } else if (purpose_index.find(purpose) == purpose_index.end()) {
      problems.Add(path, absl::StrCat("purpose ", Quote(purpose),
                                      " is not registered in purposes"));
    }
  };

  // Roles.
  std::map<std::string, int, std::less<>> role_index;
  for (int i = 0; i < proto.roles_size(); ++i) {
    const v1::Role& in = proto.roles(i);
    const std::string path = absl::StrCat("roles[", i, "]");
    if (!IsValidName(in.name(), /*allow_hyphen=*/true)) {
      problems.Add(absl::StrCat(path, ".name"),
                   absl::StrCat("invalid role name ", Quote(in.name()),
                                " (want [a-z0-9_-]{1,64})"));
    }
    const auto [it, inserted] = role_index.emplace(in.name(), i);
    if (!inserted) {
      problems.Add(absl::StrCat(path, ".name"),
                   absl::StrCat("duplicate role ", Quote(in.name()),
                                " (first at roles[", it->second, "])"));
    }
    Role role;
    role.name = in.name();
    role.audit = in.audit();
    role.key_admin = in.key_admin();
    role.subject_admin = in.subject_admin();
    role.backup = in.backup();
    role.policy_admin = in.policy_admin();
    role.tokenize = ReadTypeSet(in.tokenize(), absl::StrCat(path, ".tokenize"),
                                /*empty_means_all=*/false, problems);
    for (int j = 0; j < in.grants_size(); ++j) {
      const v1::Grant& grant = in.grants(j);
      const std::string grant_path = absl::StrCat(path, ".grants[", j, "]");
      check_purpose(grant.purpose(), absl::StrCat(grant_path, ".purpose"));
      // Several grants for one purpose add up.
      TypeGrant& to = role.reveal[grant.purpose()];
      std::set<FieldType> full =
          ReadTypeSet(grant.full(), absl::StrCat(grant_path, ".full"),
                      /*empty_means_all=*/false, problems);
      std::set<FieldType> masked =
          ReadTypeSet(grant.masked(), absl::StrCat(grant_path, ".masked"),
                      /*empty_means_all=*/false, problems);
      to.full.insert(full.begin(), full.end());
      to.masked.insert(masked.begin(), masked.end());
    }
    for (int j = 0; j < in.lookups_size(); ++j) {
      const v1::LookupGrant& lookup = in.lookups(j);
      const std::string lookup_path = absl::StrCat(path, ".lookups[", j, "]");
      check_purpose(lookup.purpose(), absl::StrCat(lookup_path, ".purpose"));
      std::set<FieldType> types =
          ReadTypeSet(lookup.types(), absl::StrCat(lookup_path, ".types"),
                      /*empty_means_all=*/true, problems);
      role.lookup[lookup.purpose()].insert(types.begin(), types.end());
    }
    // A type granted both FULL and MASKED is FULL.
    for (auto& [purpose, grant] : role.reveal) {
      for (FieldType type : grant.full) grant.masked.erase(type);
    }
    if (inserted) policy->roles_.emplace(role.name, std::move(role));
  }

  // Alarm thresholds for every identity.
  AlarmThresholds policy_alarms;
  ReadAlarms(proto.alarms(), "alarms", policy_alarms, problems);

  // Identities.
  if (proto.identities_size() == 0) {
    problems.Add("identities", "at least one identity is required");
  }
  for (int i = 0; i < proto.identities_size(); ++i) {
    const v1::Identity& in = proto.identities(i);
    const std::string path = absl::StrCat("identities[", i, "]");
    if (!IsValidName(in.name(), /*allow_hyphen=*/true)) {
      problems.Add(absl::StrCat(path, ".name"),
                   absl::StrCat("invalid identity name ", Quote(in.name()),
                                " (want [a-z0-9_-]{1,64})"));
    }
    if (absl::StripAsciiWhitespace(in.organisation()).empty()) {
      problems.Add(absl::StrCat(path, ".organisation"), "required");
    }
    if (!IsCountryCode(in.country())) {
      problems.Add(absl::StrCat(path, ".country"),
                   absl::StrCat("want an ISO 3166-1 alpha-2 code (two "
                                "upper-case letters, e.g. \"KZ\"), got ",
                                Quote(in.country())));
    }
    Principal principal;
    principal.identity = in.name();
    principal.organisation = in.organisation();
    principal.country = in.country();
    for (int j = 0; j < in.roles_size(); ++j) {
      const std::string& role = in.roles(j);
      if (role_index.find(role) == role_index.end()) {
        problems.Add(absl::StrCat(path, ".roles[", j, "]"),
                     absl::StrCat("unknown role ", Quote(role)));
      }
      principal.roles.push_back(role);
    }
    std::map<std::string, int, std::less<>> limit_index;  // by purpose
    for (int j = 0; j < in.reveal_limits_size(); ++j) {
      const v1::RevealLimit& limit = in.reveal_limits(j);
      const std::string limit_path =
          absl::StrCat(path, ".reveal_limits[", j, "]");
      if (!limit.purpose().empty()) {
        check_purpose(limit.purpose(), absl::StrCat(limit_path, ".purpose"));
      }
      if (const auto [first, inserted] = limit_index.emplace(limit.purpose(), j);
          !inserted) {
        problems.Add(
            absl::StrCat(limit_path, ".purpose"),
            absl::StrCat("a second limit for ",
                         limit.purpose().empty()
                             ? std::string("every purpose together")
                             : absl::StrCat("purpose ", Quote(limit.purpose())),
                         " (first at ", path, ".reveal_limits[", first->second,
                         "])"));
      }
      // Written so that NaN fails too.
      const bool rate_ok =
          limit.per_second() >= 0 && limit.per_second() <= kMaxPerSecond;
      if (!rate_ok) {
        problems.Add(absl::StrCat(limit_path, ".per_second"),
                     absl::StrCat("want reveals per second from 0 to ",
                                  static_cast<int64_t>(kMaxPerSecond), ", got ",
                                  limit.per_second()));
      }
      if (limit.burst() > kMaxBurst) {
        problems.Add(absl::StrCat(limit_path, ".burst"),
                     absl::StrCat("want at most ", kMaxBurst));
      } else if (limit.burst() > 0 && limit.per_second() == 0) {
        problems.Add(absl::StrCat(limit_path, ".burst"),
                     "needs per_second (the rate that refills it)");
      }
      if (limit.per_second() == 0 && limit.per_day() == 0) {
        problems.Add(limit_path, "give per_second, per_day or both");
      }
      RevealLimit resolved;
      resolved.purpose = limit.purpose();
      if (rate_ok && limit.per_second() > 0) {
        resolved.per_second = limit.per_second();
        resolved.burst =
            limit.burst() > 0
                ? limit.burst()
                : static_cast<uint32_t>(std::max(
                      1.0, std::ceil(std::min(limit.per_second(),
                                              static_cast<double>(kMaxBurst)))));
      }
      resolved.per_day = limit.per_day();
      principal.reveal_limits.push_back(std::move(resolved));
    }
    principal.alarms = policy_alarms;
    ReadAlarms(in.alarms(), absl::StrCat(path, ".alarms"), principal.alarms,
               problems);
    const auto [it, inserted] =
        policy->by_identity_.emplace(in.name(), policy->principals_.size());
    if (!inserted) {
      problems.Add(absl::StrCat(path, ".name"),
                   absl::StrCat("duplicate identity ", Quote(in.name()),
                                " (first at identities[", it->second, "])"));
      continue;
    }
    policy->principals_.push_back(std::move(principal));
  }

  // Retention rules.
  std::set<FieldType> rule_types;
  std::set<std::string> rule_purposes;
  for (int i = 0; i < proto.retention_size(); ++i) {
    const v1::RetentionRule& in = proto.retention(i);
    const std::string path = absl::StrCat("retention[", i, "]");
    RetentionRule rule;
    switch (in.applies_to_case()) {
      case v1::RetentionRule::kFieldType: {
        std::optional<FieldType> type =
            fields::FieldTypeFromNumber(in.field_type());
        if (!type) {
          problems.Add(absl::StrCat(path, ".field_type"), "not a known field type");
        } else if (!rule_types.insert(*type).second) {
          problems.Add(absl::StrCat(path, ".field_type"),
                       absl::StrCat("a second rule for ", FieldTypeName(*type)));
        }
        rule.type = type;
        break;
      }
      case v1::RetentionRule::kPurpose:
        check_purpose(in.purpose(), absl::StrCat(path, ".purpose"));
        if (!rule_purposes.insert(in.purpose()).second) {
          problems.Add(absl::StrCat(path, ".purpose"),
                       absl::StrCat("a second rule for purpose ", Quote(in.purpose())));
        }
        rule.purpose = in.purpose();
        break;
      default:
        problems.Add(path, "give field_type or purpose");
    }
    absl::StatusOr<absl::Duration> period = platform::ParseDuration(in.period());
    if (!period.ok()) {
      problems.Add(absl::StrCat(path, ".period"),
                   "want a positive duration like \"1095d\"");
    } else {
      rule.period = *period;
    }
    switch (in.action()) {
      case v1::RETENTION_ACTION_DESTROY:
        rule.action = RetentionAction::kDestroy;
        break;
      case v1::RETENTION_ACTION_DEPERSONALIZE:
        rule.action = RetentionAction::kDepersonalize;
        break;
      default:
        problems.Add(absl::StrCat(path, ".action"),
                     "want RETENTION_ACTION_DESTROY or RETENTION_ACTION_DEPERSONALIZE");
    }
    policy->retention_.push_back(std::move(rule));
  }

  if (!problems.empty()) return absl::InvalidArgumentError(problems.Joined());
  return std::shared_ptr<const Policy>(std::move(policy));
}

const Principal* Policy::FindIdentity(absl::string_view identity) const {
  const auto it = by_identity_.find(identity);
  return it == by_identity_.end() ? nullptr : &principals_[it->second];
}

const Purpose* Policy::FindPurpose(absl::string_view name) const {
  const auto it = purposes_.find(name);
  return it == purposes_.end() ? nullptr : &it->second;
}

std::vector<const Policy::Role*> Policy::RolesOf(const Principal& who) const {
  std::vector<const Role*> roles;
  for (const std::string& name : who.roles) {
    const auto it = roles_.find(name);
    if (it != roles_.end()) roles.push_back(&it->second);
  }
  return roles;
}

Decision Policy::Tokenize(const Principal& who, FieldType type) const {
  for (const Role* role : RolesOf(who)) {
    if (role->tokenize.count(type) > 0) {
      return Allow(absl::StrCat(role->name, "/tokenize"));
    }
  }
  return Refuse(
      kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
      absl::StrCat(who.identity, " may not tokenize ", FieldTypeName(type)));
}

Decision Policy::RevealAnything(const Principal& who, absl::string_view purpose,
                                bool has_justification) const {
  return DecideReveal(who, purpose, std::nullopt, has_justification);
}

Decision Policy::Reveal(const Principal& who, absl::string_view purpose,
                        FieldType type, bool has_justification) const {
  return DecideReveal(who, purpose, type, has_justification);
}

Decision Policy::DecideReveal(const Principal& who, absl::string_view purpose,
                              std::optional<FieldType> type,
                              bool has_justification) const {
  // Checked in this order so that a caller without a grant is refused the
  // same way whatever it sends.
  const Purpose* registered = FindPurpose(purpose);
  if (registered == nullptr) return UnknownPurpose();
  const std::string& name = registered->name;

  // The strongest level granted and the first role (in the principal's
  // order) that grants it.
  const Role* granting = nullptr;
  enum Reveal level = Reveal::kDeny;
  for (const Role* role : RolesOf(who)) {
    const auto it = role->reveal.find(name);
    if (it == role->reveal.end()) continue;
    const TypeGrant& grant = it->second;
    const bool full =
        type.has_value() ? grant.full.count(*type) > 0 : !grant.full.empty();
    if (full) {
      granting = role;
      level = Reveal::kFull;
      break;
    }
    const bool masked = type.has_value() ? grant.masked.count(*type) > 0
                                         : !grant.masked.empty();
    if (masked && granting == nullptr) {
      granting = role;
      level = Reveal::kMasked;
    }
  }
  if (granting == nullptr) {
    return Refuse(
        kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
        absl::StrCat(who.identity, " may not reveal ",
                     type.has_value() ? FieldTypeName(*type) : "anything",
                     " for purpose ", name));
  }
  if (registered->requires_justification && !has_justification) {
    return Refuse(kJustificationRequiredRule,
                  absl::StatusCode::kFailedPrecondition,
                  absl::StrCat("justification: required for purpose ", name));
  }
  return Allow(absl::StrCat(granting->name, "/reveal/", name,
                            level == Reveal::kFull ? "/full" : "/masked"),
               level);
}

Decision Policy::Lookup(const Principal& who, absl::string_view purpose,
                        FieldType type) const {
  const Purpose* registered = FindPurpose(purpose);
  if (registered == nullptr) return UnknownPurpose();
  for (const Role* role : RolesOf(who)) {
    const auto it = role->lookup.find(registered->name);
    if (it != role->lookup.end() && it->second.count(type) > 0) {
      return Allow(absl::StrCat(role->name, "/lookup/", registered->name));
    }
  }
  return Refuse(
      kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
      absl::StrCat(who.identity, " may not look up ", FieldTypeName(type),
                   " for purpose ", registered->name));
}

Decision Policy::Audit(const Principal& who) const {
  for (const Role* role : RolesOf(who)) {
    if (role->audit) return Allow(absl::StrCat(role->name, "/audit"));
  }
  return Refuse(kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
                absl::StrCat(who.identity, " may not read the access log"));
}

Decision Policy::KeyAdmin(const Principal& who) const {
  for (const Role* role : RolesOf(who)) {
    if (role->key_admin) return Allow(absl::StrCat(role->name, "/key_admin"));
  }
  return Refuse(kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
                absl::StrCat(who.identity, " may not administer keys"));
}

Decision Policy::SubjectAdmin(const Principal& who) const {
  for (const Role* role : RolesOf(who)) {
    if (role->subject_admin) {
      return Allow(absl::StrCat(role->name, "/subject_admin"));
    }
  }
  return Refuse(kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
                absl::StrCat(who.identity,
                             " may not manage data subjects' rights"));
}

Decision Policy::Backup(const Principal& who) const {
  for (const Role* role : RolesOf(who)) {
    if (role->backup) return Allow(absl::StrCat(role->name, "/backup"));
  }
  return Refuse(kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
                absl::StrCat(who.identity, " may not make backups"));
}

Decision Policy::PolicyAdmin(const Principal& who) const {
  for (const Role* role : RolesOf(who)) {
    if (role->policy_admin) {
      return Allow(absl::StrCat(role->name, "/policy_admin"));
    }
  }
  return Refuse(kDefaultDenyRule, absl::StatusCode::kPermissionDenied,
                absl::StrCat(who.identity, " may not reload the policy"));
}

bool Policy::ConsentMatters(const Principal& who, absl::string_view purpose,
                            absl::string_view residency_country) const {
  const Purpose* p = FindPurpose(purpose);
  if (p == nullptr) return false;
  return p->legal_basis == LegalBasis::kConsent ||
         who.country != residency_country;
}

Decision Policy::SubjectConditions(const Principal& who,
                                   absl::string_view purpose,
                                   const SubjectContext& subject) const {
  const Purpose* p = FindPurpose(purpose);
  if (p == nullptr) return UnknownPurpose();
  if (subject.blocked && !p->allowed_while_blocked) {
    return Refuse("subject-blocked", absl::StatusCode::kFailedPrecondition,
                  absl::StrCat("subject: processing is blocked; purpose ",
                               p->name, " is not allowed while blocked"));
  }
  const bool granted = subject.consent.has_value() && subject.consent->granted;
  if (p->legal_basis == LegalBasis::kConsent && !granted) {
    return Refuse("no-consent", absl::StatusCode::kFailedPrecondition,
                  absl::StrCat("consent: the subject has not consented to ",
                               p->name, " (or has withdrawn it)"));
  }
  if (who.country != subject.residency_country) {
    if (!p->cross_border) {
      return Refuse("cross-border-not-allowed",
                    absl::StatusCode::kPermissionDenied,
                    absl::StrCat("purpose ", p->name,
                                 " does not allow transfer to ", who.country));
    }
    if (!granted || !subject.consent->cross_border) {
      return Refuse("no-cross-border-consent",
                    absl::StatusCode::kFailedPrecondition,
                    absl::StrCat("consent: the subject has not consented to "
                                 "cross-border transfer for ",
                                 p->name));
    }
    return Allow(absl::StrCat("cross-border/", p->name, "/", who.country));
  }
  return Allow(granted ? absl::StrCat("consent/", p->name) : "");
}

Decision Policy::TokenizeForSubject(const Principal& who,
                                    absl::string_view collection_purpose,
                                    bool blocked) const {
  if (!blocked) return Allow("");
  const Purpose* p =
      collection_purpose.empty() ? nullptr : FindPurpose(collection_purpose);
  // Only a caller that itself works for a purpose allowed while blocked
  // (e.g. legal) may add data for it.
  if (p != nullptr && p->allowed_while_blocked &&
      DecideReveal(who, p->name, std::nullopt, /*has_justification=*/true)
          .allowed) {
    return Allow(absl::StrCat("blocked/allowed-for/", p->name));
  }
  return Refuse("subject-blocked", absl::StatusCode::kFailedPrecondition,
                "subject: processing is blocked; no new data is stored");
}

const RetentionRule* Policy::RetentionFor(
    fields::FieldType type, absl::string_view collection_purpose) const {
  const RetentionRule* by_type = nullptr;
  for (const RetentionRule& rule : retention_) {
    if (!collection_purpose.empty() && rule.purpose == collection_purpose) {
      return &rule;
    }
    if (rule.type == type) by_type = &rule;
  }
  return by_type;
}

std::vector<std::string> Policy::IdentityNames() const {
  std::vector<std::string> names;
  names.reserve(principals_.size());
  for (const Principal& principal : principals_) {
    names.push_back(principal.identity);
  }
  return names;
}

}  // namespace sandyq::policy
