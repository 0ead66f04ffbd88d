#include "server/audit/chain.h"

#include "absl/strings/str_cat.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/crypto/hash.h"
#include "server/crypto/signer.h"
#include "server/storage/encoding.h"

namespace sandyq::audit {

std::string CheckpointMessage(uint64_t seq, absl::string_view hash) {
  return absl::StrCat("sandyq audit checkpoint v1", storage::EncodeU64(seq),
                      hash);
}

bool ChainVerifier::Fail(uint64_t seq, std::string reason) {
  result_.ok = false;
  result_.first_bad_seq = seq;
  result_.reason = std::move(reason);
  return false;
}

bool ChainVerifier::Add(uint64_t seq, absl::string_view body,
                        absl::string_view stored_hash) {
  if (!result_.ok) return false;
  const uint64_t expect = result_.events_checked + 1;
  if (seq != expect) {
    return Fail(expect, absl::StrCat("event ", expect, " is missing"));
  }
  internal::v1::AuditEventBody event;
  if (!event.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return Fail(seq, "event body does not decode");
  }
  if (event.seq() != seq) {
    return Fail(seq, "event body names another sequence number");
  }
  const std::string hash = crypto::Sha256(body);
  if (!crypto::ConstantTimeEquals(hash, stored_hash)) {
    return Fail(seq, "event hash does not match its contents");
  }
  if (!crypto::ConstantTimeEquals(event.prev_hash(), prev_hash_)) {
    return Fail(seq, "previous-hash link does not match the event before");
  }
  const bool checkpoint = event.rpc() == kCheckpointRpc;
  if (checkpoint || !event.signature().empty()) {
    if (!checkpoint) return Fail(seq, "a signature outside a checkpoint");
    if (!crypto::Ed25519Verify(public_key_,
                               CheckpointMessage(seq - 1, prev_hash_),
                               event.signature())
             .ok()) {
      return Fail(seq, "checkpoint signature does not verify");
    }
    ++result_.checkpoints_checked;
    result_.last_checkpoint_seq = seq;
  } else if (seq - result_.last_checkpoint_seq > kMaxCheckpointGap) {
    return Fail(seq, absl::StrCat("more than ", kMaxCheckpointGap,
                                  " events without a signed checkpoint"));
  }
  prev_hash_ = hash;
  ++result_.events_checked;
  return true;
}

bool ChainVerifier::Finish() { return result_.ok; }

}  // namespace sandyq::audit
