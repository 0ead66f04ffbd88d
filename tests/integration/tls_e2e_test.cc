// Authentication end to end: mTLS with a real CA, identities from
// certificates, and what happens to callers without a valid one.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "server/crypto/dev_pki.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

class TlsE2eTest : public ::testing::Test {
 protected:
  // No assertions here: a failure in SetUpTestSuite makes gtest skip the
  // tests, which ctest counts as passed. SetUp fails each test instead.
  static void SetUpTestSuite() {
    data_dir_ = new std::string(NewTempDir("tls"));
    auto server = ServerProcess::StartDev(*data_dir_);
    if (server.ok()) server_ = server->release();
    setup_error_ = new std::string(server.ok() ? "" : server.status().ToString());
  }
  void SetUp() override { ASSERT_EQ(*setup_error_, ""); }
  static void TearDownTestSuite() {
    delete server_;
    delete data_dir_;
    delete setup_error_;
  }

  // A copy of the server's PKI dir (CA key included) to issue odd
  // certificates from without touching the server's own files.
  std::string CopyPki(const std::string& name) {
    std::string dir = NewTempDir(name);
    std::string cmd = absl::StrCat("cp -a '", *data_dir_, "/pki/.' '", dir, "/'");
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return dir;
  }

  int64_t AuditEventCount() {
    auto auditor = server_->ClientFor("auditor");
    EXPECT_TRUE(auditor.ok());
    auto verify = (*auditor)->VerifyAudit();
    EXPECT_TRUE(verify.ok());
    return static_cast<int64_t>(verify->events_checked());
  }

  static ServerProcess* server_;
  static std::string* data_dir_;
  static std::string* setup_error_;
};
std::string* TlsE2eTest::setup_error_ = nullptr;
ServerProcess* TlsE2eTest::server_ = nullptr;
std::string* TlsE2eTest::data_dir_ = nullptr;

TEST_F(TlsE2eTest, HealthReportsServing) {
  auto c = server_->ClientFor("checkout");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->CheckHealth().ok());
}

TEST_F(TlsE2eTest, ReflectionListsTheServices) {
  auto creds = client::LoadCredentials({.address = server_->address(),
                                        .pki_dir = *data_dir_ + "/pki",
                                        .identity = "checkout"});
  ASSERT_TRUE(creds.ok());
  auto channel = grpc::CreateChannel(server_->address(), *creds);
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto stream = stub->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("*");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) {
    names.push_back(s.name());
  }
  EXPECT_THAT(names, IsSupersetOf({"sandyq.v1.Tokenizer", "sandyq.v1.Audit",
                                   "grpc.health.v1.Health"}));
  while (stream->Read(&response)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(TlsE2eTest, CallWithoutClientCertificateNeverReachesAHandler) {
  const int64_t before = AuditEventCount();
  grpc::SslCredentialsOptions ssl;
  std::FILE* f = std::fopen((*data_dir_ + "/pki/ca.crt").c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[8192];
  ssl.pem_root_certs.assign(buf, std::fread(buf, 1, sizeof(buf), f));
  std::fclose(f);
  auto channel = grpc::CreateChannel(server_->address(), grpc::SslCredentials(ssl));
  auto stub = v1::Tokenizer::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::TokenizeRequest request;
  request.set_subject_id("e2e:nocert");
  request.set_type(v1::FIELD_TYPE_PHONE);
  request.set_value("+77012345678");
  v1::TokenizeResponse response;
  grpc::Status status = stub->Tokenize(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(response.token().empty());
  // Only the auditor's own Verify call was logged in between.
  EXPECT_EQ(AuditEventCount(), before + 1);
}

TEST_F(TlsE2eTest, CertificateFromAnotherCaIsRejected) {
  const std::string other = NewTempDir("other-ca");
  ASSERT_TRUE(crypto::EnsureDevPki({.dir = other, .identities = {"checkout"}}).ok());
  auto c = server_->ClientFor("checkout", other);
  ASSERT_TRUE(c.ok());
  EXPECT_THAT((*c)->Tokenize("e2e:other-ca", v1::FIELD_TYPE_PHONE, "+77012345678"),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TlsE2eTest, ExpiredCertificateIsRejected) {
  const std::string pki = CopyPki("expired");
  ASSERT_TRUE(crypto::IssueClientCertificate(pki, "checkout", "sandyq.dev",
                                             absl::Now() - absl::Hours(48),
                                             absl::Now() - absl::Hours(24))
                  .ok());
  auto c = server_->ClientFor("checkout", pki);
  ASSERT_TRUE(c.ok());
  EXPECT_THAT((*c)->Tokenize("e2e:expired", v1::FIELD_TYPE_PHONE, "+77012345678"),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TlsE2eTest, IdentityUnknownToThePolicyIsDeniedAndLogged) {
  const std::string pki = CopyPki("stranger");
  ASSERT_TRUE(crypto::IssueClientCertificate(pki, "stranger", "sandyq.dev",
                                             absl::Now() - absl::Hours(1),
                                             absl::Now() + absl::Hours(1))
                  .ok());
  auto c = server_->ClientFor("stranger", pki);
  ASSERT_TRUE(c.ok());
  EXPECT_THAT((*c)->Tokenize("e2e:stranger", v1::FIELD_TYPE_PHONE, "+77012345678"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT((*c)->Detokenize("sq_AAAAAAAAAAAAAAAAAAAAAAAA", "customer_support"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT((*c)->VerifyAudit(), StatusIs(absl::StatusCode::kPermissionDenied));

  auto auditor = server_->ClientFor("auditor");
  ASSERT_TRUE(auditor.ok());
  v1::AuditQueryRequest q;
  q.set_identity("stranger");
  int denied = 0;
  ASSERT_TRUE((*auditor)
                  ->QueryAudit(q,
                               [&](const v1::AuditEvent& e) {
                                 EXPECT_EQ(e.decision(), v1::DECISION_DENIED);
                                 EXPECT_EQ(e.rule(), "unknown-identity");
                                 ++denied;
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(denied, 3);
}

TEST_F(TlsE2eTest, SpiffeIdFromAnotherTrustDomainIsNoIdentity) {
  const std::string pki = CopyPki("foreign-domain");
  // CN says "checkout", but the URI SAN names another trust domain.
  ASSERT_TRUE(crypto::IssueClientCertificate(pki, "checkout", "elsewhere.example",
                                             absl::Now() - absl::Hours(1),
                                             absl::Now() + absl::Hours(1))
                  .ok());
  auto c = server_->ClientFor("checkout", pki);
  ASSERT_TRUE(c.ok());
  EXPECT_THAT((*c)->Tokenize("e2e:foreign", v1::FIELD_TYPE_PHONE, "+77012345678"),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// Runs `openssl s_client` against the server with one TLS version.
std::string Handshake(const std::string& address, const std::string& pki,
                      const std::string& version_flag) {
  const std::string out = NewTempDir("s_client") + "/out.txt";
  std::string cmd = absl::StrCat(
      "openssl s_client -connect ", address, " ", version_flag,
      " -cipher DEFAULT@SECLEVEL=0 -cert ", pki, "/checkout.crt -key ", pki,
      "/checkout.key -CAfile ", pki, "/ca.crt < /dev/null > ", out, " 2>&1");
  (void)std::system(cmd.c_str());
  std::FILE* f = std::fopen(out.c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while (f != nullptr && (n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    text.append(buf, n);
  }
  if (f != nullptr) std::fclose(f);
  return text;
}

TEST_F(TlsE2eTest, OnlyTls12AndLaterAreAccepted) {
  const std::string pki = *data_dir_ + "/pki";
  // A completed handshake shows the server's certificate and a cipher.
  const std::string tls12 = Handshake(server_->address(), pki, "-tls1_2");
  EXPECT_THAT(tls12, HasSubstr("Protocol  : TLSv1.2"));
  EXPECT_THAT(tls12, HasSubstr("Server certificate"));
  EXPECT_THAT(Handshake(server_->address(), pki, "-tls1_3"),
              HasSubstr("New, TLSv1.3"));
  for (const char* old : {"-tls1_1", "-tls1"}) {
    SCOPED_TRACE(old);
    // The client offers the old version (security level 0 allows it); the
    // server ends the connection without a certificate or a cipher.
    const std::string text = Handshake(server_->address(), pki, old);
    EXPECT_THAT(text, HasSubstr("CONNECTED"));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("Server certificate")));
    EXPECT_THAT(text, HasSubstr("Cipher is (NONE)"));
  }
}

}  // namespace
}  // namespace sandyq::testing
