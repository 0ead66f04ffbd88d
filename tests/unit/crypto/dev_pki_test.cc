#include "server/crypto/dev_pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/internal/ssl_util.h"
#include "server/platform/files.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::internal::BignumPtr;
using ::sandyq::crypto::internal::BioPtr;
using ::sandyq::crypto::internal::X509Ptr;
using ::sandyq::crypto::internal::X509StoreCtxPtr;
using ::sandyq::crypto::internal::X509StorePtr;
using ::sandyq::crypto::testing::FileMode;
using ::sandyq::crypto::testing::IsOk;
using ::sandyq::crypto::testing::ScopedTempDir;
using ::sandyq::crypto::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

std::string ReadOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> content = platform::ReadFile(path);
  EXPECT_TRUE(content.ok()) << content.status();
  return content.ok() ? *content : "";
}

X509Ptr LoadCert(const std::string& path) {
  const std::string pem = ReadOrEmpty(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(cert, nullptr) << path;
  return cert;
}

// X509_verify_cert of `leaf` against `ca` for `purpose`; returns the
// verification error (X509_V_OK on success).
int Verify(X509* ca, X509* leaf, int purpose) {
  X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  const int ok = X509_verify_cert(ctx.get());
  const int error = X509_STORE_CTX_get_error(ctx.get());
  return ok == 1 ? X509_V_OK : (error == X509_V_OK ? -1 : error);
}

std::string ExtensionText(X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  if (index < 0) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509V3_EXT_print(bio.get(), X509_get_ext(cert, index), 0, 0);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);  // NOLINT
  return std::string(data, static_cast<size_t>(size));
}

bool ExtensionIsCritical(X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index));
}

class DevPkiTest : public ::testing::Test {
 protected:
  DevPkiOptions Options(std::vector<std::string> identities = {"alice",
                                                               "bob"}) {
    DevPkiOptions options;
    options.dir = dir_;
    options.identities = std::move(identities);
    return options;
  }
  std::string File(absl::string_view name) const {
    return absl::StrCat(dir_, "/", name);
  }

  ScopedTempDir temp_;
  // A directory EnsureDevPki creates itself.
  const std::string dir_ = temp_.File("pki");
};

TEST_F(DevPkiTest, CreatesFilesWithOwnerOnlyKeys) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  EXPECT_EQ(FileMode(dir_), 0700);
  for (const char* name : {"ca", "server", "alice", "bob"}) {
    EXPECT_EQ(FileMode(File(absl::StrCat(name, ".key"))), 0600) << name;
    EXPECT_EQ(FileMode(File(absl::StrCat(name, ".crt"))), 0644) << name;
  }
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ElementsAre("alice.crt", "alice.key", "bob.crt",
                                 "bob.key", "ca.crt", "ca.key", "server.crt",
                                 "server.key"));
}

TEST_F(DevPkiTest, SecondRunKeepsExistingFilesAndAddsNewIdentities) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  std::vector<std::string> before;
  const std::vector<std::string> files = {"ca.crt",    "ca.key",   "server.crt",
                                          "server.key", "alice.crt", "alice.key",
                                          "bob.crt",   "bob.key"};
  for (const std::string& f : files) before.push_back(ReadOrEmpty(File(f)));

  ASSERT_THAT(EnsureDevPki(Options({"alice", "bob", "carol"})), IsOk());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(ReadOrEmpty(File(files[i])), before[i]) << files[i];
  }
  X509Ptr ca = LoadCert(File("ca.crt"));
  X509Ptr carol = LoadCert(File("carol.crt"));
  EXPECT_EQ(Verify(ca.get(), carol.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(DevPkiTest, CaIsAnEcdsaP256CertificateAuthority) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  X509Ptr ca = LoadCert(File("ca.crt"));
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(ExtensionIsCritical(ca.get(), NID_basic_constraints));
  EXPECT_EQ(ExtensionText(ca.get(), NID_basic_constraints), "CA:TRUE");
  EXPECT_TRUE(ExtensionIsCritical(ca.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(ca.get()), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_ecdsa_with_SHA256);
  EVP_PKEY* key = X509_get0_pubkey(ca.get());
  char group[64] = {0};
  size_t group_len = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len), 1);
  EXPECT_STREQ(group, "prime256v1");
  // Self-signed.
  EXPECT_EQ(Verify(ca.get(), ca.get(), X509_PURPOSE_ANY), X509_V_OK);
}

TEST_F(DevPkiTest, ServerCertificateVerifiesForLocalhost) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  X509Ptr ca = LoadCert(File("ca.crt"));
  X509Ptr server = LoadCert(File("server.crt"));
  ASSERT_TRUE(ca != nullptr && server != nullptr);
  EXPECT_EQ(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  // serverAuth only: not usable as a client certificate.
  EXPECT_EQ(Verify(ca.get(), server.get(), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(X509_get_extended_key_usage(server.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_host(server.get(), "example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_TRUE(ExtensionIsCritical(server.get(), NID_basic_constraints));
  // The authority key identifier names the CA's key.
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(server.get());
  ASSERT_NE(aki, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca.get())), 0);
  EXPECT_NE(X509_get0_subject_key_id(server.get()), nullptr);
  EXPECT_EQ(X509_get_signature_nid(server.get()), NID_ecdsa_with_SHA256);
}

TEST_F(DevPkiTest, ClientCertificatesCarryTheIdentity) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  X509Ptr ca = LoadCert(File("ca.crt"));
  X509Ptr alice = LoadCert(File("alice.crt"));
  ASSERT_TRUE(ca != nullptr && alice != nullptr);
  EXPECT_EQ(Verify(ca.get(), alice.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(ca.get(), alice.get(), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(X509_get_extended_key_usage(alice.get()),
            static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(ExtensionText(alice.get(), NID_subject_alt_name),
            "URI:spiffe://sandyq.dev/alice");
  EXPECT_NE(X509_get0_authority_key_id(alice.get()), nullptr);
  // The key file holds the key of the certificate.
  const std::string key_pem = ReadOrEmpty(File("alice.key"));
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  internal::EvpPkeyPtr key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(alice.get(), key.get()), 1);

  absl::StatusOr<CertificateInfo> info =
      ParseCertificate(ReadOrEmpty(File("alice.crt")));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "alice");
  EXPECT_THAT(info->uri_sans, ElementsAre("spiffe://sandyq.dev/alice"));
  EXPECT_THAT(info->serial_hex, MatchesRegex("[0-9A-F]+"));
  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(alice.get()),
                                      nullptr));
  char* hex = BN_bn2hex(serial.get());
  EXPECT_EQ(info->serial_hex, hex);
  OPENSSL_free(hex);
  // 128 random bits, positive.
  EXPECT_FALSE(BN_is_negative(serial.get()));
  EXPECT_GT(BN_num_bits(serial.get()), 120);
  EXPECT_LE(BN_num_bits(serial.get()), 128);
}

TEST_F(DevPkiTest, SerialsDiffer) {
  ASSERT_THAT(EnsureDevPki(Options({"a1", "a2", "a3"})), IsOk());
  std::vector<std::string> serials;
  for (const char* name : {"ca", "server", "a1", "a2", "a3"}) {
    absl::StatusOr<CertificateInfo> info =
        ParseCertificate(ReadOrEmpty(File(absl::StrCat(name, ".crt"))));
    ASSERT_TRUE(info.ok());
    serials.push_back(info->serial_hex);
  }
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(std::unique(serials.begin(), serials.end()), serials.end());
}

TEST_F(DevPkiTest, ParsesTheServerCertificate) {
  ASSERT_THAT(EnsureDevPki(Options({})), IsOk());
  absl::StatusOr<CertificateInfo> info =
      ParseCertificate(ReadOrEmpty(File("server.crt")));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "localhost");
  EXPECT_THAT(info->uri_sans, IsEmpty());
}

TEST_F(DevPkiTest, UsesTheTrustDomain) {
  DevPkiOptions options = Options({"checkout-svc"});
  options.trust_domain = "vault.example.kz";
  ASSERT_THAT(EnsureDevPki(options), IsOk());
  absl::StatusOr<CertificateInfo> info =
      ParseCertificate(ReadOrEmpty(File("checkout-svc.crt")));
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(info->uri_sans,
              ElementsAre("spiffe://vault.example.kz/checkout-svc"));
}

TEST_F(DevPkiTest, RejectsBadIdentitiesBeforeWritingAnything) {
  for (const std::string& identity :
       {std::string("Alice"), std::string("a b"), std::string(""),
        std::string(65, 'a'), std::string("../x"), std::string("a/b"),
        std::string("é"), std::string("ca"), std::string("server")}) {
    EXPECT_THAT(EnsureDevPki(Options({"alice", identity})),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << identity;
    EXPECT_FALSE(platform::PathExists(dir_));
  }
  EXPECT_THAT(EnsureDevPki(Options({std::string(64, 'a'), "a_b-9"})), IsOk());
}

TEST_F(DevPkiTest, RejectsBadTrustDomains) {
  for (const char* domain : {"", "Sandyq.dev", "a/b", "a b", "x:1"}) {
    DevPkiOptions options = Options();
    options.trust_domain = domain;
    EXPECT_THAT(EnsureDevPki(options),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << domain;
  }
}

TEST_F(DevPkiTest, RefusesADirectoryOpenToOthers) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  EXPECT_THAT(EnsureDevPki(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(platform::PathExists(File("ca.key")));
}

TEST_F(DevPkiTest, RefusesAHalfCa) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  ASSERT_EQ(::unlink(File("ca.crt").c_str()), 0);
  const std::string key = ReadOrEmpty(File("ca.key"));
  EXPECT_THAT(EnsureDevPki(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ReadOrEmpty(File("ca.key")), key);
}

TEST_F(DevPkiTest, ReissuesALeafNotSignedByTheCa) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  // alice's files from another PKI.
  DevPkiOptions other = Options({"alice"});
  other.dir = temp_.File("other");
  ASSERT_THAT(EnsureDevPki(other), IsOk());
  for (const char* f : {"alice.crt", "alice.key"}) {
    ASSERT_THAT(platform::WriteFileAtomic(
                    File(f), ReadOrEmpty(absl::StrCat(other.dir, "/", f)),
                    0600),
                IsOk());
  }
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  X509Ptr ca = LoadCert(File("ca.crt"));
  X509Ptr alice = LoadCert(File("alice.crt"));
  EXPECT_EQ(Verify(ca.get(), alice.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(FileMode(File("alice.crt")), 0644);
}

TEST_F(DevPkiTest, IssuesExpiredCertificatesForTestsAndRenewsThem) {
  ASSERT_THAT(EnsureDevPki(Options()), IsOk());
  const absl::Time now = absl::Now();
  ASSERT_THAT(IssueClientCertificate(dir_, "old-svc", "sandyq.dev",
                                     now - absl::Hours(48),
                                     now - absl::Hours(24)),
              IsOk());
  X509Ptr ca = LoadCert(File("ca.crt"));
  X509Ptr old = LoadCert(File("old-svc.crt"));
  EXPECT_EQ(Verify(ca.get(), old.get(), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(FileMode(File("old-svc.key")), 0600);

  // EnsureDevPki replaces an expired certificate it is asked for.
  ASSERT_THAT(EnsureDevPki(Options({"alice", "bob", "old-svc"})), IsOk());
  X509Ptr renewed = LoadCert(File("old-svc.crt"));
  EXPECT_EQ(Verify(ca.get(), renewed.get(), X509_PURPOSE_SSL_CLIENT),
            X509_V_OK);
}

TEST_F(DevPkiTest, IssueClientCertificateValidatesItsInput) {
  const absl::Time now = absl::Now();
  EXPECT_THAT(IssueClientCertificate(dir_, "alice", "sandyq.dev", now,
                                     now + absl::Hours(1)),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(EnsureDevPki(Options({})), IsOk());
  EXPECT_THAT(IssueClientCertificate(dir_, "Alice", "sandyq.dev", now,
                                     now + absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(IssueClientCertificate(dir_, "server", "sandyq.dev", now,
                                     now + absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(IssueClientCertificate(dir_, "alice", "sandyq.dev", now, now),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseCertificateTest, RejectsWhatIsNotACertificate) {
  EXPECT_THAT(ParseCertificate(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n"
                               "-----END CERTIFICATE-----\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sandyq::crypto
