#ifndef SANDYQ_CLIENT_BENCH_SYNTHETIC_VALUES_H_
#define SANDYQ_CLIENT_BENCH_SYNTHETIC_VALUES_H_

// Synthetic personal data for the load generator: every value passes the
// server's validators (server/fields/) and none belongs to a real person.
// No gRPC or protobuf here.
//
// Items are the fields of "records": record g belongs to subject g % subjects
// and has one field of each of the T `types`. Two orders lay the same items
// out differently:
//  - kBySubject, like a stream of form submissions: items n = g*T .. g*T+T-1
//    are the fields of record g, so consecutive items share a subject (a bulk
//    load sends a person's fields together);
//  - kSpread, like online traffic from many people at once: consecutive items
//    belong to consecutive subjects, and a subject's next field comes one
//    round of `subjects` items later. Calls in flight together then concern
//    different people, as an independent client's random choice would.
// Items 0 .. subjects*T-1 are the same set in both orders (the first record of
// every subject), and so is every later block of that size.
// Every value is derived from g
// (and, for the low-cardinality types card expiry and date of birth, from the
// subject's own record counter g / subjects), so within one run no
// (subject, type, value) triple repeats for g below ~10^8 and every Tokenize
// creates a new token. Subject ids carry a per-run tag, so runs with
// different seeds do not share subjects either.

#include <cstdint>
#include <string>
#include <vector>

namespace sandyq::bench {

// Field type numbers as in sandyq.v1.FieldType (1..9).
enum FieldKind : int {
  kFullName = 1,
  kIin = 2,
  kPassport = 3,
  kPhone = 4,
  kCardNumber = 5,
  kCardExpiry = 6,
  kEmail = 7,
  kDateOfBirth = 8,
  kAddress = 9,
};

struct SyntheticItem {
  std::string subject_id;
  int type = 0;
  std::string value;
};

enum class ItemOrder { kBySubject, kSpread };

// The form in which the vault stores, and Detokenize returns, a value this
// generator made (what server/fields/ normalizes it to): the value itself for
// every type but card expiry, whose "MM/YY" is stored as "20YY-MM".
std::string StoredForm(int type, const std::string& value);

class SyntheticValues {
 public:
  // `types`: non-empty list of FieldKind numbers; `subjects` >= 1.
  SyntheticValues(uint64_t seed, std::vector<int> types, uint64_t subjects,
                  ItemOrder order = ItemOrder::kBySubject);

  // Item n (deterministic for a given seed, types and subjects).
  void Make(uint64_t n, SyntheticItem* item) const;

  // A short tag that differs between seeds; part of every subject id.
  const std::string& run_tag() const { return run_tag_; }

 private:
  std::string Value(int type, uint64_t g, uint64_t q) const;

  std::vector<int> types_;
  uint64_t subjects_;
  ItemOrder order_;
  uint64_t seed_;
  uint64_t offset_;  // seed-derived shift of numeric ranges
  std::string run_tag_;
};

// The IIN check digit (kazakhstan.md §1.2) of the first 11 digits, or -1 if
// the prefix is unassignable.
int IinCheckDigit(const std::string& first11);
bool LuhnValid(const std::string& digits);

}  // namespace sandyq::bench

#endif  // SANDYQ_CLIENT_BENCH_SYNTHETIC_VALUES_H_
