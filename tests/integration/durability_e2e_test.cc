// What survives: kill -9 in the middle of a workload, restarts, and what the
// data directory holds (never plaintext). Also startup refusals.

#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/dev_pki.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DurabilityE2eTest, EveryAcknowledgedTokenSurvivesKill9) {
  const std::string dir = NewTempDir("kill9");
  auto server = ServerProcess::StartDev(dir);
  ASSERT_TRUE(server.ok()) << server.status();

  constexpr int kThreads = 8;
  constexpr int kKillAfter = 400;  // acknowledged writes before the kill
  absl::Mutex mu;
  std::map<std::string, std::string> acknowledged;  // token -> value
  std::atomic<int> acks{0};
  absl::Notification enough;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = (*server)->ClientFor("checkout");
      ASSERT_TRUE(c.ok());
      for (int i = 0;; ++i) {
        const std::string value = absl::StrCat("kill", t, "x", i, "@example.kz");
        auto token = (*c)->Tokenize(absl::StrCat("e2e:kill-", t, "-", i % 7),
                                    v1::FIELD_TYPE_EMAIL, value);
        if (!token.ok()) return;  // the server is gone
        {
          absl::MutexLock lock(&mu);
          acknowledged[*token] = value;
        }
        if (acks.fetch_add(1) + 1 == kKillAfter) enough.Notify();
      }
    });
  }
  enough.WaitForNotification();
  // Calls are still in flight on every thread.
  int status = (*server)->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status));
  for (auto& th : threads) th.join();
  ASSERT_GE(acknowledged.size(), static_cast<size_t>(kKillAfter));

  auto restarted = ServerProcess::StartDev(dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  auto dpo = *(*restarted)->ClientFor("dpo");
  v1::DetokenizeBatchRequest request;
  std::vector<std::string> expected;
  for (const auto& [token, value] : acknowledged) {
    auto* item = request.add_items();
    item->set_token(token);
    item->set_purpose("subject_access_request");
    expected.push_back(value);
    if (request.items_size() == 1000 ||
        expected.size() == acknowledged.size()) {
      auto response = dpo->DetokenizeBatch(request);
      ASSERT_TRUE(response.ok()) << response.status();
      const size_t base = expected.size() - request.items_size();
      for (int i = 0; i < response->results_size(); ++i) {
        ASSERT_FALSE(response->results(i).has_error())
            << response->results(i).error().message();
        EXPECT_EQ(response->results(i).value(), expected[base + i]);
      }
      request.clear_items();
    }
  }
  auto verify = (*(*restarted)->ClientFor("auditor"))->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->reason();
}

// Distinctive values: none of them can occur in a data file by chance.
struct Plain {
  v1::FieldType type;
  std::string input;
  std::vector<std::string> needles;  // what must never be on disk
};

std::vector<Plain> PlainValues() {
  return {
      {v1::FIELD_TYPE_FULL_NAME, "Жаннұр Сканерова",
       {"Жаннұр", "Сканерова", "ЖАННУР"}},
      {v1::FIELD_TYPE_IIN, "640822308156", {"640822308156"}},
      {v1::FIELD_TYPE_PASSPORT, "N98765432", {"N98765432", "98765432"}},
      {v1::FIELD_TYPE_PHONE, "8 707 314 15 92", {"+77073141592", "7073141592"}},
      {v1::FIELD_TYPE_CARD_NUMBER, "4111111111111111", {"4111111111111111"}},
      {v1::FIELD_TYPE_CARD_EXPIRY, "09/37", {"2037-09", "09/37"}},
      {v1::FIELD_TYPE_EMAIL, "scanner.needle@example.kz",
       {"scanner.needle", "scanner.needle@example.kz"}},
      {v1::FIELD_TYPE_DATE_OF_BIRTH, "1964-08-22", {"1964-08-22"}},
      {v1::FIELD_TYPE_ADDRESS, "г. Сканбург, проспект Иглы 271",
       {"Сканбург", "проспект Иглы"}},
  };
}
const char* const kSubjectIds[] = {"crm:scan-subject-918273",
                                   "crm:scan-subject-564738"};

// Every file under `dir` that contains `needle`.
std::vector<std::string> FilesContaining(const std::string& dir,
                                         const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (Slurp(entry.path()).find(needle) != std::string::npos) {
      hits.push_back(entry.path().filename());
    }
  }
  return hits;
}

void ExpectNoPlaintext(const std::string& db_dir) {
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(db_dir)) {
    files += e.is_regular_file();
  }
  ASSERT_GT(files, 0u);
  for (const Plain& p : PlainValues()) {
    for (const std::string& needle : p.needles) {
      EXPECT_THAT(FilesContaining(db_dir, needle), ::testing::IsEmpty())
          << v1::FieldType_Name(p.type) << " found on disk";
    }
  }
  for (const char* subject : kSubjectIds) {
    EXPECT_THAT(FilesContaining(db_dir, subject), ::testing::IsEmpty())
        << "a subject id found on disk";
  }
}

TEST(DurabilityE2eTest, DataDirectoryHoldsNoPlaintext) {
  const std::string dir = NewTempDir("scan");
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok()) << server.status();
    auto checkout = *(*server)->ClientFor("checkout");
    auto support = *(*server)->ClientFor("support");
    auto dpo = *(*server)->ClientFor("dpo");
    for (const char* subject : kSubjectIds) {
      for (const Plain& p : PlainValues()) {
        auto token = checkout->Tokenize(subject, p.type, p.input, "scan-test");
        ASSERT_TRUE(token.ok()) << token.status();
        ASSERT_TRUE(dpo->Detokenize(*token, "subject_access_request").ok());
        (void)support->Detokenize(*token, "customer_support");
      }
      ASSERT_TRUE(dpo->Lookup(v1::FIELD_TYPE_PHONE, "+77073141592",
                              "subject_access_request")
                      .ok());
    }
    // Crash: what is on disk is the write-ahead log.
    (*server)->Stop(SIGKILL);
  }
  ExpectNoPlaintext(dir + "/db");
  {
    // Recover and shut down cleanly: the log is flushed into tables.
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_EQ((*server)->Stop(SIGTERM), 0);
  }
  ExpectNoPlaintext(dir + "/db");
  // The test would have seen plaintext if it were there: the token index
  // does hold the (non-secret) source label.
  EXPECT_THAT(FilesContaining(dir + "/db", "scan-test"),
              ::testing::Not(::testing::IsEmpty()));
}

TEST(DurabilityE2eTest, RestartReusesPkiKeysAndData) {
  const std::string dir = NewTempDir("restart");
  std::string token;
  std::string ca_before;
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok()) << server.status();
    ca_before = Slurp(dir + "/pki/ca.crt");
    auto t = (*(*server)->ClientFor("checkout"))
                 ->Tokenize("e2e:restart", v1::FIELD_TYPE_IIN, "770101355550");
    ASSERT_TRUE(t.ok());
    token = *t;
    int status = (*server)->Stop(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto server = ServerProcess::StartDev(dir);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(Slurp(dir + "/pki/ca.crt"), ca_before);
  auto r = (*(*server)->ClientFor("dpo"))
               ->Detokenize(token, "subject_access_request");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), "770101355550");
}

TEST(DurabilityE2eTest, KeyMaterialCannotReachACoreDump) {
  auto server = ServerProcess::StartDev(NewTempDir("no-core"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string limits =
      Slurp(absl::StrCat("/proc/", (*server)->pid(), "/limits"));
  // "Max core file size        0                    0                    bytes"
  size_t at = limits.find("Max core file size");
  ASSERT_NE(at, std::string::npos);
  std::istringstream line(limits.substr(at + 18, limits.find('\n', at) - at - 18));
  std::string soft, hard;
  line >> soft >> hard;
  EXPECT_EQ(soft, "0");
  EXPECT_EQ(hard, "0");
}

TEST(DurabilityE2eTest, RefusesToStartWithAWrongMasterKey) {
  const std::string dir = NewTempDir("wrong-key");
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok());
    (*server)->Stop(SIGTERM);
  }
  ASSERT_EQ(std::remove((dir + "/master.key").c_str()), 0);
  std::string output;
  // --dev creates a fresh master key, which does not open the vault.
  int code = ServerProcess::RunToExit(
      {"--dev", "--data_dir", dir, "--listen", "127.0.0.1:0"}, &output);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(output, HasSubstr("does not open this vault"));
}

TEST(DurabilityE2eTest, RefusesToMoveTheVaultToAnotherResidencyCountry) {
  const std::string dir = NewTempDir("residency");
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok());
    (*server)->Stop(SIGTERM);
  }
  std::string config = Slurp(dir + "/sandyqd.textproto");
  const size_t at = config.find("residency_country: \"KZ\"");
  ASSERT_NE(at, std::string::npos);
  config.replace(at, 23, "residency_country: \"DE\"");
  config = config.substr(0, config.find("backups {"));  // targets are in KZ
  std::ofstream(dir + "/de.textproto") << config;
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit({"--config", dir + "/de.textproto"}, &output), 1);
  EXPECT_THAT(output, HasSubstr("created to keep its data in KZ"));
}

TEST(DurabilityE2eTest, RefusesAGroupReadableMasterKey) {
  const std::string dir = NewTempDir("key-mode");
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok());
    (*server)->Stop(SIGTERM);
  }
  ASSERT_EQ(chmod((dir + "/master.key").c_str(), 0644), 0);
  std::string output;
  int code = ServerProcess::RunToExit(
      {"--dev", "--data_dir", dir, "--listen", "127.0.0.1:0"}, &output);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(output, HasSubstr("master.key"));
}

TEST(DurabilityE2eTest, ConfigErrorsNameFileLineAndField) {
  const std::string dir = NewTempDir("bad-config");
  const std::string config = dir + "/sandyqd.textproto";
  std::ofstream(config) << "listen: \"127.0.0.1:0\"\n"
                           "tls { cert_file: \"x\" }\n"
                           "residency_country: \"Kazakhstan\"\n";
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit({"--config", config}, &output), 1);
  EXPECT_THAT(output, HasSubstr(config + ":3:"));
  EXPECT_THAT(output, HasSubstr("residency_country"));
  EXPECT_THAT(output, HasSubstr("tls.key_file"));
  EXPECT_THAT(output, HasSubstr("not started"));

  std::ofstream(config) << "listen: \"127.0.0.1:0\"\nlisten_typo: 1\n";
  EXPECT_EQ(ServerProcess::RunToExit({"--config", config}, &output), 1);
  EXPECT_THAT(output, HasSubstr(config + ":2:"));
}

TEST(DurabilityE2eTest, PolicyErrorsNameFileLineAndField) {
  const std::string dir = NewTempDir("bad-policy");
  {
    auto server = ServerProcess::StartDev(dir);
    ASSERT_TRUE(server.ok());
    (*server)->Stop(SIGTERM);
  }
  std::ofstream(dir + "/policy.textproto", std::ios::app)
      << "identities { name: \"ghost\" organisation: \"shop\" country: \"KZ\" "
         "roles: \"no-such-role\" }\n";
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit(
                {"--dev", "--data_dir", dir, "--listen", "127.0.0.1:0"}, &output),
            1);
  EXPECT_THAT(output, HasSubstr("policy.textproto:"));
  EXPECT_THAT(output, HasSubstr("no-such-role"));
}

TEST(DurabilityE2eTest, ProductionConfigServes) {
  const std::string dir = NewTempDir("production");
  // Operator steps: a master key, certificates from the company CA (here a
  // dev CA with a production trust domain), a config and a policy.
  std::string output;
  ASSERT_EQ(ServerProcess::RunToExit({"--init_master_key", dir + "/master.key"},
                                     &output),
            0)
      << output;
  EXPECT_NE(ServerProcess::RunToExit({"--init_master_key", dir + "/master.key"},
                                     &output),
            0);  // never overwrites a key
  ASSERT_TRUE(crypto::EnsureDevPki({.dir = dir + "/tls",
                                    .trust_domain = "vault.example.kz",
                                    .identities = {"checkout", "dpo"}})
                  .ok());
  std::ofstream(dir + "/policy.textproto")
      << Slurp("deploy/dev/policy.textproto");
  std::ofstream(dir + "/sandyqd.textproto")
      << "listen: \"127.0.0.1:0\"\n"
         "tls { cert_file: \"tls/server.crt\" key_file: \"tls/server.key\"\n"
         "      client_ca_file: \"tls/ca.crt\" trust_domain: \"vault.example.kz\" }\n"
         "data_dir: \"db\"\n"
         "master_key { file { path: \"master.key\" } }\n"
         "policy_file: \"policy.textproto\"\n";
  auto server = ServerProcess::Start({"--config", dir + "/sandyqd.textproto"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto checkout = (*server)->ClientFor("checkout", dir + "/tls");
  auto dpo = (*server)->ClientFor("dpo", dir + "/tls");
  ASSERT_TRUE(checkout.ok() && dpo.ok());
  auto token = (*checkout)->Tokenize("e2e:prod", v1::FIELD_TYPE_PHONE,
                                     "+77012345678");
  ASSERT_TRUE(token.ok()) << token.status();
  auto value = (*dpo)->Detokenize(*token, "subject_access_request");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value(), "+77012345678");
  EXPECT_THAT((*server)->Stderr(), HasSubstr("residency country KZ"));
  // Linked for speed (BENCHMARKS.md); a build that lost it says otherwise.
  EXPECT_THAT((*server)->Stderr(), HasSubstr("memory allocator jemalloc 5."));
}

}  // namespace
}  // namespace sandyq::testing
