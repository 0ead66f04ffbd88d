#include "client/bench/synthetic_values.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"

namespace sandyq::bench {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Zero-padded decimal of `v` (v < 10^width).
std::string Digits(uint64_t v, int width) {
  std::string out(width, '0');
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return out;
}

// Common given names (Kazakh and Russian) with their grammatical gender; the
// surname is an obviously synthetic "Тестов"/"Тестова" plus a letter code.
struct GivenName {
  const char* name;
  bool female;
};
constexpr GivenName kGivenNames[] = {
    {"Арман", false},   {"Айгерим", true},  {"Ерлан", false},
    {"Динара", true},   {"Нурлан", false},  {"Асель", true},
    {"Данияр", false},  {"Алия", true},     {"Тимур", false},
    {"Жанна", true},    {"Бауыржан", false}, {"Сауле", true},
    {"Александр", false}, {"Мария", true},  {"Ержан", false},
    {"Гульнара", true},
};
constexpr uint64_t kNumGivenNames = sizeof(kGivenNames) / sizeof(kGivenNames[0]);

// Letters for the surname code (base 20), lower and upper case.
constexpr const char* kLower[20] = {"а", "б", "в", "г", "д", "е", "ж",
                                    "з", "и", "к", "л", "м", "н", "о",
                                    "п", "р", "с", "т", "у", "ф"};
constexpr const char* kUpper[20] = {"А", "Б", "В", "Г", "Д", "Е", "Ж",
                                    "З", "И", "К", "Л", "М", "Н", "О",
                                    "П", "Р", "С", "Т", "У", "Ф"};

std::string LetterCode(uint64_t v) {
  // At least three letters, most significant first, first one capitalized.
  std::vector<int> digits;
  do {
    digits.push_back(static_cast<int>(v % 20));
    v /= 20;
  } while (v != 0);
  while (digits.size() < 3) digits.push_back(0);
  std::string out;
  for (size_t i = digits.size(); i-- > 0;) {
    out += (i + 1 == digits.size() ? kUpper : kLower)[digits[i]];
  }
  return out;
}

constexpr const char* kCities[] = {"Алматы", "Астана", "Шымкент", "Караганда"};

// Kazakh mobile prefixes (after +7) that libphonenumber accepts as valid.
constexpr const char* kMobilePrefixes[] = {"700", "701", "702", "705", "707",
                                           "708", "747", "771", "775", "776",
                                           "777", "778"};
constexpr uint64_t kNumMobilePrefixes =
    sizeof(kMobilePrefixes) / sizeof(kMobilePrefixes[0]);

const absl::CivilDay kFirstBirthday(1950, 1, 1);
const absl::CivilDay kLastBirthday(2005, 12, 31);

absl::CivilDay Birthday(uint64_t index) {
  const uint64_t days = static_cast<uint64_t>(kLastBirthday - kFirstBirthday) + 1;
  return kFirstBirthday + static_cast<absl::civil_diff_t>(index % days);
}

std::string Iso(absl::CivilDay d) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", static_cast<int>(d.year()),
                d.month(), d.day());
  return buf;
}

// A strictly valid IIN: YYMMDD of a real date, century/sex digit, 4-digit
// serial, check digit. Distinct for distinct (day, sex, serial).
std::string Iin(absl::CivilDay day, int female, uint64_t serial) {
  for (int attempt = 0;; ++attempt) {
    const int year = static_cast<int>(day.year());
    const int century_digit = (year < 2000 ? 3 : 5) + female;
    std::string prefix = absl::StrCat(Digits(year % 100, 2), Digits(day.month(), 2),
                                      Digits(day.day(), 2), century_digit,
                                      Digits(serial % 10000, 4));
    const int check = IinCheckDigit(prefix);
    if (check >= 0) return absl::StrCat(prefix, check);
    // Unassignable prefix (0.8%): try the other sex, then the next serial.
    if (attempt % 2 == 0) {
      female ^= 1;
    } else {
      ++serial;
    }
  }
}

std::string CardNumber(uint64_t bin_random, uint64_t middle) {
  std::string payload = absl::StrCat(400000 + bin_random % 100000,
                                     Digits(middle % 1000000000ull, 9));
  // Check digit: the payload's rightmost digit is doubled.
  int sum = 0;
  bool twice = true;
  for (size_t i = payload.size(); i-- > 0;) {
    int d = payload[i] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  payload.push_back(static_cast<char>('0' + (10 - sum % 10) % 10));
  return payload;
}

}  // namespace

int IinCheckDigit(const std::string& first11) {
  if (first11.size() < 11) return -1;
  int s1 = 0, s2 = 0;
  for (int i = 0; i < 11; ++i) {
    const int d = first11[i] - '0';
    s1 += d * (i + 1);               // weights 1..11
    s2 += d * ((i + 2) % 11 + 1);    // weights 3..11, 1, 2
  }
  if (s1 % 11 != 10) return s1 % 11;
  if (s2 % 11 != 10) return s2 % 11;
  return -1;
}

bool LuhnValid(const std::string& digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    if (digits[i] < '0' || digits[i] > '9') return false;
    int d = digits[i] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

SyntheticValues::SyntheticValues(uint64_t seed, std::vector<int> types,
                                 uint64_t subjects, ItemOrder order)
    : types_(std::move(types)),
      subjects_(subjects == 0 ? 1 : subjects),
      order_(order),
      seed_(seed),
      offset_(SplitMix64(seed) % 1000003) {
  char tag[16];
  std::snprintf(tag, sizeof(tag), "%08llx",
                static_cast<unsigned long long>(SplitMix64(seed ^ 0x5A17) & 0xffffffffull));
  run_tag_ = tag;
}

void SyntheticValues::Make(uint64_t n, SyntheticItem* item) const {
  const uint64_t t = types_.size();
  uint64_t g;  // the record
  size_t field;  // which of its fields
  if (order_ == ItemOrder::kBySubject) {
    g = n / t;
    field = n % t;
  } else {
    // Round r = n / subjects gives subject n % subjects its field r % T of
    // its record r / T; the fields of one round are rotated by subject, so
    // calls in flight together mix the types.
    const uint64_t k = n % subjects_;
    const uint64_t r = n / subjects_;
    g = (r / t) * subjects_ + k;
    field = (r + k) % t;
  }
  const uint64_t k = g % subjects_;    // its subject
  const uint64_t q = g / subjects_;    // the subject's own record counter
  item->subject_id = absl::StrCat("bench:", run_tag_, ":", k);
  item->type = types_[field];
  item->value = Value(item->type, g, q + k * 131);
}

std::string SyntheticValues::Value(int type, uint64_t g, uint64_t q) const {
  switch (type) {
    case kFullName: {
      const GivenName& given = kGivenNames[g % kNumGivenNames];
      return absl::StrCat(given.name, " ", given.female ? "Тестова-" : "Тестов-",
                          LetterCode(g / kNumGivenNames));
    }
    case kIin: {
      const uint64_t rest = g / 10000;
      return Iin(Birthday(rest / 2 + offset_), static_cast<int>(rest % 2),
                 g % 10000);
    }
    case kPassport:
      return absl::StrCat("N", Digits((g + offset_) % 100000000ull, 8));
    case kPhone:
      return absl::StrCat("+7", kMobilePrefixes[g % kNumMobilePrefixes],
                          Digits((g / kNumMobilePrefixes + offset_) % 10000000ull, 7));
    case kCardNumber:
      return CardNumber(SplitMix64(seed_ ^ (g * 0x9E3779B97F4A7C15ull)),
                        g + offset_);
    case kCardExpiry: {
      const uint64_t i = q % (12 * 74);  // 01/26 .. 12/99
      return absl::StrCat(Digits(i % 12 + 1, 2), "/", Digits(26 + i / 12, 2));
    }
    case kEmail:
      return absl::StrCat("bench", g, ".", run_tag_, "@example.kz");
    case kDateOfBirth:
      return Iso(Birthday(q + offset_));
    case kAddress:
      return absl::StrCat("г. ", kCities[g % 4], ", ул. Тестовая ", g / 4 + 1);
    default:
      return "";
  }
}

std::string StoredForm(int type, const std::string& value) {
  if (type == kCardExpiry && value.size() == 5 && value[2] == '/') {
    return absl::StrCat("20", value.substr(3, 2), "-", value.substr(0, 2));
  }
  return value;
}

}  // namespace sandyq::bench
