// Subjects.*: consent, report, rectification, blocking, holds, erasure and
// retention (Law 94-V), and Admin.Backup.

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/crypto/aead.h"
#include "server/crypto/hash.h"
#include "server/fields/fields.h"
#include "server/fields/token.h"
#include "server/platform/log.h"
#include "server/vault/input.h"
#include "server/vault/periodic.h"
#include "server/vault/records.h"
#include "server/vault/subject_data.h"
#include "server/vault/vault.h"

namespace sandyq::vault {

namespace pb = ::sandyq::internal::v1;
using storage::Table;

constexpr size_t kMaxReasonBytes = 512;
constexpr size_t kMaxChannelBytes = 128;

namespace {

std::string NewId(absl::string_view prefix, platform::Random& random) {
  // 16 random bytes, hex: opaque, unguessable ids for receipts and holds.
  return absl::StrCat(prefix, crypto::ToHex(random.Bytes(16)));
}

}  // namespace

template <typename T>
void Vault::UpdateSubject(
    std::string subject_hash, audit::Event event,
    absl::AnyInvocable<absl::StatusOr<T>(pb::SubjectRecord&, audit::Event&)>
        mutate,
    Callback<T> done) {
  subjects_.Run(subject_hash, [this, subject_hash, event = std::move(event),
                               mutate = std::move(mutate),
                               done = std::move(done)](
                                  KeyedSequencer::Release release) mutable {
    pb::SubjectRecord subject;
    absl::StatusOr<std::string> bytes =
        deps_.store->Get(Table::kSubjects, subject_hash);
    if (bytes.ok() && !subject.ParseFromString(*bytes)) {
      release();
      event.rule = "storage";
      return Refuse(std::move(event), audit::Decision::kFailed,
                    absl::DataLossError("storage: the subject record is damaged"),
                    std::move(done));
    }
    if (!bytes.ok() && !absl::IsNotFound(bytes.status())) {
      release();
      event.rule = "storage";
      return Refuse(std::move(event), audit::Decision::kFailed,
                    NotRecorded(bytes.status()), std::move(done));
    }
    if (!bytes.ok()) {
      subject.set_created_micros(absl::ToUnixMicros(deps_.clock->Now()));
    }
    absl::StatusOr<T> result = mutate(subject, event);
    if (!result.ok()) {
      release();
      const audit::Decision decision =
          absl::IsFailedPrecondition(result.status()) ||
                  absl::IsNotFound(result.status())
              ? audit::Decision::kDenied
              : audit::Decision::kInvalid;
      return Refuse(std::move(event), decision, result.status(), std::move(done));
    }
    storage::WriteBatch batch;
    batch.Put(Table::kSubjects, subject_hash, subject.SerializeAsString());
    event.decision = audit::Decision::kAllowed;
    deps_.log->Commit(
        std::move(batch), {std::move(event)},
        [release = std::move(release), result = std::move(*result),
         done = std::move(done)](absl::Status written) mutable {
          release();
          if (!written.ok()) return std::move(done)(NotRecorded(written));
          std::move(done)(std::move(result));
        });
  });
}

void Vault::RecordConsent(const Caller& caller, ConsentInput input,
                          Callback<absl::Time> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Subjects.RecordConsent", &policy::Policy::SubjectAdmin,
                done, HashIfValid(input.subject_id));
  if (!event) return;
  // The operator must be able to prove the consent (Law 94-V): which policy
  // text the person agreed to, and how.
  for (auto [field, text, max, required] :
       {std::tuple<absl::string_view, absl::string_view, size_t, bool>{
            "subject_id", input.subject_id, kMaxSubjectIdBytes, true},
        {"purpose", input.purpose, kMaxPurposeBytes, true},
        {"policy_version", input.policy_version, kMaxChannelBytes, true},
        {"channel", input.channel, kMaxChannelBytes, true}}) {
    if (absl::Status s = CheckText(field, text, max, required); !s.ok()) {
      event->rule = absl::StrCat("input:", field);
      return Refuse(std::move(*event), audit::Decision::kInvalid, s,
                    std::move(done));
    }
  }
  event->purpose = input.purpose;
  const policy::Purpose* purpose = policy()->FindPurpose(input.purpose);
  if (purpose == nullptr) {
    event->rule = "unknown-purpose";
    return Refuse(std::move(*event), audit::Decision::kInvalid,
                  absl::InvalidArgumentError("purpose: not registered in the policy"),
                  std::move(done));
  }
  if (input.granted && input.cross_border && !purpose->cross_border) {
    event->rule = "cross-border-not-allowed";
    return Refuse(std::move(*event), audit::Decision::kInvalid,
                  absl::InvalidArgumentError(absl::StrCat(
                      "cross_border: purpose ", input.purpose,
                      " does not allow transfer abroad")),
                  std::move(done));
  }
  const std::string subject_hash = keys_->SubjectHash(input.subject_id);
  event->subject_hash = subject_hash;
  absl::StrAppend(&event->rule, "; consent ",
                  input.granted ? "granted" : "withdrawn",
                  input.granted && input.cross_border ? " (cross-border)" : "",
                  input.channel.empty() ? "" : absl::StrCat(" via ", input.channel),
                  input.policy_version.empty()
                      ? ""
                      : absl::StrCat("; policy ", input.policy_version));
  // Consents of one subject change in order: hold the subject.
  subjects_.Run(subject_hash, [this, subject_hash, input = std::move(input),
                               event = std::move(*event),
                               done = std::move(done)](
                                  KeyedSequencer::Release release) mutable {
    const absl::Time now = deps_.clock->Now();
    pb::ConsentRecord record;
    record.set_purpose(input.purpose);
    record.set_granted(input.granted);
    record.set_cross_border(input.granted && input.cross_border);
    record.set_policy_version(input.policy_version);
    record.set_channel(input.channel);
    record.set_recorded_micros(absl::ToUnixMicros(now));
    storage::WriteBatch batch;
    const std::string bytes = record.SerializeAsString();
    batch.Put(Table::kConsents, keys::ConsentKey(subject_hash, input.purpose), bytes);
    batch.Put(Table::kConsents,
              keys::ConsentHistoryKey(subject_hash, record.recorded_micros(),
                                      input.purpose),
              bytes);
    event.decision = audit::Decision::kAllowed;
    deps_.log->Commit(std::move(batch), {std::move(event)},
                      [release = std::move(release), now,
                       done = std::move(done)](absl::Status written) mutable {
                        release();
                        if (!written.ok()) return std::move(done)(NotRecorded(written));
                        std::move(done)(now);
                      });
  });
}

void Vault::SetBlocked(const Caller& caller, std::string subject_id,
                       std::string reason, bool block, Callback<bool> done) {
  std::optional<audit::Event> event =
      Authorize(caller, block ? "Subjects.Block" : "Subjects.Unblock",
                &policy::Policy::SubjectAdmin, done, HashIfValid(subject_id));
  if (!event) return;
  if (absl::Status s = CheckText("subject_id", subject_id, kMaxSubjectIdBytes, true);
      !s.ok()) {
    event->rule = "input:subject_id";
    return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
  }
  if (absl::Status s = CheckText("reason", reason, kMaxReasonBytes, true); !s.ok()) {
    event->rule = "input:reason";
    return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
  }
  event->subject_hash = keys_->SubjectHash(subject_id);
  event->justification = reason;
  std::string hash = event->subject_hash;
  const int64_t now = absl::ToUnixMicros(deps_.clock->Now());
  UpdateSubject<bool>(
      std::move(hash), std::move(*event),
      [block, reason = std::move(reason), now](
          pb::SubjectRecord& subject, audit::Event& ev) -> absl::StatusOr<bool> {
        absl::StrAppend(&ev.rule, block ? "; blocked" : "; unblocked");
        subject.set_blocked(block);
        subject.set_block_reason(block ? reason : "");
        subject.set_blocked_micros(block ? now : 0);
        return true;
      },
      std::move(done));
}

void Vault::SetHold(const Caller& caller, std::string subject_id,
                    std::string reason, Callback<std::string> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Subjects.SetHold", &policy::Policy::SubjectAdmin, done,
                HashIfValid(subject_id));
  if (!event) return;
  for (auto [field, text, max] :
       {std::tuple<absl::string_view, absl::string_view, size_t>{
            "subject_id", subject_id, kMaxSubjectIdBytes},
        {"reason", reason, kMaxReasonBytes}}) {
    if (absl::Status s = CheckText(field, text, max, true); !s.ok()) {
      event->rule = absl::StrCat("input:", field);
      return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
    }
  }
  event->subject_hash = keys_->SubjectHash(subject_id);
  event->justification = reason;
  std::string hash = event->subject_hash;
  const int64_t now = absl::ToUnixMicros(deps_.clock->Now());
  std::string id = NewId("hold_", *deps_.random);
  UpdateSubject<std::string>(
      std::move(hash), std::move(*event),
      [reason = std::move(reason), now, id = std::move(id)](
          pb::SubjectRecord& subject,
          audit::Event& ev) -> absl::StatusOr<std::string> {
        pb::HoldRecord* hold = subject.add_holds();
        hold->set_hold_id(id);
        hold->set_reason(reason);
        hold->set_set_micros(now);
        absl::StrAppend(&ev.rule, "; hold ", id, " set");
        return id;
      },
      std::move(done));
}

void Vault::ReleaseHold(const Caller& caller, std::string subject_id,
                        std::string reason, std::string hold_id,
                        Callback<bool> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Subjects.ReleaseHold", &policy::Policy::SubjectAdmin,
                done, HashIfValid(subject_id));
  if (!event) return;
  for (auto [field, text, max, required] :
       {std::tuple<absl::string_view, absl::string_view, size_t, bool>{
            "subject_id", subject_id, kMaxSubjectIdBytes, true},
        {"reason", reason, kMaxReasonBytes, true},
        {"hold_id", hold_id, 64, false}}) {
    if (absl::Status s = CheckText(field, text, max, required); !s.ok()) {
      event->rule = absl::StrCat("input:", field);
      return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
    }
  }
  event->subject_hash = keys_->SubjectHash(subject_id);
  event->justification = reason;
  std::string hash = event->subject_hash;
  UpdateSubject<bool>(
      std::move(hash), std::move(*event),
      [hold_id = std::move(hold_id)](pb::SubjectRecord& subject,
                                     audit::Event& ev) -> absl::StatusOr<bool> {
        int at = -1;
        for (int i = 0; i < subject.holds_size(); ++i) {
          if (hold_id.empty() ? subject.holds_size() == 1
                              : subject.holds(i).hold_id() == hold_id) {
            at = i;
          }
        }
        if (at < 0) {
          ev.rule += "; no such hold";
          return hold_id.empty() && subject.holds_size() > 1
                     ? absl::InvalidArgumentError(
                           "hold_id: required, the subject has several holds")
                     : absl::NotFoundError("hold_id: no such hold");
        }
        absl::StrAppend(&ev.rule, "; hold ", subject.holds(at).hold_id(),
                        " released");
        subject.mutable_holds()->DeleteSubrange(at, 1);
        return true;
      },
      std::move(done));
}

void Vault::Rectify(const Caller& caller, std::string token, std::string value,
                    std::string reason, Callback<bool> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Subjects.Rectify", &policy::Policy::SubjectAdmin, done);
  if (!event) return;
  const bool is_token = fields::LooksLikeToken(token);
  if (is_token) event->token = token;
  if (!is_token) {
    event->rule = "input:token";
    return Refuse(std::move(*event), audit::Decision::kInvalid,
                  absl::InvalidArgumentError("token: not a sandyq token"),
                  std::move(done));
  }
  absl::StatusOr<std::string> bytes = deps_.store->Get(Table::kFields, token);
  pb::FieldRecord record;
  if (absl::IsNotFound(bytes.status())) {
    event->rule = "token-not-found";
    return Refuse(std::move(*event), audit::Decision::kNotFound,
                  absl::NotFoundError("token: not found"), std::move(done));
  }
  if (!bytes.ok() || !record.ParseFromString(*bytes)) {
    event->rule = "storage";
    return Refuse(std::move(*event), audit::Decision::kFailed,
                  absl::UnavailableError("storage: the record cannot be read"),
                  std::move(done));
  }
  std::optional<fields::FieldType> type =
      fields::FieldTypeFromNumber(record.field_type());
  event->subject_hash = record.subject_hash();
  event->field_type = record.field_type();
  if (absl::Status s = CheckText("reason", reason, kMaxReasonBytes, true); !s.ok()) {
    event->rule = "input:reason";
    return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
  }
  event->justification = reason;
  absl::StatusOr<fields::Normalized> normalized = fields::Normalize(
      type.value_or(fields::FieldType::kUnspecified), value,
      {.today = absl::ToCivilDay(deps_.clock->Now(),
                                 absl::FixedTimeZone(5 * 60 * 60)),
       .strict_iin = options_.strict_iin});
  value.clear();
  if (!normalized.ok()) {
    event->rule = absl::StrCat(
        "validate:", fields::FieldTypeName(type.value_or(fields::FieldType::kUnspecified)));
    return Refuse(std::move(*event), audit::Decision::kInvalid,
                  normalized.status(), std::move(done));
  }
  if (type == fields::FieldType::kCardNumber &&
      (normalized->value.size() != token.size() ||
       normalized->value.substr(0, 6) != token.substr(0, 6) ||
       normalized->value.substr(normalized->value.size() - 4) !=
           token.substr(token.size() - 4))) {
    event->rule = "card-token-format";
    return Refuse(std::move(*event), audit::Decision::kDenied,
                  absl::FailedPreconditionError(
                      "value: a card number with other first 6 or last 4 "
                      "digits is another card; tokenize it"),
                  std::move(done));
  }
  const std::string subject_hash = record.subject_hash();
  subjects_.Run(subject_hash, [this, token, type = *type, subject_hash,
                               normalized = std::move(*normalized),
                               event = std::move(*event),
                               done = std::move(done)](
                                  KeyedSequencer::Release release) mutable {
    auto refuse = [&](audit::Decision decision, absl::string_view rule,
                      absl::Status status) {
      release();
      event.rule = std::string(rule);
      Refuse(std::move(event), decision, std::move(status), std::move(done));
    };
    // Read again while holding the subject.
    pb::FieldRecord record;
    absl::StatusOr<std::string> bytes = deps_.store->Get(Table::kFields, token);
    if (!bytes.ok() || !record.ParseFromString(*bytes)) {
      return refuse(audit::Decision::kNotFound, "token-not-found",
                    absl::NotFoundError("token: not found"));
    }
    pb::SubjectRecord subject;
    absl::StatusOr<std::string> subject_bytes =
        deps_.store->Get(Table::kSubjects, subject_hash);
    if (!subject_bytes.ok() || !subject.ParseFromString(*subject_bytes)) {
      return refuse(audit::Decision::kNotFound, "subject-erased",
                    absl::NotFoundError("token: not found"));
    }
    const std::string dedup = keys_->DedupKey(subject_hash, type, normalized.value);
    absl::StatusOr<std::string> holder =
        deps_.store->Get(Table::kIndex, keys::SubjectValueKey(subject_hash, dedup));
    if (!holder.ok() && !absl::IsNotFound(holder.status())) {
      return refuse(audit::Decision::kFailed, "storage",
                    absl::UnavailableError("storage: the index cannot be read"));
    }
    if (holder.ok() && *holder != token) {
      return refuse(audit::Decision::kDenied, "already-held",
                    absl::AlreadyExistsError(
                        "value: the subject already holds it under another token"));
    }
    absl::StatusOr<SubjectEntries> entries =
        SubjectEntryKeys(*deps_.store, subject_hash);
    if (!entries.ok()) {
      return refuse(audit::Decision::kFailed, "storage",
                    absl::UnavailableError("storage: the index cannot be read"));
    }
    std::shared_ptr<const crypto::Keyring> keyring = keys_->keyring();
    absl::StatusOr<std::shared_ptr<const crypto::Aead>> aead = SubjectAead(
        *keyring, subject_hash, subject.kek_version(), subject.wrapped_dek());
    absl::StatusOr<std::string> ciphertext = absl::InternalError("no key");
    if (aead.ok()) {
      ciphertext = (*aead)->Encrypt(
          normalized.value, keys::FieldAssociatedData(token, type, subject_hash));
    }
    if (!ciphertext.ok()) {
      return refuse(audit::Decision::kFailed, "crypto",
                    absl::InternalError("crypto: encryption failed"));
    }
    storage::WriteBatch batch;
    const std::string blind = keys_->BlindIndex(type, normalized.search_key);
    if (!record.blind_index().empty()) {
      batch.Delete(Table::kIndex, keys::BlindIndexKey(record.blind_index(), token));
    }
    // The old value's entry (or, for a depersonalized token that gets a value
    // again, its token entry) gives way to the new value's.
    if (auto entry = entries->find(token); entry != entries->end()) {
      for (const std::string& key : entry->second) batch.Delete(Table::kIndex, key);
    }
    batch.Put(Table::kIndex, keys::BlindIndexKey(blind, token), "");
    batch.Put(Table::kIndex, keys::SubjectValueKey(subject_hash, dedup), token);
    record.set_ciphertext(std::move(*ciphertext));
    record.set_blind_index(blind);
    record.clear_dedup_key();  // (older builds': it named the old value)
    record.set_depersonalized(false);
    record.set_updated_micros(absl::ToUnixMicros(deps_.clock->Now()));
    batch.Put(Table::kFields, token, record.SerializeAsString());
    event.decision = audit::Decision::kAllowed;
    event.rule += "; value replaced";
    deps_.log->Commit(std::move(batch), {std::move(event)},
                      [release = std::move(release), keyring = std::move(keyring),
                       done = std::move(done)](absl::Status written) mutable {
                        release();
                        if (!written.ok()) return std::move(done)(NotRecorded(written));
                        std::move(done)(true);
                      });
  });
}

void Vault::Report(const Caller& caller, std::string subject_id,
                   Callback<SubjectReport> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Subjects.Report", &policy::Policy::SubjectAdmin, done,
                HashIfValid(subject_id));
  if (!event) return;
  if (absl::Status s = CheckText("subject_id", subject_id, kMaxSubjectIdBytes, true);
      !s.ok()) {
    event->rule = "input:subject_id";
    return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
  }
  event->subject_hash = keys_->SubjectHash(subject_id);
  // The report is logged first, so it lists itself.
  background_->Post([this, event = std::move(*event),
                     done = std::move(done)]() mutable {
    const std::string hash = event.subject_hash;
    absl::Status logged = deps_.log->CommitAndWait({}, {std::move(event)});
    if (!logged.ok()) return std::move(done)(NotRecorded(logged));
    std::move(done)(BuildReport(hash));
  });
}

absl::StatusOr<SubjectReport> Vault::BuildReport(
    const std::string& subject_hash) const {
  SubjectReport report;
  report.subject_hash = subject_hash;
  report.residency_country = options_.residency_country;
  std::shared_ptr<const policy::Policy> policy = this->policy();

  absl::StatusOr<std::string> subject_bytes =
      deps_.store->Get(Table::kSubjects, subject_hash);
  if (subject_bytes.ok()) {
    pb::SubjectRecord subject;
    if (subject.ParseFromString(*subject_bytes)) {
      report.blocked = subject.blocked();
      report.block_reason = subject.block_reason();
      for (const pb::HoldRecord& h : subject.holds()) {
        report.holds.push_back({.id = h.hold_id(),
                                .reason = h.reason(),
                                .set = absl::FromUnixMicros(h.set_micros())});
      }
    }
  } else if (!absl::IsNotFound(subject_bytes.status())) {
    return subject_bytes.status();
  }

  const std::string prefix = keys::SubjectTokensPrefix(subject_hash);
  std::vector<std::string> tokens;
  absl::Status s = deps_.store->Scan(
      Table::kIndex, prefix, "",
      [&](absl::string_view key, absl::string_view value) {
        tokens.emplace_back(
            keys::SubjectEntryToken(key.substr(prefix.size()), value));
        return true;
      });
  if (!s.ok()) return s;
  for (const std::string& token : tokens) {
    absl::StatusOr<std::string> bytes = deps_.store->Get(Table::kFields, token);
    pb::FieldRecord record;
    if (!bytes.ok() || !record.ParseFromString(*bytes)) continue;
    SubjectReport::Field field{
        .token = token,
        .type = fields::FieldTypeFromNumber(record.field_type())
                    .value_or(fields::FieldType::kUnspecified),
        .source = record.source(),
        .collection_purpose = record.collection_purpose(),
        .created = absl::FromUnixMicros(record.created_micros()),
        .updated = absl::FromUnixMicros(record.updated_micros() != 0
                                            ? record.updated_micros()
                                            : record.created_micros()),
        .depersonalized = record.depersonalized()};
    if (const policy::RetentionRule* rule =
            policy->RetentionFor(field.type, field.collection_purpose)) {
      field.retention_deadline = field.created + rule->period;
      field.retention_action = rule->action == policy::RetentionAction::kDestroy
                                   ? "destroy"
                                   : "depersonalize";
    }
    report.fields.push_back(std::move(field));
  }

  s = deps_.store->Scan(
      Table::kConsents, keys::ConsentHistoryPrefix(subject_hash), "",
      [&](absl::string_view, absl::string_view value) {
        pb::ConsentRecord c;
        if (c.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          report.consents.push_back(
              {.purpose = c.purpose(),
               .granted = c.granted(),
               .cross_border = c.cross_border(),
               .policy_version = c.policy_version(),
               .channel = c.channel(),
               .recorded = absl::FromUnixMicros(c.recorded_micros())});
        }
        return true;
      });
  if (!s.ok()) return s;

  if (deps_.ledger != nullptr) report.erasures = deps_.ledger->ForSubject(subject_hash);
  audit::AuditLog::Filter filter;
  filter.subject_hash = subject_hash;
  s = deps_.log->Query(filter, [&](const audit::StoredEvent& e) {
    report.accesses.push_back(e);
    return true;
  });
  if (!s.ok()) return s;
  return report;
}

void Vault::Erase(const Caller& caller, std::string subject_id,
                  std::string reason, Callback<EraseResult> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Subjects.Erase", &policy::Policy::SubjectAdmin, done,
                HashIfValid(subject_id));
  if (!event) return;
  for (auto [field, text, max] :
       {std::tuple<absl::string_view, absl::string_view, size_t>{
            "subject_id", subject_id, kMaxSubjectIdBytes},
        {"reason", reason, kMaxReasonBytes}}) {
    if (absl::Status s = CheckText(field, text, max, true); !s.ok()) {
      event->rule = absl::StrCat("input:", field);
      return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
    }
  }
  event->subject_hash = keys_->SubjectHash(subject_id);
  event->justification = reason;
  if (deps_.ledger == nullptr) {
    event->rule = "no-ledger";
    return Refuse(std::move(*event), audit::Decision::kFailed,
                  absl::FailedPreconditionError(
                      "erasure: no erasure ledger is configured"),
                  std::move(done));
  }
  // Ledger append, purge and backup scrub block: the background thread.
  background_->Post([this, event = std::move(*event),
                     done = std::move(done)]() mutable {
    const std::string hash = event.subject_hash;
    KeyedSequencer::Release held = subjects_.Acquire(hash);
    auto refuse = [&](audit::Decision decision, absl::string_view rule,
                      absl::Status status) {
      held();
      absl::StrAppend(&event.rule, "; ", rule);
      Refuse(std::move(event), decision, std::move(status), std::move(done));
    };
    absl::StatusOr<std::string> subject_bytes =
        deps_.store->Get(Table::kSubjects, hash);
    if (subject_bytes.ok()) {
      pb::SubjectRecord subject;
      if (subject.ParseFromString(*subject_bytes) && subject.holds_size() > 0) {
        return refuse(audit::Decision::kDenied, "legal-hold",
                      absl::FailedPreconditionError(absl::StrCat(
                          "subject: under ", subject.holds_size(),
                          " legal hold(s); release them before erasure")));
      }
    }
    absl::StatusOr<SubjectErasurePlan> plan = PlanSubjectErasure(*deps_.store, hash);
    if (!plan.ok()) {
      return refuse(audit::Decision::kFailed, "storage", NotRecorded(plan.status()));
    }
    if (!plan->found) {
      return refuse(audit::Decision::kNotFound, "nothing-held",
                    absl::NotFoundError("subject: nothing is held about them"));
    }
    const absl::Time now = deps_.clock->Now();
    const std::string receipt = NewId("er_", *deps_.random);
    // The ledger first: a crash after it re-applies the erasure at start.
    absl::StatusOr<Erasure> entry = deps_.ledger->Append(hash, now, receipt);
    if (!entry.ok()) {
      return refuse(audit::Decision::kFailed, "ledger",
                    absl::UnavailableError("erasure: the ledger cannot be written"));
    }
    plan->batch.Put(Table::kMeta, keys::kLedgerApplied,
                    storage::EncodeU64(entry->seq));
    event.decision = audit::Decision::kAllowed;
    absl::StrAppend(&event.rule, "; receipt ", receipt, "; ", plan->tokens,
                    " tokens erased with the subject's key");
    absl::Status written =
        deps_.log->CommitAndWait(std::move(plan->batch), {std::move(event)});
    deks_.Erase(hash);  // the key is gone: not even a cached copy stays
    held();
    if (!written.ok()) return std::move(done)(NotRecorded(written));
    // The deleted key and values must also leave the files, here and in
    // every backup.
    if (absl::Status s = deps_.store->Purge(plan->keys); !s.ok()) {
      platform::LogError(absl::StrCat("erasure: purge failed: ", s.message()));
    }
    absl::StatusOr<int> scrubbed = backups_.Scrub();
    if (!scrubbed.ok()) {
      platform::LogError(absl::StrCat("erasure: backups not yet scrubbed: ",
                                      scrubbed.status().message()));
    }
    std::move(done)(EraseResult{.receipt_id = receipt, .erased = now,
                                .tokens = plan->tokens});
  });
}

void Vault::ApplyRetention(const Caller& caller, Callback<RetentionResult> done) {
  std::optional<audit::Event> event = Authorize(
      caller, "Subjects.ApplyRetention", &policy::Policy::SubjectAdmin, done);
  if (!event) return;
  background_->Post([this, event = std::move(*event),
                     done = std::move(done)]() mutable {
    absl::Status logged = deps_.log->CommitAndWait({}, {std::move(event)});
    if (!logged.ok()) return std::move(done)(NotRecorded(logged));
    std::move(done)(RunRetention());
  });
}

absl::StatusOr<RetentionResult> Vault::RunRetention() {
  std::shared_ptr<const policy::Policy> policy = this->policy();
  const absl::Time now = deps_.clock->Now();
  if (!policy->HasRetentionRules()) return RetentionResult{};
  // Expired fields, by subject.
  std::map<std::string, std::vector<std::pair<std::string, policy::RetentionAction>>>
      due;
  // One pass over every field record (millions in a large vault): the record
  // is parsed into the same message each time, which keeps its strings'
  // buffers instead of allocating them anew.
  pb::FieldRecord record;
  absl::Status s = deps_.store->BulkScan(
      Table::kFields, "", "", [&](absl::string_view token, absl::string_view value) {
        if (!record.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
            record.depersonalized()) {
          return true;
        }
        std::optional<fields::FieldType> type =
            fields::FieldTypeFromNumber(record.field_type());
        if (!type) return true;
        const policy::RetentionRule* rule =
            policy->RetentionFor(*type, record.collection_purpose());
        if (rule != nullptr &&
            absl::FromUnixMicros(record.created_micros()) + rule->period <= now) {
          due[record.subject_hash()].emplace_back(std::string(token), rule->action);
        }
        return true;
      });
  if (!s.ok()) return s;

  RetentionResult result;
  for (auto& [subject_hash, fields] : due) {
    KeyedSequencer::Release held = subjects_.Acquire(subject_hash);
    pb::SubjectRecord subject;
    absl::StatusOr<std::string> bytes = deps_.store->Get(Table::kSubjects, subject_hash);
    if (bytes.ok() && subject.ParseFromString(*bytes) && subject.holds_size() > 0) {
      result.skipped_for_holds += fields.size();
      continue;
    }
    absl::StatusOr<SubjectEntries> entries =
        SubjectEntryKeys(*deps_.store, subject_hash);
    if (!entries.ok()) return entries.status();
    storage::WriteBatch batch;
    std::vector<audit::Event> events;
    std::vector<std::pair<Table, std::string>> purge;
    for (const auto& [token, action] : fields) {
      absl::StatusOr<std::string> field = deps_.store->Get(Table::kFields, token);
      pb::FieldRecord record;
      if (!field.ok() || !record.ParseFromString(*field)) continue;
      if (!record.blind_index().empty()) {
        batch.Delete(Table::kIndex, keys::BlindIndexKey(record.blind_index(), token));
      }
      if (auto entry = entries->find(token); entry != entries->end()) {
        for (const std::string& key : entry->second) {
          batch.Delete(Table::kIndex, key);
        }
      }
      audit::Event event;
      event.identity = "sandyqd";
      event.rpc = "Subjects.Retention";
      event.subject_hash = subject_hash;
      event.token = token;
      event.field_type = record.field_type();
      event.purpose = record.collection_purpose();
      event.decision = audit::Decision::kAllowed;
      if (action == policy::RetentionAction::kDestroy) {
        batch.Delete(Table::kFields, token);
        event.rule = "retention: destroyed";
        ++result.destroyed;
      } else {
        record.clear_ciphertext();
        record.clear_blind_index();
        record.clear_dedup_key();  // (records of older builds)
        record.set_depersonalized(true);
        record.set_updated_micros(absl::ToUnixMicros(now));
        batch.Put(Table::kFields, token, record.SerializeAsString());
        // Still the subject's token, with no value to find it by.
        batch.Put(Table::kIndex, keys::SubjectTokenKey(subject_hash, token), "");
        event.rule = "retention: depersonalized (value destroyed, token kept)";
        ++result.depersonalized;
      }
      purge.emplace_back(Table::kFields, token);
      events.push_back(std::move(event));
    }
    absl::Status written = deps_.log->CommitAndWait(std::move(batch), std::move(events));
    held();
    if (!written.ok()) return written;
    if (absl::Status p = deps_.store->Purge(purge); !p.ok()) return p;
  }
  return result;
}

void Vault::Backup(const Caller& caller, std::string dir,
                   Callback<BackupInfo> done) {
  std::optional<audit::Event> event =
      Authorize(caller, "Admin.Backup", &policy::Policy::Backup, done);
  if (!event) return;
  if (absl::Status s = CheckText("dir", dir, 1024, true); !s.ok()) {
    event->rule = "input:dir";
    return Refuse(std::move(*event), audit::Decision::kInvalid, s, std::move(done));
  }
  background_->Post([this, dir = std::move(dir), event = std::move(*event),
                     done = std::move(done)]() mutable {
    // The backup's own log holds the events up to here; the backup event
    // itself follows it.
    absl::StatusOr<BackupInfo> info = backups_.Create(
        *deps_.store, dir, deps_.log->last_seq(), deps_.clock->Now());
    if (!info.ok()) {
      event.rule += "; refused";
      const audit::Decision decision = absl::IsFailedPrecondition(info.status())
                                           ? audit::Decision::kDenied
                                           : audit::Decision::kFailed;
      return Refuse(std::move(event), decision, info.status(), std::move(done));
    }
    absl::StrAppend(&event.rule, "; backup ", info->path);
    absl::Status logged = deps_.log->CommitAndWait({}, {std::move(event)});
    if (!logged.ok()) return std::move(done)(NotRecorded(logged));
    std::move(done)(std::move(*info));
  });
}

}  // namespace sandyq::vault
