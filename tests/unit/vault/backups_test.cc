// Backups that honour erasure, on real RocksDB stores in temporary
// directories (a MemoryStore cannot make checkpoints).

#include "server/vault/backups.h"

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/audit/audit_log.h"
#include "server/platform/files.h"
#include "server/policy/policy.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "server/vault/erasure_ledger.h"
#include "server/vault/index_migration.h"
#include "server/vault/records.h"
#include "server/vault/vault.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_master_key.h"
#include "tests/fakes/fake_random.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/vault_fixture.h"
#include "tests/unit/vault/subject_test_util.h"

namespace sandyq::vault {
namespace {

namespace pb = ::sandyq::internal::v1;
using ::sandyq::testing::Await;
using ::sandyq::testing::FakeClock;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::IsOkAndHolds;
using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;
using storage::Table;
using subject_test::DekCount;
using subject_test::HoldsAllOf;
using subject_test::HoldsAnythingOf;
using subject_test::PlantSubject;
using subject_test::SubjectHashOf;
using subject_test::TableContents;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

const std::string kA = SubjectHashOf('a');
const std::string kB = SubjectHashOf('b');
const std::string kC = SubjectHashOf('c');
const std::vector<std::string> kTokensA = {"tok_a1", "tok_a2"};
const std::vector<std::string> kTokensB = {"tok_b1"};
const std::vector<std::string> kTokensC = {"tok_c1"};

// 2026-01-01T00:00:00Z.
const absl::Time kNow = absl::FromUnixSeconds(1767225600);

std::unique_ptr<storage::Store> OpenStore(const std::string& path,
                                          bool create = true) {
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenRocksDbStore({.path = path, .create_if_missing = create});
  EXPECT_THAT(store, IsOk());
  return store.ok() ? std::move(*store) : nullptr;
}

pb::BackupManifest ManifestOf(const std::string& backup) {
  pb::BackupManifest manifest;
  absl::StatusOr<std::string> bytes =
      platform::ReadFile(absl::StrCat(backup, "/sandyq-backup.binpb"));
  EXPECT_THAT(bytes, IsOk());
  EXPECT_TRUE(manifest.ParseFromString(bytes.value_or("")));
  return manifest;
}

// Whether any file under `dir` contains `needle`.
bool AnyFileContains(const std::string& dir, absl::string_view needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    absl::StatusOr<std::string> bytes = platform::ReadFile(entry.path());
    if (bytes.ok() && absl::StrContains(*bytes, needle)) return true;
  }
  return false;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class BackupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    live_ = OpenStore(dir_.File("live"));
    ASSERT_NE(live_, nullptr);
    absl::StatusOr<std::unique_ptr<ErasureLedger>> ledger =
        ErasureLedger::Open(dir_.File("erasures"));
    ASSERT_THAT(ledger, IsOk());
    ledger_ = std::move(*ledger);
    PlantSubject(*live_, kA, kTokensA, "value-a");
    PlantSubject(*live_, kB, kTokensB, "value-b");
  }

  // The access log over the live store (null, with a failure, if it does not
  // open).
  std::unique_ptr<audit::AuditLog> OpenLog() {
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> opened =
        audit::AuditLog::Open(live_.get(), &clock_, {});
    EXPECT_THAT(opened, IsOk());
    return opened.ok() ? std::move(*opened) : nullptr;
  }

  std::string Target() const { return dir_.File("backups"); }
  Backups InKz() {
    return Backups({{.path = Target(), .country = "KZ"}}, ledger_.get(), "KZ");
  }

  // A backup of the live store under `dir`, taken at kNow + `offset`.
  std::string CreateOrDie(Backups& backups, const std::string& dir,
                          absl::Duration offset = absl::ZeroDuration()) {
    absl::StatusOr<BackupInfo> info =
        backups.Create(*live_, dir, /*audit_seq=*/7, kNow + offset);
    EXPECT_THAT(info, IsOk());
    return info.ok() ? info->path : "";
  }

  ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Store> live_;
  std::unique_ptr<ErasureLedger> ledger_;
};

// --- Create -----------------------------------------------------------------

TEST_F(BackupsTest, CreateWritesACheckpointAndItsManifest) {
  ASSERT_THAT(ledger_->Append(kC, kNow, "er_c"), IsOk());
  Backups backups = InKz();
  absl::StatusOr<BackupInfo> info =
      backups.Create(*live_, Target(), /*audit_seq=*/42, kNow);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->path,
            absl::StrCat(Target(), "/sandyq-backup-20260101T000000.000000Z"));
  EXPECT_EQ(info->created, kNow);
  EXPECT_EQ(info->audit_seq, 42u);

  const pb::BackupManifest manifest = ManifestOf(info->path);
  EXPECT_EQ(manifest.created_micros(), absl::ToUnixMicros(kNow));
  EXPECT_EQ(manifest.audit_seq(), 42u);
  EXPECT_EQ(manifest.ledger_seq(), 1u);
  EXPECT_EQ(manifest.residency_country(), "KZ");
  EXPECT_EQ(ModeOf(absl::StrCat(info->path, "/sandyq-backup.binpb")), 0600u);
  EXPECT_EQ(ModeOf(info->path) & 077, 0u);

  std::unique_ptr<storage::Store> copy =
      OpenStore(absl::StrCat(info->path, "/db"), /*create=*/false);
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(HoldsAllOf(*copy, kA, kTokensA));
  EXPECT_TRUE(HoldsAllOf(*copy, kB, kTokensB));
}

TEST_F(BackupsTest, CreateAcceptsADirectoryInsideATarget) {
  Backups backups = InKz();
  for (const std::string& dir :
       {absl::StrCat(Target(), "/daily"), absl::StrCat(Target(), "//weekly/"),
        absl::StrCat(Target(), "/./monthly/x/..")}) {
    SCOPED_TRACE(dir);
    absl::StatusOr<BackupInfo> info = backups.Create(*live_, dir, 1, kNow);
    ASSERT_THAT(info, IsOk());
    EXPECT_THAT(info->path, StartsWith(absl::StrCat(Target(), "/")));
    EXPECT_FALSE(absl::StrContains(info->path, "/./"));
    EXPECT_FALSE(absl::StrContains(info->path, "/../"));
    EXPECT_TRUE(platform::PathExists(absl::StrCat(info->path, "/db")));
  }
}

TEST_F(BackupsTest, CreateRefusesADirectoryOutsideTheTargets) {
  Backups backups = InKz();
  for (const std::string& dir : {
           dir_.File("elsewhere"),
           absl::StrCat(Target(), "/../elsewhere"),
           absl::StrCat(Target(), "/daily/../../elsewhere"),
           absl::StrCat(Target(), "-evil"),  // a prefix is not a parent
           dir_.path(),                      // the target's parent
           std::string("/"),
           std::string("/../../") + dir_.File("elsewhere").substr(1),
           std::string("backups"),  // relative
           std::string(""),
       }) {
    SCOPED_TRACE(dir);
    EXPECT_THAT(backups.Create(*live_, dir, 1, kNow),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         "dir: not inside a backup target of the "
                         "configuration (backups stay in configured places "
                         "in the residency country)"));
  }
  EXPECT_FALSE(platform::PathExists(dir_.File("elsewhere")));
  EXPECT_FALSE(platform::PathExists(absl::StrCat(Target(), "-evil")));
  EXPECT_FALSE(platform::PathExists(Target()));
}

TEST_F(BackupsTest, CreateRefusesATargetInAnotherCountry) {
  Backups backups({{.path = dir_.File("frankfurt"), .country = "DE"}},
                  ledger_.get(), "KZ");
  EXPECT_THAT(backups.Create(*live_, dir_.File("frankfurt"), 1, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "dir: the backup target is in DE, outside the residency "
                       "country KZ"));
  EXPECT_FALSE(platform::PathExists(dir_.File("frankfurt")));
}

TEST_F(BackupsTest, RelativeTargetCoversNoDirectory) {
  // A target the configuration left relative must not match every absolute
  // directory.
  for (const char* target : {"backups", "./backups", ""}) {
    SCOPED_TRACE(target);
    Backups backups({{.path = target, .country = "KZ"}}, ledger_.get(), "KZ");
    EXPECT_THAT(backups.Create(*live_, dir_.File("anywhere"), 1, kNow),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  EXPECT_FALSE(platform::PathExists(dir_.File("anywhere")));
}

// --- Scrub ------------------------------------------------------------------

TEST_F(BackupsTest, ScrubAppliesNewErasuresToEveryBackupOnce) {
  Backups backups = InKz();
  const std::string first = CreateOrDie(backups, Target());
  const std::string second = CreateOrDie(backups, Target(), absl::Hours(24));
  ASSERT_NE(first, second);

  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  EXPECT_THAT(backups.Scrub(), IsOkAndHolds(2));
  for (const std::string& backup : {first, second}) {
    SCOPED_TRACE(backup);
    EXPECT_EQ(ManifestOf(backup).ledger_seq(), 1u);
    // Not only deleted: gone from the backup's files.
    EXPECT_FALSE(AnyFileContains(backup, "value-a:tok_a1"));
    std::unique_ptr<storage::Store> copy =
        OpenStore(absl::StrCat(backup, "/db"), /*create=*/false);
    ASSERT_NE(copy, nullptr);
    EXPECT_FALSE(HoldsAnythingOf(*copy, kA, kTokensA));
    EXPECT_TRUE(HoldsAllOf(*copy, kB, kTokensB));
    EXPECT_THAT(copy->Get(Table::kMeta, keys::kLedgerApplied),
                IsOkAndHolds(storage::EncodeU64(1)));
  }
  // The live store is not Scrub's business.
  EXPECT_TRUE(HoldsAllOf(*live_, kA, kTokensA));

  // Nothing new in the ledger: nothing to do.
  EXPECT_THAT(backups.Scrub(), IsOkAndHolds(0));

  ASSERT_THAT(ledger_->Append(kB, kNow, "er_b"), IsOk());
  EXPECT_THAT(backups.Scrub(), IsOkAndHolds(2));
  EXPECT_EQ(ManifestOf(first).ledger_seq(), 2u);
  std::unique_ptr<storage::Store> copy =
      OpenStore(absl::StrCat(first, "/db"), /*create=*/false);
  ASSERT_NE(copy, nullptr);
  EXPECT_FALSE(HoldsAnythingOf(*copy, kB, kTokensB));
}

TEST_F(BackupsTest, ScrubSkipsErasuresABackupWasTakenAfter) {
  // The manifest's ledger position says which erasures the backup has seen;
  // entry 1 here names a subject the live store (and so the backup) still
  // holds, so re-applying it would show.
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  Backups backups = InKz();
  const std::string backup = CreateOrDie(backups, Target());
  EXPECT_THAT(backups.Scrub(), IsOkAndHolds(0));

  ASSERT_THAT(ledger_->Append(kB, kNow, "er_b"), IsOk());
  EXPECT_THAT(backups.Scrub(), IsOkAndHolds(1));
  std::unique_ptr<storage::Store> copy =
      OpenStore(absl::StrCat(backup, "/db"), /*create=*/false);
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(HoldsAllOf(*copy, kA, kTokensA));
  EXPECT_FALSE(HoldsAnythingOf(*copy, kB, kTokensB));
}

TEST_F(BackupsTest, ScrubReachesBackupsInSubdirectoriesOfATarget) {
  Backups backups = InKz();
  const std::string nested =
      CreateOrDie(backups, absl::StrCat(Target(), "/daily/2026"));
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  EXPECT_THAT(backups.Scrub(), IsOkAndHolds(1));
  EXPECT_EQ(ManifestOf(nested).ledger_seq(), 1u);
  std::unique_ptr<storage::Store> copy =
      OpenStore(absl::StrCat(nested, "/db"), /*create=*/false);
  ASSERT_NE(copy, nullptr);
  EXPECT_FALSE(HoldsAnythingOf(*copy, kA, kTokensA));
}

TEST_F(BackupsTest, ScrubIgnoresDirectoriesThatAreNotBackups) {
  Backups backups = InKz();
  ASSERT_THAT(platform::MakeDirs(absl::StrCat(Target(), "/notes"), 0700),
              IsOk());
  // Named like a backup, but without a manifest (an interrupted Create).
  ASSERT_THAT(
      platform::MakeDirs(absl::StrCat(Target(), "/sandyq-backup-x"), 0700),
      IsOk());
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  EXPECT_THAT(backups.Scrub(), IsOkAndHolds(0));
  // A target that does not exist yet is empty.
  Backups missing({{.path = dir_.File("not-yet"), .country = "KZ"}},
                  ledger_.get(), "KZ");
  EXPECT_THAT(missing.Scrub(), IsOkAndHolds(0));
}

TEST_F(BackupsTest, ScrubRefusesABackupWithADamagedManifest) {
  Backups backups = InKz();
  const std::string backup = CreateOrDie(backups, Target());
  ASSERT_THAT(
      platform::WriteFileAtomic(absl::StrCat(backup, "/sandyq-backup.binpb"),
                                "\xff\xff", 0600),
      IsOk());
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  EXPECT_THAT(backups.Scrub(), StatusIs(absl::StatusCode::kDataLoss));
}

// --- ApplyLedger ------------------------------------------------------------

TEST_F(BackupsTest, ApplyLedgerAppliesWhatTheStoreHasNotSeen) {
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  ASSERT_THAT(ledger_->Append(kC, kNow, "er_c"), IsOk());  // not held here
  EXPECT_THAT(ApplyLedger(*live_, *ledger_, nullptr), IsOkAndHolds(1));
  EXPECT_FALSE(HoldsAnythingOf(*live_, kA, kTokensA));
  EXPECT_TRUE(HoldsAllOf(*live_, kB, kTokensB));
  EXPECT_EQ(DekCount(*live_, 1), 1);
  EXPECT_THAT(live_->Get(Table::kMeta, "ledger_applied"),
              IsOkAndHolds(storage::EncodeU64(2)));

  // Applied once: a second run finds nothing, and moves no counter.
  EXPECT_THAT(ApplyLedger(*live_, *ledger_, nullptr), IsOkAndHolds(0));
  EXPECT_EQ(DekCount(*live_, 1), 1);

  ASSERT_THAT(ledger_->Append(kB, kNow, "er_b"), IsOk());
  EXPECT_THAT(ApplyLedger(*live_, *ledger_, nullptr), IsOkAndHolds(1));
  EXPECT_FALSE(HoldsAnythingOf(*live_, kB, kTokensB));
  EXPECT_EQ(DekCount(*live_, 1), 0);
  EXPECT_THAT(live_->Get(Table::kMeta, "ledger_applied"),
              IsOkAndHolds(storage::EncodeU64(3)));
}

TEST_F(BackupsTest, ApplyLedgerStartsAfterTheStoresMark) {
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  ASSERT_THAT(ledger_->Append(kB, kNow, "er_b"), IsOk());
  storage::WriteBatch mark;
  mark.Put(Table::kMeta, keys::kLedgerApplied, storage::EncodeU64(1));
  ASSERT_THAT(live_->Write(mark, {.sync = true}), IsOk());
  EXPECT_THAT(ApplyLedger(*live_, *ledger_, nullptr), IsOkAndHolds(1));
  EXPECT_TRUE(HoldsAllOf(*live_, kA, kTokensA));
  EXPECT_FALSE(HoldsAnythingOf(*live_, kB, kTokensB));
}

TEST_F(BackupsTest, ApplyLedgerLogsEachErasureItFinds) {
  std::unique_ptr<audit::AuditLog> log = OpenLog();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  ASSERT_THAT(ledger_->Append(kC, kNow, "er_c"), IsOk());
  EXPECT_THAT(ApplyLedger(*live_, *ledger_, log.get()), IsOkAndHolds(1));

  std::vector<audit::StoredEvent> events;
  ASSERT_THAT(log->Query({},
                         [&](const audit::StoredEvent& e) {
                           if (e.event.rpc != "Audit.Checkpoint")
                             events.push_back(e);
                           return true;
                         }),
              IsOk());
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].event.identity, "sandyqd");
  EXPECT_EQ(events[0].event.rpc, "Subjects.Erase");
  EXPECT_EQ(events[0].event.subject_hash, kA);
  EXPECT_EQ(events[0].event.decision, audit::Decision::kAllowed);
  EXPECT_EQ(events[0].event.rule,
            "re-applied from the erasure ledger; receipt er_a; 2 tokens");
}

TEST_F(BackupsTest, ApplyLedgerKeepsAPersonCollectedAgainAfterTheErasure) {
  // The ledger says A was erased at kNow; what the store holds of A now was
  // collected an hour later (with a new key and a new consent).
  const int64_t later = absl::ToUnixMicros(kNow + absl::Hours(1));
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  ASSERT_THAT(ApplyLedger(*live_, *ledger_, nullptr), IsOkAndHolds(1));
  PlantSubject(*live_, kA, kTokensC, "value-a-again", 1, later);
  storage::WriteBatch reset;  // as a restore does
  reset.Delete(Table::kMeta, keys::kLedgerApplied);
  ASSERT_THAT(live_->Write(reset, {.sync = true}), IsOk());

  EXPECT_THAT(ApplyLedger(*live_, *ledger_, nullptr), IsOkAndHolds(0));
  EXPECT_TRUE(HoldsAllOf(*live_, kA, kTokensC, later));
}

// --- RestoreBackup ----------------------------------------------------------

TEST_F(BackupsTest, RestoreBringsBackFieldsButNoErasedSubject) {
  std::unique_ptr<audit::AuditLog> log = OpenLog();
  ASSERT_NE(log, nullptr);
  audit::Event before;
  before.identity = "checkout";
  before.rpc = "Tokenizer.Tokenize";
  ASSERT_THAT(log->CommitAndWait({}, {before}), IsOk());

  // A backup that no Scrub will reach (the restore must do the work).
  Backups backups({{.path = Target(), .country = "KZ"}}, ledger_.get(), "KZ");
  const std::string backup = CreateOrDie(backups, Target());

  // After the backup: A is erased, C arrives, B's value and consents change.
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  ASSERT_THAT(ApplyLedger(*live_, *ledger_, log.get()), IsOkAndHolds(1));
  PlantSubject(*live_, kC, kTokensC, "value-c");
  PlantSubject(*live_, kB, kTokensB, "value-b-rectified");
  storage::WriteBatch consent;
  consent.Put(Table::kConsents, keys::ConsentKey(kB, "order_fulfilment"), "x");
  ASSERT_THAT(live_->Write(consent, {.sync = true}), IsOk());
  const int64_t deks = DekCount(*live_, 1);
  const uint64_t events_before = log->last_seq();

  ASSERT_THAT(RestoreBackup(*live_, backup, *ledger_, *log), IsOk());

  // A stays erased: the ledger was re-applied to the restored fields.
  EXPECT_FALSE(HoldsAnythingOf(*live_, kA, kTokensA));
  // B's field is the backup's; its subject record and consents are live's.
  absl::StatusOr<std::string> b1 = live_->Get(Table::kFields, "tok_b1");
  ASSERT_THAT(b1, IsOk());
  pb::FieldRecord field;
  ASSERT_TRUE(field.ParseFromString(*b1));
  EXPECT_EQ(field.ciphertext(), "value-b:tok_b1");
  EXPECT_TRUE(HoldsAllOf(*live_, kB, kTokensB));
  EXPECT_TRUE(
      live_->Get(Table::kConsents, keys::ConsentKey(kB, "order_fulfilment"))
          .ok());
  // C's key is kept; its field (newer than the backup) is not restored.
  EXPECT_TRUE(live_->Get(Table::kSubjects, kC).ok());
  EXPECT_FALSE(live_->Get(Table::kFields, "tok_c1").ok());
  EXPECT_FALSE(
      live_->Get(Table::kIndex, keys::SubjectValueKey(kC, subject_test::KeyOf('d', "tok_c1")))
          .ok());
  // Keys and counters are live's; the re-applied erasure found no key to
  // count down twice.
  EXPECT_EQ(DekCount(*live_, 1), deks);
  EXPECT_THAT(live_->Get(Table::kMeta, keys::kLedgerApplied),
              IsOkAndHolds(storage::EncodeU64(1)));

  // The log is never rolled back; the restore and the re-applied erasure
  // are in it.
  std::vector<audit::StoredEvent> events;
  ASSERT_THAT(log->Query({},
                         [&](const audit::StoredEvent& e) {
                           if (e.event.rpc != "Audit.Checkpoint")
                             events.push_back(e);
                           return true;
                         }),
              IsOk());
  EXPECT_GT(log->last_seq(), events_before);
  ASSERT_THAT(events, SizeIs(4));
  EXPECT_EQ(events[0].event.rpc, "Tokenizer.Tokenize");
  EXPECT_EQ(events[1].event.rpc, "Subjects.Erase");  // the first application
  EXPECT_EQ(events[2].event.rpc, "Admin.Restore");
  EXPECT_EQ(events[2].event.identity, "sandyqd");
  EXPECT_EQ(events[2].event.decision, audit::Decision::kAllowed);
  EXPECT_THAT(events[2].event.rule,
              StartsWith(absl::StrCat("field data restored from ", backup,
                                      " (backup at audit event 7); ")));
  EXPECT_EQ(events[3].event.rpc, "Subjects.Erase");
  EXPECT_EQ(events[3].event.subject_hash, kA);
  EXPECT_THAT(events[3].event.rule, HasSubstr("receipt er_a"));
  absl::StatusOr<audit::AuditLog::VerifyResult> verified = log->Verify();
  ASSERT_THAT(verified, IsOk());
  EXPECT_TRUE(verified->ok);
}

TEST_F(BackupsTest, RestoreOfAFormat1BackupWritesTheIndexInFormat2) {
  std::unique_ptr<audit::AuditLog> log = OpenLog();
  ASSERT_NE(log, nullptr);
  const std::map<std::string, std::string> format2 =
      TableContents(*live_, Table::kIndex);
  // A backup taken before the vault's index was rewritten (format 1).
  subject_test::RewriteIndexToFormat1(*live_);
  Backups backups({{.path = Target(), .country = "KZ"}}, ledger_.get(), "KZ");
  const std::string backup = CreateOrDie(backups, Target());
  ASSERT_THAT(MigrateIndexToFormat2(*live_), IsOk());
  // Restored into a vault still of format 1 (offline, by this build).
  pb::VaultRecord vault;
  vault.set_format_version(1);
  storage::WriteBatch record;
  record.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  ASSERT_THAT(live_->Write(record, {.sync = true}), IsOk());

  ASSERT_THAT(RestoreBackup(*live_, backup, *ledger_, *log), IsOk());
  EXPECT_EQ(TableContents(*live_, Table::kIndex), format2);
  // Builds of format 1 now refuse it; this one's next start clears the mark.
  ASSERT_TRUE(vault.ParseFromString(
      live_->Get(Table::kMeta, keys::kVaultRecord).value()));
  EXPECT_EQ(vault.format_version(), 2u);
  EXPECT_TRUE(vault.index_migration_pending());
  EXPECT_TRUE(HoldsAllOf(*live_, kA, kTokensA, /*created_micros=*/1));
  EXPECT_TRUE(HoldsAllOf(*live_, kB, kTokensB, /*created_micros=*/1));
}

// Restored records are of this build's format, and may be past their
// retention period.
TEST_F(BackupsTest, RestoreMarksAFormat2VaultFormat3AndCallsForARetentionPass) {
  std::unique_ptr<audit::AuditLog> log = OpenLog();
  ASSERT_NE(log, nullptr);
  Backups backups({{.path = Target(), .country = "KZ"}}, ledger_.get(), "KZ");
  const std::string backup = CreateOrDie(backups, Target());
  pb::VaultRecord vault;
  vault.set_format_version(2);
  storage::WriteBatch record;
  record.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  record.Put(Table::kMeta, keys::kRetentionPass, storage::EncodeU64(1));
  ASSERT_THAT(live_->Write(record, {.sync = true}), IsOk());

  ASSERT_THAT(RestoreBackup(*live_, backup, *ledger_, *log), IsOk());
  ASSERT_TRUE(vault.ParseFromString(
      live_->Get(Table::kMeta, keys::kVaultRecord).value()));
  EXPECT_EQ(vault.format_version(), kCurrentFormatVersion);
  EXPECT_FALSE(vault.index_migration_pending());
  EXPECT_TRUE(absl::IsNotFound(
      live_->Get(Table::kMeta, keys::kRetentionPass).status()));
  EXPECT_TRUE(HoldsAllOf(*live_, kA, kTokensA, /*created_micros=*/1));
}

TEST_F(BackupsTest, RestoreOfABackupOfALaterFormatChangesNothing) {
  std::unique_ptr<audit::AuditLog> log = OpenLog();
  ASSERT_NE(log, nullptr);
  pb::VaultRecord vault;
  vault.set_format_version(kCurrentFormatVersion + 1);
  storage::WriteBatch record;
  record.Put(Table::kMeta, keys::kVaultRecord, vault.SerializeAsString());
  ASSERT_THAT(live_->Write(record, {.sync = true}), IsOk());
  Backups backups({{.path = Target(), .country = "KZ"}}, ledger_.get(), "KZ");
  const std::string backup = CreateOrDie(backups, Target());
  PlantSubject(*live_, kC, kTokensC, "value-c");  // after the backup
  const std::map<std::string, std::string> fields = TableContents(*live_, Table::kFields);

  EXPECT_THAT(RestoreBackup(*live_, backup, *ledger_, *log),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       absl::StrCat("backup: vault format version ",
                                    kCurrentFormatVersion + 1,
                                    " is not supported (this build knows up to ",
                                    kCurrentFormatVersion, ")")));
  EXPECT_EQ(TableContents(*live_, Table::kFields), fields);
}

TEST_F(BackupsTest, RestoreKeepsAPersonCollectedAgainAfterTheErasure) {
  std::unique_ptr<audit::AuditLog> log = OpenLog();
  ASSERT_NE(log, nullptr);
  Backups backups({{.path = Target(), .country = "KZ"}}, ledger_.get(), "KZ");
  const std::string backup = CreateOrDie(backups, Target());

  // A is erased, then comes back: a new key, a new consent, a legal hold.
  ASSERT_THAT(ledger_->Append(kA, kNow, "er_a"), IsOk());
  ASSERT_THAT(ApplyLedger(*live_, *ledger_, log.get()), IsOkAndHolds(1));
  const int64_t later = absl::ToUnixMicros(kNow + absl::Hours(1));
  PlantSubject(*live_, kA, kTokensC, "value-a-again", 1, later);
  absl::StatusOr<std::string> record = live_->Get(Table::kSubjects, kA);
  ASSERT_THAT(record, IsOk());
  pb::SubjectRecord subject;
  ASSERT_TRUE(subject.ParseFromString(*record));
  subject.add_holds()->set_hold_id("hold_1");
  storage::WriteBatch hold;
  hold.Put(Table::kSubjects, kA, subject.SerializeAsString());
  ASSERT_THAT(live_->Write(hold, {.sync = true}), IsOk());
  const int64_t deks = DekCount(*live_, 1);

  ASSERT_THAT(RestoreBackup(*live_, backup, *ledger_, *log), IsOk());

  // The old values stay erased...
  for (const std::string& token : kTokensA) {
    EXPECT_FALSE(live_->Get(Table::kFields, token).ok()) << token;
  }
  // ...and the person as they are now keeps their key, consent and hold.
  record = live_->Get(Table::kSubjects, kA);
  ASSERT_THAT(record, IsOk());
  ASSERT_TRUE(subject.ParseFromString(*record));
  EXPECT_EQ(subject.holds_size(), 1);
  EXPECT_TRUE(
      live_->Get(Table::kConsents, keys::ConsentKey(kA, "marketing")).ok());
  EXPECT_EQ(DekCount(*live_, 1), deks);
}

TEST_F(BackupsTest, RestoreFromAMissingBackupChangesNothing) {
  std::unique_ptr<audit::AuditLog> log = OpenLog();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(
      RestoreBackup(*live_, dir_.File("no-backup"), *ledger_, *log).ok());
  EXPECT_TRUE(HoldsAllOf(*live_, kA, kTokensA));
  EXPECT_TRUE(HoldsAllOf(*live_, kB, kTokensB));
}

// --- Through the Vault ------------------------------------------------------

TEST(VaultBackupTest, BackupAndEraseThroughTheVaultReachTheBackup) {
  ScopedTempDir dir;
  std::unique_ptr<storage::Store> store = OpenStore(dir.File("live"));
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::unique_ptr<ErasureLedger>> ledger =
      ErasureLedger::Open(dir.File("erasures"));
  ASSERT_THAT(ledger, IsOk());
  absl::StatusOr<std::string> text =
      platform::ReadFile("deploy/dev/policy.textproto");
  ASSERT_THAT(text, IsOk());
  absl::StatusOr<std::shared_ptr<const policy::Policy>> policy =
      policy::Policy::Parse(*text, "policy.textproto");
  ASSERT_THAT(policy, IsOk());
  FakeClock clock;
  ::sandyq::testing::FakeRandom random(7);
  ::sandyq::testing::FakeMasterKey master;
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
      audit::AuditLog::Open(store.get(), &clock, {});
  ASSERT_THAT(log, IsOk());
  const std::string target = dir.File("backups");
  absl::StatusOr<std::unique_ptr<Vault>> vault =
      Vault::Open({.store = store.get(),
                   .log = log->get(),
                   .master = &master,
                   .clock = &clock,
                   .random = &random,
                   .policy = *policy,
                   .ledger = ledger->get()},
                  {.background_key_maintenance = false,
                   .backup_targets = {{.path = target, .country = "KZ"}}});
  ASSERT_THAT(vault, IsOk());

  TokenizeInput input;
  input.subject_id = "crm:test-0001";
  input.field_type = 4;  // phone
  input.value = "+77012345678";
  absl::StatusOr<std::string> token = Await<std::string>([&](auto done) {
    (*vault)->Tokenize({"checkout"}, input, std::move(done));
  });
  ASSERT_THAT(token, IsOk());

  // Only key custodians make backups, and only inside a target.
  EXPECT_THAT(Await<BackupInfo>([&](auto done) {
                (*vault)->Backup({"dpo"}, target, std::move(done));
              }),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Await<BackupInfo>([&](auto done) {
                (*vault)->Backup({"keyadmin"}, dir.File("elsewhere"),
                                 std::move(done));
              }),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  absl::StatusOr<BackupInfo> backup = Await<BackupInfo>([&](auto done) {
    (*vault)->Backup({"keyadmin"}, target, std::move(done));
  });
  ASSERT_THAT(backup, IsOk());
  EXPECT_THAT(backup->path,
              StartsWith(absl::StrCat(target, "/sandyq-backup-")));
  EXPECT_EQ(ManifestOf(backup->path).ledger_seq(), 0u);

  absl::StatusOr<EraseResult> erased = Await<EraseResult>([&](auto done) {
    (*vault)->Erase({"dpo"}, "crm:test-0001", "request 18", std::move(done));
  });
  ASSERT_THAT(erased, IsOk());
  // Erase scrubbed the backup before answering.
  EXPECT_EQ(ManifestOf(backup->path).ledger_seq(), 1u);
  std::unique_ptr<storage::Store> copy =
      OpenStore(absl::StrCat(backup->path, "/db"), /*create=*/false);
  ASSERT_NE(copy, nullptr);
  EXPECT_FALSE(copy->Get(Table::kFields, *token).ok());
  EXPECT_EQ(subject_test::TableContents(*copy, Table::kSubjects).size(), 0u);
}

}  // namespace
}  // namespace sandyq::vault
