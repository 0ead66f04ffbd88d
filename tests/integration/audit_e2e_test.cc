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
#include "server/audit/chain.h"
#include "server/crypto/hash.h"
#include "server/crypto/signer.h"
#include "server/platform/random.h"
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

// Rewrites the stored chain from event `from` on as a forger with write
// access would: `edit` changes bodies, then every hash, link and the head are
// recomputed so the chain itself is consistent again. Checkpoint signatures
// are kept as they are (the forger lacks the vault's key) unless `resign`
// gives new ones.
void RewriteChain(
    storage::Store& store, uint64_t from,
    const std::function<void(internal::v1::AuditEventBody&)>& edit,
    const std::function<std::string(uint64_t, const std::string&)>& resign =
        nullptr) {
  std::string prev_hash;
  if (from > 1) {
    internal::v1::StoredAuditEvent before;
    ASSERT_TRUE(before.ParseFromString(GetEvent(store, from - 1)));
    prev_hash = before.hash();
  } else {
    prev_hash = std::string(32, '\0');
  }
  uint64_t seq = from;
  for (;; ++seq) {
    auto value = store.Get(storage::Table::kAudit, storage::EncodeU64(seq));
    if (absl::IsNotFound(value.status())) break;
    internal::v1::StoredAuditEvent stored;
    ASSERT_TRUE(stored.ParseFromString(*value));
    internal::v1::AuditEventBody body;
    ASSERT_TRUE(body.ParseFromString(stored.event()));
    if (seq == from) edit(body);
    body.set_prev_hash(prev_hash);
    if (resign != nullptr && !body.signature().empty()) {
      body.set_signature(resign(seq, prev_hash));
    }
    stored.set_event(body.SerializeAsString());
    stored.set_hash(crypto::Sha256(stored.event()));
    prev_hash = stored.hash();
    PutEvent(store, seq, stored.SerializeAsString());
  }
  internal::v1::AuditHead head;
  head.set_seq(seq - 1);
  head.set_hash(prev_hash);
  storage::WriteBatch b;
  b.Put(storage::Table::kMeta, "audit_head", head.SerializeAsString());
  ASSERT_TRUE(store.Write(b, {}).ok());
}

std::unique_ptr<ServerProcess> StartSigned(const std::string& dir) {
  auto server = ServerProcess::StartDev(dir, {"--checkpoint_every_events=4"});
  EXPECT_TRUE(server.ok()) << server.status();
  return std::move(*server);
}

TEST(AuditE2eTest, CheckpointsAreSignedAndVerifyOfflineWithThePublicKey) {
  const std::string dir = NewTempDir("audit-signed");
  auto server = StartSigned(dir);
  auto checkout = *server->ClientFor("checkout");
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(checkout->Tokenize(absl::StrCat("e2e:signed-", i),
                                   v1::FIELD_TYPE_PHONE, "+77012345678")
                    .ok());
  }
  auto auditor = *server->ClientFor("auditor");
  auto verify = auditor->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->reason();
  EXPECT_GE(verify->checkpoints_checked(), 3u);

  auto pem = auditor->AuditSigningKey();
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_THAT(*pem, ::testing::HasSubstr("BEGIN PUBLIC KEY"));
  EXPECT_THAT(checkout->AuditSigningKey(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  std::vector<v1::AuditEvent> exported = Query(*auditor, {});
  auto offline = client::VerifyAuditExport(exported, *pem);
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_TRUE(offline->ok) << offline->reason;
  EXPECT_EQ(offline->events_checked, exported.size());
  EXPECT_GE(offline->checkpoints_checked, 3u);

  // An export altered after the fact fails offline too.
  exported[5].set_body(exported[5].body() + " ");
  auto altered = client::VerifyAuditExport(exported, *pem);
  ASSERT_TRUE(altered.ok());
  EXPECT_FALSE(altered->ok);
  EXPECT_EQ(altered->first_bad_seq, exported[5].seq());

  // A clean shutdown seals the log with a final checkpoint.
  ASSERT_EQ(server->Stop(SIGTERM), 0);
  {
    auto store = storage::OpenRocksDbStore({.path = dir + "/db"});
    ASSERT_TRUE(store.ok());
    auto head = (*store)->Get(storage::Table::kMeta, "audit_head");
    ASSERT_TRUE(head.ok());
    internal::v1::AuditHead h;
    ASSERT_TRUE(h.ParseFromString(*head));
    internal::v1::StoredAuditEvent last;
    ASSERT_TRUE(last.ParseFromString(GetEvent(**store, h.seq())));
    internal::v1::AuditEventBody body;
    ASSERT_TRUE(body.ParseFromString(last.event()));
    EXPECT_EQ(body.rpc(), "Audit.Checkpoint");
  }
}

TEST(AuditE2eTest, RewrittenChainFailsAtTheNextSignedCheckpoint) {
  const std::string dir = NewTempDir("audit-forge");
  {
    auto server = StartSigned(dir);
    auto checkout = *server->ClientFor("checkout");
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(checkout->Tokenize(absl::StrCat("e2e:forge-", i),
                                     v1::FIELD_TYPE_PHONE, "+77012345678")
                      .ok());
    }
    ASSERT_EQ(server->Stop(SIGTERM), 0);
  }
  {
    auto store = storage::OpenRocksDbStore({.path = dir + "/db"});
    ASSERT_TRUE(store.ok());
    // Event 3 now claims another caller; every hash after it is redone.
    RewriteChain(**store, 3, [](internal::v1::AuditEventBody& body) {
      body.set_identity("analytics");
    });
  }
  auto server = ServerProcess::StartDev(dir);
  ASSERT_TRUE(server.ok());
  auto verify = (*(*server)->ClientFor("auditor"))->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_FALSE(verify->ok());
  EXPECT_EQ(verify->reason(), "checkpoint signature does not verify");
  EXPECT_GT(verify->first_bad_seq(), 3u);
  EXPECT_LE(verify->first_bad_seq(), 3u + 5u);
}

TEST(AuditE2eTest, CheckpointSignedByAnotherKeyIsDetected) {
  const std::string dir = NewTempDir("audit-forged-key");
  {
    auto server = StartSigned(dir);
    auto checkout = *server->ClientFor("checkout");
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(checkout->Tokenize(absl::StrCat("e2e:key-", i),
                                     v1::FIELD_TYPE_PHONE, "+77012345678")
                      .ok());
    }
    ASSERT_EQ(server->Stop(SIGTERM), 0);
  }
  {
    auto forger = crypto::Ed25519Signer::Generate(platform::SystemRandom());
    ASSERT_TRUE(forger.ok());
    auto store = storage::OpenRocksDbStore({.path = dir + "/db"});
    ASSERT_TRUE(store.ok());
    // Rewrite event 3 and re-sign every later checkpoint with the forger's
    // own key: the chain and the signatures are consistent, but not under
    // the vault's key.
    RewriteChain(
        **store, 3,
        [](internal::v1::AuditEventBody& body) { body.set_identity("analytics"); },
        [&](uint64_t seq, const std::string& prev_hash) {
          return *(*forger)->Sign(audit::CheckpointMessage(seq - 1, prev_hash));
        });
  }
  auto server = ServerProcess::StartDev(dir);
  ASSERT_TRUE(server.ok());
  auto verify = (*(*server)->ClientFor("auditor"))->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_FALSE(verify->ok());
  EXPECT_EQ(verify->reason(), "checkpoint signature does not verify");
}

}  // namespace
}  // namespace sandyq::testing
