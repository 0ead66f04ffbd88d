// Audit.Verify and Audit.Query.

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/vault/input.h"
#include "server/vault/vault.h"

namespace sandyq::vault {

void Vault::VerifyAudit(const Caller& caller,
                        Callback<audit::AuditLog::VerifyResult> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Audit.Verify", &policy::Policy::Audit, done);
  if (!event) return;
  // Reading the whole log blocks: on the background thread, never on the
  // calling (gRPC) thread or the log's own threads.
  background_->Post([this, event = std::move(*event),
                     done = std::move(done)]() mutable {
    absl::StatusOr<audit::AuditLog::VerifyResult> result = deps_.log->Verify();
    if (!result.ok()) {
      event.rule = "storage";
      return Refuse(std::move(event), audit::Decision::kFailed,
                    NotRecorded(result.status()), std::move(done));
    }
    if (!result->ok) {
      absl::StrAppend(&event.rule, "; chain broken at event ",
                      result->first_bad_seq);
    }
    deps_.log->Commit({}, {std::move(event)},
                      [result = std::move(*result),
                       done = std::move(done)](absl::Status written) mutable {
                        if (!written.ok()) {
                          std::move(done)(NotRecorded(written));
                        } else {
                          std::move(done)(std::move(result));
                        }
                      });
  });
}

void Vault::StartAuditQuery(const Caller& caller, AuditQueryInput input,
                            Callback<audit::AuditLog::Filter> done) {
  std::optional<Authenticated> auth = Authenticate(caller, "Audit.Query", done);
  if (!auth) return;
  const std::shared_ptr<const policy::Policy>& policy = auth->policy;
  const policy::Principal* who = auth->who;
  audit::Event event = std::move(auth->event);
  for (auto [field, text, max] :
       {std::tuple<absl::string_view, absl::string_view, size_t>{
            "subject_id", input.subject_id, kMaxSubjectIdBytes},
        {"identity", input.identity, kMaxIdentityBytes}}) {
    if (absl::Status s = CheckText(field, text, max, /*required=*/false);
        !s.ok()) {
      event.rule = absl::StrCat("input:", field);
      return Refuse(std::move(event), audit::Decision::kInvalid, s,
                    std::move(done));
    }
  }
  if (input.since >= input.until) {
    event.rule = "input:since";
    return Refuse(std::move(event), audit::Decision::kInvalid,
                  absl::InvalidArgumentError("since: must be before until"),
                  std::move(done));
  }
  policy::Decision decision = policy->Audit(*who);
  event.rule = decision.rule;
  if (!decision.allowed) {
    return Refuse(std::move(event), audit::Decision::kDenied,
                  decision.ToStatus(), std::move(done));
  }
  audit::AuditLog::Filter filter;
  if (!input.subject_id.empty()) {
    filter.subject_hash = keys_->SubjectHash(input.subject_id);
    event.subject_hash = filter.subject_hash;
  }
  filter.identity = input.identity;
  filter.since = input.since;
  filter.until = input.until;
  filter.after_seq = input.after_seq;
  filter.limit = input.limit;
  event.decision = audit::Decision::kAllowed;
  deps_.log->Commit({}, {std::move(event)},
                    [filter = std::move(filter),
                     done = std::move(done)](absl::Status written) mutable {
                      if (!written.ok()) {
                        std::move(done)(NotRecorded(written));
                      } else {
                        std::move(done)(std::move(filter));
                      }
                    });
}

absl::Status Vault::ReadAudit(
    const audit::AuditLog::Filter& filter,
    const std::function<bool(const audit::StoredEvent&)>& visit) const {
  return deps_.log->Query(filter, visit);
}

}  // namespace sandyq::vault
