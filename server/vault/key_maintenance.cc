#include "server/vault/key_maintenance.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/platform/log.h"
#include "server/vault/records.h"

namespace sandyq::vault {
namespace {

using storage::Table;
namespace pb = ::sandyq::internal::v1;

}  // namespace

KeyMaintenance::KeyMaintenance(storage::Store* store, audit::AuditLog* log,
                               KeyManager* keys, KeyedSequencer* subjects,
                               Options options)
    : store_(store),
      log_(log),
      keys_(keys),
      subjects_(subjects),
      options_(options) {}

KeyMaintenance::~KeyMaintenance() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void KeyMaintenance::Start() {
  thread_ = std::thread([this] {
    platform::NameThread("key-maintenance");
    Loop();
  });
}

void KeyMaintenance::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

bool KeyMaintenance::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void KeyMaintenance::Loop() {
  for (;;) {
    absl::StatusOr<int64_t> done = RunOnce();
    if (!done.ok()) {
      platform::LogError(absl::StrCat("key maintenance: ", done.status().message()));
    }
    // Sleep until woken, the next check, or the next scheduled rotation.
    // After a failure (e.g. the provider is unreachable), the next check:
    // an overdue rotation must not be retried in a tight loop.
    absl::Duration wait = options_.check_every;
    if (done.ok() && options_.rotate_every > absl::ZeroDuration()) {
      if (absl::StatusOr<absl::Time> created = keys_->PrimaryCreated();
          created.ok()) {
        // On the real clock: the schedule is an operator's setting.
        wait = std::min(wait, std::max(absl::ZeroDuration(),
                                       *created + options_.rotate_every -
                                           absl::Now()) +
                                  absl::Milliseconds(10));
      }
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](KeyMaintenance* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return self->stopping_ || self->woken_;
            },
            this),
        wait);
    if (stopping_) return;
    woken_ = false;
  }
}

absl::StatusOr<int64_t> KeyMaintenance::RunOnce() {
  if (options_.rotate_every > absl::ZeroDuration()) {
    audit::Event event;
    event.identity = "sandyqd";
    event.rpc = "KeyAdmin.RotateKeys";
    event.rule = absl::StrCat("scheduled: primary older than rotate_every ",
                              absl::FormatDuration(options_.rotate_every));
    absl::StatusOr<uint32_t> rotated =
        keys_->RotateIfOlderThan(options_.rotate_every, std::move(event));
    if (!rotated.ok()) return rotated.status();
  }
  int64_t total = 0;
  for (;;) {
    absl::StatusOr<int64_t> pending = keys_->RewrapPending();
    if (!pending.ok()) return pending.status();
    if (*pending == 0 || stopping()) break;
    absl::StatusOr<int64_t> done = RewrapPass();
    if (!done.ok()) return done.status();
    total += *done;
    if (*done == 0) {
      // A full pass found nothing to move, yet the counters say otherwise:
      // do not spin; try again at the next round.
      platform::LogWarning(absl::StrCat(
          "key re-wrap: ", *pending,
          " data keys counted under older KEKs, but a full pass found none"));
      break;
    }
  }
  if (!stopping()) {
    absl::StatusOr<int> retired = keys_->RetireEmpty();
    if (!retired.ok()) return retired.status();
  }
  return total;
}

absl::StatusOr<int64_t> KeyMaintenance::RewrapPass() {
  absl::StatusOr<std::string> saved = store_->Get(Table::kMeta, keys::kRewrapCursor);
  if (!saved.ok() && !absl::IsNotFound(saved.status())) return saved.status();
  std::string cursor = saved.ok() ? *saved : "";
  const absl::Time start = absl::Now();
  int64_t moved = 0;

  while (!stopping()) {
    // The next chunk of subjects after the cursor, and which need work.
    std::shared_ptr<const crypto::Keyring> keyring = keys_->keyring();
    std::vector<std::string> chunk;
    std::vector<std::string> stale;
    absl::Status bad;
    absl::Status scanned = store_->BulkScan(
        Table::kSubjects, "", cursor,
        [&](absl::string_view key, absl::string_view value) {
          chunk.emplace_back(key);
          pb::SubjectRecord subject;
          if (!subject.ParseFromArray(value.data(),
                                      static_cast<int>(value.size()))) {
            bad = absl::DataLossError("subject record does not decode");
            return false;
          }
          // A subject whose KEK the provider no longer holds can be neither
          // read nor re-wrapped: leave it, and move the others.
          if (subject.kek_version() != keyring->primary_version() &&
              keyring->HasVersion(subject.kek_version())) {
            stale.emplace_back(key);
          }
          return chunk.size() < options_.chunk;
        });
    if (!scanned.ok()) return scanned;
    if (!bad.ok()) return bad;
    if (chunk.empty()) {
      // Pass complete: the next one starts from the first subject.
      storage::WriteBatch batch;
      batch.Delete(Table::kMeta, keys::kRewrapCursor);
      if (absl::Status s = log_->CommitAndWait(std::move(batch), {}); !s.ok()) {
        return s;
      }
      return moved;
    }

    // Hold each stale subject, then re-read and re-wrap it: a concurrent
    // write may have changed it since the scan.
    std::vector<KeyedSequencer::Release> held;
    held.reserve(stale.size());
    for (const std::string& subject : stale) {
      held.push_back(subjects_->Acquire(subject));
    }
    storage::WriteBatch batch;
    int64_t in_chunk = 0;
    for (const std::string& subject : stale) {
      absl::StatusOr<std::string> record = store_->Get(Table::kSubjects, subject);
      if (absl::IsNotFound(record.status())) continue;  // erased meanwhile
      if (!record.ok()) return record.status();
      absl::StatusOr<bool> rewrapped =
          keys_->RewrapSubject(*keyring, subject, *record, batch);
      if (!rewrapped.ok()) return rewrapped.status();
      in_chunk += *rewrapped;
    }
    cursor = chunk.back();
    batch.Put(Table::kMeta, keys::kRewrapCursor, cursor);
    std::vector<audit::Event> events;
    if (in_chunk > 0) {
      audit::Event event;
      event.identity = "sandyqd";
      event.rpc = "KeyAdmin.Rewrap";
      event.decision = audit::Decision::kAllowed;
      event.rule = absl::StrCat(in_chunk, " data keys re-wrapped to KEK ",
                                keyring->primary_version());
      events.push_back(std::move(event));
    }
    absl::Status written = log_->CommitAndWait(std::move(batch), std::move(events));
    held.clear();  // release the subjects
    if (!written.ok()) return written;
    moved += in_chunk;
    rewrapped_.fetch_add(in_chunk, std::memory_order_relaxed);
    if (!Throttle(start, moved)) break;
  }
  return moved;
}

bool KeyMaintenance::Throttle(absl::Time start, int64_t done) {
  if (options_.rewrap_per_second <= 0) return !stopping();
  const absl::Time due =
      start + absl::Seconds(static_cast<double>(done) / options_.rewrap_per_second);
  const absl::Duration wait = due - absl::Now();
  absl::MutexLock lock(&mu_);
  if (wait > absl::ZeroDuration()) {
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](KeyMaintenance* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return self->stopping_;
            },
            this),
        wait);
  }
  return !stopping_;
}

}  // namespace sandyq::vault
