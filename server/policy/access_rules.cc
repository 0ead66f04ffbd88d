#include "server/policy/access_rules.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sandyq::policy {

std::string RevocationList::Canonical(absl::string_view serial) {
  serial = absl::StripAsciiWhitespace(serial);
  if (absl::StartsWithIgnoreCase(serial, "serial=")) {
    serial.remove_prefix(sizeof("serial=") - 1);
  }
  std::string digits;
  digits.reserve(serial.size());
  for (char c : serial) {
    if (c == ':') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return "";
    digits.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  if (digits.empty()) return "";
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return "0";
  digits.erase(0, first);
  if (digits.size() > kMaxSerialDigits) return "";
  return digits;
}

absl::StatusOr<std::shared_ptr<const RevocationList>> RevocationList::Parse(
    absl::string_view text, absl::string_view filename) {
  auto list = std::make_shared<RevocationList>();
  std::vector<std::string> problems;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (const size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::string serial = Canonical(line);
    if (serial.empty()) {
      problems.push_back(absl::StrCat(
          filename, ":", line_number,
          ": not a certificate serial (want hexadecimal like 0A1B2C, as "
          "`openssl x509 -noout -serial` prints it, at most ",
          kMaxSerialDigits, " significant digits, one per line)"));
      continue;
    }
    list->serials_.insert(std::move(serial));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  }
  return std::shared_ptr<const RevocationList>(std::move(list));
}

bool RevocationList::Contains(absl::string_view serial) const {
  if (serials_.empty()) return false;
  const std::string canonical = Canonical(serial);
  return !canonical.empty() && serials_.contains(canonical);
}

}  // namespace sandyq::policy
