// The access log's decoders and verifier (server/audit).
//
// Input: byte 0 picks the mode, the rest is split by FuzzedDataProvider.
//   0  DecodeEvent of arbitrary bytes; what decodes re-encodes to the same
//      event.
//   1  ChainVerifier over a chain the input describes: events built by this
//      harness (right or wrong sequence numbers, links, hashes, checkpoint
//      signatures), each optionally with bytes changed. Valid chains pass;
//      a verifier that passes anything else must have seen a valid chain.
//   2  A real AuditLog over a MemoryStore holding a short signed log, one of
//      whose records (an event, an index entry or the head) the input
//      replaces or removes; then the log is reopened, verified and queried.
//      Any change to a stored event's contents is detected by Verify.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/audit_log.h"
#include "server/audit/chain.h"
#include "server/audit/event.h"
#include "server/crypto/hash.h"
#include "server/crypto/secret.h"
#include "server/crypto/signer.h"
#include "server/storage/encoding.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_store.h"
#include "tests/fuzz/fuzz_check.h"

namespace sandyq::fuzz {
namespace {

namespace pb = ::sandyq::internal::v1;
using storage::Table;

const crypto::Ed25519Signer& Signer() {
  static const crypto::Ed25519Signer* const signer =
      crypto::Ed25519Signer::FromSeed(crypto::SecretBytes(std::string(32, '\x11')))
          ->release();
  return *signer;
}

void DecodeAnything(FuzzedDataProvider& in) {
  const std::string bytes = in.ConsumeRemainingBytesAsString();
  absl::StatusOr<audit::StoredEvent> e = audit::DecodeEvent(bytes);
  if (!e.ok()) {
    SANDYQ_FUZZ_CHECK(e.status().code() == absl::StatusCode::kDataLoss);
    return;
  }
  absl::StatusOr<audit::StoredEvent> again =
      audit::DecodeEvent(audit::EncodeEvent(*e));
  SANDYQ_FUZZ_CHECK(again.ok());
  SANDYQ_FUZZ_CHECK(again->seq == e->seq && again->time == e->time);
  SANDYQ_FUZZ_CHECK(again->hash == e->hash && again->prev_hash == e->prev_hash);
  SANDYQ_FUZZ_CHECK(again->signature == e->signature);
  SANDYQ_FUZZ_CHECK(again->event.identity == e->event.identity);
  SANDYQ_FUZZ_CHECK(again->event.token == e->event.token);
  SANDYQ_FUZZ_CHECK(again->event.subject_hash == e->event.subject_hash);
  SANDYQ_FUZZ_CHECK(again->event.decision == e->event.decision);
  SANDYQ_FUZZ_CHECK(again->event.field_type == e->event.field_type);
}

std::string Serialize(const pb::AuditEventBody& body) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    body.SerializeToCodedStream(&coded);
  }
  return out;
}

void VerifyChain(FuzzedDataProvider& in) {
  const std::string public_key = in.ConsumeBool()
                                     ? Signer().public_key()
                                     : in.ConsumeBytesAsString(32);
  audit::ChainVerifier verifier(public_key);
  std::string prev(32, '\0');
  uint64_t last_checkpoint = 0;
  for (uint64_t n = 1; n <= 64 && in.remaining_bytes() > 0; ++n) {
    const uint8_t flags = in.ConsumeIntegral<uint8_t>();
    pb::AuditEventBody body;
    const uint64_t seq = (flags & 1) ? in.ConsumeIntegral<uint64_t>() : n;
    body.set_seq((flags & 2) ? in.ConsumeIntegral<uint64_t>() : seq);
    body.set_time_micros(in.ConsumeIntegral<int64_t>());
    body.set_identity(in.ConsumeRandomLengthString(16));
    body.set_token(in.ConsumeRandomLengthString(32));
    body.set_decision(in.ConsumeIntegral<int32_t>());
    body.set_prev_hash((flags & 4) ? in.ConsumeBytesAsString(32) : prev);
    const bool checkpoint = (flags & 8) != 0;
    if (checkpoint) {
      body.set_rpc(std::string(audit::kCheckpointRpc));
      if (flags & 16) {
        body.set_signature(in.ConsumeBytesAsString(64));
      } else {
        absl::StatusOr<std::string> signature =
            Signer().Sign(audit::CheckpointMessage(seq - 1, prev));
        SANDYQ_FUZZ_CHECK(signature.ok());
        body.set_signature(*signature);
      }
    } else {
      body.set_rpc(in.ConsumeRandomLengthString(24));
      if (flags & 16) body.set_signature(in.ConsumeBytesAsString(64));
    }
    std::string bytes = Serialize(body);
    std::string hash = crypto::Sha256(bytes);
    if ((flags & 32) && !bytes.empty()) {
      bytes[in.ConsumeIntegral<uint16_t>() % bytes.size()] ^=
          static_cast<char>(in.ConsumeIntegralInRange<uint8_t>(1, 255));
    }
    if (flags & 64) hash = in.ConsumeBytesAsString(32);

    // Whether this event is valid by the rules of chain.h, as built.
    pb::AuditEventBody parsed;
    const bool valid =
        parsed.ParseFromString(bytes) && seq == n && parsed.seq() == n &&
        crypto::Sha256(bytes) == hash && parsed.prev_hash() == prev &&
        (parsed.rpc() == audit::kCheckpointRpc
             ? crypto::Ed25519Verify(public_key,
                                     audit::CheckpointMessage(n - 1, prev),
                                     parsed.signature())
                   .ok()
             : parsed.signature().empty());
    const bool accepted = verifier.Add(seq, bytes, hash);
    if (!accepted) {
      SANDYQ_FUZZ_CHECK(!verifier.result().ok);
      SANDYQ_FUZZ_CHECK(!verifier.result().reason.empty());
      SANDYQ_FUZZ_CHECK(verifier.result().first_bad_seq == n);
      return;
    }
    // Accepted: it must be right.
    SANDYQ_FUZZ_CHECK(valid);
    SANDYQ_FUZZ_CHECK(verifier.result().events_checked == n);
    if (parsed.rpc() == audit::kCheckpointRpc) last_checkpoint = n;
    SANDYQ_FUZZ_CHECK(verifier.result().last_checkpoint_seq == last_checkpoint);
    prev = hash;
    SANDYQ_FUZZ_CHECK(verifier.last_hash() == prev);
  }
  SANDYQ_FUZZ_CHECK(verifier.Finish() == verifier.result().ok);
}

// A short signed log, built once: every stored record of it.
struct SampleLog {
  std::vector<std::tuple<Table, std::string, std::string>> records;
};

const SampleLog& BuildLog() {
  static const SampleLog* const log = [] {
    auto* out = new SampleLog;
    testing::MemoryStore store;
    testing::FakeClock clock;
    audit::AuditLog::Options options;
    options.completion_threads = 1;
    options.checkpoint_every_events = 3;
    auto opened = audit::AuditLog::Open(&store, &clock, options);
    SANDYQ_FUZZ_CHECK(opened.ok());
    std::unique_ptr<audit::AuditLog> audit_log = *std::move(opened);
    audit_log->SetSigner(std::shared_ptr<const crypto::Ed25519Signer>(
        std::shared_ptr<const crypto::Ed25519Signer>(), &Signer()));
    // Two commits of several events, so that index entries list more than
    // one event (docs/storage-format.md, "The access log").
    std::vector<audit::Event> events;
    for (int i = 0; i < 5; ++i) {
      audit::Event e;
      e.identity = i % 2 ? "support" : "dpo";
      e.rpc = "Tokenizer.Detokenize";
      e.subject_hash = std::string(32, static_cast<char>('a' + i % 2));
      e.token = "sq_AAAAAAAAAAAAAAAAAAAAAAAA";
      e.decision = audit::Decision::kRevealedFull;
      events.push_back(std::move(e));
      if (i == 2 || i == 4) {
        SANDYQ_FUZZ_CHECK(audit_log->CommitAndWait({}, std::move(events)).ok());
        events.clear();
        clock.Advance(absl::Seconds(1));
      }
    }
    SANDYQ_FUZZ_CHECK(audit_log->Checkpoint().ok());
    audit_log.reset();
    for (Table t : {Table::kMeta, Table::kAudit, Table::kAuditIndex}) {
      SANDYQ_FUZZ_CHECK(store
                            .Scan(t, "", "",
                                  [&](absl::string_view k, absl::string_view v) {
                                    out->records.emplace_back(t, std::string(k),
                                                              std::string(v));
                                    return true;
                                  })
                            .ok());
    }
    return out;
  }();
  return *log;
}

void TamperWithLog(FuzzedDataProvider& in) {
  const SampleLog& sample = BuildLog();
  testing::MemoryStore store;
  storage::WriteBatch copy;
  for (const auto& [t, k, v] : sample.records) copy.Put(t, k, v);
  SANDYQ_FUZZ_CHECK(store.Write(copy, {}).ok());

  const auto& record = sample.records[in.ConsumeIntegralInRange<size_t>(
      0, sample.records.size() - 1)];
  const Table table = std::get<0>(record);
  const std::string& key = std::get<1>(record);
  const std::string& original = std::get<2>(record);
  const bool remove = in.ConsumeBool();
  const std::string replacement = in.ConsumeRandomLengthString(512);
  const bool new_key = in.ConsumeBool();
  const std::string other_key = in.ConsumeRandomLengthString(48);
  bool content_changed = false;
  if (new_key) {
    // An extra record under any key of the same table.
    store.Poke(table, other_key, replacement);
  } else if (remove) {
    store.Erase(table, key);
    content_changed = table == Table::kAudit;
  } else {
    store.Poke(table, key, replacement);
    if (table == Table::kAudit) {
      pb::StoredAuditEvent before, after;
      SANDYQ_FUZZ_CHECK(before.ParseFromString(original));
      content_changed = !after.ParseFromString(replacement) ||
                        after.event() != before.event() ||
                        after.hash() != before.hash();
    }
  }

  testing::FakeClock clock;
  audit::AuditLog::Options options;
  options.completion_threads = 1;
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
      audit::AuditLog::Open(&store, &clock, options);
  if (!log.ok()) return;  // a damaged head or last event: refused
  (*log)->SetSigner(std::shared_ptr<const crypto::Ed25519Signer>(
      std::shared_ptr<const crypto::Ed25519Signer>(), &Signer()));
  absl::StatusOr<audit::AuditLog::VerifyResult> verified = (*log)->Verify();
  SANDYQ_FUZZ_CHECK(verified.ok());
  if (content_changed) SANDYQ_FUZZ_CHECK(!verified->ok);

  audit::AuditLog::Filter filter;
  switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 0:
      filter.subject_hash = std::string(32, 'a');
      break;
    case 1:
      filter.identity = "support";
      break;
  }
  if (in.ConsumeBool()) filter.since = absl::FromUnixMicros(in.ConsumeIntegral<int64_t>());
  if (in.ConsumeBool()) filter.until = absl::FromUnixMicros(in.ConsumeIntegral<int64_t>());
  filter.after_seq = in.ConsumeIntegralInRange<uint64_t>(0, 10);
  filter.limit = in.ConsumeIntegralInRange<size_t>(0, 4);
  size_t seen = 0;
  absl::Status queried = (*log)->Query(filter, [&](const audit::StoredEvent& e) {
    ++seen;
    // (Events are returned as stored: a record planted in the audit table
    // can claim any number, which Verify reports.)
    if (table != Table::kAudit) SANDYQ_FUZZ_CHECK(e.seq > filter.after_seq);
    return true;
  });
  if (queried.ok() && filter.limit > 0) SANDYQ_FUZZ_CHECK(seen <= filter.limit);

  // The log still takes new events after whatever it was opened on.
  audit::Event e;
  e.identity = "fuzz";
  e.rpc = "Tokenizer.Lookup";
  (void)(*log)->CommitAndWait({}, {e});
}

}  // namespace
}  // namespace sandyq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandyq::fuzz;  // NOLINT: one entry point
  if (size < 1) return 0;
  FuzzedDataProvider in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      DecodeAnything(in);
      break;
    case 1:
      VerifyChain(in);
      break;
    case 2:
      TamperWithLog(in);
      break;
  }
  return 0;
}
