// Tokenizer.Tokenize and Tokenizer.TokenizeBatch.

#include <atomic>
#include <utility>

#include "absl/container/flat_hash_map.h"
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

constexpr absl::string_view kTokenizeRpc = "Tokenizer.Tokenize";
constexpr absl::string_view kTokenizeBatchRpc = "Tokenizer.TokenizeBatch";
// Attempts to find an unused card token before giving up: they can run out
// for a crowded BIN + last-four pair with few middle digits. (Opaque tokens
// are never checked; see ReserveToken.)
constexpr int kTokenAttempts = 32;

struct Vault::TokenizeItem {
  TokenizeInput input;
  audit::Event event;
  fields::FieldType type = fields::FieldType::kUnspecified;
  fields::Normalized normalized;
  absl::StatusOr<std::string> result = absl::UnknownError("not processed");
};

struct Vault::TokenizeBatchState {
  std::shared_ptr<const policy::Policy> policy;
  const policy::Principal* who = nullptr;  // owned by `policy`
  std::vector<TokenizeItem> items;
  std::atomic<size_t> pending_groups{0};
  Callback<TokenizeResults> done;

  // Called once per group of items; the last one replies.
  void GroupDone() {
    if (pending_groups.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    TokenizeResults results;
    results.reserve(items.size());
    for (TokenizeItem& item : items) results.push_back(std::move(item.result));
    std::move(done)(std::move(results));
  }
};

namespace {

absl::CivilDay TodayInAlmaty(absl::Time now) {
  static const absl::TimeZone kAlmaty = absl::FixedTimeZone(5 * 60 * 60);
  return absl::ToCivilDay(now, kAlmaty);
}

void Fail(audit::Event& event, absl::StatusOr<std::string>& result,
          audit::Decision decision, absl::string_view rule,
          absl::Status status) {
  event.decision = decision;
  event.rule = std::string(rule);
  event.code = static_cast<int>(status.code());
  result = std::move(status);
}

}  // namespace

void Vault::Tokenize(const Caller& caller, TokenizeInput input,
                     Callback<std::string> done) {
  std::vector<TokenizeInput> inputs;
  inputs.push_back(std::move(input));
  TokenizeMany(caller, std::move(inputs), kTokenizeRpc,
                [done = std::move(done)](
                    absl::StatusOr<TokenizeResults> results) mutable {
                  if (!results.ok()) {
                    std::move(done)(results.status());
                  } else {
                    std::move(done)(std::move(results->front()));
                  }
                });
}

void Vault::TokenizeBatch(const Caller& caller,
                          std::vector<TokenizeInput> inputs,
                          Callback<TokenizeResults> done) {
  TokenizeMany(caller, std::move(inputs), kTokenizeBatchRpc, std::move(done));
}

void Vault::TokenizeMany(const Caller& caller,
                         std::vector<TokenizeInput> inputs,
                         absl::string_view rpc,
                         Callback<TokenizeResults> done) {
  std::optional<Authenticated> auth = Authenticate(caller, rpc, done);
  if (!auth) return;
  std::shared_ptr<const policy::Policy> policy = std::move(auth->policy);
  const policy::Principal* who = auth->who;
  if (inputs.empty() || inputs.size() > options_.max_batch_items) {
    audit::Event event = std::move(auth->event);
    event.rule = "input:items";
    return Refuse(std::move(event), audit::Decision::kInvalid,
                  absl::InvalidArgumentError(absl::StrCat(
                      "items: between 1 and ", options_.max_batch_items,
                      " items per batch")),
                  std::move(done));
  }

  auto state = std::make_shared<TokenizeBatchState>();
  state->policy = policy;
  state->who = who;
  state->done = std::move(done);
  state->items.resize(inputs.size());
  const fields::NormalizeOptions normalize_options{
      .today = TodayInAlmaty(deps_.clock->Now()),
      .strict_iin = options_.strict_iin};

  std::vector<audit::Event> refused;
  std::vector<std::size_t> refused_items;
  // Items grouped by subject, in order of first appearance.
  std::vector<std::pair<std::string, std::vector<size_t>>> groups;
  absl::flat_hash_map<std::string, size_t> group_of;
  // One HMAC per distinct subject id: bulk loads send a person's fields
  // together. The views point into state->items, which no longer resizes.
  absl::flat_hash_map<absl::string_view, std::string> hash_of_subject;

  for (size_t i = 0; i < inputs.size(); ++i) {
    TokenizeItem& item = state->items[i];
    item.input = std::move(inputs[i]);
    item.event = NewEvent(caller, who, rpc);
    // The item's event goes to the log as it is: nothing reads it after.
    auto refuse = [&](audit::Decision decision, absl::string_view rule,
                      absl::Status status) {
      Fail(item.event, item.result, decision, rule, std::move(status));
      refused.push_back(std::move(item.event));
      refused_items.push_back(i);
    };
    if (absl::Status s = CheckText("subject_id", item.input.subject_id,
                                   kMaxSubjectIdBytes, /*required=*/true);
        !s.ok()) {
      refuse(audit::Decision::kInvalid, "input:subject_id", s);
      continue;
    }
    auto [hash, new_subject] =
        hash_of_subject.try_emplace(item.input.subject_id);
    if (new_subject) hash->second = keys_->SubjectHash(item.input.subject_id);
    item.event.subject_hash = hash->second;
    std::optional<fields::FieldType> type =
        fields::FieldTypeFromNumber(item.input.field_type);
    if (!type) {
      refuse(audit::Decision::kInvalid, "input:type",
             absl::InvalidArgumentError("type: must be a known field type"));
      continue;
    }
    item.type = *type;
    item.event.field_type = static_cast<int>(*type);
    if (absl::Status s = CheckText("source", item.input.source,
                                   kMaxSourceBytes, /*required=*/false);
        !s.ok()) {
      refuse(audit::Decision::kInvalid, "input:source", s);
      continue;
    }
    if (!item.input.purpose.empty()) {
      if (policy->FindPurpose(item.input.purpose) == nullptr) {
        refuse(audit::Decision::kInvalid, "input:purpose",
               absl::InvalidArgumentError(
                   "purpose: not registered in the policy"));
        continue;
      }
      item.event.purpose = item.input.purpose;
    }
    absl::StatusOr<fields::Normalized> normalized =
        fields::Normalize(*type, item.input.value, normalize_options);
    // The plaintext is no longer needed: drop it now.
    item.input.value.clear();
    if (!normalized.ok()) {
      refuse(audit::Decision::kInvalid,
             absl::StrCat("validate:", fields::FieldTypeName(*type)),
             normalized.status());
      continue;
    }
    item.normalized = std::move(*normalized);
    policy::Decision decision = policy->Tokenize(*who, *type);
    if (!decision.allowed) {
      refuse(audit::Decision::kDenied, decision.rule, decision.ToStatus());
      continue;
    }
    item.event.rule = decision.rule;
    auto [it, inserted] =
        group_of.try_emplace(item.event.subject_hash, groups.size());
    if (inserted) groups.push_back({item.event.subject_hash, {}});
    groups[it->second].second.push_back(i);
  }

  state->pending_groups.store(groups.size() + (refused.empty() ? 0 : 1));
  if (!refused.empty()) {
    deps_.log->Commit({}, std::move(refused),
                      [state, refused_items = std::move(refused_items)](
                          absl::Status written) {
                        if (!written.ok()) {
                          for (size_t i : refused_items) {
                            state->items[i].result = NotRecorded(written);
                          }
                        }
                        state->GroupDone();
                      });
  }
  for (auto& [subject_hash, items] : groups) {
    subjects_.Run(subject_hash,
                  [this, state, items = std::move(items)](
                      KeyedSequencer::Release release) mutable {
                    TokenizeSubject(std::move(state), std::move(items),
                                    std::move(release));
                  });
  }
}

// What WriteSubjectValues reads before it writes; per position in `indexes`.
struct Vault::SubjectReads {
  absl::StatusOr<std::string> subject = absl::UnknownError("not read");
  std::vector<std::string> dedup;                     // the value's dedup key
  std::vector<absl::StatusOr<std::string>> existing;  // its subject entry
};

// Runs while holding the subject: no other write for this subject can read
// or change its state until `release`, which comes once this call's batch is
// written (not yet durable; see AuditLog::Commit). gRPC runs handlers on two
// threads on a two-core machine, so, as for Detokenize, the reads come from
// the store's memory first; if one needs a table file (a known subject whose
// record is not in the block cache), the work moves to a reader, which may
// wait. A new subject's or new value's key is answered from memory by the
// bloom filters.
void Vault::TokenizeSubject(std::shared_ptr<TokenizeBatchState> state,
                            std::vector<size_t> indexes,
                            KeyedSequencer::Release release) {
  // The dedup keys (one HMAC each) are computed once, wherever the reads run.
  SubjectReads reads;
  const std::string& subject_hash =
      state->items[indexes.front()].event.subject_hash;
  reads.dedup.reserve(indexes.size());
  for (size_t i : indexes) {
    const TokenizeItem& item = state->items[i];
    reads.dedup.push_back(
        keys_->DedupKey(subject_hash, item.type, item.normalized.value));
  }
  if (ReadSubject(*state, indexes, /*memory_only=*/true, reads)) {
    return WriteSubjectValues(std::move(state), std::move(indexes),
                              std::move(release), std::move(reads));
  }
  readers_->Post([this, state = std::move(state), indexes = std::move(indexes),
                  release = std::move(release),
                  reads = std::move(reads)]() mutable {
    ReadSubject(*state, indexes, /*memory_only=*/false, reads);
    WriteSubjectValues(std::move(state), std::move(indexes), std::move(release),
                       std::move(reads));
  });
}

bool Vault::ReadSubject(const TokenizeBatchState& state,
                        const std::vector<size_t>& indexes, bool memory_only,
                        SubjectReads& out) const {
  auto read = [&](Table table, absl::string_view key) {
    return memory_only ? deps_.store->GetFromMemory(table, key)
                       : deps_.store->Get(table, key);
  };
  const std::string& subject_hash = state.items[indexes.front()].event.subject_hash;
  out.subject = read(Table::kSubjects, subject_hash);
  if (memory_only && absl::IsUnavailable(out.subject.status())) return false;
  out.existing.clear();
  out.existing.reserve(indexes.size());
  for (const std::string& dedup : out.dedup) {
    out.existing.push_back(
        read(Table::kIndex, keys::SubjectValueKey(subject_hash, dedup)));
    if (memory_only && absl::IsUnavailable(out.existing.back().status())) {
      return false;
    }
  }
  return true;
}

void Vault::WriteSubjectValues(std::shared_ptr<TokenizeBatchState> state,
                               std::vector<size_t> indexes,
                               KeyedSequencer::Release release,
                               SubjectReads reads) {
  const std::string subject_hash =
      state->items[indexes.front()].event.subject_hash;
  const int64_t now = absl::ToUnixMicros(deps_.clock->Now());
  storage::WriteBatch batch;
  std::vector<audit::Event> events;
  std::vector<std::string> reserved;

  // Items already answered (refused or failed); they get no token.
  std::vector<bool> refused(state->items.size(), false);
  auto fail_all = [&](absl::Status status) {
    for (size_t i : indexes) {
      if (refused[i]) continue;
      TokenizeItem& item = state->items[i];
      Fail(item.event, item.result, audit::Decision::kFailed, "storage",
           status);
      events.push_back(std::move(item.event));
      refused[i] = true;
    }
  };

  // The subject's record: its data key (existing, or new and stored with
  // the first token) and whether it is blocked. The keyring stays held until
  // the write is durable (see KeyManager::keyring).
  std::shared_ptr<const crypto::Keyring> keyring = keys_->keyring();
  absl::StatusOr<std::shared_ptr<const crypto::Aead>> aead =
      absl::InternalError("no key");
  std::shared_ptr<const crypto::Aead> new_aead;  // cached once durable
  pb::SubjectRecord subject;
  // The subject's record if it changes (a new data key), written only if one
  // of its values is.
  std::string changed_subject_record;
  uint32_t new_subject_kek = 0;
  const absl::StatusOr<std::string>& subject_bytes = reads.subject;
  if (subject_bytes.ok() && !subject.ParseFromString(*subject_bytes)) {
    fail_all(absl::DataLossError("storage: the subject record is damaged"));
  } else if (!subject_bytes.ok() && !absl::IsNotFound(subject_bytes.status())) {
    fail_all(NotRecorded(subject_bytes.status()));
  }
  if (events.empty() && subject.blocked()) {
    // Blocking suspends collection: no new data, except for purposes the
    // policy allows while blocked.
    for (size_t i : indexes) {
      TokenizeItem& item = state->items[i];
      policy::Decision d =
          state->policy->TokenizeForSubject(*state->who, item.input.purpose, true);
      if (!d.allowed) {
        Fail(item.event, item.result, audit::Decision::kDenied, d.rule,
             d.ToStatus());
        events.push_back(std::move(item.event));
        refused[i] = true;
      }
    }
  }
  if (events.size() < indexes.size() && !subject.wrapped_dek().empty()) {
    aead = SubjectAead(*keyring, subject_hash, subject.kek_version(),
                       subject.wrapped_dek());
    if (!aead.ok()) {
      fail_all(absl::InternalError("keys: the subject's data key cannot be "
                                   "opened"));
    }
  } else if (events.size() < indexes.size()) {
    crypto::SecretBytes dek = keys_->NewDek();
    absl::StatusOr<crypto::WrappedKey> wrapped =
        keyring->WrapDek(dek, subject_hash);
    absl::StatusOr<std::unique_ptr<crypto::Aead>> fresh =
        crypto::Aead::New(dek, *deps_.random);
    if (wrapped.ok() && fresh.ok()) {
      new_aead = std::move(*fresh);
      aead = new_aead;
      new_subject_kek = wrapped->kek_version;
      subject.set_kek_version(wrapped->kek_version);
      subject.set_wrapped_dek(wrapped->bytes);
      if (subject.created_micros() == 0) subject.set_created_micros(now);
      changed_subject_record = subject.SerializeAsString();
    } else {
      fail_all(absl::InternalError("keys: cannot wrap a new data key"));
    }
  }

  if (events.size() < indexes.size()) {
    // Tokens created or found within this group, by dedup key, so a value
    // repeated in one batch gets one token.
    absl::flat_hash_map<std::string, std::string> in_group;
    for (size_t n = 0; n < indexes.size(); ++n) {
      const size_t i = indexes[n];
      if (refused[i]) continue;
      TokenizeItem& item = state->items[i];
      const std::string& dedup = reads.dedup[n];
      std::string token;
      if (auto it = in_group.find(dedup); it != in_group.end()) {
        token = it->second;
      } else {
        absl::StatusOr<std::string>& existing = reads.existing[n];
        if (existing.ok()) {
          token = std::move(*existing);
        } else if (!absl::IsNotFound(existing.status())) {
          Fail(item.event, item.result, audit::Decision::kFailed, "storage",
               NotRecorded(existing.status()));
          events.push_back(std::move(item.event));
          continue;
        }
      }
      if (token.empty()) {
        absl::StatusOr<std::string> fresh =
            ReserveToken(item.type, item.normalized.value);
        if (!fresh.ok()) {
          Fail(item.event, item.result, audit::Decision::kFailed,
               "token-space", fresh.status());
          events.push_back(std::move(item.event));
          continue;
        }
        token = std::move(*fresh);
        if (item.type == fields::FieldType::kCardNumber) reserved.push_back(token);
        absl::StatusOr<std::string> ciphertext =
            aead.ok() ? (*aead)->Encrypt(
                            item.normalized.value,
                            keys::FieldAssociatedData(token, item.type,
                                                      subject_hash))
                      : aead.status();
        if (!ciphertext.ok()) {
          Fail(item.event, item.result, audit::Decision::kFailed, "crypto",
               absl::InternalError("crypto: encryption failed"));
          events.push_back(std::move(item.event));
          continue;
        }
        const std::string blind =
            keys_->BlindIndex(item.type, item.normalized.search_key);
        pb::FieldRecord record;
        record.set_subject_hash(subject_hash);
        record.set_field_type(static_cast<int>(item.type));
        record.set_ciphertext(std::move(*ciphertext));
        record.set_source(item.input.source);
        record.set_created_micros(now);  // updated_micros: unset until changed
        record.set_blind_index(blind);
        record.set_collection_purpose(item.input.purpose);
        batch.Put(Table::kFields, token, record.SerializeAsString());
        batch.Put(Table::kIndex, keys::BlindIndexKey(blind, token), "");
        batch.Put(Table::kIndex, keys::SubjectValueKey(subject_hash, dedup),
                  token);
      }
      in_group.try_emplace(dedup, token);
      item.event.token = token;
      item.event.decision = audit::Decision::kAllowed;
      item.event.code = 0;
      item.result = std::move(token);
      events.push_back(std::move(item.event));
    }
  }
  // Keep no data key for a subject none of whose values were stored.
  if (!changed_subject_record.empty() && !batch.empty()) {
    batch.Put(Table::kSubjects, subject_hash, changed_subject_record);
    batch.Add(Table::kKeys, keys::DekCountKey(new_subject_kek), +1);
  }
  // Normalized plaintext is no longer needed.
  for (size_t i : indexes) {
    state->items[i].normalized = fields::Normalized();
  }

  deps_.log->Commit(
      std::move(batch), std::move(events),
      [this, state = std::move(state), indexes = std::move(indexes),
       reserved = std::move(reserved), keyring = std::move(keyring),
       subject_hash,
       new_wrapped = std::string(new_aead != nullptr ? subject.wrapped_dek() : ""),
       new_aead = std::move(new_aead)](absl::Status written) mutable {
        keyring.reset();
        if (written.ok() && new_aead != nullptr) {
          deks_.Put(subject_hash, std::move(new_wrapped), std::move(new_aead));
        }
        Unreserve(reserved);
        if (!written.ok()) {
          for (size_t i : indexes) {
            state->items[i].result = NotRecorded(written);
          }
        }
        state->GroupDone();
      },
      // The next write for this subject may start once this batch is
      // written: it reads the subject record and dedup entries written here,
      // and whatever it acknowledges is synced after them (AuditLog::Commit).
      [release = std::move(release)](absl::Status) mutable { release(); });
}

absl::StatusOr<std::string> Vault::ReserveToken(fields::FieldType type,
                                                absl::string_view normalized) {
  if (type != fields::FieldType::kCardNumber) {
    // 144 random bits: two equal opaque tokens would take about 2^72 of
    // them, so no lookup (and no store read on the request path) is needed.
    return fields::NewToken(type, normalized, *deps_.random);
  }
  // Card tokens have only the middle digits to vary: make sure.
  for (int attempt = 0; attempt < kTokenAttempts; ++attempt) {
    std::string candidate = fields::NewToken(type, normalized, *deps_.random);
    {
      absl::MutexLock lock(&reserved_mu_);
      if (!reserved_.insert(candidate).second) continue;
    }
    // Reserved first, checked second: a concurrent call either sees our
    // reservation or finds our record durable in the store.
    absl::StatusOr<std::string> taken =
        deps_.store->Get(Table::kFields, candidate);
    if (absl::IsNotFound(taken.status())) return candidate;
    Unreserve({candidate});
    if (!taken.ok()) return NotRecorded(taken.status());
  }
  return absl::ResourceExhaustedError(
      absl::StrCat(fields::FieldTypeName(type),
                   ": no unused token could be found for this value"));
}

void Vault::Unreserve(const std::vector<std::string>& tokens) {
  if (tokens.empty()) return;
  absl::MutexLock lock(&reserved_mu_);
  for (const std::string& t : tokens) reserved_.erase(t);
}

}  // namespace sandyq::vault
