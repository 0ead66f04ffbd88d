#include "server/crypto/certificate.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/crypto/dev_pki.h"
#include "server/platform/files.h"
#include "tests/unit/crypto/test_util.h"

namespace sandyq::crypto {
namespace {

using ::sandyq::crypto::testing::IsOk;
using ::sandyq::crypto::testing::ScopedTempDir;
using ::sandyq::crypto::testing::StatusIs;

// A self-signed test certificate made with `openssl req -x509 -newkey ec
// -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=sandyq-serial-test
// -set_serial 0x00C0FFEE0123456789`, for which `openssl x509 -noout -serial`
// prints "serial=C0FFEE0123456789".
constexpr char kTestCertificate[] = R"(-----BEGIN CERTIFICATE-----
MIIBhTCCASqgAwIBAgIJAMD/7gEjRWeJMAoGCCqGSM49BAMCMB0xGzAZBgNVBAMM
EnNhbmR5cS1zZXJpYWwtdGVzdDAeFw0yNjExMjIwNjI2NDZaFw0zNjExMTkwNjI2
NDZaMB0xGzAZBgNVBAMMEnNhbmR5cS1zZXJpYWwtdGVzdDBZMBMGByqGSM49AgEG
CCqGSM49AwEHA0IABDvAFcdlIRCIpbSaSf4PrAgQIi+N7uvqUz/fUaXKB1n3wSU2
ZQkfOOm6QgGP66Ruqv8QDNestseJqdBNJaefHbOjUzBRMB0GA1UdDgQWBBQ9UUIq
PwymVffoQEFjy5iax/G/OTAfBgNVHSMEGDAWgBQ9UUIqPwymVffoQEFjy5iax/G/
OTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCvgv5T0i0xFES3
corU3VQNEF0pWxU7QaEJ0QSnEtlWFQIhAMkwt8Q8mz7dbQPqRxN2kag9CxxPjbvW
g5nR6CNaKIOo
-----END CERTIFICATE-----
)";

TEST(CertificateSerialTest, ReadsTheSerialAsOpensslPrintsIt) {
  EXPECT_THAT(CertificateSerial(kTestCertificate),
              ::sandyq::testing::IsOkAndHolds(std::string("C0FFEE0123456789")));
}

TEST(CertificateSerialTest, MatchesTheDevPkiClientCertificates) {
  ScopedTempDir temp;
  const std::string dir = temp.File("pki");
  ASSERT_THAT(EnsureDevPki({.dir = dir, .identities = {"support"}}), IsOk());
  absl::StatusOr<std::string> pem = platform::ReadFile(dir + "/support.crt");
  ASSERT_THAT(pem, IsOk());
  absl::StatusOr<CertificateInfo> info = ParseCertificate(*pem);
  ASSERT_THAT(info, IsOk());
  EXPECT_THAT(CertificateSerial(*pem),
              ::sandyq::testing::IsOkAndHolds(info->serial_hex));
}

TEST(CertificateSerialTest, RefusesWhatIsNotACertificate) {
  EXPECT_THAT(CertificateSerial(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CertificateSerial("-----BEGIN CERTIFICATE-----\nAAAA\n"
                                "-----END CERTIFICATE-----\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sandyq::crypto
