#include "server/service/server_metrics.h"

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace sandyq::service {
namespace {

constexpr absl::string_view kUnknownIdentity = "(unknown)";
constexpr absl::string_view kOtherPurpose = "(other)";

// gRPC's code names (grpc/status.h, google.rpc.Code) by number.
constexpr absl::string_view kCodeNames[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

// The decision label of a reveal event, or "" for events that are not one.
absl::string_view DecisionLabel(audit::Decision decision) {
  switch (decision) {
    case audit::Decision::kRevealedFull:
      return "full";
    case audit::Decision::kRevealedMasked:
      return "masked";
    case audit::Decision::kDenied:
      return "denied";
    case audit::Decision::kInvalid:
      return "invalid";
    case audit::Decision::kNotFound:
      return "not_found";
    case audit::Decision::kFailed:
      return "failed";
    default:
      return "";
  }
}

bool IsReveal(absl::string_view rpc) {
  return rpc == "Tokenizer.Detokenize" || rpc == "Tokenizer.DetokenizeBatch";
}

}  // namespace

ServerMetrics::ServerMetrics(metrics::Registry* registry, vault::Vault* vault,
                             storage::Store* store, const audit::AuditLog* log)
    : vault_(vault),
      store_(store),
      log_(log),
      calls_(registry->AddCounter(
          "sandyq_calls_total",
          "gRPC calls finished, by method, status code, caller identity and "
          "purpose.",
          {"rpc", "code", "identity", "purpose"})),
      call_seconds_(registry->AddHistogram(
          "sandyq_call_duration_seconds",
          "Time from a call's arrival to its status being sent, by method.",
          {"rpc"}, metrics::LatencyBuckets())),
      in_flight_(registry
                     ->AddGauge("sandyq_calls_in_flight",
                                "gRPC calls started and not yet finished.")
                     .WithLabels({})),
      reveals_(registry->AddCounter(
          "sandyq_reveal_decisions_total",
          "Reveal decisions logged (one per Detokenize item), by caller "
          "identity, purpose and decision (full, masked, denied, invalid, "
          "not_found, failed).",
          {"identity", "purpose", "decision"})),
      group_commits_(registry
                         ->AddHistogram(
                             "sandyq_audit_group_commits",
                             "Commits the access log wrote together in one "
                             "group (one storage batch).",
                             {}, metrics::PowersOfTwoBuckets(512))
                         .WithLabels({})),
      group_events_(registry
                        ->AddHistogram(
                            "sandyq_audit_group_events",
                            "Access-log events written in one group, "
                            "checkpoints included.",
                            {}, metrics::PowersOfTwoBuckets(65536))
                        .WithLabels({})),
      sync_seconds_(registry
                        ->AddHistogram(
                            "sandyq_audit_wal_sync_seconds",
                            "Time one write-ahead-log sync (fsync) took; one "
                            "sync makes every group written before it durable.",
                            {}, metrics::LatencyBuckets())
                        .WithLabels({})),
      sync_failures_(registry
                         ->AddCounter("sandyq_audit_wal_sync_failures_total",
                                      "Failed WAL syncs; after one the access "
                                      "log accepts no more commits.")
                         .WithLabels({})),
      chain_length_(registry
                        ->AddGauge("sandyq_audit_chain_length",
                                   "Events in the access log's hash chain "
                                   "(the sequence number of the last durable "
                                   "event).")
                        .WithLabels({})),
      rate_limited_(registry->AddCounter(
          "sandyq_reveals_rate_limited_total",
          "Reveals refused with RESOURCE_EXHAUSTED by the identity's rate "
          "limits in the policy.",
          {"identity"})),
      access_alarms_(registry->AddCounter(
          "sandyq_access_alarms_total",
          "Bulk-extraction alarms raised: kind=denials (a burst of refused "
          "reveals) or kind=subjects (reveals across many people).",
          {"identity", "kind"})),
      estimated_keys_(registry->AddGauge(
          "sandyq_rocksdb_estimated_keys",
          "RocksDB's estimate of the keys in each table.", {"table"})),
      live_sst_bytes_(registry->AddGauge(
          "sandyq_rocksdb_live_sst_bytes",
          "Bytes of table files holding live data, by table.", {"table"})),
      memtable_bytes_(registry->AddGauge(
          "sandyq_rocksdb_memtable_bytes",
          "Bytes of memtables (not yet flushed), by table.", {"table"})),
      pending_compaction_bytes_(registry->AddGauge(
          "sandyq_rocksdb_pending_compaction_bytes",
          "RocksDB's estimate of the bytes compaction still has to rewrite, "
          "by table.",
          {"table"})),
      running_compactions_(registry
                               ->AddGauge("sandyq_rocksdb_running_compactions",
                                          "Compactions running now.")
                               .WithLabels({})),
      running_flushes_(registry
                           ->AddGauge("sandyq_rocksdb_running_flushes",
                                      "Memtable flushes running now.")
                           .WithLabels({})),
      background_errors_(registry
                             ->AddGauge("sandyq_rocksdb_background_errors",
                                        "Background errors since the store "
                                        "opened; writes stop after one.")
                             .WithLabels({})),
      block_cache_bytes_(registry->AddGauge(
          "sandyq_rocksdb_block_cache_bytes",
          "RocksDB's block cache, shared by every table: its capacity "
          "(storage.block_cache_mb) and what it holds now.",
          {"kind"})),
      row_cache_bytes_(registry->AddGauge(
          "sandyq_rocksdb_row_cache_bytes",
          "RocksDB's row cache of single records read from table files: its "
          "capacity (storage.row_cache_mb) and what it holds now.",
          {"kind"})),
      rewrap_pending_(registry
                          ->AddGauge("sandyq_key_rewrap_pending",
                                     "Subject data keys still wrapped by an "
                                     "older KEK (0 once a re-wrap is done).")
                          .WithLabels({})),
      rewrapped_(registry
                     ->AddCounter("sandyq_key_rewrapped_total",
                                  "Subject data keys re-wrapped to the primary "
                                  "KEK since the server started.")
                     .WithLabels({})),
      primary_kek_(registry
                       ->AddGauge("sandyq_key_primary_version",
                                  "Version of the primary KEK.")
                       .WithLabels({})),
      collector_(registry->AddCollector([this] { Collect(); })) {}

ServerMetrics::~ServerMetrics() = default;

absl::string_view ServerMetrics::IdentityLabel(const policy::Policy& policy,
                                               absl::string_view identity) {
  const policy::Principal* who = policy.FindIdentity(identity);
  return who == nullptr ? kUnknownIdentity : absl::string_view(who->identity);
}

absl::string_view ServerMetrics::PurposeLabel(const policy::Policy& policy,
                                              absl::string_view purpose) {
  if (purpose.empty()) return "";
  const policy::Purpose* found = policy.FindPurpose(purpose);
  return found == nullptr ? kOtherPurpose : absl::string_view(found->name);
}

absl::string_view ServerMetrics::CodeLabel(int code) {
  if (code < 0 || code >= static_cast<int>(std::size(kCodeNames))) {
    return "UNKNOWN";
  }
  return kCodeNames[code];
}

void ServerMetrics::CallFinished(absl::string_view rpc, int code,
                                 absl::string_view identity,
                                 absl::string_view purpose,
                                 absl::Duration latency) {
  in_flight_.Add(-1);
  calls_.WithLabels({rpc, CodeLabel(code), identity, purpose}).Increment();
  call_seconds_.WithLabels({rpc}).Observe(absl::ToDoubleSeconds(latency));
}

void ServerMetrics::OnCommit(const std::vector<audit::Event>& events) {
  std::shared_ptr<const policy::Policy> policy;
  for (const audit::Event& e : events) {
    if (!IsReveal(e.rpc)) continue;
    const absl::string_view decision = DecisionLabel(e.decision);
    if (decision.empty()) continue;
    if (policy == nullptr) policy = vault_->policy();
    reveals_
        .WithLabels({IdentityLabel(*policy, e.identity),
                     PurposeLabel(*policy, e.purpose), decision})
        .Increment();
  }
}

void ServerMetrics::OnGroupWritten(size_t commits, uint64_t events) {
  group_commits_.Observe(static_cast<double>(commits));
  group_events_.Observe(static_cast<double>(events));
}

void ServerMetrics::OnSynced(absl::Duration latency, bool ok) {
  sync_seconds_.Observe(absl::ToDoubleSeconds(latency));
  if (!ok) sync_failures_.Increment();
}

void ServerMetrics::Collect() {
  chain_length_.Set(static_cast<double>(log_->last_seq()));
  for (const vault::RevealLimiter::IdentityStats& s : vault_->RevealStats()) {
    rate_limited_.WithLabels({s.identity}).Set(
        static_cast<uint64_t>(s.rate_limited));
    access_alarms_.WithLabels({s.identity, "denials"})
        .Set(static_cast<uint64_t>(s.denial_alarms));
    access_alarms_.WithLabels({s.identity, "subjects"})
        .Set(static_cast<uint64_t>(s.subject_alarms));
  }
  if (absl::StatusOr<storage::StoreStats> stats = store_->Stats(); stats.ok()) {
    for (int i = 0; i < storage::kTableCount; ++i) {
      const absl::string_view table =
          storage::TableName(static_cast<storage::Table>(i));
      const storage::StoreStats::PerTable& t = stats->tables[i];
      estimated_keys_.WithLabels({table}).Set(static_cast<double>(t.estimated_keys));
      live_sst_bytes_.WithLabels({table}).Set(static_cast<double>(t.live_sst_bytes));
      memtable_bytes_.WithLabels({table}).Set(static_cast<double>(t.memtable_bytes));
      pending_compaction_bytes_.WithLabels({table}).Set(
          static_cast<double>(t.pending_compaction_bytes));
    }
    running_compactions_.Set(static_cast<double>(stats->running_compactions));
    running_flushes_.Set(static_cast<double>(stats->running_flushes));
    background_errors_.Set(static_cast<double>(stats->background_errors));
    block_cache_bytes_.WithLabels({"capacity"}).Set(
        static_cast<double>(stats->block_cache_capacity_bytes));
    block_cache_bytes_.WithLabels({"usage"}).Set(
        static_cast<double>(stats->block_cache_usage_bytes));
    row_cache_bytes_.WithLabels({"capacity"}).Set(
        static_cast<double>(stats->row_cache_capacity_bytes));
    row_cache_bytes_.WithLabels({"usage"}).Set(
        static_cast<double>(stats->row_cache_usage_bytes));
  }
  if (absl::StatusOr<vault::Vault::KeyProgress> keys =
          vault_->KeyProgressForMetrics();
      keys.ok()) {
    rewrap_pending_.Set(static_cast<double>(keys->rewrap_pending));
    rewrapped_.Set(static_cast<uint64_t>(keys->rewrapped));
    primary_kek_.Set(keys->primary_version);
  }
}

}  // namespace sandyq::service
