#include "server/vault/subject_data.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sandyq/internal/v1/records.pb.h"
#include "server/vault/records.h"

namespace sandyq::vault {

namespace pb = ::sandyq::internal::v1;
using storage::Table;

absl::StatusOr<SubjectErasurePlan> PlanSubjectErasure(
    const storage::Store& store, absl::string_view subject_hash,
    absl::Time erased_at) {
  SubjectErasurePlan plan;
  const int64_t cutoff = erased_at == absl::InfiniteFuture()
                             ? INT64_MAX
                             : absl::ToUnixMicros(erased_at);
  auto remove = [&](Table table, std::string key) {
    plan.batch.Delete(table, key);
    plan.keys.emplace_back(table, std::move(key));
  };

  absl::StatusOr<std::string> subject = store.Get(Table::kSubjects, subject_hash);
  if (subject.ok()) {
    pb::SubjectRecord record;
    const bool parsed = record.ParseFromString(*subject);
    if (!parsed || record.created_micros() <= cutoff) {
      plan.found = true;
      if (parsed && !record.wrapped_dek().empty()) {
        plan.batch.Add(Table::kKeys, keys::DekCountKey(record.kek_version()),
                       -1);
      }
      remove(Table::kSubjects, std::string(subject_hash));
    }
  } else if (!absl::IsNotFound(subject.status())) {
    return subject.status();
  }

  // Field records through the subject's token index.
  // (entry key, token, whether the entry is format 1's token entry)
  struct Entry {
    std::string key;
    std::string token;
    bool token_entry;
  };
  std::vector<Entry> entries;
  const std::string prefix = keys::SubjectTokensPrefix(subject_hash);
  absl::Status scanned = store.Scan(
      Table::kIndex, prefix, "",
      [&](absl::string_view key, absl::string_view value) {
        entries.push_back(
            {.key = std::string(key),
             .token = std::string(
                 keys::SubjectEntryToken(key.substr(prefix.size()), value)),
             .token_entry = value.empty()});
        return true;
      });
  if (!scanned.ok()) return scanned;
  for (Entry& entry : entries) {
    const std::string& token = entry.token;
    absl::StatusOr<std::string> field = store.Get(Table::kFields, token);
    if (!field.ok() && !absl::IsNotFound(field.status())) {
      return field.status();
    }
    pb::FieldRecord record;
    const bool parsed = field.ok() && record.ParseFromString(*field);
    if (parsed && record.created_micros() > cutoff) continue;
    plan.found = true;
    remove(Table::kIndex, std::move(entry.key));
    if (!field.ok()) continue;
    if (parsed && !record.blind_index().empty()) {
      remove(Table::kIndex, keys::BlindIndexKey(record.blind_index(), token));
    }
    if (parsed && entry.token_entry && !record.dedup_key().empty()) {
      // A token entry of a token with a value: format 1's layout (a backup
      // taken before the index was rewritten), whose dedup entry goes too.
      remove(Table::kIndex, keys::LegacyDedupKey(record.dedup_key()));
    }
    remove(Table::kFields, token);
    ++plan.tokens;
  }

  // Consents and their history.
  for (const std::string& consent_prefix :
       {keys::ConsentPrefix(subject_hash), keys::ConsentHistoryPrefix(subject_hash)}) {
    std::vector<std::string> found;
    absl::Status s = store.Scan(
        Table::kConsents, consent_prefix, "",
        [&](absl::string_view key, absl::string_view value) {
          pb::ConsentRecord consent;
          if (consent.ParseFromArray(value.data(),
                                     static_cast<int>(value.size())) &&
              consent.recorded_micros() > cutoff) {
            return true;  // recorded after the erasure
          }
          found.emplace_back(key);
          return true;
        });
    if (!s.ok()) return s;
    for (std::string& key : found) {
      plan.found = true;
      remove(Table::kConsents, std::move(key));
    }
  }
  return plan;
}

absl::StatusOr<SubjectEntries> SubjectEntryKeys(const storage::Store& store,
                                               absl::string_view subject_hash) {
  SubjectEntries entries;
  const std::string prefix = keys::SubjectTokensPrefix(subject_hash);
  absl::Status scanned = store.Scan(
      Table::kIndex, prefix, "",
      [&](absl::string_view key, absl::string_view value) {
        entries[std::string(keys::SubjectEntryToken(key.substr(prefix.size()), value))]
            .emplace_back(key);
        return true;
      });
  if (!scanned.ok()) return scanned;
  return entries;
}

}  // namespace sandyq::vault
