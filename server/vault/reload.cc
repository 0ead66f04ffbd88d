// Admin.ReloadPolicy and SIGHUP: new access rules, all or nothing.

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/platform/log.h"
#include "server/vault/vault.h"

namespace sandyq::vault {
namespace {

constexpr absl::string_view kReloadRpc = "Admin.ReloadPolicy";

// The first line of a multi-line error, and how many more there are.
std::string Summary(absl::string_view message) {
  const size_t nl = message.find('\n');
  if (nl == absl::string_view::npos) return std::string(message);
  int more = 0;
  for (char c : message.substr(nl)) more += c == '\n';
  return absl::StrCat(message.substr(0, nl), " (and ", more, " more)");
}

}  // namespace

void Vault::ReloadPolicy(const Caller& caller, Callback<ReloadInfo> done) {
  std::optional<audit::Event> event =
      Authorize(caller, kReloadRpc, &policy::Policy::PolicyAdmin, done);
  if (!event) return;
  Reload(std::move(*event), absl::StrCat("by ", caller.identity),
         std::move(done));
}

void Vault::ReloadPolicyOnSignal(Callback<ReloadInfo> done) {
  audit::Event event;
  event.identity = "sandyqd";
  event.rpc = std::string(kReloadRpc);
  event.rule = "SIGHUP";
  Reload(std::move(event), "on SIGHUP", std::move(done));
}

void Vault::Reload(audit::Event event, std::string by,
                   Callback<ReloadInfo> done) {
  if (!deps_.load_access_rules) {
    event.rule = absl::StrCat(event.rule, "; no policy file to reload");
    return Refuse(std::move(event), audit::Decision::kFailed,
                  absl::FailedPreconditionError(
                      "policy: this server has no policy file to reload"),
                  std::move(done));
  }
  uint64_t load;
  {
    absl::MutexLock lock(&policy_mu_);
    load = ++loads_started_;
  }
  absl::StatusOr<policy::AccessRules> rules = deps_.load_access_rules();
  if (!rules.ok()) {
    const absl::string_view problems = rules.status().message();
    platform::LogError(absl::StrCat("policy not reloaded ", by,
                                    "; the policy and revocation list in "
                                    "force stay:\n",
                                    problems));
    event.rule = absl::StrCat(event.rule, "; rejected, rules in force kept: ",
                              Summary(problems));
    const audit::Decision decision = absl::IsInvalidArgument(rules.status())
                                         ? audit::Decision::kInvalid
                                         : audit::Decision::kFailed;
    return Refuse(std::move(event), decision,
                  absl::Status(rules.status().code(),
                               absl::StrCat("policy not reloaded; the policy "
                                            "and revocation list in force "
                                            "stay:\n",
                                            problems)),
                  std::move(done));
  }
  ReloadInfo info{.identities = rules->policy->IdentityNames().size(),
                  .revoked_serials = rules->revoked->size(),
                  .description = rules->description};
  event.rule = absl::StrCat(event.rule, "; reloaded ", rules->description);
  event.decision = audit::Decision::kAllowed;
  event.code = 0;
  // Recorded first: rules nobody can trace back never take effect.
  deps_.log->Commit(
      {}, {std::move(event)},
      [this, load, by, rules = *std::move(rules), info = std::move(info),
       done = std::move(done)](absl::Status written) mutable {
        if (!written.ok()) {
          platform::LogError(absl::StrCat(
              "policy not reloaded ", by,
              ": the access log could not record it"));
          return std::move(done)(NotRecorded(written));
        }
        InstallRules(load, std::move(rules));
        platform::LogInfo(
            absl::StrCat("policy reloaded ", by, ": ", info.description));
        std::move(done)(std::move(info));
      });
}

void Vault::InstallRules(uint64_t load, policy::AccessRules rules) {
  absl::MutexLock lock(&policy_mu_);
  if (load < load_in_force_) return;
  load_in_force_ = load;
  policy_ = std::move(rules.policy);
  revoked_ = std::move(rules.revoked);
}

}  // namespace sandyq::vault
