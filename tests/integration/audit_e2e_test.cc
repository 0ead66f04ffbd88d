// The access log end to end: queries through the real server, and tampering
// with the stored log detected by Audit.Verify after a restart.

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/crypto/hash.h"
#include "server/storage/encoding.h"
#include "server/storage/store.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using google::protobuf::util::TimeUtil;

std::vector<v1::AuditEvent> Query(client::Client& auditor,
                                  const v1::AuditQueryRequest& request) {
  std::vector<v1::AuditEvent> events;
  absl::Status s = auditor.QueryAudit(request, [&](const v1::AuditEvent& e) {
    events.push_back(e);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return events;
}

// Starts a vault, runs a small workload, returns the server.
std::unique_ptr<ServerProcess> StartWithWorkload(const std::string& dir) {
  auto server = ServerProcess::StartDev(dir);
  EXPECT_TRUE(server.ok()) << server.status();
  auto checkout = *(*server)->ClientFor("checkout");
  auto support = *(*server)->ClientFor("support");
  for (int i = 0; i < 5; ++i) {
    auto token = checkout->Tokenize(absl::StrCat("e2e:audit-", i),
                                    v1::FIELD_TYPE_PHONE,
                                    absl::StrCat("+7701555000", i));
    EXPECT_TRUE(token.ok());
    EXPECT_TRUE(support->Detokenize(*token, "customer_support").ok());
  }
  return std::move(*server);
}

TEST(AuditE2eTest, QueryFiltersBySubjectIdentityTimeAndLimit) {
  auto server = StartWithWorkload(NewTempDir("audit-query"));
  auto auditor = *server->ClientFor("auditor");

  std::vector<v1::AuditEvent> all = Query(*auditor, {});
  // Vault.Create + 5 x (Tokenize, Detokenize); the Query itself is appended
  // once the query is authorized, before events are read.
  ASSERT_GE(all.size(), 11u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq(), all[i - 1].seq() + 1);
    EXPECT_EQ(all[i].prev_hash(), all[i - 1].hash());
    EXPECT_GE(TimeUtil::TimestampToMicroseconds(all[i].time()),
              TimeUtil::TimestampToMicroseconds(all[i - 1].time()));
  }

  v1::AuditQueryRequest by_subject;
  by_subject.set_subject_id("e2e:audit-3");
  std::vector<v1::AuditEvent> subject_events = Query(*auditor, by_subject);
  ASSERT_EQ(subject_events.size(), 3u);  // tokenize, detokenize, this query
  EXPECT_EQ(subject_events[0].rpc(), "Tokenizer.Tokenize");
  EXPECT_EQ(subject_events[1].rpc(), "Tokenizer.Detokenize");
  EXPECT_EQ(subject_events[1].identity(), "support");
  EXPECT_EQ(subject_events[1].decision(), v1::DECISION_REVEALED_MASKED);
  EXPECT_EQ(subject_events[2].rpc(), "Audit.Query");
  for (const auto& e : subject_events) {
    EXPECT_EQ(e.subject_hash(), subject_events[0].subject_hash());
    EXPECT_EQ(e.subject_hash().size(), 64u);
  }

  v1::AuditQueryRequest by_identity;
  by_identity.set_identity("support");
  std::vector<v1::AuditEvent> support_events = Query(*auditor, by_identity);
  ASSERT_EQ(support_events.size(), 5u);
  for (const auto& e : support_events) EXPECT_EQ(e.purpose(), "customer_support");

  v1::AuditQueryRequest limited;
  limited.set_limit(4);
  EXPECT_EQ(Query(*auditor, limited).size(), 4u);

  // [time of event 3, time of event 6): events are timestamped in commit
  // order, so the window holds events whose time falls inside it.
  v1::AuditQueryRequest window;
  *window.mutable_since() = all[2].time();
  *window.mutable_until() = all[5].time();
  for (const auto& e : Query(*auditor, window)) {
    EXPECT_GE(TimeUtil::TimestampToMicroseconds(e.time()),
              TimeUtil::TimestampToMicroseconds(all[2].time()));
    EXPECT_LT(TimeUtil::TimestampToMicroseconds(e.time()),
              TimeUtil::TimestampToMicroseconds(all[5].time()));
  }
  EXPECT_FALSE(Query(*auditor, window).empty());

  v1::AuditQueryRequest bad;
  *bad.mutable_since() = all[5].time();
  *bad.mutable_until() = all[2].time();
  EXPECT_THAT(auditor->QueryAudit(bad, [](const v1::AuditEvent&) { return true; }),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AuditE2eTest, EventsCarryNoPlaintext) {
  auto server = StartWithWorkload(NewTempDir("audit-plain"));
  auto auditor = *server->ClientFor("auditor");
  for (const auto& e : Query(*auditor, {})) {
    const std::string text = e.DebugString();
    EXPECT_EQ(text.find("7701555000"), std::string::npos) << text;
    EXPECT_EQ(text.find("e2e:audit"), std::string::npos) << text;
  }
}

// Stops the server, lets `edit` change the stored log directly in RocksDB,
// restarts, and returns what Audit.Verify says.
v1::AuditVerifyResponse VerifyAfterEdit(
    const std::string& dir,
    const std::function<void(storage::Store&)>& edit) {
  {
    auto server = StartWithWorkload(dir);
    EXPECT_EQ(server->Stop(SIGTERM), 0);
  }
  {
    auto store = storage::OpenRocksDbStore({.path = dir + "/db"});
    EXPECT_TRUE(store.ok()) << store.status();
    edit(**store);
  }
  auto server = ServerProcess::StartDev(dir);
  EXPECT_TRUE(server.ok()) << server.status();
  auto verify = (*(*server)->ClientFor("auditor"))->VerifyAudit();
  EXPECT_TRUE(verify.ok()) << verify.status();
  return *verify;
}

std::string GetEvent(storage::Store& store, uint64_t seq) {
  auto v = store.Get(storage::Table::kAudit, storage::EncodeU64(seq));
  EXPECT_TRUE(v.ok()) << v.status();
  return *v;
}
void PutEvent(storage::Store& store, uint64_t seq, const std::string& value) {
  storage::WriteBatch b;
  b.Put(storage::Table::kAudit, storage::EncodeU64(seq), value);
  ASSERT_TRUE(store.Write(b, {}).ok());
}

TEST(AuditE2eTest, CleanLogVerifies) {
  auto r = VerifyAfterEdit(NewTempDir("audit-clean"), [](storage::Store&) {});
  EXPECT_TRUE(r.ok()) << r.reason();
  EXPECT_GE(r.events_checked(), 11u);
  EXPECT_EQ(r.first_bad_seq(), 0u);
}

TEST(AuditE2eTest, AlteredEventIsDetected) {
  auto r = VerifyAfterEdit(NewTempDir("audit-alter"), [](storage::Store& s) {
    // Event 5 is support's first Detokenize: make it look like checkout's.
    std::string value = GetEvent(s, 5);
    size_t at = value.find("support");
    ASSERT_NE(at, std::string::npos);
    value.replace(at, 7, "checkou");
    PutEvent(s, 5, value);
  });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_seq(), 5u);
}

TEST(AuditE2eTest, AlteredEventWithRecomputedHashIsDetected) {
  auto r = VerifyAfterEdit(NewTempDir("audit-rehash"), [](storage::Store& s) {
    internal::v1::StoredAuditEvent stored;
    ASSERT_TRUE(stored.ParseFromString(GetEvent(s, 5)));
    internal::v1::AuditEventBody body;
    ASSERT_TRUE(body.ParseFromString(stored.event()));
    body.set_decision(4);  // "denied" instead of "revealed"
    stored.set_event(body.SerializeAsString());
    stored.set_hash(crypto::Sha256(stored.event()));
    PutEvent(s, 5, stored.SerializeAsString());
  });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_seq(), 6u);  // event 6 no longer links to event 5
}

TEST(AuditE2eTest, RemovedEventIsDetected) {
  auto r = VerifyAfterEdit(NewTempDir("audit-remove"), [](storage::Store& s) {
    storage::WriteBatch b;
    b.Delete(storage::Table::kAudit, storage::EncodeU64(4));
    ASSERT_TRUE(s.Write(b, {}).ok());
  });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_seq(), 4u);
}

TEST(AuditE2eTest, ReorderedEventsAreDetected) {
  auto r = VerifyAfterEdit(NewTempDir("audit-swap"), [](storage::Store& s) {
    std::string a = GetEvent(s, 6);
    std::string b = GetEvent(s, 7);
    PutEvent(s, 6, b);
    PutEvent(s, 7, a);
  });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_seq(), 6u);
}

}  // namespace
}  // namespace sandyq::testing
