// The gRPC edge in process: a GrpcServer over a vault on a MemoryStore, with
// real mTLS on 127.0.0.1 port 0 and certificates from the dev PKI. The store
// can hold its WAL syncs, which keeps calls in flight for as long as a test
// needs (the vault acknowledges a call only once its event is synced).

#include "server/service/grpc_server.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/dev_pki.h"
#include "server/platform/files.h"
#include "server/policy/access_rules.h"
#include "server/vault/vault.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/vault_fixture.h"

namespace sandyq::service {
namespace {

namespace v1 = ::sandyq::v1;
using ::sandyq::testing::DevPolicy;
using ::sandyq::testing::IsOk;
using ::sandyq::testing::StatusIs;
using ::sandyq::testing::VaultFixture;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTrustDomain[] = "sandyq.dev";
// A failure guard only: every wait below ends on a condition long before.
constexpr absl::Duration kGuard = absl::Seconds(30);

// Synthetic values (domain/kazakhstan.md test vectors).
constexpr char kSubject[] = "crm:test-0001";
constexpr char kPhone[] = "+77012345678";

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = platform::ReadFile(path);
  EXPECT_THAT(text, IsOk());
  return text.value_or("");
}

class GrpcServerTest : public VaultFixture {
 protected:
  void SetUp() override {
    pki_ = dir_.path() + "/pki";
    ASSERT_THAT(crypto::EnsureDevPki({.dir = pki_,
                                      .trust_domain = kTrustDomain,
                                      .identities = {"checkout", "support",
                                                     "keyadmin"}}),
                IsOk());
  }

  void TearDown() override {
    store_.ReleaseSyncs();
    server_.reset();
    CloseVault();
  }

  // Opens the vault with `revoked` serials and starts the server.
  void Start(std::shared_ptr<const policy::RevocationList> revoked = nullptr) {
    policy_ = DevPolicy();
    ASSERT_NE(policy_, nullptr);
    ASSERT_NO_FATAL_FAILURE(OpenLogAndVault({.revoked = std::move(revoked)}));
    absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(
        {.listen = "127.0.0.1:0",
         .cert_pem = Read(pki_ + "/server.crt"),
         .key_pem = Read(pki_ + "/server.key"),
         .client_ca_pem = Read(pki_ + "/ca.crt"),
         .trust_domain = kTrustDomain},
        vault_.get());
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
  }

  std::unique_ptr<client::Client> ClientFor(const std::string& identity) {
    absl::StatusOr<std::unique_ptr<client::Client>> c =
        client::Client::Connect({.address = server_->address(),
                                 .pki_dir = pki_,
                                 .identity = identity,
                                 .timeout = kGuard});
    EXPECT_THAT(c, IsOk());
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Waits until the health service stops reporting SERVING.
  bool AwaitNotServing(client::Client& c) {
    const absl::Time give_up = absl::Now() + kGuard;
    while (absl::Now() < give_up) {
      if (!c.CheckHealth().ok()) return true;
      std::this_thread::yield();
    }
    return false;
  }

  ::sandyq::testing::ScopedTempDir dir_;
  std::string pki_;
  std::unique_ptr<GrpcServer> server_;  // goes before the fixture's vault
};

TEST_F(GrpcServerTest, ShutdownTurnsHealthNotServingAndLetsCallsInFlightFinish) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::unique_ptr<client::Client> checkout = ClientFor("checkout");
  std::unique_ptr<client::Client> keyadmin = ClientFor("keyadmin");
  ASSERT_THAT(keyadmin->CheckHealth(), IsOk());

  // A call in flight: its event is written, its sync held.
  store_.HoldSyncs();
  absl::StatusOr<std::string> in_flight = absl::UnknownError("not run");
  std::thread call([&] {
    in_flight = checkout->Tokenize(kSubject, v1::FIELD_TYPE_PHONE, kPhone);
  });
  store_.AwaitHeldSync();

  absl::Notification shut_down;
  std::thread shutdown([&] {
    server_->Shutdown(absl::Now() + kGuard);
    shut_down.Notify();
  });
  // Health turns first; new calls are refused while the old one runs.
  EXPECT_TRUE(AwaitNotServing(*keyadmin));
  EXPECT_THAT(keyadmin->ListKeys(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(shut_down.HasBeenNotified());

  store_.ReleaseSyncs();
  call.join();
  shutdown.join();
  EXPECT_THAT(in_flight, IsOk());
}

TEST_F(GrpcServerTest, ShutdownCancelsCallsStillRunningAtTheDeadline) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::unique_ptr<client::Client> checkout = ClientFor("checkout");
  store_.HoldSyncs();
  absl::StatusOr<std::string> in_flight = absl::UnknownError("not run");
  absl::Notification answered;
  std::thread call([&] {
    in_flight = checkout->Tokenize(kSubject, v1::FIELD_TYPE_PHONE, kPhone);
    answered.Notify();
  });
  store_.AwaitHeldSync();
  std::thread shutdown(
      [&] { server_->Shutdown(absl::Now() + absl::Milliseconds(100)); });
  // The caller hears back although the call never finished: it was not
  // acknowledged, so it may be retried.
  EXPECT_TRUE(answered.WaitForNotificationWithTimeout(kGuard));
  EXPECT_THAT(in_flight, Not(IsOk()));
  store_.ReleaseSyncs();
  call.join();
  shutdown.join();
}

TEST_F(GrpcServerTest, IdleConnectionsDoNotDelayShutdown) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::unique_ptr<client::Client> checkout = ClientFor("checkout");
  ASSERT_THAT(checkout->Tokenize(kSubject, v1::FIELD_TYPE_PHONE, kPhone),
              IsOk());
  const absl::Time start = absl::Now();
  server_->Shutdown(start + kGuard);
  // Far less than the drain deadline: nothing was in flight.
  EXPECT_LT(absl::Now() - start, kGuard / 2);
}

TEST_F(GrpcServerTest, RevokedCertificateIsRefusedOnItsOpenConnection) {
  absl::StatusOr<crypto::CertificateInfo> support =
      crypto::ParseCertificate(Read(pki_ + "/support.crt"));
  ASSERT_THAT(support, IsOk());
  absl::StatusOr<std::shared_ptr<const policy::RevocationList>> revoked =
      policy::RevocationList::Parse(
          absl::StrCat("serial=", support->serial_hex, "\n"), "revoked.txt");
  ASSERT_THAT(revoked, IsOk());
  ASSERT_NO_FATAL_FAILURE(Start(*revoked));

  std::unique_ptr<client::Client> c = ClientFor("support");
  // Twice: the second answer comes from the serial cache.
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::vector<std::string>> found =
        c->Lookup(v1::FIELD_TYPE_PHONE, kPhone, "customer_support");
    EXPECT_THAT(found, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(found.status().message(), HasSubstr("revoked"));
  }
  // Other certificates are not affected.
  EXPECT_THAT(ClientFor("checkout")->Tokenize(kSubject, v1::FIELD_TYPE_PHONE,
                                              kPhone),
              IsOk());
}

}  // namespace
}  // namespace sandyq::service
