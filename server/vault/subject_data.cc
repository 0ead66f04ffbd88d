#include "server/vault/subject_data.h"

#include "sandyq/internal/v1/records.pb.h"
#include "server/vault/records.h"

namespace sandyq::vault {

namespace pb = ::sandyq::internal::v1;
using storage::Table;

absl::StatusOr<SubjectErasurePlan> PlanSubjectErasure(
    const storage::Store& store, absl::string_view subject_hash) {
  SubjectErasurePlan plan;
  auto remove = [&](Table table, std::string key) {
    plan.batch.Delete(table, key);
    plan.keys.emplace_back(table, std::move(key));
  };

  absl::StatusOr<std::string> subject = store.Get(Table::kSubjects, subject_hash);
  if (subject.ok()) {
    plan.found = true;
    pb::SubjectRecord record;
    if (record.ParseFromString(*subject) && !record.wrapped_dek().empty()) {
      plan.batch.Add(Table::kKeys, keys::DekCountKey(record.kek_version()), -1);
    }
    remove(Table::kSubjects, std::string(subject_hash));
  } else if (!absl::IsNotFound(subject.status())) {
    return subject.status();
  }

  // Field records through the subject's token index.
  std::vector<std::string> tokens;
  const std::string prefix = keys::SubjectTokensPrefix(subject_hash);
  absl::Status scanned = store.Scan(
      Table::kIndex, prefix, "", [&](absl::string_view key, absl::string_view) {
        tokens.emplace_back(key.substr(prefix.size()));
        return true;
      });
  if (!scanned.ok()) return scanned;
  for (const std::string& token : tokens) {
    plan.found = true;
    remove(Table::kIndex, keys::SubjectTokenKey(subject_hash, token));
    absl::StatusOr<std::string> field = store.Get(Table::kFields, token);
    if (absl::IsNotFound(field.status())) continue;
    if (!field.ok()) return field.status();
    pb::FieldRecord record;
    if (record.ParseFromString(*field)) {
      if (!record.blind_index().empty()) {
        remove(Table::kIndex, keys::BlindIndexKey(record.blind_index(), token));
      }
      if (!record.dedup_key().empty()) {
        remove(Table::kIndex, keys::DedupKey(record.dedup_key()));
      }
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
        [&](absl::string_view key, absl::string_view) {
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

}  // namespace sandyq::vault
