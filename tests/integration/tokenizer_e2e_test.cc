// Tokenizer end to end: a real sandyqd over mTLS, every RPC, every field type.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/server_process.h"

namespace sandyq::testing {
namespace {

namespace v1 = ::sandyq::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

class TokenizerE2eTest : public ::testing::Test {
 protected:
  // No assertions here: a failure in SetUpTestSuite makes gtest skip the
  // tests, which ctest counts as passed. SetUp fails each test instead.
  static void SetUpTestSuite() {
    auto server = ServerProcess::StartDev(NewTempDir("tokenizer"));
    if (server.ok()) server_ = server->release();
    setup_error_ = new std::string(server.ok() ? "" : server.status().ToString());
  }
  void SetUp() override { ASSERT_EQ(*setup_error_, ""); }
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
  static ServerProcess* server_;
  static std::string* setup_error_;
};
ServerProcess* TokenizerE2eTest::server_ = nullptr;
std::string* TokenizerE2eTest::setup_error_ = nullptr;

struct RoundTrip {
  v1::FieldType type;
  std::string input;
  std::string normalized;
};

TEST_F(TokenizerE2eTest, EveryTypeRoundTripsInNormalizedForm) {
  const std::vector<RoundTrip> cases = {
      {v1::FIELD_TYPE_FULL_NAME, "  Әлия   Тестова ", "Әлия Тестова"},
      // NFD input (И + combining breve) comes back as NFC Й.
      {v1::FIELD_TYPE_FULL_NAME, "Тестов Мукан \u0418\u0306ерлан",
       "Тестов Мукан \u0419ерлан"},
      {v1::FIELD_TYPE_IIN, "850315300019", "850315300019"},
      {v1::FIELD_TYPE_IIN, "061211600012", "061211600012"},
      {v1::FIELD_TYPE_PASSPORT, "n 1234-5678", "N12345678"},
      {v1::FIELD_TYPE_PASSPORT, "012345678", "012345678"},
      {v1::FIELD_TYPE_PHONE, "8 (701) 234-56-78", "+77012345678"},
      {v1::FIELD_TYPE_PHONE, "+7 727 250 1234", "+77272501234"},
      {v1::FIELD_TYPE_CARD_NUMBER, "4111 1111 1111 1111", "4111111111111111"},
      {v1::FIELD_TYPE_CARD_NUMBER, "378282246310005", "378282246310005"},
      {v1::FIELD_TYPE_CARD_EXPIRY, "07/29", "2029-07"},
      {v1::FIELD_TYPE_CARD_EXPIRY, "12/2031", "2031-12"},
      {v1::FIELD_TYPE_EMAIL, "Aliya.Test@Mail.EXAMPLE.kz", "Aliya.Test@mail.example.kz"},
      {v1::FIELD_TYPE_DATE_OF_BIRTH, "1985-03-15", "1985-03-15"},
      {v1::FIELD_TYPE_ADDRESS, "  г. Алматы,\n ул. Тестовая 1 ",
       "г. Алматы, ул. Тестовая 1"},
  };
  auto checkout = As("checkout");
  auto dpo = As("dpo");
  for (const RoundTrip& c : cases) {
    SCOPED_TRACE(v1::FieldType_Name(c.type));
    auto token = checkout->Tokenize("e2e:roundtrip", c.type, c.input, "e2e");
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_THAT(*token, Not(HasSubstr(c.normalized)));
    auto revealed = dpo->Detokenize(*token, "subject_access_request");
    ASSERT_TRUE(revealed.ok()) << revealed.status();
    EXPECT_EQ(revealed->value(), c.normalized);
    EXPECT_EQ(revealed->type(), c.type);
    EXPECT_FALSE(revealed->masked());
  }
}

TEST_F(TokenizerE2eTest, SameValueGivesSameTokenAcrossWrittenForms) {
  auto checkout = As("checkout");
  auto a = checkout->Tokenize("e2e:same", v1::FIELD_TYPE_PHONE, "87012345678");
  auto b = checkout->Tokenize("e2e:same", v1::FIELD_TYPE_PHONE,
                              "+7 (701) 234-56-78");
  auto other = checkout->Tokenize("e2e:other", v1::FIELD_TYPE_PHONE,
                                  "+77012345678");
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *other);
}

TEST_F(TokenizerE2eTest, TokensAreOpaqueUrlSafeAndLongEnough) {
  auto checkout = As("checkout");
  auto token = checkout->Tokenize("e2e:opaque", v1::FIELD_TYPE_EMAIL,
                                  "opaque.check@example.kz");
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(absl::StartsWith(*token, "sq_"));
  const std::string body = token->substr(3);
  EXPECT_GE(body.size() * 6, 128u);
  for (char ch : body) {
    EXPECT_TRUE(absl::ascii_isalnum(ch) || ch == '-' || ch == '_') << ch;
  }
}

TEST_F(TokenizerE2eTest, CardTokensPreserveFormatAndFailLuhn) {
  auto checkout = As("checkout");
  auto token = checkout->Tokenize("e2e:card", v1::FIELD_TYPE_CARD_NUMBER,
                                  "5555555555554444");
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(token->size(), 16u);
  EXPECT_EQ(token->substr(0, 6), "555555");
  EXPECT_EQ(token->substr(12), "4444");
  EXPECT_NE(*token, "5555555555554444");
  int sum = 0;
  for (size_t i = 0; i < token->size(); ++i) {
    int d = (*token)[token->size() - 1 - i] - '0';
    if (i % 2 == 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  EXPECT_NE(sum % 10, 0) << "a card token must not pass the Luhn check";
}

struct Invalid {
  v1::FieldType type;
  std::string value;
  std::string rule_fragment;  // part of the expected message
};

TEST_F(TokenizerE2eTest, InvalidValuesAreRefusedWithoutEchoingThem) {
  const std::vector<Invalid> cases = {
      {v1::FIELD_TYPE_IIN, "850315300018", "iin"},
      {v1::FIELD_TYPE_IIN, "850315302600", "iin"},
      {v1::FIELD_TYPE_IIN, "8503153000190", "iin"},
      {v1::FIELD_TYPE_PHONE, "+7 701 FLOWERS", "phone"},
      {v1::FIELD_TYPE_PHONE, "12345", "phone"},
      {v1::FIELD_TYPE_CARD_NUMBER, "4111111111111112", "card_number"},
      {v1::FIELD_TYPE_CARD_EXPIRY, "13/29", "card_expiry"},
      {v1::FIELD_TYPE_EMAIL, "not-an-address", "email"},
      {v1::FIELD_TYPE_DATE_OF_BIRTH, "2999-01-01", "date_of_birth"},
      {v1::FIELD_TYPE_FULL_NAME, "Айгерiм Тестова", "full_name"},  // Latin i
      {v1::FIELD_TYPE_FULL_NAME, "Robert'); DROP TABLE--", "full_name"},
      {v1::FIELD_TYPE_PASSPORT, "Н1234567", "passport"},  // Cyrillic Н
      {v1::FIELD_TYPE_ADDRESS, std::string(600, 'a'), "address"},
      {v1::FIELD_TYPE_UNSPECIFIED, "anything", "type"},
  };
  auto checkout = As("checkout");
  for (const Invalid& c : cases) {
    SCOPED_TRACE(c.rule_fragment);
    auto token = checkout->Tokenize("e2e:invalid", c.type, c.value);
    ASSERT_THAT(token, StatusIs(absl::StatusCode::kInvalidArgument));
    const std::string message(token.status().message());
    EXPECT_THAT(message, HasSubstr(c.rule_fragment));
    // No run of 4 characters of the value appears in the message.
    for (size_t i = 0; i + 4 <= c.value.size(); ++i) {
      const std::string run = c.value.substr(i, 4);
      if (run.find_first_not_of(' ') == std::string::npos) continue;
      ASSERT_THAT(message, Not(HasSubstr(run))) << "message echoes the value";
    }
  }
}

TEST_F(TokenizerE2eTest, UnknownEnumNumberIsInvalid) {
  auto checkout = As("checkout");
  auto token = checkout->Tokenize("e2e:enum", static_cast<v1::FieldType>(77),
                                  "x");
  EXPECT_THAT(token, StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TokenizerE2eTest, TokenizeBatchAnswersPerItem) {
  auto checkout = As("checkout");
  v1::TokenizeBatchRequest request;
  auto add = [&](const std::string& subject, v1::FieldType type,
                 const std::string& value) {
    auto* item = request.add_items();
    item->set_subject_id(subject);
    item->set_type(type);
    item->set_value(value);
    item->set_source("batch");
  };
  add("e2e:batch1", v1::FIELD_TYPE_PHONE, "+77012345678");
  add("e2e:batch1", v1::FIELD_TYPE_IIN, "850315300018");  // bad check digit
  add("e2e:batch2", v1::FIELD_TYPE_EMAIL, "batch.two@example.kz");
  add("e2e:batch1", v1::FIELD_TYPE_PHONE, "8 701 234 56 78");  // repeat
  add("", v1::FIELD_TYPE_PHONE, "+77012345678");  // no subject
  auto response = checkout->TokenizeBatch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 5);
  EXPECT_FALSE(response->results(0).has_error());
  EXPECT_EQ(response->results(1).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(response->results(1).error().message(), HasSubstr("iin"));
  EXPECT_FALSE(response->results(2).has_error());
  EXPECT_EQ(response->results(3).token(), response->results(0).token());
  EXPECT_EQ(response->results(4).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(response->results(4).error().message(), HasSubstr("subject_id"));

  // The batch's tokens are real.
  auto dpo = As("dpo");
  auto phone = dpo->Detokenize(response->results(0).token(),
                               "subject_access_request");
  ASSERT_TRUE(phone.ok());
  EXPECT_EQ(phone->value(), "+77012345678");
}

TEST_F(TokenizerE2eTest, BatchesAreBounded) {
  auto checkout = As("checkout");
  v1::TokenizeBatchRequest request;
  for (int i = 0; i < 1001; ++i) {
    auto* item = request.add_items();
    item->set_subject_id("e2e:huge");
    item->set_type(v1::FIELD_TYPE_PHONE);
    item->set_value("+77012345678");
  }
  EXPECT_THAT(checkout->TokenizeBatch(request),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(checkout->TokenizeBatch(v1::TokenizeBatchRequest()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TokenizerE2eTest, DetokenizeBatchAnswersPerItem) {
  auto checkout = As("checkout");
  auto name = checkout->Tokenize("e2e:dbatch", v1::FIELD_TYPE_FULL_NAME,
                                 "Қайрат Тестов");
  auto iin = checkout->Tokenize("e2e:dbatch", v1::FIELD_TYPE_IIN,
                                "920704412346");
  ASSERT_TRUE(name.ok() && iin.ok());
  v1::DetokenizeBatchRequest request;
  for (const std::string& t : {*name, *iin, std::string("sq_AAAAAAAAAAAAAAAAAAAAAAAA"),
                               std::string("not a token")}) {
    auto* item = request.add_items();
    item->set_token(t);
    item->set_purpose("customer_support");
  }
  auto support = As("support");
  auto response = support->DetokenizeBatch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 4);
  EXPECT_EQ(response->results(0).value(), "Қайрат Тестов");
  EXPECT_FALSE(response->results(0).masked());
  EXPECT_EQ(response->results(1).value(), "92********46");
  EXPECT_TRUE(response->results(1).masked());
  EXPECT_EQ(response->results(2).error().code(),
            static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(response->results(3).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
}

TEST_F(TokenizerE2eTest, LookupFindsTokensByAnyWrittenForm) {
  auto checkout = As("checkout");
  auto a = checkout->Tokenize("e2e:lookup-a", v1::FIELD_TYPE_PHONE,
                              "+77051112233");
  auto b = checkout->Tokenize("e2e:lookup-b", v1::FIELD_TYPE_PHONE,
                              "8 705 111 22 33");
  ASSERT_TRUE(a.ok() && b.ok());
  auto support = As("support");
  auto found = support->Lookup(v1::FIELD_TYPE_PHONE, "+7 (705) 111-22-33",
                               "customer_support");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_THAT(*found, UnorderedElementsAre(*a, *b));

  auto none = support->Lookup(v1::FIELD_TYPE_PHONE, "+77059998877",
                              "customer_support");
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());

  EXPECT_THAT(support->Lookup(v1::FIELD_TYPE_PHONE, "+77051112233", "marketing"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(As("marketing")->Lookup(v1::FIELD_TYPE_PHONE, "+77051112233",
                                      "marketing"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(support->Lookup(v1::FIELD_TYPE_PHONE, "not a phone",
                              "customer_support"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TokenizerE2eTest, LookupFoldsNameSpellings) {
  auto checkout = As("checkout");
  auto token = checkout->Tokenize("e2e:lookup-name", v1::FIELD_TYPE_FULL_NAME,
                                  "Қайрат Лукапов");
  ASSERT_TRUE(token.ok());
  auto dpo = As("dpo");
  for (const char* spelling : {"ҚАЙРАТ ЛУКАПОВ", "Кайрат Лукапов"}) {
    auto found = dpo->Lookup(v1::FIELD_TYPE_FULL_NAME, spelling,
                             "subject_access_request");
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_THAT(*found, ElementsAre(*token)) << spelling;
  }
}

}  // namespace
}  // namespace sandyq::testing
