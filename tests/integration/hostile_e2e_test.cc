// Hostile input end to end: a battery of malformed requests against a real
// sandyqd over mTLS. Each must get a clear error that names the field and
// the rule and never echoes the value; afterwards the server still serves,
// and every value stored before is still there, unchanged.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr size_t kMiB = 1024 * 1024;

// Synthetic values (domain/kazakhstan.md test vectors) stored before the
// battery, by subject, type and value.
struct Stored {
  v1::FieldType type;
  std::string value;
  std::string normalized;
  std::string token = "";
};

class HostileE2eTest : public ::testing::Test {
 protected:
  // No assertions here: a failure in SetUpTestSuite makes gtest skip the
  // tests, which ctest counts as passed. SetUp fails each test instead.
  static void SetUpTestSuite() {
    auto server = ServerProcess::StartDev(NewTempDir("hostile"));
    if (server.ok()) server_ = server->release();
    setup_error_ = new std::string(server.ok() ? "" : server.status().ToString());
  }
  void SetUp() override {
    ASSERT_EQ(*setup_error_, "");
    checkout_ = As("checkout");
    dpo_ = As("dpo");
    // Values stored before the battery, to check nothing is lost.
    stored_ = {
        {v1::FIELD_TYPE_FULL_NAME, "Әлия Тестова", "Әлия Тестова"},
        {v1::FIELD_TYPE_IIN, "850315300019", "850315300019"},
        {v1::FIELD_TYPE_PHONE, "8 701 234 56 78", "+77012345678"},
        {v1::FIELD_TYPE_CARD_NUMBER, "4111 1111 1111 1111", "4111111111111111"},
        {v1::FIELD_TYPE_EMAIL, "Test.User@Mail.KZ", "Test.User@mail.kz"},
    };
    for (Stored& s : stored_) {
      auto token = checkout_->Tokenize("e2e:hostile-before", s.type, s.value);
      ASSERT_TRUE(token.ok()) << token.status();
      s.token = *token;
    }
    ExpectStoredUnchanged();
  }
  void TearDown() override {
    // The server keeps serving: health, a normal round trip, the values
    // stored before, and an access log that still verifies.
    EXPECT_TRUE(checkout_->CheckHealth().ok());
    auto token = checkout_->Tokenize("e2e:hostile-after", v1::FIELD_TYPE_IIN,
                                     "920704412346");
    ASSERT_TRUE(token.ok()) << token.status();
    auto revealed = dpo_->Detokenize(*token, "subject_access_request");
    ASSERT_TRUE(revealed.ok()) << revealed.status();
    EXPECT_EQ(revealed->value(), "920704412346");
    ExpectStoredUnchanged();
    auto verified = As("auditor")->VerifyAudit();
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_TRUE(verified->ok()) << verified->reason();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete setup_error_;
  }

  std::unique_ptr<client::Client> As(const std::string& identity) {
    auto c = server_->ClientFor(identity);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }

  void ExpectStoredUnchanged() {
    for (const Stored& s : stored_) {
      auto revealed = dpo_->Detokenize(s.token, "subject_access_request");
      ASSERT_TRUE(revealed.ok()) << revealed.status();
      EXPECT_EQ(revealed->value(), s.normalized);
      EXPECT_EQ(revealed->type(), s.type);
    }
  }

  static ServerProcess* server_;
  static std::string* setup_error_;
  std::unique_ptr<client::Client> checkout_;
  std::unique_ptr<client::Client> dpo_;
  std::vector<Stored> stored_;
};
ServerProcess* HostileE2eTest::server_ = nullptr;
std::string* HostileE2eTest::setup_error_ = nullptr;

// The status has `code`, its message names `field` and `rule`, and holds no
// 8-byte run of `value` (the value's text never comes back).
MATCHER_P4(IsClearError, code, field, rule, value, "") {
  const absl::Status& s = [&]() -> absl::Status {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << s.ToString();
  if (s.code() != code) return false;
  const std::string message(s.message());
  if (!absl::StrContains(message, field) || !absl::StrContains(message, rule)) {
    return false;
  }
  const std::string v(value);
  for (size_t i = 0; i + 8 <= v.size() && i < 4096; ++i) {
    if (absl::StrContains(message, v.substr(i, 8))) {
      *result_listener << " and echoes the value";
      return false;
    }
  }
  return true;
}

// An item error of a batch as a status.
absl::Status ItemStatus(const v1::ItemError& e) {
  return absl::Status(static_cast<absl::StatusCode>(e.code()), e.message());
}

TEST_F(HostileE2eTest, OversizedValuesAreRefusedByTheFieldRules) {
  const std::string mib_name(kMiB, 'A');
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_FULL_NAME, mib_name),
              IsClearError(absl::StatusCode::kInvalidArgument, "full_name",
                           "too long", mib_name));
  // Cyrillic, so the value is not a run of one ASCII letter.
  std::string mib_address;
  while (mib_address.size() < kMiB) mib_address += "ул. Тестовая 1, ";
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_ADDRESS, mib_address),
              IsClearError(absl::StatusCode::kInvalidArgument, "address",
                           "too long", mib_address));
  const std::string long_subject(kMiB, 's');
  EXPECT_THAT(checkout_->Tokenize(long_subject, v1::FIELD_TYPE_IIN, "850315300019"),
              IsClearError(absl::StatusCode::kInvalidArgument, "subject_id",
                           "longer than 256 bytes", long_subject));
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_IIN,
                                  "850315300019", std::string(kMiB, 'c')),
              IsClearError(absl::StatusCode::kInvalidArgument, "source",
                           "longer than 128 bytes", std::string(kMiB, 'c')));
  EXPECT_THAT(dpo_->Detokenize(stored_[0].token, std::string(kMiB, 'p')),
              IsClearError(absl::StatusCode::kInvalidArgument, "purpose",
                           "longer than 64 bytes", std::string(kMiB, 'p')));
  EXPECT_THAT(As("legal")->Detokenize(stored_[0].token, "legal_request",
                                      std::string(kMiB, 'j')),
              IsClearError(absl::StatusCode::kInvalidArgument, "justification",
                           "longer than 512 bytes", std::string(kMiB, 'j')));
  EXPECT_THAT(dpo_->Lookup(v1::FIELD_TYPE_FULL_NAME, mib_name,
                           "subject_access_request"),
              IsClearError(absl::StatusCode::kInvalidArgument, "full_name",
                           "too long", mib_name));
}

TEST_F(HostileE2eTest, MessagesBeyondTheServersLimitAreRefusedByGrpc) {
  // 17 MiB: over sandyqd's 16 MiB receive limit, refused before parsing.
  const std::string huge(17 * kMiB, 'h');
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_ADDRESS, huge),
              IsClearError(absl::StatusCode::kResourceExhausted, "message",
                           "larger than max", huge));
  v1::DetokenizeBatchRequest batch;
  for (int i = 0; i < 20; ++i) {
    auto* item = batch.add_items();
    item->set_token(stored_[0].token);
    item->set_purpose("subject_access_request");
    item->set_justification(std::string(kMiB, 'j'));
  }
  EXPECT_THAT(dpo_->DetokenizeBatch(batch),
              IsClearError(absl::StatusCode::kResourceExhausted, "message",
                           "larger than max", std::string(kMiB, 'j')));
}

TEST_F(HostileE2eTest, BrokenTextIsRefusedByTheFieldRules) {
  struct Case {
    v1::FieldType type;
    std::string value;
    std::string field;
    std::string rule;
  };
  const std::vector<Case> cases = {
      // Embedded NUL, control characters, a C1 control (valid UTF-8).
      {v1::FIELD_TYPE_IIN, std::string("850315") + '\0' + "300019", "iin",
       "control character"},
      {v1::FIELD_TYPE_FULL_NAME, "Әлия\x07 Тестова", "full_name",
       "control character"},
      {v1::FIELD_TYPE_EMAIL, "test.user@mail.kz\r\nBcc: x@y.kz", "email",
       "control character"},
      {v1::FIELD_TYPE_ADDRESS, "г. Алматы\xc2\x85 ул. Тестовая", "address",
       "control character"},
      // A right-to-left override and a zero-width space in an address.
      {v1::FIELD_TYPE_ADDRESS, "г. Алматы \u202eул. Тестовая", "address",
       "not allowed"},
      {v1::FIELD_TYPE_FULL_NAME, "Әлия\u200bТестова", "full_name", "not allowed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    EXPECT_THAT(checkout_->Tokenize("e2e:hostile", c.type, c.value),
                IsClearError(absl::StatusCode::kInvalidArgument, c.field,
                             c.rule, c.value));
  }
  EXPECT_THAT(checkout_->Tokenize(std::string("e2e:\0hostile", 12),
                                  v1::FIELD_TYPE_IIN, "850315300019"),
              IsClearError(absl::StatusCode::kInvalidArgument, "subject_id",
                           "control character", ""));
  EXPECT_THAT(dpo_->Detokenize(stored_[0].token, "subject_access_request",
                               "court order\n1"),
              IsClearError(absl::StatusCode::kInvalidArgument, "justification",
                           "control character", ""));
}

TEST_F(HostileE2eTest, InvalidUtf8IsRefusedAsUndecodable) {
  // proto3 string fields must hold UTF-8: the request does not decode, so
  // the handlers never see it. (The C++ client logs a protobuf error for
  // sending it.)
  const std::string bad = "\xd0\x90\xff\xfe Тестова 850315300019";
  auto name = checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_FULL_NAME, bad);
  EXPECT_THAT(name, IsClearError(absl::StatusCode::kInvalidArgument, "request",
                                 "not valid UTF-8", bad));
  EXPECT_THAT(checkout_->Tokenize("e2e:\xc0\xaf", v1::FIELD_TYPE_IIN,
                                  "850315300019"),
              IsClearError(absl::StatusCode::kInvalidArgument, "request",
                           "not valid UTF-8", ""));
  EXPECT_THAT(dpo_->Detokenize(stored_[0].token, "subject_access_request\xed\xa0\x80"),
              IsClearError(absl::StatusCode::kInvalidArgument, "request",
                           "not valid UTF-8", ""));
}

TEST_F(HostileE2eTest, BatchesOverTheLimitAreRefusedWhole) {
  // The documented limit is 1000 items per batch (tokenizer.proto).
  v1::TokenizeBatchRequest tokenize;
  for (int i = 0; i < 1001; ++i) {
    auto* item = tokenize.add_items();
    item->set_subject_id(absl::StrCat("e2e:hostile-batch-", i));
    item->set_type(v1::FIELD_TYPE_IIN);
    item->set_value("850315300019");
  }
  EXPECT_THAT(checkout_->TokenizeBatch(tokenize),
              IsClearError(absl::StatusCode::kInvalidArgument, "items",
                           "between 1 and 1000 items per batch", ""));
  v1::DetokenizeBatchRequest detokenize;
  for (int i = 0; i < 5000; ++i) {
    auto* item = detokenize.add_items();
    item->set_token(stored_[0].token);
    item->set_purpose("subject_access_request");
  }
  EXPECT_THAT(dpo_->DetokenizeBatch(detokenize),
              IsClearError(absl::StatusCode::kInvalidArgument, "items",
                           "between 1 and 1000 items per batch", ""));
  EXPECT_THAT(dpo_->DetokenizeBatch(v1::DetokenizeBatchRequest()),
              IsClearError(absl::StatusCode::kInvalidArgument, "items",
                           "between 1 and 1000 items per batch", ""));
  // Exactly at the limit is served, each item on its own.
  tokenize.mutable_items()->RemoveLast();
  tokenize.mutable_items(999)->set_value("850315300018");  // bad check digit
  auto served = checkout_->TokenizeBatch(tokenize);
  ASSERT_TRUE(served.ok()) << served.status();
  ASSERT_EQ(served->results_size(), 1000);
  EXPECT_FALSE(served->results(0).has_error());
  EXPECT_THAT(ItemStatus(served->results(999).error()),
              IsClearError(absl::StatusCode::kInvalidArgument, "iin",
                           "check digit", "850315300018"));
}

TEST_F(HostileE2eTest, UnknownEnumValuesAreRefused) {
  for (int number : {999, -1, 10, 1 << 30}) {
    SCOPED_TRACE(number);
    EXPECT_THAT(checkout_->Tokenize("e2e:hostile",
                                    static_cast<v1::FieldType>(number),
                                    "850315300019"),
                IsClearError(absl::StatusCode::kInvalidArgument, "type",
                             "known field type", "850315300019"));
    EXPECT_THAT(dpo_->Lookup(static_cast<v1::FieldType>(number), "850315300019",
                             "subject_access_request"),
                IsClearError(absl::StatusCode::kInvalidArgument, "type",
                             "known field type", "850315300019"));
  }
  v1::TokenizeBatchRequest batch;
  auto* item = batch.add_items();
  item->set_subject_id("e2e:hostile");
  item->set_type(static_cast<v1::FieldType>(999));
  item->set_value("+77012345678");
  auto response = checkout_->TokenizeBatch(batch);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(ItemStatus(response->results(0).error()),
              IsClearError(absl::StatusCode::kInvalidArgument, "type",
                           "known field type", "+77012345678"));
}

TEST_F(HostileE2eTest, MalformedTokensAreRefused) {
  const std::string& good = stored_[1].token;
  const std::vector<std::string> tokens = {
      "",
      "sq_",
      good.substr(0, good.size() - 1),                    // truncated
      good + "A",                                         // one too many
      absl::StrCat("sq_", std::string(kMiB, 'A')),         // overlong
      std::string("sq_AAAAAAAAAAAA\0AAAAAAAAAAA", 27),     // NUL inside
      "sq_AAAAAAAAAAAA/+AAAAAAAAAA",                      // not base64url
      "4111111111111111",  // a card number (passes Luhn), not a token
      "'; DROP TABLE fields; --",
  };
  for (const std::string& token : tokens) {
    SCOPED_TRACE(token.size());
    EXPECT_THAT(dpo_->Detokenize(token, "subject_access_request"),
                IsClearError(absl::StatusCode::kInvalidArgument, "token",
                             "not a sandyq token", token));
  }
  // Well formed but never issued.
  EXPECT_THAT(dpo_->Detokenize("sq_AAAAAAAAAAAAAAAAAAAAAAAA", "subject_access_request"),
              IsClearError(absl::StatusCode::kNotFound, "token", "not found", ""));
}

TEST_F(HostileE2eTest, WrongAndMissingPurposesAreRefused) {
  const std::string& token = stored_[0].token;
  EXPECT_THAT(dpo_->Detokenize(token, ""),
              IsClearError(absl::StatusCode::kInvalidArgument, "purpose",
                           "required", ""));
  EXPECT_THAT(dpo_->Detokenize(token, "no_such_purpose"),
              IsClearError(absl::StatusCode::kInvalidArgument, "purpose",
                           "not registered", ""));
  EXPECT_THAT(dpo_->Detokenize(token, "SUBJECT_ACCESS_REQUEST"),
              IsClearError(absl::StatusCode::kInvalidArgument, "purpose",
                           "not registered", ""));
  // Registered, but not granted to this caller.
  EXPECT_THAT(dpo_->Detokenize(token, "marketing"),
              IsClearError(absl::StatusCode::kPermissionDenied, "", "", ""));
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_IIN,
                                  "850315300019", "", "no_such_purpose"),
              IsClearError(absl::StatusCode::kInvalidArgument, "purpose",
                           "not registered", ""));
  EXPECT_THAT(dpo_->Lookup(v1::FIELD_TYPE_IIN, "850315300019", ""),
              IsClearError(absl::StatusCode::kInvalidArgument, "purpose",
                           "required", "850315300019"));
}

TEST_F(HostileE2eTest, MissingFieldsAreRefused) {
  EXPECT_THAT(checkout_->Tokenize("", v1::FIELD_TYPE_IIN, "850315300019"),
              IsClearError(absl::StatusCode::kInvalidArgument, "subject_id",
                           "required", "850315300019"));
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_UNSPECIFIED,
                                  "850315300019"),
              IsClearError(absl::StatusCode::kInvalidArgument, "type",
                           "known field type", "850315300019"));
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_FULL_NAME, ""),
              IsClearError(absl::StatusCode::kInvalidArgument, "full_name",
                           "empty", ""));
  EXPECT_THAT(checkout_->Tokenize("e2e:hostile", v1::FIELD_TYPE_IIN, ""),
              IsClearError(absl::StatusCode::kInvalidArgument, "iin",
                           "12 digits", ""));
  EXPECT_THAT(dpo_->Lookup(v1::FIELD_TYPE_PHONE, "", "subject_access_request"),
              IsClearError(absl::StatusCode::kInvalidArgument, "phone", "", ""));
  v1::TokenizeBatchRequest batch;
  batch.add_items();  // every field missing
  auto response = checkout_->TokenizeBatch(batch);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(ItemStatus(response->results(0).error()),
              IsClearError(absl::StatusCode::kInvalidArgument, "subject_id",
                           "required", ""));
}

}  // namespace
}  // namespace sandyq::testing
