// The example production configuration and policy must load with the real
// parsers, and agree with the systemd unit about where things live.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config.h"
#include "server/platform/files.h"
#include "server/policy/policy.h"

namespace sandyq::config {
namespace {

using ::testing::Contains;
using ::testing::IsSupersetOf;
using ::testing::StartsWith;

std::string Source(absl::string_view path) {
  return absl::StrCat(SANDYQ_SOURCE_DIR, "/", path);
}

std::string Read(absl::string_view path) {
  absl::StatusOr<std::string> text = platform::ReadFile(Source(path));
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// Values of `key=` lines of a systemd unit, in order.
std::vector<std::string> UnitValues(const std::string& unit,
                                    absl::string_view key) {
  std::vector<std::string> values;
  for (absl::string_view line : absl::StrSplit(unit, '\n')) {
    if (absl::ConsumePrefix(&line, absl::StrCat(key, "="))) {
      values.emplace_back(line);
    }
  }
  return values;
}

TEST(ProductionExamplesTest, ConfigLoads) {
  absl::StatusOr<sandyq::v1::ServerConfig> cfg =
      LoadServerConfig(Source("deploy/production/sandyqd.textproto"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->listen(), "0.0.0.0:7443");
  EXPECT_EQ(cfg->residency_country(), "KZ");
  ASSERT_TRUE(cfg->master_key().has_pkcs11());
  EXPECT_EQ(cfg->master_key().pkcs11().module(),
            "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(cfg->master_key().pkcs11().pin_file(), "/etc/sandyq/hsm.pin");
  EXPECT_EQ(cfg->tls().key_file(), "/etc/sandyq/tls/server.key");
  EXPECT_EQ(cfg->policy_file(), "/etc/sandyq/policy.textproto");
  EXPECT_FALSE(cfg->keys().rotate_every().empty());
  // Metrics have no TLS and no authentication: loopback only.
  EXPECT_THAT(cfg->metrics().listen(), StartsWith("127.0.0.1:"));
  ASSERT_EQ(cfg->backups().targets_size(), 1);
}

TEST(ProductionExamplesTest, PolicyParses) {
  absl::StatusOr<std::shared_ptr<const policy::Policy>> p =
      policy::Policy::Parse(Read("deploy/production/policy.textproto"),
                            "deploy/production/policy.textproto");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT((*p)->IdentityNames(),
              IsSupersetOf({"checkout-api", "support-portal", "dpo",
                            "keyadmin", "auditor"}));
  // The people who answer data-subject requests, keep the keys and audit
  // the log can do so (the runbooks rely on these identities).
  const policy::Principal* dpo = (*p)->FindIdentity("dpo");
  ASSERT_NE(dpo, nullptr);
  EXPECT_TRUE((*p)->SubjectAdmin(*dpo).allowed);
  const policy::Principal* keyadmin = (*p)->FindIdentity("keyadmin");
  ASSERT_NE(keyadmin, nullptr);
  EXPECT_TRUE((*p)->KeyAdmin(*keyadmin).allowed);
  EXPECT_TRUE((*p)->Backup(*keyadmin).allowed);
  const policy::Principal* auditor = (*p)->FindIdentity("auditor");
  ASSERT_NE(auditor, nullptr);
  EXPECT_TRUE((*p)->Audit(*auditor).allowed);
  EXPECT_FALSE((*p)->Audit(*keyadmin).allowed);
  // Revoking a caller from the admin desk (admin reload-policy).
  EXPECT_TRUE((*p)->PolicyAdmin(*keyadmin).allowed);
}

// In production every identity that may reveal values has a cap on them:
// a stolen certificate reads at most that much.
TEST(ProductionExamplesTest, EveryIdentityThatRevealsHasRevealLimits) {
  absl::StatusOr<std::shared_ptr<const policy::Policy>> p =
      policy::Policy::Parse(Read("deploy/production/policy.textproto"),
                            "deploy/production/policy.textproto");
  ASSERT_TRUE(p.ok()) << p.status();
  int revealers = 0;
  for (const std::string& name : (*p)->IdentityNames()) {
    const policy::Principal* who = (*p)->FindIdentity(name);
    ASSERT_NE(who, nullptr);
    bool reveals = false;
    for (absl::string_view purpose :
         {"payment_processing", "order_fulfilment", "customer_support",
          "marketing", "legal_request", "subject_access_request"}) {
      reveals = reveals || (*p)->RevealAnything(*who, purpose, true).allowed;
    }
    if (!reveals) continue;
    ++revealers;
    EXPECT_FALSE(who->reveal_limits.empty()) << name;
    for (const policy::RevealLimit& limit : who->reveal_limits) {
      EXPECT_GT(limit.per_day, 0u) << name;
    }
  }
  EXPECT_GE(revealers, 5);
}

// Where the config keeps state is where the unit lets the service write:
// its StateDirectory and ReadWritePaths. Anything else is read-only under
// ProtectSystem=strict and the server would fail at start.
TEST(ProductionExamplesTest, ConfigWritesOnlyWhereTheUnitAllows) {
  absl::StatusOr<sandyq::v1::ServerConfig> cfg =
      LoadServerConfig(Source("deploy/production/sandyqd.textproto"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const std::string unit = Read("deploy/systemd/sandyqd.service");
  const std::vector<std::string> state = UnitValues(unit, "StateDirectory");
  ASSERT_EQ(state.size(), 1u);
  const std::string state_dir = absl::StrCat("/var/lib/", state[0], "/");
  EXPECT_THAT(cfg->data_dir(), StartsWith(state_dir));
  EXPECT_THAT(cfg->erasure_ledger(), StartsWith(state_dir));

  std::vector<std::string> writable;
  for (const std::string& v : UnitValues(unit, "ReadWritePaths")) {
    for (absl::string_view p : absl::StrSplit(v, ' ', absl::SkipEmpty())) {
      writable.emplace_back(absl::StripPrefix(p, "-"));
    }
  }
  for (const auto& t : cfg->backups().targets()) {
    EXPECT_THAT(writable, Contains(t.path()));
  }
  // SoftHSM2's tokens (the drop-in's SOFTHSM2_CONF) are in the state
  // directory too.
  const std::string dropin =
      Read("deploy/production/sandyqd.service.d/softhsm2.conf");
  EXPECT_THAT(UnitValues(dropin, "Environment"),
              Contains("SOFTHSM2_CONF=/etc/sandyq/softhsm2.conf"));
  const std::string softhsm = Read("deploy/production/softhsm2.conf");
  EXPECT_TRUE(absl::StrContains(
      softhsm, absl::StrCat("directories.tokendir = ", state_dir)))
      << softhsm;
}

TEST(ProductionExamplesTest, UnitStartsTheServerWithTheExampleConfig) {
  const std::string unit = Read("deploy/systemd/sandyqd.service");
  const std::vector<std::string> exec = UnitValues(unit, "ExecStart");
  ASSERT_EQ(exec.size(), 1u);
  EXPECT_THAT(exec[0],
              StartsWith("/usr/local/bin/sandyqd --config "
                         "/etc/sandyq/sandyqd.textproto"));
  EXPECT_THAT(UnitValues(unit, "User"), Contains("sandyq"));
}

// Every full config in the operations guide (a block that starts with
// "listen:") loads as well.
TEST(ProductionExamplesTest, ConfigsInTheOperationsGuideLoad) {
  const std::string doc = Read("docs/operations.md");
  int checked = 0;
  size_t at = 0;
  while ((at = doc.find("```textproto\n", at)) != std::string::npos) {
    at += 13;
    const size_t end = doc.find("```", at);
    ASSERT_NE(end, std::string::npos);
    const std::string block = doc.substr(at, end - at);
    if (!absl::StartsWith(block, "listen:")) continue;
    absl::StatusOr<sandyq::v1::ServerConfig> cfg =
        ParseServerConfig(block, "docs/operations.md", "/etc/sandyq");
    EXPECT_TRUE(cfg.ok()) << cfg.status() << "\n" << block;
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace sandyq::config
