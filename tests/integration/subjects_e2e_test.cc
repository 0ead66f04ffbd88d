// Data-subject rights end to end (Law 94-V): consent and its withdrawal,
// cross-border release, blocking, holds, rectification, erasure by
// crypto-shredding, backups that honour erasure, retention, and a report that
// tells the truth about every access.

#include <sys/wait.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/storage/store.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPerson[] = "crm:life-7001";

v1::RecordConsentRequest Consent(const std::string& purpose, bool granted,
                                 bool cross_border = false) {
  v1::RecordConsentRequest r;
  r.set_subject_id(kPerson);
  r.set_purpose(purpose);
  r.set_granted(granted);
  r.set_cross_border(cross_border);
  r.set_policy_version("2026-01");
  r.set_channel("web-form");
  return r;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Files under `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir,
                                         const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() &&
        Slurp(e.path()).find(needle) != std::string::npos) {
      hits.push_back(e.path());
    }
  }
  return hits;
}

class SubjectsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir("subjects");
    Start();
  }
  void Start() {
    auto server = ServerProcess::StartDev(dir_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::unique_ptr<client::Client> As(const std::string& identity) {
    auto c = server_->ClientFor(identity);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }
  std::string Tokenize(v1::FieldType type, const std::string& value,
                       const std::string& source, const std::string& purpose = "") {
    auto t = As("checkout")->Tokenize(kPerson, type, value, source, purpose);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.value_or("");
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(SubjectsE2eTest, WithdrawnConsentStopsMarketingAtOnce) {
  const std::string email =
      Tokenize(v1::FIELD_TYPE_EMAIL, "person.test@example.kz", "app", "marketing");
  auto marketing = As("marketing");
  auto dpo = As("dpo");
  EXPECT_THAT(marketing->Detokenize(email, "marketing"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(dpo->RecordConsent(Consent("marketing", true)).ok());
  auto served = marketing->Detokenize(email, "marketing");
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value(), "person.test@example.kz");
  ASSERT_TRUE(dpo->RecordConsent(Consent("marketing", false)).ok());
  auto refused = marketing->Detokenize(email, "marketing");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("consent"));
  // Consents are the DPO's: nobody else records them.
  EXPECT_THAT(marketing->RecordConsent(Consent("marketing", true)),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(SubjectsE2eTest, ForeignPartnerNeedsCrossBorderConsentAndIsLoggedWithItsCountry) {
  const std::string name = Tokenize(v1::FIELD_TYPE_FULL_NAME, "Әлия Тестова", "web");
  auto partner = As("partner-de");
  auto dpo = As("dpo");
  EXPECT_THAT(partner->Detokenize(name, "order_fulfilment"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Consent for the purpose without cross-border transfer is not enough.
  ASSERT_TRUE(dpo->RecordConsent(Consent("order_fulfilment", true, false)).ok());
  EXPECT_THAT(partner->Detokenize(name, "order_fulfilment"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(dpo->RecordConsent(Consent("order_fulfilment", true, true)).ok());
  auto served = partner->Detokenize(name, "order_fulfilment");
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value(), "Әлия Тестова");

  v1::AuditQueryRequest q;
  q.set_subject_id(kPerson);
  q.set_identity("partner-de");
  std::vector<v1::AuditEvent> events;
  ASSERT_TRUE(As("auditor")
                  ->QueryAudit(q,
                               [&](const v1::AuditEvent& e) {
                                 events.push_back(e);
                                 return true;
                               })
                  .ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].decision(), v1::DECISION_REVEALED_FULL);
  EXPECT_EQ(events[2].country(), "DE");
  EXPECT_EQ(events[2].organisation(), "partner");
  EXPECT_THAT(events[2].rule(), HasSubstr("cross-border"));
  EXPECT_THAT(events[0].rule(), HasSubstr("no-cross-border-consent"));
}

TEST_F(SubjectsE2eTest, BlockedSubjectIsServedOnlyForLegalRequests) {
  const std::string name = Tokenize(v1::FIELD_TYPE_FULL_NAME, "Әлия Тестова", "web");
  auto dpo = As("dpo");
  ASSERT_TRUE(dpo->Block(kPerson, "accuracy disputed, ticket 42").ok());
  EXPECT_THAT(As("support")->Detokenize(name, "customer_support"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto legal = As("legal")->Detokenize(name, "legal_request", "court order 2-77/2026");
  ASSERT_TRUE(legal.ok()) << legal.status();
  EXPECT_EQ(legal->value(), "Әлия Тестова");
  EXPECT_THAT(As("checkout")->Tokenize(kPerson, v1::FIELD_TYPE_IIN, "850315300019"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Other people are not affected.
  EXPECT_TRUE(As("checkout")
                  ->Tokenize("crm:someone-else", v1::FIELD_TYPE_IIN, "850315300019")
                  .ok());
  ASSERT_TRUE(dpo->Unblock(kPerson, "resolved").ok());
  EXPECT_TRUE(As("support")->Detokenize(name, "customer_support").ok());
}

TEST_F(SubjectsE2eTest, RectifyKeepsTheTokenAndReplacesTheValue) {
  const std::string phone = Tokenize(v1::FIELD_TYPE_PHONE, "+77011112233", "web");
  auto dpo = As("dpo");
  ASSERT_TRUE(dpo->Rectify(phone, "8 (701) 555-66-77", "typo at collection").ok());
  auto value = dpo->Detokenize(phone, "subject_access_request");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->value(), "+77015556677");
  auto old = dpo->Lookup(v1::FIELD_TYPE_PHONE, "+77011112233", "subject_access_request");
  ASSERT_TRUE(old.ok());
  EXPECT_THAT(*old, IsEmpty());
  auto found = dpo->Lookup(v1::FIELD_TYPE_PHONE, "+77015556677", "subject_access_request");
  ASSERT_TRUE(found.ok());
  EXPECT_THAT(*found, ::testing::ElementsAre(phone));
  auto bad = dpo->Rectify(phone, "not a phone", "typo");
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(bad.message()), ::testing::Not(HasSubstr("not a phone")));
  EXPECT_THAT(As("support")->Rectify(phone, "+77015556677", "x"),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(SubjectsE2eTest, HoldBlocksErasureThenErasureShredsLiveDataAndBackups) {
  const std::vector<std::tuple<v1::FieldType, std::string, std::string>> values = {
      {v1::FIELD_TYPE_FULL_NAME, "Жаннұр Өшірілетін", "web"},
      {v1::FIELD_TYPE_PHONE, "+77019998877", "app"},
      {v1::FIELD_TYPE_EMAIL, "erase.me@example.kz", "app"},
      {v1::FIELD_TYPE_CARD_NUMBER, "4000056655665556", "checkout"}};
  std::vector<std::string> tokens;
  for (const auto& [type, value, source] : values) {
    tokens.push_back(Tokenize(type, value, source));
  }
  auto dpo = As("dpo");
  auto hold = dpo->SetHold(kPerson, "tax audit 2026");
  ASSERT_TRUE(hold.ok()) << hold.status();
  auto refused = dpo->Erase(kPerson, "person asked");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("hold"));

  // A backup taken before the erasure.
  auto backup = As("keyadmin")->Backup(dir_ + "/backups");
  ASSERT_TRUE(backup.ok()) << backup.status();
  EXPECT_THAT(As("dpo")->Backup(dir_ + "/backups"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(As("keyadmin")->Backup("/tmp"),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // What an attacker would need to read the person back: the wrapped data
  // key and the ciphertexts, as the backup holds them now.
  std::vector<std::string> secrets;
  {
    auto copy = storage::OpenRocksDbStore(
        {.path = backup->path() + "/db", .create_if_missing = false});
    ASSERT_TRUE(copy.ok()) << copy.status();
    for (const std::string& token : tokens) {
      auto field = (*copy)->Get(storage::Table::kFields, token);
      ASSERT_TRUE(field.ok());
      internal::v1::FieldRecord record;
      ASSERT_TRUE(record.ParseFromString(*field));
      secrets.push_back(record.ciphertext());
      if (secrets.size() == 1) {
        auto subject = (*copy)->Get(storage::Table::kSubjects, record.subject_hash());
        ASSERT_TRUE(subject.ok());
        internal::v1::SubjectRecord s;
        ASSERT_TRUE(s.ParseFromString(*subject));
        secrets.push_back(s.wrapped_dek());
      }
    }
  }

  ASSERT_TRUE(dpo->ReleaseHold(kPerson, "audit closed").ok());
  auto erased = dpo->Erase(kPerson, "person asked (request 2026-77)");
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_THAT(erased->receipt_id(), ::testing::StartsWith("er_"));
  EXPECT_EQ(erased->tokens_erased(), tokens.size());
  for (const std::string& token : tokens) {
    EXPECT_THAT(dpo->Detokenize(token, "subject_access_request"),
                StatusIs(absl::StatusCode::kNotFound));
  }
  EXPECT_THAT(dpo->Erase(kPerson, "again"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_EQ(server_->Stop(SIGTERM), 0);

  // Neither the data directory nor the backup holds the key or a ciphertext
  // (or any plaintext) of the person any more.
  for (const std::string& where : {dir_ + "/db", backup->path()}) {
    for (const std::string& secret : secrets) {
      EXPECT_THAT(FilesContaining(where, secret), IsEmpty()) << where;
    }
    for (const auto& [type, value, source] : values) {
      EXPECT_THAT(FilesContaining(where, value), IsEmpty()) << where;
    }
  }
  // The ledger (apart from the data) names the erasure by receipt only.
  const std::string ledger = Slurp(dir_ + "/erasures.ledger");
  EXPECT_THAT(ledger, HasSubstr(erased->receipt_id()));
  EXPECT_THAT(ledger, ::testing::Not(HasSubstr(kPerson)));

  // Restoring the older backup does not bring the person back.
  std::string output;
  ASSERT_EQ(ServerProcess::RunToExit({"--config", dir_ + "/sandyqd.textproto",
                                      "--restore_backup", backup->path()},
                                     &output),
            0)
      << output;
  Start();
  for (const std::string& token : tokens) {
    EXPECT_THAT(As("dpo")->Detokenize(token, "subject_access_request"),
                StatusIs(absl::StatusCode::kNotFound));
  }
  auto lookup = As("dpo")->Lookup(v1::FIELD_TYPE_PHONE, "+77019998877",
                                  "subject_access_request");
  ASSERT_TRUE(lookup.ok());
  EXPECT_THAT(*lookup, IsEmpty());
  auto report = As("dpo")->Report(kPerson);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->fields_size(), 0);
  auto verify = As("auditor")->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->reason();
}

TEST_F(SubjectsE2eTest, RestoreOfAnUnscrubbedOlderBackupReappliesTheLedger) {
  const std::string phone = Tokenize(v1::FIELD_TYPE_PHONE, "+77014443322", "web");
  const std::string other =
      As("checkout")->Tokenize("crm:stays", v1::FIELD_TYPE_PHONE, "+77010001122").value();
  auto backup = As("keyadmin")->Backup(dir_ + "/backups");
  ASSERT_TRUE(backup.ok()) << backup.status();
  ASSERT_EQ(server_->Stop(SIGTERM), 0);
  // Keep an untouched copy of the backup, as if it had been taken offline
  // before the erasure (out of reach of the scrub).
  const std::string offline = dir_ + "/backups/sandyq-backup-offline-copy";
  ASSERT_EQ(std::system(absl::StrCat("cp -a '", backup->path(), "' '", offline,
                                     "' && rm -f '", offline,
                                     "/sandyq-backup.binpb'")
                            .c_str()),
            0);
  Start();
  ASSERT_TRUE(As("dpo")->Erase(kPerson, "person asked").ok());
  ASSERT_EQ(server_->Stop(SIGTERM), 0);
  // Give the copy its manifest back (ledger position 0: it saw no erasure).
  {
    internal::v1::BackupManifest manifest;
    manifest.set_ledger_seq(0);
    manifest.set_residency_country("KZ");
    std::ofstream(offline + "/sandyq-backup.binpb") << manifest.SerializeAsString();
  }
  std::string output;
  ASSERT_EQ(ServerProcess::RunToExit({"--config", dir_ + "/sandyqd.textproto",
                                      "--restore_backup", offline},
                                     &output),
            0)
      << output;
  Start();
  EXPECT_THAT(As("dpo")->Detokenize(phone, "subject_access_request"),
              StatusIs(absl::StatusCode::kNotFound));
  auto kept = As("dpo")->Detokenize(other, "subject_access_request");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->value(), "+77010001122");
  bool logged = false;
  ASSERT_TRUE(As("auditor")
                  ->QueryAudit({},
                               [&](const v1::AuditEvent& e) {
                                 logged |= e.rpc() == "Subjects.Erase" &&
                                           e.identity() == "sandyqd" &&
                                           e.rule().find("re-applied") !=
                                               std::string::npos;
                                 return true;
                               })
                  .ok());
  EXPECT_TRUE(logged);
}

TEST_F(SubjectsE2eTest, ReportListsEveryAccessWithIdentityCountryAndPurpose) {
  const std::string name = Tokenize(v1::FIELD_TYPE_FULL_NAME, "Әлия Тестова", "web");
  const std::string phone = Tokenize(v1::FIELD_TYPE_PHONE, "+77011112233", "app");
  const std::string card = Tokenize(v1::FIELD_TYPE_CARD_NUMBER, "4111111111111111", "checkout");
  auto dpo = As("dpo");
  ASSERT_TRUE(dpo->RecordConsent(Consent("order_fulfilment", true, true)).ok());
  // The accesses this test makes: (identity, purpose, decision).
  std::multiset<std::tuple<std::string, std::string, int>> made;
  auto reveal = [&](const std::string& who, const std::string& token,
                    const std::string& purpose, v1::Decision expect,
                    const std::string& justification = "") {
    auto r = As(who)->Detokenize(token, purpose, justification);
    EXPECT_EQ(r.ok(), expect == v1::DECISION_REVEALED_FULL ||
                          expect == v1::DECISION_REVEALED_MASKED)
        << who << " " << purpose << " " << r.status();
    made.insert({who, purpose, expect});
  };
  reveal("support", phone, "customer_support", v1::DECISION_REVEALED_MASKED);
  reveal("support", name, "customer_support", v1::DECISION_REVEALED_FULL);
  reveal("checkout", card, "payment_processing", v1::DECISION_REVEALED_FULL);
  reveal("partner-de", name, "order_fulfilment", v1::DECISION_REVEALED_FULL);
  reveal("marketing", phone, "marketing", v1::DECISION_DENIED);
  reveal("legal", card, "legal_request", v1::DECISION_REVEALED_FULL, "court 5");

  auto report = dpo->Report(kPerson);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->residency_country(), "KZ");
  ASSERT_EQ(report->fields_size(), 3);
  std::set<std::string> sources;
  for (const auto& f : report->fields()) {
    sources.insert(f.source());
    if (f.type() == v1::FIELD_TYPE_CARD_NUMBER) {
      EXPECT_EQ(f.retention_action(), "depersonalize");
      EXPECT_EQ(f.retention_deadline().seconds() - f.created_at().seconds(),
                1095 * 24 * 3600);
    }
  }
  EXPECT_EQ(sources, (std::set<std::string>{"web", "app", "checkout"}));
  ASSERT_EQ(report->consents_size(), 1);
  EXPECT_TRUE(report->consents(0).cross_border());
  EXPECT_EQ(report->consents(0).channel(), "web-form");

  std::multiset<std::tuple<std::string, std::string, int>> reported;
  for (const auto& a : report->accesses()) {
    if (a.rpc() != "Tokenizer.Detokenize") continue;
    reported.insert({a.identity(), a.purpose(), a.decision()});
    if (a.identity() == "partner-de") {
      EXPECT_EQ(a.country(), "DE");
      EXPECT_EQ(a.organisation(), "partner");
    } else {
      EXPECT_EQ(a.country(), "KZ");
    }
  }
  EXPECT_EQ(reported, made);
  int tokenizes = 0, consents = 0, reports = 0;
  for (const auto& a : report->accesses()) {
    tokenizes += a.rpc() == "Tokenizer.Tokenize";
    consents += a.rpc() == "Subjects.RecordConsent";
    reports += a.rpc() == "Subjects.Report";
  }
  EXPECT_EQ(tokenizes, 3);
  EXPECT_EQ(consents, 1);
  EXPECT_EQ(reports, 1);  // the report lists itself
}

TEST_F(SubjectsE2eTest, RetentionDestroysOrDepersonalizesAndRespectsHolds) {
  // A policy whose retention periods are seconds long.
  ASSERT_EQ(server_->Stop(SIGTERM), 0);
  std::ofstream(dir_ + "/policy.textproto.new")
      << absl::StrReplaceAll(Slurp(dir_ + "/policy.textproto"),
                             {{"\"1095d\"", "\"1s\""}, {"\"365d\"", "\"1s\""}});
  ASSERT_EQ(std::rename((dir_ + "/policy.textproto.new").c_str(),
                        (dir_ + "/policy.textproto").c_str()),
            0);
  Start();
  const std::string card = Tokenize(v1::FIELD_TYPE_CARD_NUMBER, "4111111111111111", "checkout");
  const std::string email =
      Tokenize(v1::FIELD_TYPE_EMAIL, "promo.person@example.kz", "app", "marketing");
  const std::string held_card =
      As("checkout")->Tokenize("crm:on-hold", v1::FIELD_TYPE_CARD_NUMBER,
                               "5555555555554444").value();
  auto dpo = As("dpo");
  ASSERT_TRUE(dpo->SetHold("crm:on-hold", "litigation").ok());
  // Wait until the one-second periods have passed for the three values.
  v1::ApplyRetentionResponse applied;
  for (absl::Time deadline = absl::Now() + absl::Seconds(30);;) {
    auto r = dpo->ApplyRetention();
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->destroyed() + r->depersonalized() >= 2) {
      applied = *r;
      break;
    }
    ASSERT_LT(absl::Now(), deadline);
    absl::SleepFor(absl::Milliseconds(200));  // waiting for the period, not timing
  }
  EXPECT_EQ(applied.depersonalized(), 1u);
  EXPECT_EQ(applied.destroyed(), 1u);
  EXPECT_EQ(applied.skipped_for_holds(), 1u);
  EXPECT_THAT(dpo->Detokenize(card, "subject_access_request"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(dpo->Detokenize(email, "subject_access_request"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(dpo->Detokenize(held_card, "subject_access_request").ok());
  auto report = dpo->Report(kPerson);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->fields_size(), 1);  // the e-mail is gone, the card's token stays
  EXPECT_EQ(report->fields(0).token(), card);
  EXPECT_TRUE(report->fields(0).depersonalized());
  int retention_events = 0;
  for (const auto& a : report->accesses()) {
    retention_events += a.rpc() == "Subjects.Retention";
  }
  EXPECT_EQ(retention_events, 2);
}

TEST(SubjectsConfigE2eTest, BackupTargetOutsideTheResidencyCountryIsRefused) {
  const std::string dir = NewTempDir("backup-abroad");
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok());
    (*server)->Stop(SIGTERM);
  }
  std::ofstream(dir + "/prod.textproto") << absl::StrReplaceAll(
      Slurp(dir + "/sandyqd.textproto"),
      {{"backups { targets { path: \"backups\" country: \"KZ\" } }",
        "backups { targets { path: \"backups\" country: \"KZ\" }\n"
        "          targets { path: \"/mnt/frankfurt\" country: \"DE\" } }"}});
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit({"--config", dir + "/prod.textproto"}, &output), 1);
  EXPECT_THAT(output, HasSubstr("backups.targets[1].country"));
  EXPECT_THAT(output, HasSubstr("residency country KZ"));
}

}  // namespace
}  // namespace sandyq::testing
