// Tokenizer.Detokenize, Tokenizer.DetokenizeBatch and Tokenizer.Lookup.

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/crypto/aead.h"
#include "server/fields/fields.h"
#include "server/fields/token.h"
#include "server/vault/input.h"
#include "server/vault/records.h"
#include "server/vault/vault.h"

namespace sandyq::vault {

namespace pb = ::sandyq::internal::v1;
using storage::Table;

constexpr absl::string_view kDetokenizeRpc = "Tokenizer.Detokenize";
constexpr absl::string_view kDetokenizeBatchRpc = "Tokenizer.DetokenizeBatch";
constexpr absl::string_view kLookupRpc = "Tokenizer.Lookup";

struct Vault::RevealItem {
  DetokenizeInput input;
  audit::Event event;
  absl::StatusOr<Revealed> result = absl::UnknownError("not processed");
};

// An input's reads, made before the call was placed on a thread.
struct Vault::Prefetched {
  std::optional<absl::StatusOr<std::string>> record;   // fields[token]
  std::optional<pb::FieldRecord> parsed;               // record, if it parsed
  std::optional<absl::StatusOr<std::string>> subject;  // subjects[its hash]
};

void Vault::Detokenize(const Caller& caller, DetokenizeInput input,
                       Callback<Revealed> done) {
  std::vector<DetokenizeInput> inputs;
  inputs.push_back(std::move(input));
  DetokenizeMany(caller, std::move(inputs), kDetokenizeRpc,
                  [done = std::move(done)](
                      absl::StatusOr<DetokenizeResults> results) mutable {
                    if (!results.ok()) {
                      std::move(done)(results.status());
                    } else {
                      std::move(done)(std::move(results->front()));
                    }
                  });
}

void Vault::DetokenizeBatch(const Caller& caller,
                            std::vector<DetokenizeInput> inputs,
                            Callback<DetokenizeResults> done) {
  DetokenizeMany(caller, std::move(inputs), kDetokenizeBatchRpc,
                 std::move(done));
}

// gRPC runs every handler on two threads on a two-core machine: a read that
// waits for the disk there stalls every call behind it. So, once the caller
// and the batch's size are accepted, the reads come first, from the store's
// memory only; if one needs a table file, the whole call moves to the
// readers, which may wait, and reads everything again.
void Vault::DetokenizeMany(const Caller& caller,
                           std::vector<DetokenizeInput> inputs,
                           absl::string_view rpc,
                           Callback<DetokenizeResults> done) {
  std::optional<Authenticated> auth = Authenticate(caller, rpc, done);
  if (!auth) return;
  if (inputs.empty() || inputs.size() > options_.max_batch_items) {
    audit::Event event = std::move(auth->event);
    event.rule = "input:items";
    return Refuse(std::move(event), audit::Decision::kInvalid,
                  absl::InvalidArgumentError(absl::StrCat(
                      "items: between 1 and ", options_.max_batch_items,
                      " items per batch")),
                  std::move(done));
  }
  std::vector<Prefetched> prefetched;
  if (!PrefetchFromMemory(inputs, prefetched)) {
    readers_->Post([this, caller, auth = std::move(*auth),
                    inputs = std::move(inputs), rpc,
                    done = std::move(done)]() mutable {
      RevealMany(caller, std::move(auth), std::move(inputs), rpc, {},
                 std::move(done));
    });
    return;
  }
  RevealMany(caller, std::move(*auth), std::move(inputs), rpc,
             std::move(prefetched), std::move(done));
}

bool Vault::PrefetchFromMemory(const std::vector<DetokenizeInput>& inputs,
                               std::vector<Prefetched>& out) const {
  out.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    // RevealOne reads nothing for what is not shaped like a token.
    if (!fields::LooksLikeToken(inputs[i].token)) continue;
    absl::StatusOr<std::string> record =
        deps_.store->GetFromMemory(Table::kFields, inputs[i].token);
    if (absl::IsUnavailable(record.status())) return false;
    pb::FieldRecord parsed;
    if (record.ok() && parsed.ParseFromString(*record)) {
      absl::StatusOr<std::string> subject =
          deps_.store->GetFromMemory(Table::kSubjects, parsed.subject_hash());
      if (absl::IsUnavailable(subject.status())) return false;
      out[i].subject = std::move(subject);
      out[i].parsed = std::move(parsed);
    }
    out[i].record = std::move(record);
  }
  return true;
}

void Vault::RevealMany(const Caller& caller, Authenticated auth,
                       std::vector<DetokenizeInput> inputs,
                       absl::string_view rpc, std::vector<Prefetched> prefetched,
                       Callback<DetokenizeResults> done) {
  std::shared_ptr<const policy::Policy> policy = std::move(auth.policy);
  const policy::Principal* who = auth.who;

  auto items = std::make_shared<std::vector<RevealItem>>(inputs.size());
  std::vector<audit::Event> events;
  events.reserve(inputs.size());
  // For the bulk-extraction alarms: views into *items, which stays put.
  uint64_t denied = 0;
  std::vector<absl::string_view> revealed_subjects;
  for (size_t i = 0; i < inputs.size(); ++i) {
    RevealItem& item = (*items)[i];
    item.input = std::move(inputs[i]);
    item.event = NewEvent(caller, who, rpc);
    RevealOne(*policy, *who, item,
              i < prefetched.size() ? &prefetched[i] : nullptr);
    item.event.code = static_cast<int>(item.result.status().code());
    if (item.event.decision == audit::Decision::kDenied) {
      ++denied;
    } else if (item.result.ok()) {
      revealed_subjects.push_back(item.event.subject_hash);
    }
    events.push_back(item.event);
  }
  limiter_.Observe(*who, denied, revealed_subjects);
  deps_.log->Commit(
      {}, std::move(events),
      [items, done = std::move(done)](absl::Status written) mutable {
        DetokenizeResults results;
        results.reserve(items->size());
        for (RevealItem& item : *items) {
          if (written.ok()) {
            results.push_back(std::move(item.result));
          } else {
            results.push_back(NotRecorded(written));
          }
        }
        std::move(done)(std::move(results));
      });
}

// Fills item.result and item.event (decision, rule, token, subject, type).
void Vault::RevealOne(const policy::Policy& policy,
                      const policy::Principal& who, RevealItem& item,
                      Prefetched* prefetched) const {
  audit::Event& event = item.event;
  const DetokenizeInput& in = item.input;
  auto refuse = [&](audit::Decision decision, absl::string_view rule,
                    absl::Status status) {
    event.decision = decision;
    event.rule = std::string(rule);
    item.result = std::move(status);
  };

  // Record only what is shaped like a token: a caller who sends a raw value
  // (say, a card number) by mistake must not get it written into the log.
  const bool is_token = fields::LooksLikeToken(in.token);
  if (is_token) event.token = in.token;
  // Read the record first, so that every event about the person, refused
  // ones too, names them (what the caller is told does not change).
  pb::FieldRecord record;
  std::optional<fields::FieldType> type;
  absl::StatusOr<std::string> bytes = absl::NotFoundError("not a token");
  bool parsed = false;  // by PrefetchFromMemory
  if (is_token && prefetched != nullptr && prefetched->record) {
    bytes = std::move(*prefetched->record);
    if (prefetched->parsed) {
      record = std::move(*prefetched->parsed);
      parsed = true;
    }
  } else if (is_token) {
    bytes = deps_.store->Get(Table::kFields, in.token);
  }
  if (bytes.ok() && (parsed || record.ParseFromString(*bytes))) {
    type = fields::FieldTypeFromNumber(record.field_type());
    event.subject_hash = record.subject_hash();
    event.field_type = record.field_type();
  }
  auto refuse_policy = [&](const policy::Decision& d) {
    refuse(d.code == absl::StatusCode::kInvalidArgument
               ? audit::Decision::kInvalid
               : audit::Decision::kDenied,
           d.rule, d.ToStatus());
  };

  if (absl::Status s = CheckText("purpose", in.purpose, kMaxPurposeBytes,
                                 /*required=*/true);
      !s.ok()) {
    return refuse(audit::Decision::kInvalid, "input:purpose", s);
  }
  event.purpose = in.purpose;
  if (absl::Status s = CheckText("justification", in.justification,
                                 kMaxJustificationBytes, /*required=*/false);
      !s.ok()) {
    return refuse(audit::Decision::kInvalid, "input:justification", s);
  }
  event.justification = in.justification;
  if (!is_token) {
    return refuse(audit::Decision::kInvalid, "input:token",
                  absl::InvalidArgumentError("token: not a sandyq token"));
  }
  const bool has_justification =
      !absl::StripAsciiWhitespace(in.justification).empty();

  // Refuse callers with no grant at all for this purpose before saying
  // whether the token exists, so they learn nothing about which tokens do.
  policy::Decision any = policy.RevealAnything(who, in.purpose, has_justification);
  if (!any.allowed) return refuse_policy(any);

  if (absl::IsNotFound(bytes.status())) {
    return refuse(audit::Decision::kNotFound, "token-not-found",
                  absl::NotFoundError("token: not found"));
  }
  if (!bytes.ok()) {
    return refuse(audit::Decision::kFailed, "storage",
                  NotRecorded(bytes.status()));
  }
  if (!type) {
    return refuse(audit::Decision::kFailed, "storage",
                  absl::DataLossError("storage: the stored record is damaged"));
  }

  policy::Decision decision =
      policy.Reveal(who, in.purpose, *type, has_justification);
  if (!decision.allowed) return refuse_policy(decision);

  absl::StatusOr<std::string> subject_bytes =
      prefetched != nullptr && prefetched->subject
          ? std::move(*prefetched->subject)
          : deps_.store->Get(Table::kSubjects, record.subject_hash());
  if (absl::IsNotFound(subject_bytes.status())) {
    // The subject's key is gone (erased): the value is unrecoverable.
    return refuse(audit::Decision::kNotFound, "subject-erased",
                  absl::NotFoundError("token: not found"));
  }
  if (!subject_bytes.ok()) {
    return refuse(audit::Decision::kFailed, "storage",
                  NotRecorded(subject_bytes.status()));
  }
  pb::SubjectRecord subject;
  if (!subject.ParseFromString(*subject_bytes)) {
    return refuse(audit::Decision::kFailed, "storage",
                  absl::DataLossError("storage: the subject record is damaged"));
  }
  // Conditions on the subject: blocked, consent, cross-border transfer.
  policy::SubjectContext context{.blocked = subject.blocked(),
                                 .residency_country = options_.residency_country};
  if (policy.ConsentMatters(who, in.purpose, options_.residency_country)) {
    absl::StatusOr<std::string> consent = deps_.store->Get(
        Table::kConsents, keys::ConsentKey(record.subject_hash(), in.purpose));
    if (consent.ok()) {
      pb::ConsentRecord c;
      if (c.ParseFromString(*consent)) {
        context.consent = policy::ConsentState{.granted = c.granted(),
                                               .cross_border = c.cross_border()};
      }
    } else if (!absl::IsNotFound(consent.status())) {
      return refuse(audit::Decision::kFailed, "storage",
                    NotRecorded(consent.status()));
    }
  }
  policy::Decision conditions = policy.SubjectConditions(who, in.purpose, context);
  if (!conditions.allowed) {
    return refuse(audit::Decision::kDenied,
                  absl::StrCat(decision.rule, "; ", conditions.rule),
                  conditions.ToStatus());
  }
  if (record.depersonalized()) {
    return refuse(audit::Decision::kNotFound, "depersonalized",
                  absl::NotFoundError("token: the value was destroyed after "
                                      "its retention period"));
  }
  const std::string granted_rule =
      conditions.rule.empty()
          ? decision.rule
          : absl::StrCat(decision.rule, "; ", conditions.rule);
  // Last, so that only a value about to be revealed uses up the identity's
  // budget; an over-limit item reveals nothing.
  if (std::optional<RevealLimiter::Refusal> limited =
          limiter_.Acquire(who, in.purpose)) {
    return refuse(audit::Decision::kDenied,
                  absl::StrCat(granted_rule, "; ", limited->rule),
                  std::move(limited->status));
  }
  absl::StatusOr<std::shared_ptr<const crypto::Aead>> aead =
      SubjectAead(*keys_->keyring(), record.subject_hash(),
                  subject.kek_version(), subject.wrapped_dek());
  absl::StatusOr<std::string> plaintext = absl::InternalError("no key");
  if (aead.ok()) {
    plaintext = (*aead)->Decrypt(
        record.ciphertext(),
        keys::FieldAssociatedData(in.token, *type, record.subject_hash()));
  }
  if (!plaintext.ok()) {
    return refuse(audit::Decision::kFailed, "crypto",
                  absl::DataLossError(
                      "crypto: the stored value failed authentication"));
  }

  const bool masked = decision.reveal == policy::Reveal::kMasked;
  event.decision = masked ? audit::Decision::kRevealedMasked
                          : audit::Decision::kRevealedFull;
  event.rule = granted_rule;
  item.result = Revealed{
      .value = masked ? fields::Mask(*type, *plaintext) : std::move(*plaintext),
      .type = *type,
      .masked = masked};
}

void Vault::Lookup(const Caller& caller, LookupInput input,
                   Callback<std::vector<std::string>> done) {
  std::optional<Authenticated> auth = Authenticate(caller, kLookupRpc, done);
  if (!auth) return;
  std::shared_ptr<const policy::Policy> policy = std::move(auth->policy);
  const policy::Principal* who = auth->who;
  audit::Event event = std::move(auth->event);
  if (absl::Status s = CheckText("purpose", input.purpose, kMaxPurposeBytes,
                                 /*required=*/true);
      !s.ok()) {
    event.rule = "input:purpose";
    return Refuse(std::move(event), audit::Decision::kInvalid, s,
                  std::move(done));
  }
  event.purpose = input.purpose;
  std::optional<fields::FieldType> type =
      fields::FieldTypeFromNumber(input.field_type);
  if (!type) {
    event.rule = "input:type";
    return Refuse(std::move(event), audit::Decision::kInvalid,
                  absl::InvalidArgumentError("type: must be a known field type"),
                  std::move(done));
  }
  event.field_type = static_cast<int>(*type);
  const absl::CivilDay today =
      absl::ToCivilDay(deps_.clock->Now(), absl::FixedTimeZone(5 * 60 * 60));
  absl::StatusOr<fields::Normalized> normalized = fields::Normalize(
      *type, input.value,
      {.today = today, .strict_iin = options_.strict_iin});
  input.value.clear();
  if (!normalized.ok()) {
    event.rule = absl::StrCat("validate:", fields::FieldTypeName(*type));
    return Refuse(std::move(event), audit::Decision::kInvalid,
                  normalized.status(), std::move(done));
  }
  policy::Decision decision = policy->Lookup(*who, input.purpose, *type);
  if (!decision.allowed) {
    event.rule = decision.rule;
    limiter_.Observe(*who, /*denied=*/1, {});
    return Refuse(std::move(event), audit::Decision::kDenied,
                  decision.ToStatus(), std::move(done));
  }
  event.rule = decision.rule;
  // A lookup tells whether a person's value is held: it counts as one
  // reveal, taken before the index is read.
  if (std::optional<RevealLimiter::Refusal> limited =
          limiter_.Acquire(*who, input.purpose)) {
    event.rule = absl::StrCat(decision.rule, "; ", limited->rule);
    limiter_.Observe(*who, /*denied=*/1, {});
    return Refuse(std::move(event), audit::Decision::kDenied,
                  std::move(limited->status), std::move(done));
  }

  const std::string prefix =
      keys::BlindIndexPrefix(keys_->BlindIndex(*type, normalized->search_key));
  std::vector<std::string> found;
  absl::Status scanned = deps_.store->Scan(
      Table::kIndex, prefix, "", [&](absl::string_view key, absl::string_view) {
        found.emplace_back(key.substr(prefix.size()));
        return found.size() < options_.max_lookup_results;
      });
  if (!scanned.ok()) {
    event.rule = "storage";
    return Refuse(std::move(event), audit::Decision::kFailed,
                  NotRecorded(scanned), std::move(done));
  }
  // One event per person found, so each person's report shows the lookup;
  // blocked people are left out unless the purpose is allowed while blocked.
  const policy::Purpose* purpose = policy->FindPurpose(input.purpose);
  const bool serve_blocked = purpose != nullptr && purpose->allowed_while_blocked;
  std::vector<std::string> tokens;
  std::vector<audit::Event> events;
  for (std::string& token : found) {
    pb::FieldRecord record;
    absl::StatusOr<std::string> bytes = deps_.store->Get(Table::kFields, token);
    if (!bytes.ok() || !record.ParseFromString(*bytes)) continue;
    audit::Event per_token = event;
    per_token.subject_hash = record.subject_hash();
    per_token.token = token;
    per_token.decision = audit::Decision::kAllowed;
    if (!serve_blocked) {
      pb::SubjectRecord subject;
      absl::StatusOr<std::string> subject_bytes =
          deps_.store->Get(Table::kSubjects, record.subject_hash());
      if (subject_bytes.ok() && subject.ParseFromString(*subject_bytes) &&
          subject.blocked()) {
        per_token.decision = audit::Decision::kDenied;
        per_token.rule = absl::StrCat(event.rule, "; subject-blocked (left out)");
        per_token.code = static_cast<int>(absl::StatusCode::kFailedPrecondition);
        events.push_back(std::move(per_token));
        continue;
      }
    }
    events.push_back(std::move(per_token));
    tokens.push_back(std::move(token));
  }
  std::vector<absl::string_view> found_subjects;
  for (const audit::Event& e : events) {
    if (e.decision == audit::Decision::kAllowed) {
      found_subjects.push_back(e.subject_hash);
    }
  }
  limiter_.Observe(*who, /*denied=*/0, found_subjects);
  if (events.empty()) {
    event.decision = audit::Decision::kAllowed;
    events.push_back(std::move(event));
  }
  deps_.log->Commit({}, std::move(events),
                    [tokens = std::move(tokens),
                     done = std::move(done)](absl::Status written) mutable {
                      if (!written.ok()) {
                        std::move(done)(NotRecorded(written));
                      } else {
                        std::move(done)(std::move(tokens));
                      }
                    });
}

}  // namespace sandyq::vault
