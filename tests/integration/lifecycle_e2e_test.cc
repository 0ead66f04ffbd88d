// Operating a running sandyqd: reloading the policy (Admin.ReloadPolicy, the
// `sandyq` CLI, SIGHUP), cutting off a service by removing its identity or
// revoking its certificate's serial while it keeps its connection open, and
// stopping under load with SIGTERM.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/crypto/dev_pki.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// A failure guard only: every wait ends on a condition long before.
constexpr absl::Duration kGuard = absl::Seconds(60);

// Synthetic values (domain/kazakhstan.md test vectors).
constexpr char kPhone[] = "+77012345678";

constexpr char kSupportIdentity[] = R"(identities {
  name: "support"
  organisation: "shop"
  country: "KZ"
  roles: ["support"]
}
)";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

int LineCount(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// Runs the `sandyq` CLI to completion; `output` gets stdout and stderr.
int RunCli(const std::vector<std::string>& args, std::string* output) {
  return RunProgram(SANDYQ_CLI_PATH, args, output);
}

class LifecycleE2eTest : public ::testing::Test {
 protected:
  void Start(const std::string& name) {
    dir_ = NewTempDir(name);
    auto server = ServerProcess::StartDev(dir_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    SANDYQ_ASSERT_OK_AND_ASSIGN(checkout_, server_->ClientFor("checkout"));
    SANDYQ_ASSERT_OK_AND_ASSIGN(support_, server_->ClientFor("support"));
    SANDYQ_ASSERT_OK_AND_ASSIGN(dpo_, server_->ClientFor("dpo"));
    SANDYQ_ASSERT_OK_AND_ASSIGN(keyadmin_, server_->ClientFor("keyadmin"));
    SANDYQ_ASSERT_OK_AND_ASSIGN(auditor_, server_->ClientFor("auditor"));
    SANDYQ_ASSERT_OK_AND_ASSIGN(
        token_, checkout_->Tokenize("e2e:lifecycle", v1::FIELD_TYPE_PHONE,
                                    kPhone));
    // support's one channel is open (and stays open): it is used below
    // after every reload.
    ASSERT_TRUE(SupportWorks());
  }

  bool SupportWorks() {
    auto found = support_->Lookup(v1::FIELD_TYPE_PHONE, kPhone,
                                  "customer_support");
    return found.ok();
  }
  // The connection support opened before the reload is still the one its
  // calls use.
  void ExpectSupportChannelStillOpen() {
    EXPECT_EQ(support_->channel()->GetState(/*try_to_connect=*/false),
              GRPC_CHANNEL_READY);
  }
  // Everyone but support carries on.
  void ExpectOthersUnaffected() {
    EXPECT_TRUE(checkout_->Tokenize("e2e:lifecycle", v1::FIELD_TYPE_PHONE,
                                    kPhone)
                    .ok());
    auto revealed = dpo_->Detokenize(token_, "subject_access_request");
    ASSERT_TRUE(revealed.ok()) << revealed.status();
    EXPECT_EQ(revealed->value(), kPhone);
  }

  std::vector<std::string> CliArgs(const std::string& identity) {
    return {"--addr", server_->address(), "--pki", dir_ + "/pki",
            "--identity", identity};
  }

  std::vector<v1::AuditEvent> EventsBy(const std::string& identity) {
    v1::AuditQueryRequest request;
    request.set_identity(identity);
    std::vector<v1::AuditEvent> events;
    absl::Status s = auditor_->QueryAudit(request, [&](const v1::AuditEvent& e) {
      events.push_back(e);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return events;
  }
  std::vector<v1::AuditEvent> Reloads() {
    std::vector<v1::AuditEvent> reloads;
    for (const char* who : {"keyadmin", "sandyqd", "support"}) {
      for (const v1::AuditEvent& e : EventsBy(who)) {
        if (e.rpc() == "Admin.ReloadPolicy") reloads.push_back(e);
      }
    }
    return reloads;
  }

  // Sends SIGHUP and waits until the server has logged the outcome.
  void Sighup() {
    auto outcomes = [&] {
      const std::string err = server_->Stderr();
      int n = 0;
      for (absl::string_view line : absl::StrSplit(err, '\n')) {
        n += absl::StrContains(line, "reloaded on SIGHUP");
      }
      return n;
    };
    const int before = outcomes();
    server_->Signal(SIGHUP);
    const absl::Time give_up = absl::Now() + kGuard;
    while (outcomes() == before && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));  // polling a log file
    }
    ASSERT_GT(outcomes(), before) << "no reload logged after SIGHUP";
  }

  std::string SupportSerial() {
    auto info = crypto::ParseCertificate(Slurp(dir_ + "/pki/support.crt"));
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->serial_hex : "";
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::Client> checkout_, support_, dpo_, keyadmin_,
      auditor_;
  std::string token_;
};

TEST_F(LifecycleE2eTest, CliReloadWithoutSupportStopsItsNextCallOnItsOpenChannel) {
  ASSERT_NO_FATAL_FAILURE(Start("reload-cli"));
  const std::string policy_path = dir_ + "/policy.textproto";
  std::string policy = Slurp(policy_path);
  const size_t at = policy.find(kSupportIdentity);
  ASSERT_NE(at, std::string::npos);
  policy.erase(at, sizeof(kSupportIdentity) - 1);
  Spit(policy_path, policy);
  // Editing the file alone changes nothing.
  EXPECT_TRUE(SupportWorks());

  std::vector<std::string> args = CliArgs("keyadmin");
  args.push_back("admin");
  args.push_back("reload-policy");
  std::string output;
  ASSERT_EQ(RunCli(args, &output), 0) << output;
  EXPECT_THAT(output, AllOf(HasSubstr("reloaded: policy sha256:"),
                            HasSubstr("(8 identities)")));

  ExpectSupportChannelStillOpen();
  auto refused =
      support_->Lookup(v1::FIELD_TYPE_PHONE, kPhone, "customer_support");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(support_->Detokenize(token_, "customer_support"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ExpectOthersUnaffected();

  // The reload and the refusals are in the access log.
  std::vector<v1::AuditEvent> reloads = Reloads();
  ASSERT_EQ(reloads.size(), 1u);
  EXPECT_EQ(reloads[0].identity(), "keyadmin");
  EXPECT_EQ(reloads[0].decision(), v1::DECISION_ALLOWED);
  EXPECT_THAT(reloads[0].rule(), HasSubstr("(8 identities)"));
  std::vector<v1::AuditEvent> by_support = EventsBy("support");
  ASSERT_GE(by_support.size(), 2u);
  EXPECT_EQ(by_support.back().rule(), "unknown-identity");
  EXPECT_EQ(by_support.back().decision(), v1::DECISION_DENIED);
}

TEST_F(LifecycleE2eTest, RevokedSerialStopsItsNextCallOnItsOpenChannel) {
  ASSERT_NO_FATAL_FAILURE(Start("revoke-sighup"));
  const std::string serial = SupportSerial();
  ASSERT_FALSE(serial.empty());
  // The form `openssl x509 -noout -serial` prints.
  std::ofstream(dir_ + "/revoked-serials.txt", std::ios::app)
      << "serial=" << serial << "  # support, leaked\n";
  ASSERT_NO_FATAL_FAILURE(Sighup());

  ExpectSupportChannelStillOpen();
  auto refused =
      support_->Lookup(v1::FIELD_TYPE_PHONE, kPhone, "customer_support");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(refused.status().message(), HasSubstr("revoked"));
  ExpectOthersUnaffected();

  std::vector<v1::AuditEvent> reloads = Reloads();
  ASSERT_EQ(reloads.size(), 1u);
  EXPECT_EQ(reloads[0].identity(), "sandyqd");
  EXPECT_THAT(reloads[0].rule(),
              AllOf(HasSubstr("SIGHUP"), HasSubstr("1 revoked")));
  std::vector<v1::AuditEvent> by_support = EventsBy("support");
  ASSERT_FALSE(by_support.empty());
  EXPECT_EQ(by_support.back().rule(),
            absl::StrCat("revoked-certificate: serial ", serial));
  EXPECT_EQ(by_support.back().code(), grpc::StatusCode::UNAUTHENTICATED);

  // The service is back with a new certificate from the same CA.
  const std::string pki = NewTempDir("revoke-sighup-pki");
  ASSERT_EQ(std::system(absl::StrCat("cp -a '", dir_, "/pki/.' '", pki, "/'")
                            .c_str()),
            0);
  ASSERT_TRUE(crypto::IssueClientCertificate(pki, "support", "sandyq.dev",
                                             absl::Now() - absl::Hours(1),
                                             absl::Now() + absl::Hours(24))
                  .ok());
  auto renewed = server_->ClientFor("support", pki);
  ASSERT_TRUE(renewed.ok());
  EXPECT_TRUE((*renewed)
                  ->Lookup(v1::FIELD_TYPE_PHONE, kPhone, "customer_support")
                  .ok());
}

TEST_F(LifecycleE2eTest, RpcReloadRevokesASerialForTheNextCall) {
  ASSERT_NO_FATAL_FAILURE(Start("revoke-rpc"));
  std::ofstream(dir_ + "/revoked-serials.txt", std::ios::app)
      << SupportSerial() << "\n";
  auto reloaded = keyadmin_->ReloadPolicy();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->identities(), 9u);
  EXPECT_EQ(reloaded->revoked_serials(), 1u);
  ExpectSupportChannelStillOpen();
  EXPECT_THAT(support_->Detokenize(token_, "customer_support"),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ExpectOthersUnaffected();
  // Only policy_admin may reload (support would be refused anyway now).
  EXPECT_THAT(dpo_->ReloadPolicy(),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(LifecycleE2eTest, InvalidReloadNamesTheLinesAndKeepsTheOldRules) {
  ASSERT_NO_FATAL_FAILURE(Start("reload-invalid"));
  // A valid revocation of support next to an invalid policy: all or nothing.
  const std::string policy_path = dir_ + "/policy.textproto";
  const std::string revoked_path = dir_ + "/revoked-serials.txt";
  const int bad_policy_line = LineCount(Slurp(policy_path)) + 1;
  std::ofstream(policy_path, std::ios::app)
      << "identities { name: \"ghost\" organisation: \"shop\" country: "
         "\"KZ\" roles: \"no-such-role\" }\n";
  const int bad_serial_line = LineCount(Slurp(revoked_path)) + 2;
  std::ofstream(revoked_path, std::ios::app)
      << SupportSerial() << "\nnot-a-serial\n";

  auto rejected = keyadmin_->ReloadPolicy();
  ASSERT_THAT(rejected, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string message(rejected.status().message());
  EXPECT_THAT(message,
              AllOf(HasSubstr(absl::StrCat(policy_path, ":", bad_policy_line,
                                           ":")),
                    HasSubstr("no-such-role"),
                    HasSubstr(absl::StrCat(revoked_path, ":", bad_serial_line,
                                           ":")),
                    HasSubstr("stay")));
  EXPECT_THAT(message, Not(HasSubstr("not-a-serial")));

  // The CLI prints the same lines and fails.
  std::vector<std::string> args = CliArgs("keyadmin");
  args.push_back("admin");
  args.push_back("reload-policy");
  std::string output;
  EXPECT_EQ(RunCli(args, &output), 1);
  EXPECT_THAT(output,
              AllOf(HasSubstr("INVALID_ARGUMENT"),
                    HasSubstr(absl::StrCat(policy_path, ":", bad_policy_line,
                                           ":"))));

  // SIGHUP too: logged, and the server keeps serving.
  ASSERT_NO_FATAL_FAILURE(Sighup());
  EXPECT_THAT(server_->Stderr(),
              AllOf(HasSubstr("policy not reloaded on SIGHUP"),
                    HasSubstr(absl::StrCat(policy_path, ":", bad_policy_line,
                                           ":"))));

  // The old rules stay: support (revoked in the rejected list) still works.
  EXPECT_TRUE(SupportWorks());
  ExpectOthersUnaffected();

  std::vector<v1::AuditEvent> reloads = Reloads();
  ASSERT_EQ(reloads.size(), 3u);
  for (const v1::AuditEvent& e : reloads) {
    EXPECT_EQ(e.decision(), v1::DECISION_INVALID);
    EXPECT_EQ(e.code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(e.rule(), HasSubstr("rejected"));
  }

  // Once fixed, the reload goes through.
  std::string policy = Slurp(policy_path);
  policy.erase(policy.rfind("identities { name: \"ghost\""));
  Spit(policy_path, policy);
  std::string revoked = Slurp(revoked_path);
  revoked.erase(revoked.rfind("not-a-serial"));
  Spit(revoked_path, revoked);
  ASSERT_TRUE(keyadmin_->ReloadPolicy().ok());
  EXPECT_FALSE(SupportWorks());
}

// Under load from several connections: SIGTERM turns health NOT_SERVING,
// lets calls in flight finish, exits 0, and every acknowledged call is
// served after the restart.
TEST(LifecycleDrainE2eTest, SigtermUnderLoadLosesNoAcknowledgedCall) {
  const std::string dir = NewTempDir("drain");
  auto server = ServerProcess::StartDev(dir);
  ASSERT_TRUE(server.ok()) << server.status();

  // Health, watched on its own connection.
  auto watcher = (*server)->ClientFor("auditor");
  ASSERT_TRUE(watcher.ok());
  std::vector<grpc::health::v1::HealthCheckResponse::ServingStatus> statuses;
  absl::Notification watching;
  std::thread watch([&] {
    auto stub = grpc::health::v1::Health::NewStub((*watcher)->channel());
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kGuard));
    auto reader = stub->Watch(&context, {});
    grpc::health::v1::HealthCheckResponse response;
    while (reader->Read(&response)) {
      statuses.push_back(response.status());
      if (!watching.HasBeenNotified()) watching.Notify();
    }
    reader->Finish();
  });
  ASSERT_TRUE(watching.WaitForNotificationWithTimeout(kGuard));

  struct Acknowledged {
    std::string value;
    std::string token;
  };
  constexpr int kThreads = 4;
  absl::Mutex mu;
  int acknowledged = 0;
  std::vector<std::vector<Acknowledged>> acks(kThreads);
  std::vector<absl::Status> last_error(kThreads);
  std::vector<std::thread> load;
  for (int t = 0; t < kThreads; ++t) {
    load.emplace_back([&, t] {
      auto c = (*server)->ClientFor("checkout");
      if (!c.ok()) return;
      for (int i = 0; i < 1000000; ++i) {
        // Synthetic numbers in the +7 701 range, one per call.
        const std::string value = absl::StrFormat("+7701%07d", t * 1000000 + i);
        auto token = (*c)->Tokenize(absl::StrCat("e2e:drain-", t),
                                    v1::FIELD_TYPE_PHONE, value);
        if (!token.ok()) {
          last_error[t] = token.status();
          return;
        }
        acks[t].push_back({value, *token});
        absl::MutexLock lock(&mu);
        ++acknowledged;
      }
    });
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* n) { return *n >= 200; }, &acknowledged),
        kGuard));
  }
  const int status = (*server)->Stop(SIGTERM);
  for (std::thread& t : load) t.join();
  watch.join();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Health said NOT_SERVING before the server went away.
  EXPECT_THAT(statuses,
              Contains(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  EXPECT_EQ(statuses.front(), grpc::health::v1::HealthCheckResponse::SERVING);
  // Callers were told to go elsewhere, nothing else.
  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE(t);
    EXPECT_EQ(last_error[t].code(), absl::StatusCode::kUnavailable)
        << last_error[t];
  }

  auto restarted = ServerProcess::StartDev(dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  auto dpo = (*restarted)->ClientFor("dpo");
  ASSERT_TRUE(dpo.ok());
  size_t checked = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (size_t from = 0; from < acks[t].size(); from += 500) {
      v1::DetokenizeBatchRequest request;
      const size_t to = std::min(acks[t].size(), from + 500);
      for (size_t i = from; i < to; ++i) {
        auto* item = request.add_items();
        item->set_token(acks[t][i].token);
        item->set_purpose("subject_access_request");
      }
      auto response = (*dpo)->DetokenizeBatch(request);
      ASSERT_TRUE(response.ok()) << response.status();
      ASSERT_EQ(response->results_size(), static_cast<int>(to - from));
      for (size_t i = from; i < to; ++i) {
        const auto& r = response->results(static_cast<int>(i - from));
        ASSERT_FALSE(r.has_error()) << r.error().message();
        EXPECT_EQ(r.value(), acks[t][i].value);
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 200u);
  auto auditor = (*restarted)->ClientFor("auditor");
  ASSERT_TRUE(auditor.ok());
  auto verified = (*auditor)->VerifyAudit();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok()) << verified->reason();
}

}  // namespace
}  // namespace sandyq::testing
