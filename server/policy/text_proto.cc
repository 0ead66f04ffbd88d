#include "server/policy/text_proto.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace sandyq::policy {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::TextFormat;

class IgnoringErrorCollector final
    : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, google::protobuf::io::ColumnNumber,
                const std::string&) override {}
};

// Tokenizes text format as TextFormat::Parser does, so that lines and
// columns agree with the parser's (a tab advances to the next multiple of 8).
class TextTokenizer {
 public:
  explicit TextTokenizer(absl::string_view text)
      : input_(text.data(), static_cast<int>(text.size())),
        tokenizer_(&input_, &errors_) {
    tokenizer_.set_comment_style(
        google::protobuf::io::Tokenizer::SH_COMMENT_STYLE);
    tokenizer_.set_allow_f_after_float(true);
    tokenizer_.set_require_space_after_number(false);
    tokenizer_.set_allow_multiline_strings(true);
  }

  google::protobuf::io::Tokenizer& get() { return tokenizer_; }

 private:
  google::protobuf::io::ArrayInputStream input_;
  IgnoringErrorCollector errors_;
  google::protobuf::io::Tokenizer tokenizer_;
};

bool Before(int line, int column, const TextFormat::ParseLocation& location) {
  return line < location.line ||
         (line == location.line && column < location.column);
}

// Errors that TextFormat::Parser (protobuf 3.21) reports at the token after
// the one at fault, because it has consumed that token already: an unknown
// field name, a field set twice, an unknown enum or bool value.
bool ReportedAfterTheCulprit(absl::string_view message) {
  return absl::StartsWith(message, "Message type \"") ||
         absl::StartsWith(message, "Non-repeated field \"") ||
         (absl::StartsWith(message, "Field \"") &&
          absl::StrContains(message, "is specified along with field")) ||
         absl::StartsWith(message, "Unknown enumeration value of \"") ||
         absl::StartsWith(message, "Invalid value for boolean field \"");
}

// Where the last token that starts before `location` starts, or `location`
// if there is none.
TextFormat::ParseLocation TokenBefore(
    absl::string_view text, const TextFormat::ParseLocation& location) {
  TextTokenizer tokens(text);
  TextFormat::ParseLocation found = location;
  while (tokens.get().Next()) {
    const google::protobuf::io::Tokenizer::Token& token =
        tokens.get().current();
    if (!Before(token.line, token.column, location)) break;
    found = TextFormat::ParseLocation(token.line, token.column);
  }
  return found;
}

// Collects the parser's errors as "<filename>:<line>:<column>: <message>".
// The parser reports 0-based lines and columns; people count from 1.
class CollectingErrorCollector final
    : public google::protobuf::io::ErrorCollector {
 public:
  CollectingErrorCollector(absl::string_view text, absl::string_view filename)
      : text_(text), filename_(filename) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    TextFormat::ParseLocation at(line, column);
    if (ReportedAfterTheCulprit(message)) at = TokenBefore(text_, at);
    errors_.push_back(absl::StrCat(filename_, ":", at.line + 1, ":",
                                   at.column + 1, ": ", message));
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  const absl::string_view text_;
  const std::string filename_;
  std::vector<std::string> errors_;
};

// One step of a field path: "roles[0]" -> {"roles", 0}, "full" -> {"full", -1}.
struct PathStep {
  absl::string_view name;
  int index = -1;
};

bool ParsePathStep(absl::string_view text, PathStep* step) {
  const size_t open = text.find('[');
  if (open == absl::string_view::npos) {
    step->name = text;
    step->index = -1;
    return !text.empty();
  }
  if (open == 0 || text.back() != ']') return false;
  step->name = text.substr(0, open);
  const absl::string_view digits =
      text.substr(open + 1, text.size() - open - 2);
  return absl::SimpleAtoi(digits, &step->index) && step->index >= 0;
}

// Finds where the values of a repeated field start. ParseInfoTree records one
// location per occurrence of a field name, but one occurrence in list syntax
// (`types: [A, B]`) holds several values; this re-reads the occurrence's
// tokens, numbered exactly as TextFormat's parser numbers them.
class ValueScanner {
 public:
  explicit ValueScanner(absl::string_view text)
      : tokens_(text), tokenizer_(tokens_.get()) {}

  // The 0-based start of each value of the occurrence whose field name is at
  // `field`. Successive calls must pass increasing locations.
  std::vector<TextFormat::ParseLocation> ValuesAt(
      const TextFormat::ParseLocation& field) {
    using Token = google::protobuf::io::Tokenizer::Token;
    using TokenType = google::protobuf::io::Tokenizer::TokenType;
    const Token* token = &tokenizer_.current();
    while (token->type == TokenType::TYPE_START ||
           Before(token->line, token->column, field)) {
      if (!tokenizer_.Next()) return {};
    }
    // The field name, an optional ':', then one value or a list.
    if (!tokenizer_.Next()) return {};
    if (token->text == ":" && !tokenizer_.Next()) return {};
    if (token->type != TokenType::TYPE_SYMBOL || token->text != "[") {
      return {field};
    }
    std::vector<TextFormat::ParseLocation> values;
    bool expect_value = true;
    int depth = 0;  // of brackets inside one value
    while (tokenizer_.Next()) {
      const bool symbol = token->type == TokenType::TYPE_SYMBOL;
      if (depth == 0 && symbol && token->text == "]") break;
      if (expect_value) {
        values.emplace_back(token->line, token->column);
        expect_value = false;
      }
      if (!symbol) continue;
      if (token->text == "{" || token->text == "<" || token->text == "[") {
        ++depth;
      } else if (token->text == "}" || token->text == ">" ||
                 token->text == "]") {
        --depth;
      } else if (depth == 0 && token->text == ",") {
        expect_value = true;
      }
    }
    return values;
  }

 private:
  TextTokenizer tokens_;
  google::protobuf::io::Tokenizer& tokenizer_;
};

}  // namespace

absl::Status ParseTextProto(absl::string_view text, absl::string_view filename,
                            google::protobuf::Message* out,
                            TextFormat::ParseInfoTree* tree) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ":1:1: file too large"));
  }
  CollectingErrorCollector errors(text, filename);
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  if (tree != nullptr) parser.WriteLocationsTo(tree);

  google::protobuf::io::ArrayInputStream input(text.data(),
                                               static_cast<int>(text.size()));
  const bool parsed = parser.Parse(&input, out);
  if (parsed && errors.errors().empty()) return absl::OkStatus();
  if (errors.errors().empty()) {
    // The parser failed without saying where; still name the file.
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ":1:1: not a valid ",
                     out->GetDescriptor()->full_name(), " in text format"));
  }
  return absl::InvalidArgumentError(absl::StrJoin(errors.errors(), "\n"));
}

std::string TextFieldLocation(absl::string_view text,
                              const TextFormat::ParseInfoTree& tree,
                              const Descriptor& type, absl::string_view path,
                              absl::string_view filename) {
  // The deepest location found so far, 0-based as the parser records it.
  TextFormat::ParseLocation found(0, 0);
  const TextFormat::ParseInfoTree* node = &tree;
  const Descriptor* message = &type;
  for (absl::string_view text_step : absl::StrSplit(path, '.')) {
    PathStep step;
    if (!ParsePathStep(text_step, &step)) break;
    const FieldDescriptor* field =
        message->FindFieldByName(std::string(step.name));
    if (field == nullptr) break;
    int index = -1;  // what ParseInfoTree wants for a singular field
    TextFormat::ParseLocation here;
    if (field->is_repeated()) {
      index = step.index < 0 ? 0 : step.index;
      ValueScanner scanner(text);
      int seen = 0;  // values in the occurrences before this one
      for (int occurrence = 0;; ++occurrence) {
        const TextFormat::ParseLocation start =
            node->GetLocation(field, occurrence);
        if (start.line < 0) break;
        const std::vector<TextFormat::ParseLocation> values =
            scanner.ValuesAt(start);
        if (index - seen < static_cast<int>(values.size())) {
          here = values[index - seen];
          break;
        }
        seen += static_cast<int>(values.size());
      }
    } else {
      if (step.index >= 0) break;
      here = node->GetLocation(field, -1);
    }
    if (here.line < 0) break;
    found = here;
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) break;
    node = node->GetTreeForNested(field, index);
    if (node == nullptr) break;
    message = field->message_type();
  }
  return absl::StrCat(filename, ":", found.line + 1, ":", found.column + 1);
}

}  // namespace sandyq::policy
