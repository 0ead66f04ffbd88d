#ifndef SANDYQ_SERVER_VAULT_VAULT_H_
#define SANDYQ_SERVER_VAULT_VAULT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/audit/audit_log.h"
#include "server/crypto/master_key.h"
#include "server/fields/field_type.h"
#include "server/platform/clock.h"
#include "server/platform/random.h"
#include "server/policy/access_rules.h"
#include "server/policy/policy.h"
#include "server/storage/store.h"
#include "server/vault/background.h"
#include "server/vault/backups.h"
#include "server/vault/dek_cache.h"
#include "server/vault/erasure_ledger.h"
#include "server/vault/key_maintenance.h"
#include "server/vault/key_manager.h"
#include "server/vault/reveal_limiter.h"
#include "server/vault/sequencer.h"

namespace sandyq::internal::v1 {
class SubjectRecord;
}  // namespace sandyq::internal::v1

namespace sandyq::vault {

class PeriodicTask;

// Who is calling: the identity the service authenticated from the caller's
// mTLS certificate, and that certificate's serial number (upper-case hex; ""
// if unknown). The vault resolves the identity through the current policy
// and checks the serial against the revocation list on every call.
struct Caller {
  std::string identity;
  std::string certificate_serial = "";
};

struct TokenizeInput {
  std::string subject_id;
  int field_type = 0;  // sandyq.v1.FieldType number, validated here
  std::string value;
  std::string source;
  std::string purpose;  // optional collection purpose
};

struct DetokenizeInput {
  std::string token;
  std::string purpose;
  std::string justification;
};

struct Revealed {
  std::string value;
  fields::FieldType type = fields::FieldType::kUnspecified;
  bool masked = false;
};

struct LookupInput {
  int field_type = 0;
  std::string value;
  std::string purpose;
};

struct AuditQueryInput {
  std::string subject_id;  // empty = any
  std::string identity;    // empty = any
  absl::Time since = absl::InfinitePast();
  absl::Time until = absl::InfiniteFuture();
  uint64_t after_seq = 0;
  uint32_t limit = 0;
};

template <typename T>
using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

struct ConsentInput {
  std::string subject_id;
  std::string purpose;
  bool granted = false;
  bool cross_border = false;
  std::string policy_version;
  std::string channel;
};

// What Subjects.Report tells a person (through the DPO).
struct SubjectReport {
  struct Field {
    std::string token;
    fields::FieldType type = fields::FieldType::kUnspecified;
    std::string source;
    std::string collection_purpose;
    absl::Time created;
    absl::Time updated;
    bool depersonalized = false;
    std::optional<absl::Time> retention_deadline = std::nullopt;
    std::string retention_action = "";  // "destroy" / "depersonalize"
  };
  struct Consent {
    std::string purpose;
    bool granted = false;
    bool cross_border = false;
    std::string policy_version;
    std::string channel;
    absl::Time recorded;
  };
  struct Hold {
    std::string id;
    std::string reason;
    absl::Time set;
  };
  std::string subject_hash;
  std::vector<Field> fields;
  std::vector<Consent> consents;             // every change, oldest first
  std::vector<audit::StoredEvent> accesses;  // every logged event about them
  bool blocked = false;
  std::string block_reason;
  std::vector<Hold> holds;
  std::string residency_country;
  std::vector<Erasure> erasures;  // from the erasure ledger
};

struct EraseResult {
  std::string receipt_id;
  absl::Time erased;
  int tokens = 0;
};

struct RetentionResult {
  int destroyed = 0;
  int depersonalized = 0;
  int skipped_for_holds = 0;
};

// What a policy reload put in force.
struct ReloadInfo {
  size_t identities = 0;
  size_t revoked_serials = 0;
  std::string description;  // policy::AccessRules::description
};

// Loads the access rules afresh (the policy file and the revocation list);
// InvalidArgument with every problem, line-numbered, if they are not valid.
using AccessRulesLoader = std::function<absl::StatusOr<policy::AccessRules>()>;

// The use cases of the vault (DESIGN.md §2): each call authenticates the
// caller against the policy, validates its input, asks the policy, does the
// crypto and storage work and records an access-log event, in that order.
//
// Every call is asynchronous: it returns at once, and its callback runs when
// the call's event (and any data it writes) is durable, on the audit log's
// writer thread or, for calls refused early, possibly on the calling thread.
// Callbacks must not block. No thread ever waits for an fsync.
//
// Errors are absl statuses whose messages name the field and the rule, never
// a value. Every call records an event, allowed or refused; if the event
// cannot be written the call fails (no reveal goes unlogged).
//
// Thread-safe.
class Vault {
 public:
  struct Deps {
    storage::Store* store;
    audit::AuditLog* log;
    crypto::MasterKeyProvider* master;
    const platform::Clock* clock;
    platform::Random* random;
    std::shared_ptr<const policy::Policy> policy;
    // Kept apart from the data; erasures are re-applied from it at open.
    // Without one, Erase is refused.
    ErasureLedger* ledger = nullptr;
    // Client-certificate serials refused whatever the policy says (null:
    // none).
    std::shared_ptr<const policy::RevocationList> revoked = nullptr;
    // Where ReloadPolicy reads new rules from (the files of the config).
    // Without one, ReloadPolicy is refused.
    AccessRulesLoader load_access_rules = nullptr;
  };
  struct Options {
    std::string residency_country = "KZ";
    bool strict_iin = true;
    size_t max_batch_items = 1000;
    size_t max_lookup_results = 1000;
    // Key maintenance (server/vault/key_maintenance.h).
    absl::Duration rotate_every = absl::ZeroDuration();  // zero: never
    int rewrap_per_second = 2000;                        // 0: unthrottled
    // Run key maintenance and retention on their own threads. Tests turn
    // this off and call RunKeyMaintenance() / RunRetention().
    bool background_key_maintenance = true;
    absl::Duration retention_every = absl::Hours(1);
    std::vector<BackupTarget> backup_targets = {};
    // Unwrapped subject keys kept in memory (0: none).
    size_t dek_cache_size = 100000;
    // Threads that run a Detokenize whose record or subject is not in the
    // store's memory (its read may wait for the disk) instead of gRPC's own.
    int reader_threads = 8;
  };

  // Opens the vault in deps.store, creating its keys on first use.
  static absl::StatusOr<std::unique_ptr<Vault>> Open(const Deps& deps,
                                                     const Options& options);
  // Stops the background threads (after their current task) first.
  ~Vault();

  // Tokenizer.Tokenize: the token for (subject, type, normalized value),
  // new or existing.
  void Tokenize(const Caller& caller, TokenizeInput input,
                Callback<std::string> done);

  // Tokenizer.TokenizeBatch: per-item results in request order. Items of
  // one subject are written together in one atomic batch.
  using TokenizeResults = std::vector<absl::StatusOr<std::string>>;
  void TokenizeBatch(const Caller& caller, std::vector<TokenizeInput> inputs,
                     Callback<TokenizeResults> done);

  // Tokenizer.Detokenize.
  void Detokenize(const Caller& caller, DetokenizeInput input,
                  Callback<Revealed> done);

  // Tokenizer.DetokenizeBatch: per-item results in request order; every
  // item's event is written in one batch before the reply.
  using DetokenizeResults = std::vector<absl::StatusOr<Revealed>>;
  void DetokenizeBatch(const Caller& caller,
                       std::vector<DetokenizeInput> inputs,
                       Callback<DetokenizeResults> done);

  // Tokenizer.Lookup: tokens whose value normalizes to the same search key.
  void Lookup(const Caller& caller, LookupInput input,
              Callback<std::vector<std::string>> done);

  // Audit.Verify: authorizes, recomputes the chain, records the call.
  void VerifyAudit(const Caller& caller,
                   Callback<audit::AuditLog::VerifyResult> done);

  // Audit.Query, first step: authorizes and records the query, and resolves
  // its filter (a subject id becomes its keyed hash). The caller then reads
  // pages with ReadAudit.
  void StartAuditQuery(const Caller& caller, AuditQueryInput input,
                       Callback<audit::AuditLog::Filter> done);
  // Reads events for a filter StartAuditQuery returned. Synchronous reads.
  absl::Status ReadAudit(
      const audit::AuditLog::Filter& filter,
      const std::function<bool(const audit::StoredEvent&)>& visit) const;

  // KeyAdmin.RotateKeys: a new primary KEK; the re-wrap starts in the
  // background. Runs on the vault's background thread.
  void RotateKeys(const Caller& caller, Callback<uint32_t> done);

  struct KeyListing {
    std::vector<KeyInfo> keys;
    int64_t rewrap_pending = 0;
    std::string master_key;  // provider description
  };
  // KeyAdmin.ListKeys.
  void ListKeys(const Caller& caller, Callback<KeyListing> done);

  // KeyAdmin.DestroyKey.
  void DestroyKey(const Caller& caller, uint32_t version,
                  Callback<bool> done);

  // Audit.SigningKey: the checkpoint public key as PEM.
  void SigningKey(const Caller& caller, Callback<std::string> done);

  // One round of key maintenance on the calling thread (scheduled rotation,
  // re-wrap, retirement); returns how many keys were re-wrapped.
  absl::StatusOr<int64_t> RunKeyMaintenance();

  // Key re-wrap progress, for metrics: read without a caller and not logged
  // (it reveals nothing about any person).
  struct KeyProgress {
    int64_t rewrap_pending = 0;  // data keys still wrapped by older KEKs
    int64_t rewrapped = 0;       // re-wrapped since this process started
    uint32_t primary_version = 0;
  };
  absl::StatusOr<KeyProgress> KeyProgressForMetrics() const;

  // --- Subjects (data protection officer; policy subject_admin) ---

  // Subjects.RecordConsent: returns when it was recorded.
  void RecordConsent(const Caller& caller, ConsentInput input,
                     Callback<absl::Time> done);
  // Subjects.Report. Reads on the background thread.
  void Report(const Caller& caller, std::string subject_id,
              Callback<SubjectReport> done);
  // Subjects.Rectify: a new value behind the same token.
  void Rectify(const Caller& caller, std::string token, std::string value,
               std::string reason, Callback<bool> done);
  // Subjects.Block (block = true) and Subjects.Unblock.
  void SetBlocked(const Caller& caller, std::string subject_id,
                  std::string reason, bool block, Callback<bool> done);
  // Subjects.SetHold: returns the hold id.
  void SetHold(const Caller& caller, std::string subject_id,
               std::string reason, Callback<std::string> done);
  // Subjects.ReleaseHold; `hold_id` may be empty if there is one hold.
  void ReleaseHold(const Caller& caller, std::string subject_id,
                   std::string reason, std::string hold_id,
                   Callback<bool> done);
  // Subjects.Erase: ledger first, then one atomic write deleting the
  // subject's key and records, then purging them from the store's files and
  // every backup. On the background thread.
  void Erase(const Caller& caller, std::string subject_id, std::string reason,
             Callback<EraseResult> done);
  // Subjects.ApplyRetention: runs the retention rules now.
  void ApplyRetention(const Caller& caller, Callback<RetentionResult> done);
  // The retention rules, applied on the calling thread (the background job
  // and tests). Subjects under a hold are skipped.
  absl::StatusOr<RetentionResult> RunRetention();
  // The background retention job's step: runs RunRetention if the policy
  // has a retention rule and a pass is due (none recorded, or the last began
  // `retention_every` ago or more), records when this one began, and returns
  // the time until the next is due. A restart thus does not sweep again a
  // vault that was swept minutes before; a restore clears the record.
  absl::StatusOr<absl::Duration> RunRetentionIfDue();

  // Admin.Backup: a backup under `dir` (a configured target).
  void Backup(const Caller& caller, std::string dir, Callback<BackupInfo> done);

  // Admin.ReloadPolicy (policy_admin): loads the policy and the revocation
  // list with deps.load_access_rules and, if both are valid, puts them in
  // force together: the next call of every caller, on any connection, is
  // checked against them; calls already running finish under the old ones.
  // If either is invalid nothing changes and the call fails with the
  // loader's status (InvalidArgument listing every problem, line-numbered).
  // Every reload, accepted or rejected, is recorded; an accepted one is
  // recorded before it takes effect, and takes effect before `done` runs.
  void ReloadPolicy(const Caller& caller, Callback<ReloadInfo> done);
  // The same reload on SIGHUP: no caller to authorize; recorded as done by
  // "sandyqd".
  void ReloadPolicyOnSignal(Callback<ReloadInfo> done);

  // Swaps in a new policy, keeping the revocation list; calls already
  // running keep the one they started with. Its rate limits and alarm
  // thresholds apply from the next reveal.
  void SetPolicy(std::shared_ptr<const policy::Policy> policy);
  std::shared_ptr<const policy::Policy> policy() const;

  // Per identity seen so far: reveals refused over a rate limit and
  // bulk-extraction alarms raised, as totals since start (counters for a
  // metrics exporter; server/vault/reveal_limiter.h).
  std::vector<RevealLimiter::IdentityStats> RevealStats() const;

 private:
  struct TokenizeItem;
  // Runs `mutate` on the subject's record (a new one if absent) while holding
  // the subject, and writes it with `event` if it returns OK.
  template <typename T>
  void UpdateSubject(std::string subject_hash, audit::Event event,
                     absl::AnyInvocable<absl::StatusOr<T>(
                         internal::v1::SubjectRecord&, audit::Event&)> mutate,
                     Callback<T> done);
  struct TokenizeBatchState;
  struct RevealItem;
  struct Prefetched;

  Vault(const Deps& deps, const Options& options,
        std::unique_ptr<KeyManager> keys);

  void TokenizeMany(const Caller& caller, std::vector<TokenizeInput> inputs,
                    absl::string_view rpc, Callback<TokenizeResults> done);
  void DetokenizeMany(const Caller& caller,
                      std::vector<DetokenizeInput> inputs,
                      absl::string_view rpc, Callback<DetokenizeResults> done);
  // DetokenizeMany's work for an authenticated caller and 1 to
  // max_batch_items inputs, with the reads `prefetched` made (one per input,
  // or none).
  struct Authenticated;
  void RevealMany(const Caller& caller, Authenticated auth,
                  std::vector<DetokenizeInput> inputs, absl::string_view rpc,
                  std::vector<Prefetched> prefetched,
                  Callback<DetokenizeResults> done);
  // Reads every input's field record and subject record from the store's
  // memory into `out`; false as soon as one is only in a table file.
  bool PrefetchFromMemory(const std::vector<DetokenizeInput>& inputs,
                          std::vector<Prefetched>& out) const;
  // A subject's writes, while holding the subject: reads its record and the
  // entries of its values, from the store's memory if they are there, else
  // on a reader thread, then stores what is new (WriteSubjectValues).
  struct SubjectReads;
  void TokenizeSubject(std::shared_ptr<TokenizeBatchState> state,
                       std::vector<size_t> items,
                       KeyedSequencer::Release release);
  // Reads into `out` the subject's record and, for each of `items`, the
  // subject entry of its value's dedup key (`out.dedup`, already filled);
  // with `memory_only`, false as soon as one is only in a table file.
  bool ReadSubject(const TokenizeBatchState& state,
                   const std::vector<size_t>& items, bool memory_only,
                   SubjectReads& out) const;
  void WriteSubjectValues(std::shared_ptr<TokenizeBatchState> state,
                          std::vector<size_t> items,
                          KeyedSequencer::Release release, SubjectReads reads);
  absl::StatusOr<std::string> ReserveToken(fields::FieldType type,
                                           absl::string_view normalized);
  void Unreserve(const std::vector<std::string>& tokens);
  void RevealOne(const policy::Policy& policy, const policy::Principal& who,
                 RevealItem& item, Prefetched* prefetched) const;
  absl::StatusOr<SubjectReport> BuildReport(const std::string& subject_hash) const;
  // The subject's data key, ready to use: from the cache, or unwrapped with
  // `keyring` and cached.
  absl::StatusOr<std::shared_ptr<const crypto::Aead>> SubjectAead(
      const crypto::Keyring& keyring, const std::string& subject_hash,
      uint32_t kek_version, absl::string_view wrapped_dek) const;

  // Records `event` (decision and code from `status`), then calls `done`
  // with `status` once durable.
  template <typename T>
  void Refuse(audit::Event event, audit::Decision decision,
              absl::Status status, Callback<T> done);

  audit::Event NewEvent(const Caller& caller, const policy::Principal* who,
                        absl::string_view rpc) const;

  // A caller resolved under the rules in force.
  struct Authenticated {
    std::shared_ptr<const policy::Policy> policy;
    const policy::Principal* who;  // owned by `policy`; never null
    audit::Event event;            // NewEvent() for the call
  };
  // Authenticates `caller` for `rpc`: refuses a certificate on the
  // revocation list (UNAUTHENTICATED, rule "revoked-certificate") and an
  // identity the policy does not know (PERMISSION_DENIED, rule
  // "unknown-identity"). On refusal records the event, calls `done` and
  // returns nullopt. While serials are revoked, a caller whose serial is
  // unknown is refused too (fail closed).
  template <typename T>
  std::optional<Authenticated> Authenticate(const Caller& caller,
                                            absl::string_view rpc,
                                            Callback<T>& done,
                                            std::string subject_hash = "");
  // ReloadPolicy and ReloadPolicyOnSignal: `event` is the authorized
  // reload's event, completed here; `by` says who asked, for the log ("by <identity>", "on SIGHUP").
  void Reload(audit::Event event, std::string by, Callback<ReloadInfo> done);
  // Puts `rules` in force unless a later load's rules already are.
  void InstallRules(uint64_t load, policy::AccessRules rules);
  // Resolves the caller and asks `decide`; on refusal records the event and
  // calls `done`, returning nullopt.
  template <typename T>
  std::optional<audit::Event> Authorize(
      const Caller& caller, absl::string_view rpc,
      policy::Decision (policy::Policy::*decide)(const policy::Principal&) const,
      Callback<T>& done, std::string subject_hash = "");
  // The keyed hash of `subject_id` if it is a valid subject id, else "" (so
  // even refused calls about a person are attributed to them).
  std::string HashIfValid(absl::string_view subject_id) const;

  const Deps deps_;
  const Options options_;
  const std::unique_ptr<KeyManager> keys_;
  KeyedSequencer subjects_;
  mutable DekCache deks_;
  Backups backups_;
  // Rate limits and bulk-extraction alarms of the reveal paths.
  mutable RevealLimiter limiter_;

  // The access rules in force: swapped together on a reload.
  mutable absl::Mutex policy_mu_;
  std::shared_ptr<const policy::Policy> policy_ ABSL_GUARDED_BY(policy_mu_);
  std::shared_ptr<const policy::RevocationList> revoked_
      ABSL_GUARDED_BY(policy_mu_);
  // Reloads started, and the one whose rules are in force (0: those given
  // at open), so a slow reload never replaces a later one's rules.
  uint64_t loads_started_ ABSL_GUARDED_BY(policy_mu_) = 0;
  uint64_t load_in_force_ ABSL_GUARDED_BY(policy_mu_) = 0;

  // Tokens handed out by ReserveToken whose records are not yet durable: a
  // candidate is reserved before the store is checked, so two calls can
  // never both take the same new token.
  absl::Mutex reserved_mu_;
  absl::flat_hash_set<std::string> reserved_ ABSL_GUARDED_BY(reserved_mu_);

  // Threads last: they use everything above, so they are destroyed (and
  // stopped) first.
  std::unique_ptr<KeyMaintenance> maintenance_;
  std::unique_ptr<BackgroundQueue> background_;
  std::unique_ptr<BackgroundQueue> readers_;
  std::unique_ptr<PeriodicTask> retention_;
};

// The status a call ends with when its write (event and data) failed:
// nothing was stored and nothing is revealed. Keeps the storage code (e.g.
// RESOURCE_EXHAUSTED for a full disk) without its internal message.
inline absl::Status NotRecorded(const absl::Status& write_status) {
  const absl::StatusCode code =
      write_status.code() == absl::StatusCode::kResourceExhausted
          ? absl::StatusCode::kResourceExhausted
          : absl::StatusCode::kUnavailable;
  return absl::Status(code,
                      "storage: the write failed, nothing was stored and "
                      "nothing revealed; retry later");
}

template <typename T>
std::optional<Vault::Authenticated> Vault::Authenticate(
    const Caller& caller, absl::string_view rpc, Callback<T>& done,
    std::string subject_hash) {
  std::shared_ptr<const policy::Policy> policy;
  std::shared_ptr<const policy::RevocationList> revoked;
  {
    absl::MutexLock lock(&policy_mu_);
    policy = policy_;
    revoked = revoked_;
  }
  const policy::Principal* who = policy->FindIdentity(caller.identity);
  audit::Event event = NewEvent(caller, who, rpc);
  event.subject_hash = std::move(subject_hash);
  if (!revoked->empty() && (caller.certificate_serial.empty() ||
                            revoked->Contains(caller.certificate_serial))) {
    const bool unknown = caller.certificate_serial.empty();
    event.rule = unknown ? "revoked-certificate: serial unknown"
                         : absl::StrCat("revoked-certificate: serial ",
                                        caller.certificate_serial);
    Refuse(std::move(event), audit::Decision::kDenied,
           absl::UnauthenticatedError(
               unknown ? "certificate: its serial cannot be read, and "
                         "revoked certificates are refused"
                       : "certificate: revoked; the service needs a new one"),
           std::move(done));
    return std::nullopt;
  }
  if (who == nullptr) {
    event.rule = "unknown-identity";
    Refuse(std::move(event), audit::Decision::kDenied,
           absl::PermissionDeniedError("identity: not known to the policy"),
           std::move(done));
    return std::nullopt;
  }
  return Authenticated{std::move(policy), who, std::move(event)};
}

template <typename T>
std::optional<audit::Event> Vault::Authorize(
    const Caller& caller, absl::string_view rpc,
    policy::Decision (policy::Policy::*decide)(const policy::Principal&) const,
    Callback<T>& done, std::string subject_hash) {
  std::optional<Authenticated> auth =
      Authenticate(caller, rpc, done, std::move(subject_hash));
  if (!auth) return std::nullopt;
  audit::Event event = std::move(auth->event);
  policy::Decision decision = ((*auth->policy).*decide)(*auth->who);
  event.rule = decision.rule;
  if (!decision.allowed) {
    Refuse(std::move(event), audit::Decision::kDenied, decision.ToStatus(),
           std::move(done));
    return std::nullopt;
  }
  event.decision = audit::Decision::kAllowed;
  return event;
}

template <typename T>
void Vault::Refuse(audit::Event event, audit::Decision decision,
                   absl::Status status, Callback<T> done) {
  event.decision = decision;
  event.code = static_cast<int>(status.code());
  deps_.log->Commit(
      {}, {std::move(event)},
      [status = std::move(status),
       done = std::move(done)](absl::Status written) mutable {
        std::move(done)(written.ok() ? status : NotRecorded(written));
      });
}

}  // namespace sandyq::vault

#endif  // SANDYQ_SERVER_VAULT_VAULT_H_
