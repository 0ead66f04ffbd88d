// Key management end to end: rotation under load, the background re-wrap
// (and its resumption after kill -9), KEK destruction and what a stale copy
// of the store can still open, and the master key in a real PKCS#11 token
// (SoftHSM2), including moving a vault from the file key to the token.

#include <sys/wait.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/softhsm_token.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;

// Waits (polling ListKeys) until `done` holds; fails after a minute.
void WaitForKeys(client::Client& keyadmin,
                 const std::function<bool(const v1::ListKeysResponse&)>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (absl::Duration backoff = absl::Milliseconds(20);;
       backoff = std::min(backoff * 2, absl::Milliseconds(500))) {
    auto keys = keyadmin.ListKeys();
    ASSERT_TRUE(keys.ok()) << keys.status();
    if (done(*keys)) return;
    ASSERT_LT(absl::Now(), deadline) << keys->DebugString();
    absl::SleepFor(backoff);  // polling the server's progress, not timing
  }
}

const v1::KeyInfo* Key(const v1::ListKeysResponse& keys, uint32_t version) {
  for (const auto& k : keys.keys()) {
    if (k.version() == version) return &k;
  }
  return nullptr;
}

// Tokenizes `n` subjects' e-mails in batches; returns token -> value.
std::map<std::string, std::string> Populate(client::Client& checkout,
                                            const std::string& tag, int n) {
  std::map<std::string, std::string> tokens;
  for (int base = 0; base < n; base += 500) {
    v1::TokenizeBatchRequest request;
    std::vector<std::string> values;
    for (int i = base; i < std::min(n, base + 500); ++i) {
      auto* item = request.add_items();
      item->set_subject_id(absl::StrCat("e2e:", tag, "-", i));
      item->set_type(v1::FIELD_TYPE_EMAIL);
      values.push_back(absl::StrCat(tag, ".", i, "@example.kz"));
      item->set_value(values.back());
    }
    auto response = checkout.TokenizeBatch(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return tokens;
    for (int i = 0; i < response->results_size(); ++i) {
      EXPECT_FALSE(response->results(i).has_error());
      tokens[response->results(i).token()] = values[i];
    }
  }
  return tokens;
}

// Every token's value, read as dpo; missing entries did not detokenize.
std::map<std::string, absl::StatusOr<std::string>> ReadAll(
    client::Client& dpo, const std::map<std::string, std::string>& tokens) {
  std::map<std::string, absl::StatusOr<std::string>> out;
  v1::DetokenizeBatchRequest request;
  std::vector<std::string> order;
  auto flush = [&] {
    if (request.items_size() == 0) return;
    auto response = dpo.DetokenizeBatch(request);
    ASSERT_TRUE(response.ok()) << response.status();
    for (int i = 0; i < response->results_size(); ++i) {
      const auto& r = response->results(i);
      out[order[i]] = r.has_error()
                          ? absl::StatusOr<std::string>(absl::Status(
                                static_cast<absl::StatusCode>(r.error().code()),
                                r.error().message()))
                          : absl::StatusOr<std::string>(r.value());
    }
    request.clear_items();
    order.clear();
  };
  for (const auto& [token, value] : tokens) {
    auto* item = request.add_items();
    item->set_token(token);
    item->set_purpose("subject_access_request");
    order.push_back(token);
    if (request.items_size() == 1000) flush();
  }
  flush();
  return out;
}

TEST(KeysE2eTest, RotationUnderLoadFailsNoCallAndKeepsOldTokensReadable) {
  const std::string dir = NewTempDir("rotate-load");
  auto server = ServerProcess::StartDev(dir);
  ASSERT_TRUE(server.ok()) << server.status();
  auto checkout = *(*server)->ClientFor("checkout");
  auto dpo = *(*server)->ClientFor("dpo");
  auto keyadmin = *(*server)->ClientFor("keyadmin");
  const auto before = Populate(*checkout, "pre", 1500);

  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  absl::Mutex mu;
  std::vector<std::string> failure_messages;
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      auto c = (*server)->ClientFor(t % 2 ? "checkout" : "dpo");
      ASSERT_TRUE(c.ok());
      auto it = before.begin();
      for (int i = 0; !stop.load(); ++i) {
        absl::Status s;
        if (t % 2) {
          s = (*c)->Tokenize(absl::StrCat("e2e:load-", t, "-", i % 50),
                             v1::FIELD_TYPE_PHONE,
                             absl::StrCat("+7701", 1000000 + i))
                  .status();
        } else {
          auto r = (*c)->Detokenize(it->first, "subject_access_request");
          s = r.status();
          if (r.ok() && r->value() != it->second) s = absl::DataLossError("wrong value");
          if (++it == before.end()) it = before.begin();
        }
        ++calls;
        if (!s.ok()) {
          ++failures;
          absl::MutexLock lock(&mu);
          failure_messages.push_back(s.ToString());
        }
      }
    });
  }
  auto first = keyadmin->RotateKeys();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 2u);
  auto listed = keyadmin->ListKeys();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(Key(*listed, 2)->state(), v1::KEY_STATE_PRIMARY);
  WaitForKeys(*keyadmin, [](const v1::ListKeysResponse& k) {
    return k.rewrap_pending() == 0;
  });
  auto second = keyadmin->RotateKeys();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 3u);
  WaitForKeys(*keyadmin, [](const v1::ListKeysResponse& k) {
    return k.rewrap_pending() == 0 && Key(k, 1)->state() == v1::KEY_STATE_RETIRED &&
           Key(k, 2)->state() == v1::KEY_STATE_RETIRED;
  });
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_GT(calls.load(), 100);
  EXPECT_EQ(failures.load(), 0) << (failure_messages.empty() ? "" : failure_messages[0]);

  for (const auto& [token, value] : ReadAll(*dpo, before)) {
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, before.at(token));
  }
  auto keys = keyadmin->ListKeys();
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(Key(*keys, 1)->wrapped_deks(), 0u);
  EXPECT_EQ(Key(*keys, 2)->wrapped_deks(), 0u);
  EXPECT_GE(Key(*keys, 3)->wrapped_deks(), 1500u);

  // Every rotation and re-wrap is in the access log, and the log verifies.
  auto auditor = *(*server)->ClientFor("auditor");
  int rotations = 0, rewraps = 0;
  ASSERT_TRUE(auditor
                  ->QueryAudit({},
                               [&](const v1::AuditEvent& e) {
                                 rotations += e.rpc() == "KeyAdmin.RotateKeys" &&
                                              e.identity() == "keyadmin";
                                 rewraps += e.rpc() == "KeyAdmin.Rewrap";
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(rotations, 2);
  EXPECT_GT(rewraps, 0);
  auto verify = auditor->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->reason();
}

TEST(KeysE2eTest, OnlyKeyadminAdministersKeys) {
  auto server = ServerProcess::StartDev(NewTempDir("keys-policy"));
  ASSERT_TRUE(server.ok());
  for (const char* identity : {"checkout", "support", "auditor", "dpo"}) {
    SCOPED_TRACE(identity);
    auto c = *(*server)->ClientFor(identity);
    EXPECT_THAT(c->RotateKeys(), StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(c->ListKeys(), StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(c->DestroyKey(1), StatusIs(absl::StatusCode::kPermissionDenied));
  }
  auto keyadmin = *(*server)->ClientFor("keyadmin");
  EXPECT_THAT(keyadmin->DestroyKey(1),
              StatusIs(absl::StatusCode::kFailedPrecondition));  // primary
  EXPECT_THAT(keyadmin->DestroyKey(9), StatusIs(absl::StatusCode::kNotFound));
  // Refusals are logged with who asked.
  auto auditor = *(*server)->ClientFor("auditor");
  v1::AuditQueryRequest q;
  q.set_identity("support");
  int denied = 0;
  ASSERT_TRUE(auditor
                  ->QueryAudit(q,
                               [&](const v1::AuditEvent& e) {
                                 denied += e.decision() == v1::DECISION_DENIED;
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(denied, 3);
}

TEST(KeysE2eTest, RewrapResumesAfterKill9) {
  const std::string dir = NewTempDir("rewrap-kill");
  std::map<std::string, std::string> tokens;
  {
    // Slow re-wrap: one chunk of 256 keys, then a pause.
    auto server = ServerProcess::StartDev(dir, {"--rewrap_per_second=100"});
    ASSERT_TRUE(server.ok()) << server.status();
    tokens = Populate(**(*server)->ClientFor("checkout"), "resume", 2000);
    auto keyadmin = *(*server)->ClientFor("keyadmin");
    ASSERT_TRUE(keyadmin->RotateKeys().ok());
    WaitForKeys(*keyadmin, [](const v1::ListKeysResponse& k) {
      return k.rewrap_pending() < 2000;  // part of the way
    });
    auto keys = keyadmin->ListKeys();
    ASSERT_TRUE(keys.ok());
    ASSERT_GT(keys->rewrap_pending(), 0u) << "re-wrap finished before the kill";
    ASSERT_TRUE(WIFSIGNALED((*server)->Stop(SIGKILL)));
  }
  auto server = ServerProcess::StartDev(dir, {"--rewrap_per_second=-1"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto keyadmin = *(*server)->ClientFor("keyadmin");
  WaitForKeys(*keyadmin, [](const v1::ListKeysResponse& k) {
    return k.rewrap_pending() == 0 && Key(k, 1)->state() == v1::KEY_STATE_RETIRED;
  });
  auto keys = keyadmin->ListKeys();
  EXPECT_EQ(Key(*keys, 2)->wrapped_deks(), 2000u);
  for (const auto& [token, value] :
       ReadAll(**(*server)->ClientFor("dpo"), tokens)) {
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, tokens.at(token));
  }
}

TEST(KeysE2eTest, DestroyedKekLeavesStaleStoreCopiesUnreadable) {
  const std::string dir = NewTempDir("destroy");
  std::map<std::string, std::string> old_tokens, new_tokens;
  {
    auto server = ServerProcess::StartDev(dir, {"--rewrap_per_second=10"});
    ASSERT_TRUE(server.ok()) << server.status();
    auto checkout = *(*server)->ClientFor("checkout");
    old_tokens = Populate(*checkout, "old", 1000);
    auto keyadmin = *(*server)->ClientFor("keyadmin");
    ASSERT_TRUE(keyadmin->RotateKeys().ok());
    new_tokens = Populate(*checkout, "new", 20);
    // KEK 1 still wraps most keys: destroying it is refused.
    auto destroy = keyadmin->DestroyKey(1);
    EXPECT_THAT(destroy, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(std::string(destroy.message()), HasSubstr("still wraps"));
    ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  }
  // A copy of the store as it is now, with KEK 1 still wrapping data keys.
  const std::string stale = NewTempDir("stale");
  ASSERT_EQ(std::system(absl::StrCat("cp -a '", dir, "/db' '", stale, "/db'").c_str()), 0);
  {
    auto server = ServerProcess::StartDev(dir, {"--rewrap_per_second=-1"});
    ASSERT_TRUE(server.ok()) << server.status();
    auto keyadmin = *(*server)->ClientFor("keyadmin");
    WaitForKeys(*keyadmin, [](const v1::ListKeysResponse& k) {
      return Key(k, 1)->state() == v1::KEY_STATE_RETIRED;
    });
    ASSERT_TRUE(keyadmin->DestroyKey(1).ok());
    auto keys = keyadmin->ListKeys();
    EXPECT_EQ(Key(*keys, 1)->state(), v1::KEY_STATE_DESTROYED);
    // The live vault still reads everything.
    for (const auto& [token, value] :
         ReadAll(**(*server)->ClientFor("dpo"), old_tokens)) {
      ASSERT_TRUE(value.ok()) << value.status();
    }
    ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  }
  // The stale copy, with today's key store: what only KEK 1 wrapped is gone.
  std::ofstream(stale + "/sandyqd.textproto")
      << "listen: \"127.0.0.1:0\"\n"
      << "tls { cert_file: \"" << dir << "/pki/server.crt\" key_file: \"" << dir
      << "/pki/server.key\" client_ca_file: \"" << dir
      << "/pki/ca.crt\" trust_domain: \"sandyq.dev\" }\n"
      << "data_dir: \"db\"\n"
      << "master_key { file { path: \"" << dir << "/master.key\" } }\n"
      << "policy_file: \"" << dir << "/policy.textproto\"\n";
  auto server = ServerProcess::Start({"--config", stale + "/sandyqd.textproto",
                                      "--rewrap_per_second=-1"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT((*server)->Stderr(), HasSubstr("KEK 1 is not held"));
  auto dpo = (*server)->ClientFor("dpo", dir + "/pki");
  ASSERT_TRUE(dpo.ok());
  int unreadable = 0;
  for (const auto& [token, value] : ReadAll(**dpo, old_tokens)) {
    if (value.ok()) {
      EXPECT_EQ(*value, old_tokens.at(token));  // re-wrapped before the copy
    } else {
      EXPECT_THAT(value, StatusIs(absl::StatusCode::kDataLoss));
      ++unreadable;
    }
  }
  EXPECT_GT(unreadable, 0);
  for (const auto& [token, value] : ReadAll(**dpo, new_tokens)) {
    ASSERT_TRUE(value.ok()) << "a key created under KEK 2 must still open";
  }
}

TEST(KeysE2eTest, ScheduledRotationHappensByItselfAndIsLogged) {
  auto server = ServerProcess::StartDev(NewTempDir("scheduled"),
                                        {"--rotate_every=2s"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto keyadmin = *(*server)->ClientFor("keyadmin");
  // Nobody asks for a rotation: the server makes one when KEK 1 is 2 s old.
  WaitForKeys(*keyadmin, [](const v1::ListKeysResponse& k) {
    return k.keys_size() >= 2;
  });
  auto auditor = *(*server)->ClientFor("auditor");
  bool scheduled = false;
  ASSERT_TRUE(auditor
                  ->QueryAudit({},
                               [&](const v1::AuditEvent& e) {
                                 scheduled |= e.rpc() == "KeyAdmin.RotateKeys" &&
                                              e.identity() == "sandyqd" &&
                                              e.rule().find("scheduled") !=
                                                  std::string::npos;
                                 return true;
                               })
                  .ok());
  EXPECT_TRUE(scheduled);
}

// --- The master key in a PKCS#11 token (SoftHSM2) ---

std::string HsmConfig(const std::string& dir, const SoftHsmToken& token,
                      const std::string& key_label, const std::string& pin_file) {
  return absl::StrCat(
      "listen: \"127.0.0.1:0\"\n",
      "tls { cert_file: \"pki/server.crt\" key_file: \"pki/server.key\" "
      "client_ca_file: \"pki/ca.crt\" trust_domain: \"sandyq.dev\" }\n",
      "data_dir: \"db\"\n",
      "master_key { pkcs11 { module: \"", token.module_path(),
      "\" token_label: \"", token.label(), "\" key_label: \"", key_label,
      "\" pin_file: \"", pin_file, "\" } }\n",
      "policy_file: \"policy.textproto\"\n");
}

void WriteSecret(const std::string& path, const std::string& text) {
  std::ofstream(path) << text << "\n";
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
}

TEST(KeysE2eTest, VaultRunsWithTheMasterKeyInSoftHsm) {
  auto token = SoftHsmToken::Create("sandyq-e2e", "1234");
  ASSERT_TRUE(token.ok()) << token.status();
  // A dev vault gives the PKI and the policy; then the HSM config.
  const std::string dir = NewTempDir("hsm");
  {
    auto dev = ServerProcess::StartDev(dir);
    ASSERT_TRUE(dev.ok());
    (*dev)->Stop(SIGTERM);
  }
  ASSERT_EQ(std::system(absl::StrCat("rm -rf '", dir, "/db'").c_str()), 0);
  WriteSecret(dir + "/pin", "1234");
  std::ofstream(dir + "/hsm.textproto")
      << HsmConfig(dir, **token, "sandyq-master", "pin");
  std::string output;
  ASSERT_EQ(ServerProcess::RunToExit(
                {"--config", dir + "/hsm.textproto", "--create_master_key"}, &output),
            0)
      << output;
  EXPECT_NE(ServerProcess::RunToExit(
                {"--config", dir + "/hsm.textproto", "--create_master_key"}, &output),
            0);  // never a second key with the same label

  std::string token_value;
  {
    auto server = ServerProcess::Start({"--config", dir + "/hsm.textproto"});
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_THAT((*server)->Stderr(), HasSubstr("pkcs11:token=sandyq-e2e"));
    auto t = (*(*server)->ClientFor("checkout", dir + "/pki"))
                 ->Tokenize("e2e:hsm", v1::FIELD_TYPE_IIN, "850315300019");
    ASSERT_TRUE(t.ok()) << t.status();
    token_value = *t;
    auto keyadmin = *(*server)->ClientFor("keyadmin", dir + "/pki");
    ASSERT_TRUE(keyadmin->RotateKeys().ok());
    WaitForKeys(*keyadmin, [](const v1::ListKeysResponse& k) {
      return k.rewrap_pending() == 0 && k.master_key().find("pkcs11") == 0;
    });
    ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  }
  {
    auto server = ServerProcess::Start({"--config", dir + "/hsm.textproto"});
    ASSERT_TRUE(server.ok()) << server.status();
    auto r = (*(*server)->ClientFor("dpo", dir + "/pki"))
                 ->Detokenize(token_value, "subject_access_request");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->value(), "850315300019");
    ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  }

  // A wrong PIN: a clear error, no start, and the PIN is not echoed.
  WriteSecret(dir + "/wrong-pin", "9999");
  std::ofstream(dir + "/wrong-pin.textproto")
      << HsmConfig(dir, **token, "sandyq-master", "wrong-pin");
  EXPECT_EQ(ServerProcess::RunToExit({"--config", dir + "/wrong-pin.textproto"},
                                     &output),
            1);
  EXPECT_THAT(output, HasSubstr("PIN"));
  EXPECT_THAT(output, ::testing::Not(HasSubstr("9999")));
  EXPECT_THAT(output, HasSubstr("not started"));

  // A key label the token does not hold: a clear error, no start.
  std::ofstream(dir + "/missing-key.textproto")
      << HsmConfig(dir, **token, "no-such-key", "pin");
  EXPECT_EQ(ServerProcess::RunToExit({"--config", dir + "/missing-key.textproto"},
                                     &output),
            1);
  EXPECT_THAT(output, HasSubstr("no-such-key"));
  EXPECT_THAT(output, HasSubstr("not started"));
}

TEST(KeysE2eTest, VaultMovesFromTheFileKeyToTheHsmWithoutTouchingData) {
  auto token = SoftHsmToken::Create("sandyq-move", "4321");
  ASSERT_TRUE(token.ok()) << token.status();
  const std::string dir = NewTempDir("move");
  std::map<std::string, std::string> tokens;
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok());
    tokens = Populate(**(*server)->ClientFor("checkout", dir + "/pki"), "move", 50);
    ASSERT_TRUE((*(*server)->ClientFor("keyadmin", dir + "/pki"))->RotateKeys().ok());
    ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  }
  WriteSecret(dir + "/pin", "4321");
  std::ofstream(dir + "/hsm.textproto")
      << HsmConfig(dir, **token, "sandyq-master", "pin");
  std::string output;
  ASSERT_EQ(ServerProcess::RunToExit(
                {"--config", dir + "/hsm.textproto", "--create_master_key"}, &output),
            0)
      << output;
  ASSERT_EQ(ServerProcess::RunToExit({"--config", dir + "/sandyqd.textproto",
                                      "--migrate_master_key_to",
                                      dir + "/hsm.textproto"},
                                     &output),
            0)
      << output;
  // The file key is no longer needed: remove it and its KEKs.
  ASSERT_EQ(std::remove((dir + "/master.key").c_str()), 0);
  ASSERT_EQ(std::remove((dir + "/master.key.keks").c_str()), 0);

  auto server = ServerProcess::Start({"--config", dir + "/hsm.textproto"});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const auto& [token_value, value] :
       ReadAll(**(*server)->ClientFor("dpo", dir + "/pki"), tokens)) {
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, tokens.at(token_value));
  }
  auto auditor = *(*server)->ClientFor("auditor", dir + "/pki");
  bool migrated = false;
  ASSERT_TRUE(auditor
                  ->QueryAudit({},
                               [&](const v1::AuditEvent& e) {
                                 migrated |= e.rpc() == "Vault.MigrateMasterKey";
                                 return true;
                               })
                  .ok());
  EXPECT_TRUE(migrated);
  auto verify = auditor->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->reason();
}

}  // namespace
}  // namespace sandyq::testing
