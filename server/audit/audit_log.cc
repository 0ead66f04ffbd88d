#include "server/audit/audit_log.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/crypto/hash.h"
#include "server/crypto/signer.h"
#include "server/platform/log.h"
#include "server/storage/encoding.h"

namespace sandyq::audit {
namespace {

using storage::Table;

constexpr absl::string_view kHeadKey = "audit_head";
constexpr char kSubjectIndexTag = 's';
constexpr char kIdentityIndexTag = 'i';

std::string SubjectIndexPrefix(absl::string_view subject_hash) {
  return absl::StrCat(absl::string_view(&kSubjectIndexTag, 1), subject_hash);
}
std::string IdentityIndexPrefix(absl::string_view identity) {
  return absl::StrCat(absl::string_view(&kIdentityIndexTag, 1), identity,
                      absl::string_view("\0", 1));
}

// An index entry covers the events of one write group under one prefix: its
// key ends with the last one's sequence number, and its value lists the
// others as varint distances back from it, oldest first. A single event has
// an empty value.
std::string IndexEntryValue(const std::vector<uint64_t>& seqs) {
  std::string out;
  const uint64_t last = seqs.back();
  for (size_t i = 0; i + 1 < seqs.size(); ++i) {
    storage::AppendVarint(last - seqs[i], &out);
  }
  return out;
}

// The sequence numbers of an index entry, ascending; nullopt if the value
// does not decode to numbers below `last` in ascending order.
std::optional<std::vector<uint64_t>> IndexEntrySeqs(uint64_t last,
                                                    absl::string_view value) {
  std::vector<uint64_t> seqs;
  while (!value.empty()) {
    std::optional<uint64_t> back = storage::ReadVarint(&value);
    if (!back || *back == 0 || *back >= last) return std::nullopt;
    const uint64_t seq = last - *back;
    if (!seqs.empty() && seq <= seqs.back()) return std::nullopt;
    seqs.push_back(seq);
  }
  seqs.push_back(last);
  return seqs;
}

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

std::string SerializeBody(const StoredEvent& e) {
  internal::v1::AuditEventBody body;
  body.set_seq(e.seq);
  body.set_time_micros(ToMicros(e.time));
  body.set_identity(e.event.identity);
  body.set_organisation(e.event.organisation);
  body.set_country(e.event.country);
  body.set_rpc(e.event.rpc);
  body.set_subject_hash(e.event.subject_hash);
  body.set_token(e.event.token);
  body.set_field_type(e.event.field_type);
  body.set_purpose(e.event.purpose);
  body.set_justification(e.event.justification);
  body.set_decision(static_cast<int>(e.event.decision));
  body.set_rule(e.event.rule);
  body.set_code(e.event.code);
  body.set_prev_hash(e.prev_hash);
  body.set_signature(e.signature);
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  body.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

absl::StatusOr<StoredEvent> ParseBody(absl::string_view bytes) {
  internal::v1::AuditEventBody body;
  if (!body.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("audit event does not decode");
  }
  StoredEvent e;
  e.seq = body.seq();
  e.time = absl::FromUnixMicros(body.time_micros());
  e.event.identity = body.identity();
  e.event.organisation = body.organisation();
  e.event.country = body.country();
  e.event.rpc = body.rpc();
  e.event.subject_hash = body.subject_hash();
  e.event.token = body.token();
  e.event.field_type = body.field_type();
  e.event.purpose = body.purpose();
  e.event.justification = body.justification();
  e.event.decision = static_cast<Decision>(body.decision());
  e.event.rule = body.rule();
  e.event.code = body.code();
  e.prev_hash = body.prev_hash();
  e.signature = body.signature();
  e.body = std::string(bytes);
  return e;
}

}  // namespace

std::string EncodeEvent(const StoredEvent& event) {
  internal::v1::StoredAuditEvent stored;
  stored.set_event(SerializeBody(event));
  stored.set_hash(event.hash);
  return stored.SerializeAsString();
}

absl::StatusOr<StoredEvent> DecodeEvent(absl::string_view bytes) {
  internal::v1::StoredAuditEvent stored;
  if (!stored.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("audit record does not decode");
  }
  absl::StatusOr<StoredEvent> e = ParseBody(stored.event());
  if (!e.ok()) return e.status();
  e->hash = stored.hash();
  return e;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    storage::Store* store, const platform::Clock* clock, Options options) {
  // A group of at most 0 commits would never take one off the queue.
  if (options.max_group == 0) {
    return absl::InvalidArgumentError("audit log: max_group must be positive");
  }
  if (options.checkpoint_every_events == 0 ||
      options.checkpoint_every_events > 10000) {
    return absl::InvalidArgumentError(
        "audit: checkpoint_every_events must be from 1 to 10000");
  }
  if (options.checkpoint_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "audit: checkpoint_every must be a positive duration");
  }
  uint64_t seq = 0;
  std::string hash(crypto::kSha256Size, '\0');
  absl::Time time = absl::InfinitePast();
  absl::StatusOr<std::string> head = store->Get(Table::kMeta, kHeadKey);
  if (head.ok()) {
    internal::v1::AuditHead h;
    if (!h.ParseFromString(*head) || h.hash().size() != crypto::kSha256Size) {
      return absl::DataLossError("audit head record does not decode");
    }
    seq = h.seq();
    hash = h.hash();
    absl::StatusOr<std::string> last = store->Get(Table::kAudit, storage::EncodeU64(seq));
    if (!last.ok()) {
      return absl::DataLossError(
          absl::StrCat("audit head names event ", seq, ", which is missing"));
    }
    absl::StatusOr<StoredEvent> e = DecodeEvent(*last);
    if (!e.ok()) return e.status();
    time = e->time;
  } else if (!absl::IsNotFound(head.status())) {
    return head.status();
  }
  return std::unique_ptr<AuditLog>(
      new AuditLog(store, clock, options, seq, std::move(hash), time));
}

AuditLog::AuditLog(storage::Store* store, const platform::Clock* clock,
                   Options options, uint64_t head_seq, std::string head_hash,
                   absl::Time head_time)
    : store_(store),
      clock_(clock),
      options_(options),
      head_seq_(head_seq),
      head_hash_(std::move(head_hash)),
      head_time_(head_time),
      // Count from the head: the tail a crash may have left unsigned is at
      // most one checkpoint interval, far below kMaxCheckpointGap.
      last_checkpoint_seq_(head_seq),
      durable_seq_(head_seq) {
  writer_ = std::thread([this] {
    platform::NameThread("audit-writer");
    WriterLoop();
  });
  syncer_ = std::thread([this] {
    platform::NameThread("audit-sync");
    SyncLoop();
  });
  for (int i = 0; i < std::max(1, options_.completion_threads); ++i) {
    completers_.emplace_back([this, i] {
      platform::NameThread(absl::StrCat("audit-done-", i));
      CompletionLoop();
    });
  }
}

AuditLog::~AuditLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
  syncer_.join();
  for (std::thread& t : completers_) t.join();
}

void AuditLog::Commit(storage::WriteBatch data, std::vector<Event> events,
                      Done done) {
  Commit(std::move(data), std::move(events), std::move(done), nullptr);
}

void AuditLog::Commit(storage::WriteBatch data, std::vector<Event> events,
                      Done done, Done written) {
  if (Observer* observer = observer_.load(std::memory_order_acquire)) {
    observer->OnCommit(events);
  }
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_ && !failed_.load()) {
      queue_.push_back({std::move(data), std::move(events), std::move(done),
                        std::move(written)});
      return;
    }
  }
  const absl::Status refused = absl::UnavailableError(
      failed_.load() ? "audit log stopped after a failed sync"
                     : "audit log is shutting down");
  if (written) std::move(written)(refused);
  std::move(done)(refused);
}

absl::Status AuditLog::CommitAndWait(storage::WriteBatch data,
                                     std::vector<Event> events) {
  absl::Notification written;
  absl::Status result;
  Commit(std::move(data), std::move(events), [&](absl::Status s) {
    result = std::move(s);
    written.Notify();
  });
  written.WaitForNotification();
  return result;
}

void AuditLog::SetSigner(std::shared_ptr<const crypto::Ed25519Signer> signer) {
  absl::MutexLock lock(&signer_mu_);
  signer_ = std::move(signer);
}

std::shared_ptr<const crypto::Ed25519Signer> AuditLog::signer() const {
  absl::MutexLock lock(&signer_mu_);
  return signer_;
}

absl::Status AuditLog::Checkpoint() {
  absl::Notification written;
  absl::Status result;
  Pending p;
  p.checkpoint = true;
  p.done = [&](absl::Status s) {
    result = std::move(s);
    written.Notify();
  };
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("audit log is shutting down");
    queue_.push_back(std::move(p));
  }
  written.WaitForNotification();
  return result;
}

void AuditLog::Append(Event event, std::string signature, absl::Time now,
                      storage::WriteBatch& batch) {
  StoredEvent stored;
  stored.seq = head_seq_ + 1;
  stored.time = now;
  stored.prev_hash = head_hash_;
  stored.signature = std::move(signature);
  stored.event = std::move(event);
  std::string body = SerializeBody(stored);
  stored.hash = crypto::Sha256(body);
  internal::v1::StoredAuditEvent record;
  record.set_event(std::move(body));
  record.set_hash(stored.hash);
  batch.Put(Table::kAudit, storage::EncodeU64(stored.seq),
            record.SerializeAsString());
  if (!stored.event.subject_hash.empty()) {
    group_index_[SubjectIndexPrefix(stored.event.subject_hash)].push_back(
        stored.seq);
  }
  group_index_[IdentityIndexPrefix(stored.event.identity)].push_back(
      stored.seq);
  head_seq_ = stored.seq;
  head_hash_ = std::move(stored.hash);
  head_time_ = now;
}

void AuditLog::WriteGroupIndex(storage::WriteBatch& batch) {
  // One entry per prefix instead of one per event: a group's events mostly
  // come from a few callers, and its puts are most of the writer's work.
  for (const auto& [prefix, seqs] : group_index_) {
    batch.Put(Table::kAuditIndex,
              absl::StrCat(prefix, storage::EncodeU64(seqs.back())),
              IndexEntryValue(seqs));
  }
  group_index_.clear();
}

void AuditLog::AppendCheckpoint(absl::Time now, storage::WriteBatch& batch) {
  if (head_seq_ == last_checkpoint_seq_) return;  // nothing unsigned
  std::shared_ptr<const crypto::Ed25519Signer> signer = this->signer();
  if (signer == nullptr) return;
  absl::StatusOr<std::string> signature =
      signer->Sign(CheckpointMessage(head_seq_, head_hash_));
  if (!signature.ok()) {
    platform::LogError("audit checkpoint could not be signed");
    return;
  }
  Event event;
  event.identity = "sandyqd";
  event.rpc = std::string(kCheckpointRpc);
  event.decision = Decision::kAllowed;
  event.rule = absl::StrCat("signs events 1-", head_seq_);
  Append(std::move(event), std::move(*signature), now, batch);
  last_checkpoint_seq_ = head_seq_;
  first_unsigned_time_ = absl::InfiniteFuture();
}

void AuditLog::WriterLoop() {
  for (;;) {
    std::vector<Pending> group;
    bool timed_out = false;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition ready(
          +[](AuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this);
      if (first_unsigned_time_ == absl::InfiniteFuture()) {
        mu_.Await(ready);
      } else {
        // Wake up for the time-based checkpoint. Measured on the real clock:
        // the log's clock may be a test's fake.
        const absl::Duration wait =
            first_unsigned_time_ + options_.checkpoint_interval - absl::Now();
        timed_out =
            !mu_.AwaitWithTimeout(ready, std::max(wait, absl::ZeroDuration()));
      }
      stopping = stopping_;
      while (!queue_.empty() && group.size() < options_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (group.empty() && !timed_out && !stopping) continue;

    const uint64_t start_seq = head_seq_;
    const std::string start_hash = head_hash_;
    const absl::Time start_time = head_time_;
    const uint64_t start_checkpoint = last_checkpoint_seq_;
    const absl::Time start_unsigned = first_unsigned_time_;
    // Time never runs backwards in the log, even if the wall clock does.
    absl::Time now = std::max(clock_->Now(), head_time_);

    storage::WriteBatch batch;
    size_t ops = 2;  // the head, and perhaps a checkpoint
    for (const Pending& p : group) ops += p.data.size() + 3 * p.events.size();
    batch.Reserve(ops);
    bool force_checkpoint = timed_out || (stopping && group.empty());
    for (Pending& p : group) {
      batch.Append(std::move(p.data));
      for (Event& ev : p.events) Append(std::move(ev), "", now, batch);
      force_checkpoint |= p.checkpoint;
      // Within a group too: one group can hold more events than the
      // verifier accepts unsigned (kMaxCheckpointGap).
      if (head_seq_ - last_checkpoint_seq_ >=
          options_.checkpoint_every_events) {
        AppendCheckpoint(now, batch);
      }
    }
    if (head_seq_ != last_checkpoint_seq_ &&
        first_unsigned_time_ == absl::InfiniteFuture()) {
      first_unsigned_time_ = absl::Now();
    }
    if (force_checkpoint ||
        head_seq_ - last_checkpoint_seq_ >= options_.checkpoint_every_events) {
      AppendCheckpoint(now, batch);
    }
    WriteGroupIndex(batch);
    if (head_seq_ != start_seq) {
      internal::v1::AuditHead head;
      head.set_seq(head_seq_);
      head.set_hash(head_hash_);
      batch.Put(Table::kMeta, kHeadKey, head.SerializeAsString());
    }

    // Not synced here: the sync thread makes it durable (see the class
    // comment), so the next group is written while this one syncs.
    absl::Status status = absl::OkStatus();
    if (!batch.empty()) status = store_->Write(batch, {.sync = false});
    if (status.ok() && !group.empty()) {
      if (Observer* observer = observer_.load(std::memory_order_acquire)) {
        observer->OnGroupWritten(group.size(), head_seq_ - start_seq);
      }
    }
    if (!status.ok()) {
      // Nothing was written: give the sequence numbers back.
      head_seq_ = start_seq;
      head_hash_ = start_hash;
      head_time_ = start_time;
      last_checkpoint_seq_ = start_checkpoint;
      first_unsigned_time_ = start_unsigned;
      platform::LogError(absl::StrCat("audit log write failed: ",
                                      status.ToString()));
    }
    if (timed_out && first_unsigned_time_ != absl::InfiniteFuture()) {
      // The timed checkpoint was not written (no signer yet, or the write
      // failed): try again one interval from now, not at once in a loop.
      first_unsigned_time_ = absl::Now();
    }
    {
      // Written (or failed): the commits' `written` callbacks may run now,
      // while the sync is still to come.
      absl::MutexLock done_lock(&done_mu_);
      for (Pending& p : group) {
        if (p.written) written_.push_back({std::move(p.written), status});
      }
      if (!status.ok()) {
        for (Pending& p : group) written_.push_back({std::move(p.done), status});
      }
    }
    absl::MutexLock sync_lock(&sync_mu_);
    if (status.ok() && (!group.empty() || head_seq_ != start_seq)) {
      Unsynced written{.last_seq = head_seq_, .done = {}};
      written.done.reserve(group.size());
      for (Pending& p : group) written.done.push_back(std::move(p.done));
      unsynced_.push_back(std::move(written));
    }
    if (group.empty() && stopping) {
      // The queue was empty while stopping, and no commit is accepted any
      // more: everything is written, and the log sealed with a checkpoint.
      writer_finished_ = true;
      return;
    }
  }
}

void AuditLog::SyncLoop() {
  for (;;) {
    std::deque<Unsynced> groups;
    bool finished = false;
    {
      absl::MutexLock lock(&sync_mu_);
      sync_mu_.Await(absl::Condition(
          +[](AuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->sync_mu_) {
            return self->writer_finished_ || !self->unsynced_.empty();
          },
          this));
      groups.swap(unsynced_);
      finished = writer_finished_;
    }
    if (!groups.empty()) {
      // Every group taken was written before this sync starts, so one sync
      // covers them all.
      absl::Status status = absl::OkStatus();
      if (failed_.load()) {
        // A sync failed before: what it should have covered may be lost, and
        // these groups may depend on it (a `written` callback let later work
        // read it). None of them is acknowledged.
        status = absl::UnavailableError(
            "write could not be made durable: an earlier sync failed");
      } else if (options_.sync) {
        const absl::Time start = absl::Now();
        status = store_->SyncWal();
        if (Observer* observer = observer_.load(std::memory_order_acquire)) {
          observer->OnSynced(absl::Now() - start, status.ok());
        }
      }
      if (status.ok()) {
        durable_seq_.store(groups.back().last_seq);
      } else if (!failed_.exchange(true)) {
        platform::LogError(
            absl::StrCat("audit log sync failed: ", status.ToString()));
        status = absl::UnavailableError(
            absl::StrCat("write could not be made durable: ",
                         status.message()));
      }
      absl::MutexLock done_lock(&done_mu_);
      for (Unsynced& group : groups) {
        for (Done& done : group.done) {
          written_.push_back({std::move(done), status});
        }
      }
    }
    if (finished) {
      absl::MutexLock lock(&sync_mu_);
      if (unsynced_.empty()) {
        absl::MutexLock done_lock(&done_mu_);
        syncer_finished_ = true;
        return;
      }
    }
  }
}

void AuditLog::CompletionLoop() {
  for (;;) {
    std::deque<Completion> completions;
    {
      absl::MutexLock lock(&done_mu_);
      done_mu_.Await(absl::Condition(
          +[](AuditLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->done_mu_) {
            return self->syncer_finished_ || !self->written_.empty();
          },
          this));
      if (written_.empty()) return;  // the syncer has finished
      completions.swap(written_);
    }
    for (Completion& c : completions) {
      std::move(c.done)(std::move(c.status));
    }
  }
}

absl::StatusOr<StoredEvent> AuditLog::ReadEvent(uint64_t seq) const {
  absl::StatusOr<std::string> bytes =
      store_->Get(Table::kAudit, storage::EncodeU64(seq));
  if (!bytes.ok()) return bytes.status();
  return DecodeEvent(*bytes);
}

absl::StatusOr<uint64_t> AuditLog::FirstSeqAtOrAfter(absl::Time t,
                                                     uint64_t last) const {
  // Event times never decrease with the sequence number: binary search.
  uint64_t lo = 1, hi = last + 1;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    absl::StatusOr<StoredEvent> e = ReadEvent(mid);
    if (!e.ok()) return e.status();
    if (e->time < t) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

absl::Status AuditLog::Query(
    const Filter& filter,
    const std::function<bool(const StoredEvent&)>& visit) const {
  const uint64_t last = durable_seq_.load();
  uint64_t after = filter.after_seq;
  if (filter.since != absl::InfinitePast()) {
    absl::StatusOr<uint64_t> first = FirstSeqAtOrAfter(filter.since, last);
    if (!first.ok()) return first.status();
    after = std::max(after, *first - 1);
  }
  size_t emitted = 0;
  absl::Status inner;
  auto consider = [&](const StoredEvent& e) {
    if (e.seq > last) return false;
    if (e.time >= filter.until) return false;
    if (e.time < filter.since) return true;
    if (!filter.subject_hash.empty() &&
        e.event.subject_hash != filter.subject_hash) {
      return true;
    }
    if (!filter.identity.empty() && e.event.identity != filter.identity) {
      return true;
    }
    if (!visit(e)) return false;
    ++emitted;
    return filter.limit == 0 || emitted < filter.limit;
  };

  // Walk the narrowest index: by subject, by identity, or the log itself.
  std::string prefix;
  if (!filter.subject_hash.empty()) {
    prefix = SubjectIndexPrefix(filter.subject_hash);
  } else if (!filter.identity.empty()) {
    prefix = IdentityIndexPrefix(filter.identity);
  }
  if (!prefix.empty()) {
    uint64_t previous = 0;  // the last event of the entry before
    absl::Status s = store_->Scan(
        Table::kAuditIndex, prefix, prefix + storage::EncodeU64(after),
        [&](absl::string_view key, absl::string_view value) {
          std::optional<uint64_t> last =
              storage::DecodeU64(key.substr(prefix.size()));
          std::optional<std::vector<uint64_t>> seqs;
          if (last) seqs = IndexEntrySeqs(*last, value);
          if (!seqs) {
            inner = absl::DataLossError("audit index entry does not decode");
            return false;
          }
          // Groups do not overlap: an entry that reaches back into the one
          // before it was altered.
          if (seqs->front() <= previous) {
            inner = absl::DataLossError("audit index entries overlap");
            return false;
          }
          previous = *last;
          for (uint64_t seq : *seqs) {
            if (seq <= after) continue;  // earlier in the entry's group
            absl::StatusOr<StoredEvent> e = ReadEvent(seq);
            if (!e.ok()) {
              inner = e.status();
              return false;
            }
            if (!consider(*e)) return false;
          }
          return true;
        });
    return s.ok() ? inner : s;
  }
  absl::Status s = store_->Scan(
      Table::kAudit, "", after == 0 ? "" : storage::EncodeU64(after),
      [&](absl::string_view, absl::string_view value) {
        absl::StatusOr<StoredEvent> e = DecodeEvent(value);
        if (!e.ok()) {
          inner = e.status();
          return false;
        }
        return consider(*e);
      });
  return s.ok() ? inner : s;
}

absl::StatusOr<AuditLog::VerifyResult> AuditLog::Verify() const {
  // Check events up to the last one this process knows to be durable; the
  // head record on disk must agree with it.
  const uint64_t bound = durable_seq_.load();
  std::shared_ptr<const crypto::Ed25519Signer> signer = this->signer();
  ChainVerifier chain(signer == nullptr ? "" : signer->public_key());
  absl::Status s = store_->BulkScan(
      Table::kAudit, "", "", [&](absl::string_view key, absl::string_view value) {
        std::optional<uint64_t> seq = storage::DecodeU64(key);
        if (!seq) {
          return chain.Add(0, "", "");  // fails: not the expected number
        }
        if (*seq > bound) return false;  // appended after we started
        internal::v1::StoredAuditEvent record;
        if (!record.ParseFromArray(value.data(),
                                   static_cast<int>(value.size()))) {
          return chain.Add(*seq, "\xff", "");  // fails: does not decode
        }
        return chain.Add(*seq, record.event(), record.hash());
      });
  if (!s.ok()) return s;
  chain.Finish();
  VerifyResult result = chain.result();
  if (!result.ok) return result;
  auto fail = [&](uint64_t seq, std::string reason) {
    result.ok = false;
    result.first_bad_seq = seq;
    result.reason = std::move(reason);
  };
  if (result.events_checked != bound) {
    fail(result.events_checked + 1,
         absl::StrCat("log ends at event ", result.events_checked,
                      " but event ", bound, " was written"));
    return result;
  }
  if (bound == 0) return result;
  absl::StatusOr<std::string> head_bytes = store_->Get(Table::kMeta, kHeadKey);
  if (absl::IsNotFound(head_bytes.status())) {
    fail(bound, "head record is missing");
    return result;
  }
  if (!head_bytes.ok()) return head_bytes.status();
  internal::v1::AuditHead head;
  if (!head.ParseFromString(*head_bytes)) {
    fail(bound, "head record does not decode");
  } else if (head.seq() < bound) {
    fail(head.seq() + 1, "head record names an earlier event than was written");
  } else if (head.seq() == bound &&
             !crypto::ConstantTimeEquals(head.hash(), chain.last_hash())) {
    fail(bound, "last event does not match the head record");
  }
  return result;
}

}  // namespace sandyq::audit
