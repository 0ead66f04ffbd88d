#include <sys/stat.h>

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config.h"
#include "tests/fakes/status_matchers.h"
#include "tests/fakes/temp_dir.h"

namespace sandyq::config {
namespace {

using ::sandyq::testing::ScopedTempDir;
using ::sandyq::testing::StatusIs;
using ::testing::HasSubstr;

// The HSM PIN file is checked before the PKCS#11 module is even loaded: a PIN
// that group or others may read stops the start, naming the file.
TEST(OpenMasterKeyTest, RefusesAPinFileOthersMayRead) {
  ScopedTempDir dir;
  const std::string pin = dir.File("hsm.pin");
  std::ofstream(pin) << "1234\n";
  sandyq::v1::MasterKeyConfig config;
  auto* p = config.mutable_pkcs11();
  p->set_module(dir.File("no-such-module.so"));
  p->set_token_label("sandyq");
  p->set_key_label("sandyq-master");
  p->set_pin_file(pin);
  for (mode_t mode : {0640, 0604, 0644}) {
    ASSERT_EQ(::chmod(pin.c_str(), mode), 0);
    const auto opened = OpenMasterKey(config);
    EXPECT_THAT(opened, StatusIs(absl::StatusCode::kFailedPrecondition))
        << std::oct << mode;
    EXPECT_THAT(std::string(opened.status().message()), HasSubstr(pin));
  }
  // Owner-only: past the PIN check, on to the (missing) module.
  ASSERT_EQ(::chmod(pin.c_str(), 0400), 0);
  const auto opened = OpenMasterKey(config);
  EXPECT_FALSE(opened.ok());
  EXPECT_THAT(std::string(opened.status().message()),
              ::testing::Not(HasSubstr("group or others")));
  EXPECT_THAT(std::string(opened.status().message()),
              ::testing::Not(HasSubstr("1234")));
}

}  // namespace
}  // namespace sandyq::config
