#ifndef SANDYQ_SERVER_VAULT_RECORDS_H_
#define SANDYQ_SERVER_VAULT_RECORDS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/fields/field_type.h"
#include "server/storage/encoding.h"

// Keys the vault stores records under (docs/storage-format.md). Named once
// here and shared by every reader and writer.
namespace sandyq::vault::keys {

// Table kMeta.
inline constexpr absl::string_view kVaultRecord = "vault";
// Last subject hash the re-wrap job finished (absent: start from the first).
inline constexpr absl::string_view kRewrapCursor = "rewrap_cursor";
// When the last completed retention pass started: BE64 Unix microseconds.
inline constexpr absl::string_view kRetentionPass = "retention_pass";

// Table kKeys: KEK records under BE32 version (4 bytes); DEK counters under
// "deks/" + BE32 version.
inline constexpr absl::string_view kDekCountPrefix = "deks/";
inline std::string KekKey(uint32_t version) { return storage::EncodeU32(version); }
inline std::string DekCountKey(uint32_t version) {
  return absl::StrCat(kDekCountPrefix, storage::EncodeU32(version));
}

// Table kIndex: two key spaces, told apart by their first byte.
//   b <blind index 32> <token>  -> ""     Lookup scans the prefix
//   s <subject hash 32> <dedup key 32> -> token
//                               a subject's values: makes Tokenize idempotent
//                               (one Get) and lists the subject's tokens (a
//                               prefix scan)
//   s <subject hash 32> <token> -> ""     a token whose value was destroyed
//                               (retention's depersonalization): still the
//                               subject's, but no value to deduplicate
// An `s` entry's token is its value, or the rest of its key if the value is
// empty (SubjectEntryToken); field records do not store the dedup key, so a
// token's entry is found by scanning its subject's (SubjectEntryKeys in
// subject_data.h). Vaults of format 1 kept a third space,
// d <dedup key 32> -> token, and an `s` entry with an empty value for every
// token; opening such a vault rewrites it (index_migration.h).
inline constexpr char kBlindIndexTag = 'b';
inline constexpr char kSubjectTokensTag = 's';
inline constexpr char kLegacyDedupTag = 'd';  // format 1 only

inline std::string BlindIndexPrefix(absl::string_view blind_index) {
  return absl::StrCat(absl::string_view(&kBlindIndexTag, 1), blind_index);
}
inline std::string BlindIndexKey(absl::string_view blind_index,
                                 absl::string_view token) {
  return absl::StrCat(BlindIndexPrefix(blind_index), token);
}
inline std::string SubjectTokensPrefix(absl::string_view subject_hash) {
  return absl::StrCat(absl::string_view(&kSubjectTokensTag, 1), subject_hash);
}
// The entry of a value the subject holds: -> its token.
inline std::string SubjectValueKey(absl::string_view subject_hash,
                                   absl::string_view dedup) {
  return absl::StrCat(SubjectTokensPrefix(subject_hash), dedup);
}
// The entry of a token without a value (depersonalized): -> "".
inline std::string SubjectTokenKey(absl::string_view subject_hash,
                                   absl::string_view token) {
  return absl::StrCat(SubjectTokensPrefix(subject_hash), token);
}
// The token of an entry under SubjectTokensPrefix, given the rest of its key
// after the prefix and its value.
inline absl::string_view SubjectEntryToken(absl::string_view key_rest,
                                           absl::string_view value) {
  return value.empty() ? key_rest : value;
}
inline std::string LegacyDedupKey(absl::string_view dedup) {
  return absl::StrCat(absl::string_view(&kLegacyDedupTag, 1), dedup);
}

// Table kConsents: the current consent per (subject, purpose), and every
// change in time order.
inline constexpr char kConsentTag = 'c';         // c <subject hash 32> <purpose>
inline constexpr char kConsentHistoryTag = 'h';  // h <subject hash 32> <BE64 micros> <purpose>
inline std::string ConsentKey(absl::string_view subject_hash,
                              absl::string_view purpose) {
  return absl::StrCat(absl::string_view(&kConsentTag, 1), subject_hash, purpose);
}
inline std::string ConsentPrefix(absl::string_view subject_hash) {
  return absl::StrCat(absl::string_view(&kConsentTag, 1), subject_hash);
}
inline std::string ConsentHistoryPrefix(absl::string_view subject_hash) {
  return absl::StrCat(absl::string_view(&kConsentHistoryTag, 1), subject_hash);
}
inline std::string ConsentHistoryKey(absl::string_view subject_hash,
                                     int64_t micros, absl::string_view purpose) {
  return absl::StrCat(ConsentHistoryPrefix(subject_hash),
                      storage::EncodeU64(static_cast<uint64_t>(micros)), purpose);
}

// Table kMeta: the last erasure of the ledger applied to this store.
inline constexpr absl::string_view kLedgerApplied = "ledger_applied";

// Associated data of a field ciphertext: binds it to its token, type and
// subject, so it cannot be moved to another record.
inline std::string FieldAssociatedData(absl::string_view token,
                                       fields::FieldType type,
                                       absl::string_view subject_hash) {
  const char t = static_cast<char>(type);
  return absl::StrCat("sandyq field v1", absl::string_view("\0", 1), token,
                      absl::string_view("\0", 1), absl::string_view(&t, 1),
                      subject_hash);
}

}  // namespace sandyq::vault::keys

#endif  // SANDYQ_SERVER_VAULT_RECORDS_H_
