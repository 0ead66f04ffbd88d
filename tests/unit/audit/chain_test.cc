#include "server/audit/chain.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/crypto/hash.h"
#include "server/crypto/signer.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/status_matchers.h"

namespace sandyq::audit {
namespace {

using ::sandyq::testing::FakeRandom;
using ::sandyq::testing::IsOk;
using ::testing::HasSubstr;

using Body = internal::v1::AuditEventBody;

// One stored event as the verifier is fed it.
struct Entry {
  uint64_t seq = 0;
  std::string body;
  std::string hash;
};

// Builds a valid chain by hand, by the rules of chain.h and independently of
// AuditLog.
class ChainBuilder {
 public:
  // The next event; `change` may alter its body before it is hashed.
  Entry Event(const std::function<void(Body&)>& change = nullptr) {
    Body body = NextBody();
    body.set_identity("checkout");
    body.set_rpc("Tokenizer.Tokenize");
    body.set_decision(1);
    if (change) change(body);
    return Seal(body);
  }
  // A checkpoint signing every event so far with `signer`.
  Entry Checkpoint(const crypto::Ed25519Signer& signer) {
    return CheckpointOver(signer, seq_, prev_hash_);
  }
  // A checkpoint whose signature covers (`seq`, `hash`) instead.
  Entry CheckpointOver(const crypto::Ed25519Signer& signer, uint64_t seq,
                       absl::string_view hash) {
    Body body = NextBody();
    body.set_identity("sandyqd");
    body.set_rpc(std::string(kCheckpointRpc));
    body.set_signature(signer.Sign(CheckpointMessage(seq, hash)).value());
    return Seal(body);
  }
  uint64_t seq() const { return seq_; }

 private:
  Body NextBody() {
    Body body;
    body.set_seq(seq_ + 1);
    body.set_time_micros(1767225600000000 + static_cast<int64_t>(seq_));
    body.set_prev_hash(prev_hash_);
    return body;
  }
  Entry Seal(const Body& body) {
    Entry e;
    e.seq = seq_ + 1;
    e.body = body.SerializeAsString();
    e.hash = crypto::Sha256(e.body);
    seq_ = e.seq;
    prev_hash_ = e.hash;
    return e;
  }

  uint64_t seq_ = 0;
  std::string prev_hash_ = std::string(crypto::kSha256Size, '\0');
};

std::unique_ptr<crypto::Ed25519Signer> NewSigner(uint64_t seed) {
  FakeRandom random(seed);
  absl::StatusOr<std::unique_ptr<crypto::Ed25519Signer>> signer =
      crypto::Ed25519Signer::Generate(random);
  EXPECT_THAT(signer, IsOk());
  return std::move(signer).value();
}

bool Add(ChainVerifier& verifier, const Entry& e) {
  return verifier.Add(e.seq, e.body, e.hash);
}

class ChainVerifierTest : public ::testing::Test {
 protected:
  // Feeds `entries`; returns whether all were accepted.
  bool AddAll(ChainVerifier& verifier, const std::vector<Entry>& entries) {
    for (const Entry& e : entries) {
      if (!Add(verifier, e)) return false;
    }
    return true;
  }
  void ExpectBrokenAt(const ChainVerifier& verifier, uint64_t seq,
                      absl::string_view reason) {
    EXPECT_FALSE(verifier.result().ok);
    EXPECT_EQ(verifier.result().first_bad_seq, seq);
    EXPECT_THAT(verifier.result().reason, HasSubstr(std::string(reason)));
  }

  std::unique_ptr<crypto::Ed25519Signer> signer_ = NewSigner(7);
  ChainBuilder chain_;
};

TEST(CheckpointMessageTest, IsTheLabelTheBigEndianSeqAndTheHash) {
  const std::string hash(crypto::kSha256Size, '\xab');
  EXPECT_EQ(CheckpointMessage(258, hash),
            absl::StrCat("sandyq audit checkpoint v1",
                         absl::string_view("\0\0\0\0\0\0\x01\x02", 8), hash));
  EXPECT_NE(CheckpointMessage(1, hash), CheckpointMessage(2, hash));
}

TEST_F(ChainVerifierTest, EmptyChainVerifies) {
  ChainVerifier verifier(signer_->public_key());
  EXPECT_TRUE(verifier.Finish());
  EXPECT_EQ(verifier.result().events_checked, 0u);
  EXPECT_EQ(verifier.last_hash(), std::string(crypto::kSha256Size, '\0'));
}

TEST_F(ChainVerifierTest, HandBuiltChainWithCheckpointsVerifies) {
  std::vector<Entry> entries;
  for (int i = 0; i < 4; ++i) entries.push_back(chain_.Event());
  entries.push_back(chain_.Checkpoint(*signer_));  // 5
  for (int i = 0; i < 3; ++i) entries.push_back(chain_.Event());
  entries.push_back(chain_.Checkpoint(*signer_));  // 9
  entries.push_back(chain_.Event());               // 10, unsigned tail

  ChainVerifier verifier(signer_->public_key());
  EXPECT_TRUE(AddAll(verifier, entries));
  EXPECT_TRUE(verifier.Finish());
  const ChainResult& result = verifier.result();
  EXPECT_TRUE(result.ok) << result.reason;
  EXPECT_EQ(result.events_checked, 10u);
  EXPECT_EQ(result.first_bad_seq, 0u);
  EXPECT_EQ(result.checkpoints_checked, 2u);
  EXPECT_EQ(result.last_checkpoint_seq, 9u);
  EXPECT_EQ(verifier.last_hash(), entries.back().hash);
}

TEST_F(ChainVerifierTest, MissingEventFailsAtTheMissingNumber) {
  std::vector<Entry> entries;
  for (int i = 0; i < 5; ++i) entries.push_back(chain_.Event());
  ChainVerifier verifier(signer_->public_key());
  ASSERT_TRUE(Add(verifier, entries[0]));
  ASSERT_TRUE(Add(verifier, entries[1]));
  EXPECT_FALSE(Add(verifier, entries[3]));  // event 3 skipped
  ExpectBrokenAt(verifier, 3, "event 3 is missing");
  EXPECT_FALSE(verifier.Finish());
  EXPECT_EQ(verifier.result().events_checked, 2u);
}

TEST_F(ChainVerifierTest, ChainNotStartingAtOneFails) {
  chain_.Event();
  Entry second = chain_.Event();
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(Add(verifier, second));
  ExpectBrokenAt(verifier, 1, "event 1 is missing");
}

TEST_F(ChainVerifierTest, StopsCheckingAtTheFirstProblem) {
  std::vector<Entry> entries;
  for (int i = 0; i < 4; ++i) entries.push_back(chain_.Event());
  entries[1].hash[0] ^= 0x01;
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  // Later events, even valid ones, are refused and do not move the result.
  EXPECT_FALSE(Add(verifier, entries[2]));
  ExpectBrokenAt(verifier, 2, "hash");
  EXPECT_EQ(verifier.result().events_checked, 1u);
}

TEST_F(ChainVerifierTest, BodyNamingAnotherSequenceNumberFails) {
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  entries.push_back(chain_.Event());
  // Event 3's body says 7 (and is hashed as such).
  entries.push_back(chain_.Event([](Body& b) { b.set_seq(7); }));
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 3, "another sequence number");
}

TEST_F(ChainVerifierTest, BodyThatDoesNotDecodeFails) {
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(verifier.Add(1, "\xff\xff\xff", crypto::Sha256("\xff\xff\xff")));
  ExpectBrokenAt(verifier, 1, "does not decode");
}

TEST_F(ChainVerifierTest, HashNotMatchingTheBodyFails) {
  std::vector<Entry> entries;
  for (int i = 0; i < 3; ++i) entries.push_back(chain_.Event());
  // The body changed after it was hashed.
  Body altered;
  ASSERT_TRUE(altered.ParseFromString(entries[1].body));
  altered.set_identity("someone-else");
  entries[1].body = altered.SerializeAsString();
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 2, "hash does not match");
}

TEST_F(ChainVerifierTest, BrokenLinkFails) {
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  entries.push_back(chain_.Event());
  // Event 3 names another predecessor; its own hash is consistent.
  entries.push_back(chain_.Event([](Body& b) {
    b.set_prev_hash(std::string(crypto::kSha256Size, '\x11'));
  }));
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 3, "previous-hash link");
}

TEST_F(ChainVerifierTest, FirstEventMustLinkToZeros) {
  Entry first = chain_.Event([](Body& b) {
    b.set_prev_hash(std::string(crypto::kSha256Size, '\x01'));
  });
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(Add(verifier, first));
  ExpectBrokenAt(verifier, 1, "previous-hash link");
}

TEST_F(ChainVerifierTest, SignatureOutsideACheckpointFails) {
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  // A valid checkpoint signature, but on an ordinary event.
  const std::string signature =
      signer_->Sign(CheckpointMessage(1, entries[0].hash)).value();
  entries.push_back(chain_.Event([&](Body& b) { b.set_signature(signature); }));
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 2, "signature outside a checkpoint");
}

TEST_F(ChainVerifierTest, CheckpointWithAnAlteredSignatureFails) {
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  entries.push_back(chain_.Event());
  Body checkpoint;
  ASSERT_TRUE(checkpoint.ParseFromString(chain_.Checkpoint(*signer_).body));
  std::string signature = checkpoint.signature();
  signature[10] ^= 0x01;
  // Rebuild event 3 with the altered signature and a consistent hash.
  ChainBuilder rebuilt;
  rebuilt.Event();
  rebuilt.Event();
  entries.push_back(rebuilt.Event([&](Body& b) {
    b.set_identity("sandyqd");
    b.set_rpc(std::string(kCheckpointRpc));
    b.set_signature(signature);
  }));
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 3, "checkpoint signature does not verify");
  EXPECT_EQ(verifier.result().checkpoints_checked, 0u);
}

TEST_F(ChainVerifierTest, CheckpointWithoutASignatureFails) {
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  entries.push_back(
      chain_.Event([](Body& b) { b.set_rpc(std::string(kCheckpointRpc)); }));
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 2, "checkpoint signature does not verify");
}

TEST_F(ChainVerifierTest, CheckpointSignedByAnotherKeyFails) {
  std::unique_ptr<crypto::Ed25519Signer> other = NewSigner(8);
  ASSERT_NE(other->public_key(), signer_->public_key());
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  entries.push_back(chain_.Checkpoint(*other));
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 2, "checkpoint signature does not verify");

  // The same chain verifies under the key that signed it.
  ChainVerifier right(other->public_key());
  EXPECT_TRUE(AddAll(right, entries));
}

TEST_F(ChainVerifierTest, CheckpointSigningAnotherPositionFails) {
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  entries.push_back(chain_.Event());
  // Signs event 1, but follows event 2: a checkpoint moved along the log.
  entries.push_back(chain_.CheckpointOver(*signer_, 1, entries[0].hash));
  ChainVerifier verifier(signer_->public_key());
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 3, "checkpoint signature does not verify");
}

TEST_F(ChainVerifierTest, EmptyPublicKeyFailsEveryCheckpoint) {
  std::vector<Entry> entries;
  entries.push_back(chain_.Event());
  entries.push_back(chain_.Event());
  ChainVerifier unsigned_only("");
  EXPECT_TRUE(AddAll(unsigned_only, entries));  // nothing to check yet

  entries.push_back(chain_.Checkpoint(*signer_));
  ChainVerifier verifier("");
  EXPECT_FALSE(AddAll(verifier, entries));
  ExpectBrokenAt(verifier, 3, "checkpoint signature does not verify");
}

// kMaxCheckpointGap unsigned events are accepted, one more is not. Bodies
// are built cheaply, one at a time.
class CheckpointGapTest : public ChainVerifierTest {
 protected:
  // Adds `n` ordinary events; returns how many were accepted.
  uint64_t AddEvents(ChainVerifier& verifier, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      if (!Add(verifier, chain_.Event())) return i;
    }
    return n;
  }
};

TEST_F(CheckpointGapTest, MoreThanTheMaximumGapWithoutACheckpointFails) {
  const absl::Time start = absl::Now();
  ChainVerifier verifier(signer_->public_key());
  ASSERT_EQ(AddEvents(verifier, kMaxCheckpointGap), kMaxCheckpointGap);
  EXPECT_TRUE(verifier.result().ok);
  EXPECT_EQ(AddEvents(verifier, 1), 0u);
  ExpectBrokenAt(verifier, kMaxCheckpointGap + 1,
                 "without a signed checkpoint");
  // Informational: the whole test should take well under a second.
  RecordProperty(
      "elapsed_ms",
      static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - start)));
}

TEST_F(CheckpointGapTest, ACheckpointRestartsTheGap) {
  ChainVerifier verifier(signer_->public_key());
  ASSERT_EQ(AddEvents(verifier, 10), 10u);
  ASSERT_TRUE(Add(verifier, chain_.Checkpoint(*signer_)));  // 11
  ASSERT_EQ(AddEvents(verifier, kMaxCheckpointGap), kMaxCheckpointGap);
  EXPECT_TRUE(verifier.result().ok);
  EXPECT_EQ(verifier.result().last_checkpoint_seq, 11u);
  EXPECT_EQ(AddEvents(verifier, 1), 0u);
  ExpectBrokenAt(verifier, 11 + kMaxCheckpointGap + 1,
                 "without a signed checkpoint");
}

TEST_F(CheckpointGapTest, ACheckpointMayFollowTheMaximumGap) {
  ChainVerifier verifier(signer_->public_key());
  ASSERT_EQ(AddEvents(verifier, kMaxCheckpointGap), kMaxCheckpointGap);
  EXPECT_TRUE(Add(verifier, chain_.Checkpoint(*signer_)));
  EXPECT_TRUE(verifier.Finish());
  EXPECT_EQ(verifier.result().checkpoints_checked, 1u);
  EXPECT_EQ(verifier.result().last_checkpoint_seq, kMaxCheckpointGap + 1);
}

}  // namespace
}  // namespace sandyq::audit
