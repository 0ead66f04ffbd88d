// Every row of the sample policy (deploy/dev/policy.textproto), checked
// through the real server: what each identity may tokenize, reveal (full,
// masked or not at all, per purpose and field type), look up and audit.
// The expected table is written out here from the product's specification,
// independently of the policy file, so a drifting policy fails this test.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;

enum class Expect { kDenied, kMasked, kFull };

const std::vector<std::string> kIdentities = {
    "checkout", "support", "marketing", "analytics", "partner-de",
    "legal",    "dpo",     "keyadmin",  "auditor"};
const std::vector<std::string> kPurposes = {
    "payment_processing", "order_fulfilment", "customer_support",
    "marketing",          "legal_request",    "subject_access_request"};
const std::vector<v1::FieldType> kTypes = {
    v1::FIELD_TYPE_FULL_NAME,   v1::FIELD_TYPE_IIN,
    v1::FIELD_TYPE_PASSPORT,    v1::FIELD_TYPE_PHONE,
    v1::FIELD_TYPE_CARD_NUMBER, v1::FIELD_TYPE_CARD_EXPIRY,
    v1::FIELD_TYPE_EMAIL,       v1::FIELD_TYPE_DATE_OF_BIRTH,
    v1::FIELD_TYPE_ADDRESS};

// identity -> purpose -> type -> grant. Anything absent is denied.
std::map<std::string, std::map<std::string, std::map<v1::FieldType, Expect>>>
SampleGrants() {
  std::map<std::string, std::map<std::string, std::map<v1::FieldType, Expect>>> g;
  g["checkout"]["payment_processing"] = {
      {v1::FIELD_TYPE_CARD_NUMBER, Expect::kFull},
      {v1::FIELD_TYPE_CARD_EXPIRY, Expect::kFull}};
  g["checkout"]["order_fulfilment"] = {{v1::FIELD_TYPE_FULL_NAME, Expect::kFull},
                                       {v1::FIELD_TYPE_PHONE, Expect::kFull},
                                       {v1::FIELD_TYPE_ADDRESS, Expect::kFull}};
  g["support"]["customer_support"] = {
      {v1::FIELD_TYPE_FULL_NAME, Expect::kFull},
      {v1::FIELD_TYPE_PHONE, Expect::kMasked},
      {v1::FIELD_TYPE_IIN, Expect::kMasked},
      {v1::FIELD_TYPE_CARD_NUMBER, Expect::kMasked},
      {v1::FIELD_TYPE_EMAIL, Expect::kMasked}};
  g["marketing"]["marketing"] = {{v1::FIELD_TYPE_PHONE, Expect::kFull},
                                 {v1::FIELD_TYPE_EMAIL, Expect::kFull}};
  g["partner-de"]["order_fulfilment"] = {
      {v1::FIELD_TYPE_FULL_NAME, Expect::kFull},
      {v1::FIELD_TYPE_EMAIL, Expect::kFull}};
  for (v1::FieldType t : kTypes) {
    g["legal"]["legal_request"][t] = Expect::kFull;
    g["dpo"]["subject_access_request"][t] = Expect::kFull;
  }
  return g;
}

// One synthetic value per type, and its full and masked forms.
struct Sample {
  std::string input;
  std::string full;
  std::string masked;
};
const std::map<v1::FieldType, Sample>& Samples() {
  static const auto* samples = new std::map<v1::FieldType, Sample>{
      {v1::FIELD_TYPE_FULL_NAME, {"Әлия Тестова", "Әлия Тестова", "Ә*** Т***"}},
      {v1::FIELD_TYPE_IIN, {"850315300019", "850315300019", "85********19"}},
      {v1::FIELD_TYPE_PASSPORT, {"N12345678", "N12345678", "*******78"}},
      {v1::FIELD_TYPE_PHONE, {"+77012345678", "+77012345678", "+7 701 *** ** 78"}},
      {v1::FIELD_TYPE_CARD_NUMBER,
       {"4000056655665556", "4000056655665556", "400005******5556"}},
      {v1::FIELD_TYPE_CARD_EXPIRY, {"07/29", "2029-07", "****-**"}},
      {v1::FIELD_TYPE_EMAIL,
       {"aliya.test@example.kz", "aliya.test@example.kz", "a***@example.kz"}},
      {v1::FIELD_TYPE_DATE_OF_BIRTH, {"1985-03-15", "1985-03-15", "1985-**-**"}},
      {v1::FIELD_TYPE_ADDRESS,
       {"г. Алматы, ул. Тестовая 1", "г. Алматы, ул. Тестовая 1", "***"}},
  };
  return *samples;
}

class PolicyE2eTest : public ::testing::Test {
 protected:
  // No assertions here: a failure in SetUpTestSuite makes gtest skip the
  // tests, which ctest counts as passed. SetUp fails each test instead.
  static void SetUpTestSuite() { setup_error_ = new std::string(Prepare()); }
  void SetUp() override { ASSERT_EQ(*setup_error_, ""); }

  // Starts the server and stores one value of every type; "" if all went well.
  static std::string Prepare() {
    auto server = ServerProcess::StartDev(NewTempDir("policy"));
    if (!server.ok()) return server.status().ToString();
    server_ = server->release();
    auto checkout = server_->ClientFor("checkout");
    auto dpo = server_->ClientFor("dpo");
    if (!checkout.ok() || !dpo.ok()) return "no client";
    // The person consented to marketing and to order fulfilment abroad, so
    // the grants alone decide here (subjects_e2e_test covers the conditions).
    for (auto [purpose, cross_border] :
         {std::pair<const char*, bool>{"marketing", false},
          {"order_fulfilment", true}}) {
      v1::RecordConsentRequest consent;
      consent.set_subject_id("e2e:policy-subject");
      consent.set_purpose(purpose);
      consent.set_granted(true);
      consent.set_cross_border(cross_border);
      consent.set_policy_version("2026-01");
      consent.set_channel("web-form");
      if (auto r = (*dpo)->RecordConsent(consent); !r.ok()) {
        return r.status().ToString();
      }
    }
    tokens_ = new std::map<v1::FieldType, std::string>;
    for (v1::FieldType t : kTypes) {
      auto token = (*checkout)->Tokenize("e2e:policy-subject", t,
                                         Samples().at(t).input, "policy-e2e");
      if (!token.ok()) return token.status().ToString();
      (*tokens_)[t] = *token;
    }
    return "";
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tokens_;
    delete setup_error_;
  }
  std::unique_ptr<client::Client> As(const std::string& identity) {
    auto c = server_->ClientFor(identity);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }
  static ServerProcess* server_;
  static std::map<v1::FieldType, std::string>* tokens_;
  static std::string* setup_error_;
};
std::string* PolicyE2eTest::setup_error_ = nullptr;
ServerProcess* PolicyE2eTest::server_ = nullptr;
std::map<v1::FieldType, std::string>* PolicyE2eTest::tokens_ = nullptr;

TEST_F(PolicyE2eTest, EveryIdentityGetsExactlyWhatTheSamplePolicyGrants) {
  const auto grants = SampleGrants();
  int checked = 0;
  for (const std::string& identity : kIdentities) {
    auto caller = As(identity);
    for (const std::string& purpose : kPurposes) {
      v1::DetokenizeBatchRequest request;
      for (v1::FieldType t : kTypes) {
        auto* item = request.add_items();
        item->set_token(tokens_->at(t));
        item->set_purpose(purpose);
        item->set_justification("court order 2-1234/2026");
      }
      auto response = caller->DetokenizeBatch(request);
      ASSERT_TRUE(response.ok()) << response.status();
      ASSERT_EQ(response->results_size(), static_cast<int>(kTypes.size()));
      for (size_t i = 0; i < kTypes.size(); ++i) {
        const v1::FieldType t = kTypes[i];
        SCOPED_TRACE(identity + " / " + purpose + " / " + v1::FieldType_Name(t));
        Expect expect = Expect::kDenied;
        if (auto by_purpose = grants.find(identity); by_purpose != grants.end()) {
          if (auto by_type = by_purpose->second.find(purpose);
              by_type != by_purpose->second.end()) {
            if (auto g = by_type->second.find(t); g != by_type->second.end()) {
              expect = g->second;
            }
          }
        }
        const v1::DetokenizeResult& r = response->results(i);
        switch (expect) {
          case Expect::kDenied:
            EXPECT_EQ(r.error().code(),
                      static_cast<int>(absl::StatusCode::kPermissionDenied));
            EXPECT_TRUE(r.value().empty());
            break;
          case Expect::kMasked:
            ASSERT_FALSE(r.has_error()) << r.error().message();
            EXPECT_TRUE(r.masked());
            EXPECT_EQ(r.value(), Samples().at(t).masked);
            break;
          case Expect::kFull:
            ASSERT_FALSE(r.has_error()) << r.error().message();
            EXPECT_FALSE(r.masked());
            EXPECT_EQ(r.value(), Samples().at(t).full);
            break;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 9 * 6 * 9);
}

TEST_F(PolicyE2eTest, LegalRequestNeedsJustification) {
  auto legal = As("legal");
  auto r = legal->Detokenize(tokens_->at(v1::FIELD_TYPE_IIN), "legal_request");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("justification"));
  auto ok = legal->Detokenize(tokens_->at(v1::FIELD_TYPE_IIN), "legal_request",
                              "court order 2-1234/2026");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->value(), "850315300019");
}

TEST_F(PolicyE2eTest, UnregisteredPurposeIsInvalid) {
  auto dpo = As("dpo");
  EXPECT_THAT(dpo->Detokenize(tokens_->at(v1::FIELD_TYPE_IIN), "curiosity"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dpo->Detokenize(tokens_->at(v1::FIELD_TYPE_IIN), ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(PolicyE2eTest, OnlyCheckoutAndAnalyticsTokenize) {
  const std::set<std::string> may = {"checkout", "analytics"};
  for (const std::string& identity : kIdentities) {
    SCOPED_TRACE(identity);
    auto token = As(identity)->Tokenize("e2e:policy-tokenize",
                                        v1::FIELD_TYPE_EMAIL,
                                        "tokenize.check@example.kz");
    if (may.count(identity)) {
      EXPECT_TRUE(token.ok()) << token.status();
    } else {
      EXPECT_THAT(token, StatusIs(absl::StatusCode::kPermissionDenied));
    }
  }
}

TEST_F(PolicyE2eTest, OnlySupportAndDpoLookUp) {
  const std::map<std::string, std::string> may = {
      {"support", "customer_support"}, {"dpo", "subject_access_request"}};
  for (const std::string& identity : kIdentities) {
    for (const std::string& purpose : kPurposes) {
      SCOPED_TRACE(identity + " / " + purpose);
      auto found = As(identity)->Lookup(v1::FIELD_TYPE_PHONE, "+77012345678",
                                        purpose);
      auto it = may.find(identity);
      if (it != may.end() && it->second == purpose) {
        ASSERT_TRUE(found.ok()) << found.status();
        EXPECT_THAT(*found, ::testing::Contains(tokens_->at(v1::FIELD_TYPE_PHONE)));
      } else {
        EXPECT_THAT(found, StatusIs(absl::StatusCode::kPermissionDenied));
      }
    }
  }
}

TEST_F(PolicyE2eTest, OnlyAuditorReadsTheAccessLog) {
  for (const std::string& identity : kIdentities) {
    SCOPED_TRACE(identity);
    auto caller = As(identity);
    auto verify = caller->VerifyAudit();
    int streamed = 0;
    absl::Status query = caller->QueryAudit(
        v1::AuditQueryRequest(), [&](const v1::AuditEvent&) {
          ++streamed;
          return true;
        });
    if (identity == "auditor") {
      ASSERT_TRUE(verify.ok()) << verify.status();
      EXPECT_TRUE(verify->ok()) << verify->reason();
      EXPECT_TRUE(query.ok()) << query;
      EXPECT_GT(streamed, 0);
    } else {
      EXPECT_THAT(verify, StatusIs(absl::StatusCode::kPermissionDenied));
      EXPECT_THAT(query, StatusIs(absl::StatusCode::kPermissionDenied));
      EXPECT_EQ(streamed, 0);
    }
  }
}

TEST_F(PolicyE2eTest, DenialsAreLoggedWithTheRuleThatMadeThem) {
  auto marketing = As("marketing");
  ASSERT_THAT(marketing->Detokenize(tokens_->at(v1::FIELD_TYPE_CARD_NUMBER),
                                    "marketing"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  auto auditor = As("auditor");
  v1::AuditQueryRequest request;
  request.set_identity("marketing");
  std::vector<v1::AuditEvent> events;
  ASSERT_TRUE(auditor
                  ->QueryAudit(request,
                               [&](const v1::AuditEvent& e) {
                                 events.push_back(e);
                                 return true;
                               })
                  .ok());
  ASSERT_FALSE(events.empty());
  const v1::AuditEvent& last = events.back();
  EXPECT_EQ(last.rpc(), "Tokenizer.Detokenize");
  EXPECT_EQ(last.decision(), v1::DECISION_DENIED);
  EXPECT_EQ(last.token(), tokens_->at(v1::FIELD_TYPE_CARD_NUMBER));
  EXPECT_EQ(last.field_type(), v1::FIELD_TYPE_CARD_NUMBER);
  EXPECT_EQ(last.purpose(), "marketing");
  EXPECT_EQ(last.organisation(), "shop");
  EXPECT_EQ(last.country(), "KZ");
  EXPECT_FALSE(last.rule().empty());
  EXPECT_EQ(last.code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
}

}  // namespace
}  // namespace sandyq::testing
