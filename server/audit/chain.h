#ifndef SANDYQ_SERVER_AUDIT_CHAIN_H_
#define SANDYQ_SERVER_AUDIT_CHAIN_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace sandyq::audit {

// The access log's chain rules, written once and used by Audit.Verify on the
// server and by `sandyq audit verify --public-key` on an export.
//
// Event n's body (sandyq.internal.v1.AuditEventBody) carries seq = n and
// prev_hash = hash of event n-1 (32 zero bytes for event 1); its hash is
// SHA-256 over the body bytes. A checkpoint is an event with rpc
// "Audit.Checkpoint" whose `signature` is Ed25519 over
// CheckpointMessage(n - 1, hash of event n - 1) under the vault's signing
// key. The log writes one at least every kMaxCheckpointGap events, so a
// longer unsigned stretch means checkpoints were removed.
inline constexpr absl::string_view kCheckpointRpc = "Audit.Checkpoint";
inline constexpr uint64_t kMaxCheckpointGap = 100000;

// The signed message of a checkpoint that follows event `seq` with `hash`.
std::string CheckpointMessage(uint64_t seq, absl::string_view hash);

struct ChainResult {
  bool ok = true;
  uint64_t events_checked = 0;
  uint64_t first_bad_seq = 0;  // 0 when ok
  std::string reason;          // what is wrong at first_bad_seq
  uint64_t checkpoints_checked = 0;
  uint64_t last_checkpoint_seq = 0;
};

// Checks events fed in sequence order, starting at event 1.
class ChainVerifier {
 public:
  // `public_key`: the raw Ed25519 key checkpoints must verify under.
  explicit ChainVerifier(std::string public_key)
      : public_key_(std::move(public_key)) {}

  // Checks the next stored event: `seq` from its storage key (or export
  // position), its serialized body, and the hash stored beside it. Returns
  // false, and stops checking, at the first problem.
  bool Add(uint64_t seq, absl::string_view body, absl::string_view stored_hash);
  // End-of-log checks. Returns result().ok.
  bool Finish();

  const ChainResult& result() const { return result_; }
  // Hash of the last event checked (32 zero bytes before the first).
  const std::string& last_hash() const { return prev_hash_; }

 private:
  bool Fail(uint64_t seq, std::string reason);

  const std::string public_key_;
  ChainResult result_;
  std::string prev_hash_ = std::string(32, '\0');
};

}  // namespace sandyq::audit

#endif  // SANDYQ_SERVER_AUDIT_CHAIN_H_
