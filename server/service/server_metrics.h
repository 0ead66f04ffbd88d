#ifndef SANDYQ_SERVER_SERVICE_SERVER_METRICS_H_
#define SANDYQ_SERVER_SERVICE_SERVER_METRICS_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/audit/audit_log.h"
#include "server/metrics/registry.h"
#include "server/policy/policy.h"
#include "server/storage/store.h"
#include "server/vault/vault.h"

namespace sandyq::service {

// sandyqd's own series (docs/operations.md, "Metrics"), fed from three
// sides: the gRPC interceptor (server/service/metrics_interceptor.h) reports
// each finished call; as the access log's observer it sees every decision
// logged, every group written and every WAL sync; and at scrape time its
// collector reads the store's statistics, the key re-wrap progress and the
// length of the audit chain.
//
// Labels stay bounded: rpc is a method of sandyq's services, code one of the
// 17 gRPC codes, identity and purpose names the current policy defines
// (anything else is "(unknown)" or "(other)"), decision one of six. No
// label ever holds a subject, a token or a value.
//
// Thread-safe.
class ServerMetrics final : public audit::AuditLog::Observer {
 public:
  // Registers its families and collector in `registry`. `vault`, `store`
  // and `log` must outlive it; it does not make itself the log's observer
  // (main.cc does that, and clears it before destroying it).
  ServerMetrics(metrics::Registry* registry, vault::Vault* vault,
                storage::Store* store, const audit::AuditLog* log);
  ~ServerMetrics() override;

  // Label values for calls and decisions, as strings that live as long as
  // `policy` (or forever):
  //   identity: the identity if `policy` knows it, else "(unknown)";
  //   purpose: "" for none, the purpose if `policy` registers it, else
  //   "(other)";
  //   code: the gRPC code's name, e.g. "OK", "PERMISSION_DENIED".
  static absl::string_view IdentityLabel(const policy::Policy& policy,
                                         absl::string_view identity);
  static absl::string_view PurposeLabel(const policy::Policy& policy,
                                        absl::string_view purpose);
  static absl::string_view CodeLabel(int code);
  // The purpose label of a batch whose items name different purposes.
  static constexpr absl::string_view kMixedPurposes = "(mixed)";

  // For the interceptor: the policy labels are resolved against.
  std::shared_ptr<const policy::Policy> policy() const {
    return vault_->policy();
  }

  // A call began / finished (`rpc` as "Service.Method", labels from the
  // functions above).
  void CallStarted() { in_flight_.Add(1); }
  void CallFinished(absl::string_view rpc, int code, absl::string_view identity,
                    absl::string_view purpose, absl::Duration latency);

  // audit::AuditLog::Observer.
  void OnCommit(const std::vector<audit::Event>& events) override;
  void OnGroupWritten(size_t commits, uint64_t events) override;
  void OnSynced(absl::Duration latency, bool ok) override;

 private:
  // Sets the gauges read at scrape time.
  void Collect();

  vault::Vault* const vault_;
  storage::Store* const store_;
  const audit::AuditLog* const log_;

  metrics::CounterFamily& calls_;
  metrics::HistogramFamily& call_seconds_;
  metrics::Gauge& in_flight_;
  metrics::CounterFamily& reveals_;
  metrics::Histogram& group_commits_;
  metrics::Histogram& group_events_;
  metrics::Histogram& sync_seconds_;
  metrics::Counter& sync_failures_;
  metrics::Gauge& chain_length_;
  // From Vault::RevealStats(): identities are the policy's, so bounded.
  metrics::CounterFamily& rate_limited_;
  metrics::CounterFamily& access_alarms_;
  metrics::GaugeFamily& estimated_keys_;
  metrics::GaugeFamily& live_sst_bytes_;
  metrics::GaugeFamily& memtable_bytes_;
  metrics::GaugeFamily& pending_compaction_bytes_;
  metrics::Gauge& running_compactions_;
  metrics::Gauge& running_flushes_;
  metrics::Gauge& background_errors_;
  metrics::GaugeFamily& block_cache_bytes_;
  metrics::GaugeFamily& row_cache_bytes_;
  metrics::Gauge& rewrap_pending_;
  metrics::Counter& rewrapped_;
  metrics::Gauge& primary_kek_;

  // Last: removed (and a running collection finished) before the rest goes.
  metrics::Registry::CollectorHandle collector_;
};

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_SERVER_METRICS_H_
