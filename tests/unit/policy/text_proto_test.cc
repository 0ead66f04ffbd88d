#include "server/policy/text_proto.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandyq/v1/policy.pb.h"

namespace sandyq::policy {
namespace {

using ::google::protobuf::TextFormat;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> Lines(const absl::Status& status) {
  return absl::StrSplit(status.message(), '\n');
}

TEST(ParseTextProtoTest, ParsesValidText) {
  v1::Policy policy;
  TextFormat::ParseInfoTree tree;
  ASSERT_TRUE(ParseTextProto(
                  "identities { name: \"a\" roles: [\"x\", \"y\"] }\n"
                  "# a comment\n"
                  "purposes { name: \"p\" legal_basis: LEGAL_BASIS_CONSENT }\n",
                  "ok.textproto", &policy, &tree)
                  .ok());
  ASSERT_EQ(policy.identities_size(), 1);
  EXPECT_EQ(policy.identities(0).name(), "a");
  EXPECT_THAT(policy.identities(0).roles(), ElementsAre("x", "y"));
  EXPECT_EQ(policy.purposes(0).legal_basis(), v1::LEGAL_BASIS_CONSENT);
}

TEST(ParseTextProtoTest, ClearsTheMessageFirst) {
  v1::Policy policy;
  policy.add_identities()->set_name("old");
  ASSERT_TRUE(ParseTextProto("", "empty.textproto", &policy, nullptr).ok());
  EXPECT_EQ(policy.identities_size(), 0);
}

TEST(ParseTextProtoTest, SyntaxErrorNamesFileLineAndColumnFromOne) {
  v1::Policy policy;
  const absl::Status status =
      ParseTextProto("identities {\n  name: \"a\"\n  roles \"x\"\n}\n",
                     "bad.textproto", &policy, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  // `roles "x"` lacks its ':' -- the parser stops at the string on line 3.
  EXPECT_THAT(Lines(status), ElementsAre(StartsWith("bad.textproto:3:9: ")));
}

TEST(ParseTextProtoTest, MissingClosingBraceIsReportedAtTheEnd) {
  v1::Policy policy;
  const absl::Status status = ParseTextProto("identities {\n  name: \"a\"\n",
                                             "bad.textproto", &policy, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("bad.textproto:3:1: "));
}

TEST(ParseTextProtoTest, UnknownFieldIsAnError) {
  v1::Policy policy;
  const absl::Status status = ParseTextProto("identities {\n  nmae: \"a\"\n}\n",
                                             "bad.textproto", &policy, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      Lines(status),
      ElementsAre(AllOf(StartsWith("bad.textproto:2:3: "), HasSubstr("nmae"))));
}

TEST(ParseTextProtoTest, BadValueIsReportedWhereItIsNotOnTheNextLine) {
  v1::Policy policy;
  const absl::Status status = ParseTextProto("roles {\n  audit: maybe\n}\n",
                                             "bad.textproto", &policy, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Lines(status),
              ElementsAre(AllOf(StartsWith("bad.textproto:2:10: "),
                                HasSubstr("boolean field \"audit\""))));
}

TEST(ParseTextProtoTest, FieldSetTwiceIsAnError) {
  v1::Policy policy;
  const absl::Status status =
      ParseTextProto("roles {\n  name: \"a\"\n  name: \"b\"\n}\n",
                     "bad.textproto", &policy, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Lines(status),
              ElementsAre(AllOf(StartsWith("bad.textproto:3:3: "),
                                HasSubstr("specified multiple times"))));
}

TEST(ParseTextProtoTest, UnknownEnumValueIsAnError) {
  v1::Policy policy;
  const absl::Status status =
      ParseTextProto("purposes { legal_basis: LEGAL_BASIS_WHIM }",
                     "bad.textproto", &policy, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(status.message()),
      AllOf(StartsWith("bad.textproto:1:25: "), HasSubstr("LEGAL_BASIS_WHIM")));
}

TEST(ParseTextProtoTest, ReportsEveryErrorTheParserFinds) {
  v1::Policy policy;
  // Two bad escapes (the tokenizer goes on after each), then a missing '}'.
  const absl::Status status =
      ParseTextProto("identities {\n  name: \"a\\q\"\n  country: \"\\z\"\n",
                     "bad.textproto", &policy, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Lines(status), ElementsAre(StartsWith("bad.textproto:2:12: "),
                                         StartsWith("bad.textproto:3:14: "),
                                         StartsWith("bad.textproto:4:1: ")));
}

class TextFieldLocationTest : public ::testing::Test {
 protected:
  // Line numbers below refer to this text.
  static constexpr char kText[] =
      "identities {\n"                                              // 1
      "  name: \"a\"\n"                                             // 2
      "  roles: [\"x\",\n"                                          // 3
      "          \"y\"]  # not a value: [ , ]\n"                    // 4
      "  roles: \"z\"\n"                                            // 5
      "}\n"                                                         // 6
      "identities: [{ name: \"b\" }, < roles: [\"q\", \"r\"] >]\n"  // 7
      "roles {\n"                                                   // 8
      "\tname: \"t\"\n"                                             // 9
      "  tokenize { types: [FIELD_TYPE_PHONE, FIELD_TYPE_IIN] }\n"  // 10
      "}\n";                                                        // 11

  void SetUp() override {
    ASSERT_TRUE(ParseTextProto(kText, "f.textproto", &policy_, &tree_).ok());
  }

  std::string Locate(absl::string_view path) const {
    return TextFieldLocation(kText, tree_, *v1::Policy::descriptor(), path,
                             "f.textproto");
  }

  v1::Policy policy_;
  TextFormat::ParseInfoTree tree_;
};

TEST_F(TextFieldLocationTest, LocatesMessagesAndScalars) {
  EXPECT_EQ(Locate("identities[0]"), "f.textproto:1:1");
  EXPECT_EQ(Locate("identities[0].name"), "f.textproto:2:3");
  EXPECT_EQ(Locate("roles[0]"), "f.textproto:8:1");
  EXPECT_EQ(Locate("roles[0].tokenize"), "f.textproto:10:3");
}

TEST_F(TextFieldLocationTest, CountsATabAsTheTokenizerDoes) {
  EXPECT_EQ(Locate("roles[0].name"), "f.textproto:9:9");
}

TEST_F(TextFieldLocationTest, LocatesEachValueWrittenInListSyntax) {
  EXPECT_EQ(Locate("identities[0].roles[0]"), "f.textproto:3:11");
  EXPECT_EQ(Locate("identities[0].roles[1]"), "f.textproto:4:11");
  EXPECT_EQ(Locate("identities[0].roles[2]"), "f.textproto:5:3");
  EXPECT_EQ(Locate("roles[0].tokenize.types[0]"), "f.textproto:10:22");
  EXPECT_EQ(Locate("roles[0].tokenize.types[1]"), "f.textproto:10:40");
}

TEST_F(TextFieldLocationTest, LocatesMessagesWrittenInListSyntax) {
  EXPECT_EQ(Locate("identities[1]"), "f.textproto:7:14");
  EXPECT_EQ(Locate("identities[1].name"), "f.textproto:7:16");
  EXPECT_EQ(Locate("identities[2]"), "f.textproto:7:29");
  EXPECT_EQ(Locate("identities[2].roles[1]"), "f.textproto:7:44");
}

TEST_F(TextFieldLocationTest, RepeatedFieldWithoutIndexMeansTheFirstValue) {
  EXPECT_EQ(Locate("identities[0].roles"), "f.textproto:3:11");
}

TEST_F(TextFieldLocationTest, AbsentFieldFallsBackToTheEnclosingOne) {
  EXPECT_EQ(Locate("identities[0].country"), "f.textproto:1:1");
  EXPECT_EQ(Locate("identities[0].roles[3]"), "f.textproto:1:1");
  EXPECT_EQ(Locate("roles[0].tokenize.all"), "f.textproto:10:3");
  EXPECT_EQ(Locate("roles[0].grants[0].purpose"), "f.textproto:8:1");
}

TEST_F(TextFieldLocationTest, UnknownPathFallsBackToTheStartOfTheFile) {
  EXPECT_EQ(Locate("purposes[0]"), "f.textproto:1:1");
  EXPECT_EQ(Locate("no_such_field"), "f.textproto:1:1");
  EXPECT_EQ(Locate("identities[9].name"), "f.textproto:1:1");
  EXPECT_EQ(Locate("identities[x]"), "f.textproto:1:1");
  EXPECT_EQ(Locate(""), "f.textproto:1:1");
  // A singular field with an index is not a path into this message.
  EXPECT_EQ(Locate("identities[0].name[0]"), "f.textproto:1:1");
}

}  // namespace
}  // namespace sandyq::policy
