// The policy parser (server/policy): Policy::Parse on any text, then every
// question the vault asks, for every identity, purpose and field type the
// parsed policy names.
//
// Checks: a refusal is InvalidArgument with every line located in the file
// ("fuzz.textproto:<line>:<column>: ..."); an accepted policy answers
// consistently (a grant for one type implies a grant for the purpose; a
// refusal carries a message and a rule).

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "sandyq/v1/policy.pb.h"
#include "server/fields/field_type.h"
#include "server/policy/policy.h"
#include "server/policy/text_proto.h"
#include "tests/fuzz/fuzz_check.h"

namespace sandyq::fuzz {
namespace {

using fields::FieldType;

constexpr absl::string_view kFile = "fuzz.textproto";

// `condition`: SubjectConditions and TokenizeForSubject allow with an empty
// rule when no condition applies.
void CheckDecision(const policy::Decision& d, bool condition = false) {
  SANDYQ_FUZZ_CHECK(!d.rule.empty() || (condition && d.allowed));
  if (d.allowed) {
    SANDYQ_FUZZ_CHECK(d.ToStatus().ok());
  } else {
    SANDYQ_FUZZ_CHECK(!d.message.empty());
    SANDYQ_FUZZ_CHECK(d.code != absl::StatusCode::kOk);
    SANDYQ_FUZZ_CHECK(d.reveal == policy::Reveal::kDeny);
  }
}

void Exercise(const policy::Policy& p, const v1::Policy& proto) {
  std::set<std::string> purposes = {"", "unknown_purpose"};
  for (const auto& purpose : proto.purposes()) purposes.insert(purpose.name());
  std::vector<std::string> identities = p.IdentityNames();
  identities.push_back("not-in-the-policy");
  for (const std::string& identity : identities) {
    const policy::Principal* who = p.FindIdentity(identity);
    if (who == nullptr) continue;
    SANDYQ_FUZZ_CHECK(who->identity == identity);
    CheckDecision(p.Audit(*who));
    CheckDecision(p.KeyAdmin(*who));
    CheckDecision(p.SubjectAdmin(*who));
    CheckDecision(p.Backup(*who));
    for (int number = -1; number <= 10; ++number) {
      CheckDecision(p.Tokenize(*who, static_cast<FieldType>(number)));
    }
    for (const std::string& purpose : purposes) {
      (void)p.FindPurpose(purpose);
      const policy::Decision any = p.RevealAnything(*who, purpose, false);
      CheckDecision(any);
      CheckDecision(p.RevealAnything(*who, purpose, true));
      for (int number = -1; number <= 10; ++number) {
        const FieldType type = static_cast<FieldType>(number);
        const policy::Decision reveal = p.Reveal(*who, purpose, type, false);
        CheckDecision(reveal);
        // Reveal includes RevealAnything's checks.
        if (reveal.allowed) {
          SANDYQ_FUZZ_CHECK(any.allowed);
          SANDYQ_FUZZ_CHECK(reveal.reveal != policy::Reveal::kDeny);
        }
        CheckDecision(p.Reveal(*who, purpose, type, true));
        CheckDecision(p.Lookup(*who, purpose, type));
        (void)p.RetentionFor(type, purpose);
      }
      for (const char* country : {"KZ", "DE", ""}) {
        (void)p.ConsentMatters(*who, purpose, country);
        for (int blocked = 0; blocked < 2; ++blocked) {
          for (int consent = 0; consent < 3; ++consent) {
            policy::SubjectContext subject{.blocked = blocked == 1,
                                           .residency_country = country};
            if (consent > 0) {
              subject.consent = policy::ConsentState{
                  .granted = true, .cross_border = consent == 2};
            }
            CheckDecision(p.SubjectConditions(*who, purpose, subject),
                          /*condition=*/true);
          }
          CheckDecision(p.TokenizeForSubject(*who, purpose, blocked == 1),
                        /*condition=*/true);
        }
      }
    }
  }
}

}  // namespace
}  // namespace sandyq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandyq;  // NOLINT: one entry point
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::shared_ptr<const policy::Policy>> parsed =
      policy::Policy::Parse(text, fuzz::kFile);
  if (!parsed.ok()) {
    SANDYQ_FUZZ_CHECK(parsed.status().code() ==
                      absl::StatusCode::kInvalidArgument);
    for (absl::string_view line :
         absl::StrSplit(parsed.status().message(), '\n')) {
      SANDYQ_FUZZ_CHECK(absl::StartsWith(line, "fuzz.textproto:"));
    }
    return 0;
  }
  SANDYQ_FUZZ_CHECK(*parsed != nullptr);
  v1::Policy proto;
  SANDYQ_FUZZ_CHECK(
      policy::ParseTextProto(text, fuzz::kFile, &proto, nullptr).ok());
  fuzz::Exercise(**parsed, proto);
  return 0;
}
