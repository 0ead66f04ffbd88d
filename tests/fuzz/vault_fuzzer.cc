// The request handlers end to end (server/vault/): a fresh in-process vault
// per input (tests/fuzz/vault_harness.h) receives a sequence of Tokenize,
// TokenizeBatch, Detokenize, DetokenizeBatch and Lookup calls, and the
// Subjects calls that change what they see (Rectify, RecordConsent, Block,
// Unblock, SetHold, ReleaseHold, Report), decoded from the input: from any
// identity, with any subject, type number, value, source, purpose,
// justification and token; known good ones, synthetic values with hostile
// changes (NUL, control characters, broken UTF-8, oversized), and raw fuzz
// bytes.
//
// Checks, for every call: the callback comes exactly once; a refusal has a
// code a caller can act on (never INTERNAL, DATA_LOSS, UNKNOWN or
// UNAVAILABLE: the store is healthy here) and a message that does not echo
// the value; a new token reveals its normalized value, and a token is only
// ever issued again for the same value; a reveal of a known token is its
// value (or its mask); nothing reveals, finds or reports a token that was
// never issued. After the calls, every baseline value is still there
// (changed only by a Rectify that succeeded) and the access log verifies.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/fields/fields.h"
#include "server/fields/token.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/vault_harness.h"

namespace sandyq::fuzz {
namespace {

using fields::FieldType;

struct Known {
  FieldType type;
  std::string value;  // normalized
};

// A string argument, and the synthetic value it was built from if any (for
// the no-echo check).
struct Arg {
  std::string text;
  std::string synthetic;
};

class Session {
 public:
  Session(VaultInstance& instance, FuzzedDataProvider& in)
      : instance_(instance), in_(in) {
    for (const BaselineValue& v : VaultInstance::Baseline()) {
      known_[v.token] = {v.type, v.normalized};
    }
  }

  void Run() {
    for (int op = 0; op < 12 && in_.remaining_bytes() > 0; ++op) {
      switch (in_.ConsumeIntegralInRange<int>(0, 8)) {
        case 0:
          Tokenize();
          break;
        case 1:
          TokenizeBatch();
          break;
        case 2:
          Detokenize();
          break;
        case 3:
          DetokenizeBatch();
          break;
        case 4:
          Lookup();
          break;
        case 5:
          Rectify();
          break;
        case 6:
          RecordConsent();
          break;
        case 7:
          BlockOrHold();
          break;
        case 8:
          Report();
          break;
      }
    }
    CheckNothingLost();
  }

 private:
  std::string Pick(const std::vector<std::string>& known, size_t max_fuzz) {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        return in_.ConsumeRandomLengthString(max_fuzz);
      case 1:
        return "";
      default:
        return known[in_.ConsumeIntegralInRange<size_t>(0, known.size() - 1)];
    }
  }

  // A synthetic value, perhaps made hostile, or raw bytes.
  Arg Value() {
    const std::vector<std::string>& synthetic = SyntheticValues();
    switch (in_.ConsumeIntegralInRange<int>(0, 7)) {
      case 0:
        return {in_.ConsumeRandomLengthString(5000), ""};
      case 1:
        // Far over every limit (fields allow 4 KiB at most).
        return {std::string(in_.ConsumeIntegralInRange<size_t>(4097, 1 << 17),
                            'a'),
                ""};
      default:
        break;
    }
    const std::string& base =
        synthetic[in_.ConsumeIntegralInRange<size_t>(0, synthetic.size() - 1)];
    std::string text = base;
    const size_t at = in_.ConsumeIntegralInRange<size_t>(0, text.size());
    switch (in_.ConsumeIntegralInRange<int>(0, 6)) {
      case 0:
        text.insert(at, 1, '\0');
        break;
      case 1:
        text.insert(at, 1, static_cast<char>(in_.ConsumeIntegralInRange<int>(1, 31)));
        break;
      case 2:
        text.insert(at, 1, static_cast<char>(0x80 | in_.ConsumeIntegral<uint8_t>()));
        break;
      case 3:
        text.insert(at, "\u202e");  // a bidi override
        break;
      case 4:
        for (int i = 0; i < 8; ++i) text += text;  // 256 copies
        break;
      default:
        break;  // unchanged
    }
    return {text, base};
  }

  std::string Identity() {
    return Pick(SampleIdentities(), 160);
  }
  std::string Purpose() { return Pick(SamplePurposes(), 80); }
  std::string Subject() {
    static const auto* const subjects = new std::vector<std::string>{
        "fuzz:0001", "fuzz:0002", "fuzz:0003"};
    return Pick(*subjects, 300);
  }
  int TypeNumber() {
    if (in_.ConsumeIntegralInRange<int>(0, 7) == 0) {
      return in_.ConsumeIntegral<int>();  // e.g. 999, -1
    }
    return in_.ConsumeIntegralInRange<int>(0, 10);
  }
  std::string Token() {
    std::vector<std::string> tokens;
    for (const auto& [token, known] : known_) tokens.push_back(token);
    std::string token = Pick(tokens, 64);
    if (!token.empty() && in_.ConsumeBool()) {
      // One character changed: a malformed or unknown token.
      token[in_.ConsumeIntegralInRange<size_t>(0, token.size() - 1)] =
          static_cast<char>(in_.ConsumeIntegral<uint8_t>());
    }
    return token;
  }

  // A refusal a caller can act on, saying nothing of the value.
  static void CheckRefusal(const absl::Status& status, const Arg& value) {
    SANDYQ_FUZZ_CHECK(!status.ok());
    switch (status.code()) {
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kPermissionDenied:
      case absl::StatusCode::kNotFound:
      case absl::StatusCode::kFailedPrecondition:
      case absl::StatusCode::kResourceExhausted:
        break;
      default:
        SANDYQ_FUZZ_CHECK(false && "unexpected status code");
    }
    SANDYQ_FUZZ_CHECK(!status.message().empty());
    // Bad input: "<field>: <rule>", a field name first.
    if (status.code() == absl::StatusCode::kInvalidArgument) {
      SANDYQ_FUZZ_CHECK(absl::StrContains(status.message(), ": "));
    }
    if (value.synthetic.size() >= 5) {
      SANDYQ_FUZZ_CHECK(!absl::StrContains(status.message(), value.synthetic));
    }
  }

  // A new token must reveal its normalized value in full.
  void CheckIssued(const std::string& token, int type_number, const Arg& value) {
    SANDYQ_FUZZ_CHECK(fields::LooksLikeToken(token));
    const FieldType type = static_cast<FieldType>(type_number);
    absl::StatusOr<fields::Normalized> normalized = fields::Normalize(
        type, value.text, instance_.normalize_options());
    SANDYQ_FUZZ_CHECK(normalized.ok());
    auto [it, inserted] = known_.try_emplace(token, Known{type, normalized->value});
    // The same token again only for the same value (deduplication).
    SANDYQ_FUZZ_CHECK(it->second.type == type &&
                      it->second.value == normalized->value);
    absl::StatusOr<vault::Revealed> revealed = Reveal("dpo", token,
                                                      "subject_access_request");
    SANDYQ_FUZZ_CHECK(revealed.ok());
    SANDYQ_FUZZ_CHECK(!revealed->masked && revealed->type == type &&
                      revealed->value == normalized->value);
  }

  void CheckRevealed(const std::string& token,
                     const absl::StatusOr<vault::Revealed>& revealed) {
    if (!revealed.ok()) {
      CheckRefusal(revealed.status(), {});
      return;
    }
    auto it = known_.find(token);
    SANDYQ_FUZZ_CHECK(it != known_.end());
    SANDYQ_FUZZ_CHECK(revealed->type == it->second.type);
    SANDYQ_FUZZ_CHECK(revealed->value == (revealed->masked
                                              ? fields::Mask(it->second.type,
                                                             it->second.value)
                                              : it->second.value));
  }

  absl::StatusOr<vault::Revealed> Reveal(const std::string& identity,
                                         const std::string& token,
                                         const std::string& purpose) {
    return Await<vault::Revealed>([&](vault::Callback<vault::Revealed> done) {
      instance_.vault().Detokenize({identity},
                                   {.token = token, .purpose = purpose},
                                   std::move(done));
    });
  }

  vault::TokenizeInput TokenizeItem(Arg& value) {
    value = Value();
    return {.subject_id = Subject(),
            .field_type = TypeNumber(),
            .value = value.text,
            .source = Pick({"checkout-form", "crm"}, 200),
            .purpose = in_.ConsumeBool() ? Purpose() : ""};
  }

  void Tokenize() {
    const std::string identity = Identity();
    Arg value;
    vault::TokenizeInput input = TokenizeItem(value);
    const int type = input.field_type;
    absl::StatusOr<std::string> token =
        Await<std::string>([&](vault::Callback<std::string> done) {
          instance_.vault().Tokenize({identity}, std::move(input),
                                     std::move(done));
        });
    if (token.ok()) {
      CheckIssued(*token, type, value);
    } else {
      CheckRefusal(token.status(), value);
    }
  }

  void TokenizeBatch() {
    const std::string identity = Identity();
    // Up to twice the batch limit, so that both sides of it are reached.
    const size_t n = in_.ConsumeIntegralInRange<size_t>(
        0, 2 * VaultInstance::Options().max_batch_items);
    std::vector<vault::TokenizeInput> inputs;
    std::vector<Arg> values(n);
    for (size_t i = 0; i < n; ++i) inputs.push_back(TokenizeItem(values[i]));
    std::vector<int> types;
    for (const auto& item : inputs) types.push_back(item.field_type);
    absl::StatusOr<vault::Vault::TokenizeResults> results =
        Await<vault::Vault::TokenizeResults>(
            [&](vault::Callback<vault::Vault::TokenizeResults> done) {
              instance_.vault().TokenizeBatch({identity}, std::move(inputs),
                                              std::move(done));
            });
    if (!results.ok()) {
      CheckRefusal(results.status(), {});
      return;
    }
    SANDYQ_FUZZ_CHECK(n >= 1 && n <= VaultInstance::Options().max_batch_items);
    SANDYQ_FUZZ_CHECK(results->size() == n);
    for (size_t i = 0; i < n; ++i) {
      if ((*results)[i].ok()) {
        CheckIssued(*(*results)[i], types[i], values[i]);
      } else {
        CheckRefusal((*results)[i].status(), values[i]);
      }
    }
  }

  void Detokenize() {
    const std::string identity = Identity();
    const std::string token = Token();
    const std::string purpose = Purpose();
    vault::DetokenizeInput input{.token = token,
                                 .purpose = purpose,
                                 .justification = Pick({"court order 1"}, 600)};
    absl::StatusOr<vault::Revealed> revealed =
        Await<vault::Revealed>([&](vault::Callback<vault::Revealed> done) {
          instance_.vault().Detokenize({identity}, std::move(input),
                                       std::move(done));
        });
    CheckRevealed(token, revealed);
  }

  void DetokenizeBatch() {
    const std::string identity = Identity();
    const size_t n = in_.ConsumeIntegralInRange<size_t>(
        0, 2 * VaultInstance::Options().max_batch_items);
    std::vector<vault::DetokenizeInput> inputs;
    std::vector<std::string> tokens;
    for (size_t i = 0; i < n; ++i) {
      tokens.push_back(Token());
      inputs.push_back({.token = tokens.back(),
                        .purpose = Purpose(),
                        .justification = Pick({"court order 1"}, 600)});
    }
    absl::StatusOr<vault::Vault::DetokenizeResults> results =
        Await<vault::Vault::DetokenizeResults>(
            [&](vault::Callback<vault::Vault::DetokenizeResults> done) {
              instance_.vault().DetokenizeBatch({identity}, std::move(inputs),
                                                std::move(done));
            });
    if (!results.ok()) {
      CheckRefusal(results.status(), {});
      return;
    }
    SANDYQ_FUZZ_CHECK(n >= 1 && n <= VaultInstance::Options().max_batch_items);
    SANDYQ_FUZZ_CHECK(results->size() == n);
    for (size_t i = 0; i < n; ++i) CheckRevealed(tokens[i], (*results)[i]);
  }

  void Lookup() {
    const std::string identity = Identity();
    const int type = TypeNumber();
    const Arg value = Value();
    const std::string purpose = Purpose();
    absl::StatusOr<std::vector<std::string>> found =
        Await<std::vector<std::string>>(
            [&](vault::Callback<std::vector<std::string>> done) {
              instance_.vault().Lookup(
                  {identity},
                  {.field_type = type, .value = value.text, .purpose = purpose},
                  std::move(done));
            });
    if (!found.ok()) {
      CheckRefusal(found.status(), value);
      return;
    }
    SANDYQ_FUZZ_CHECK(found->size() <= VaultInstance::Options().max_lookup_results);
    for (const std::string& token : *found) {
      auto it = known_.find(token);
      SANDYQ_FUZZ_CHECK(it != known_.end());
      SANDYQ_FUZZ_CHECK(static_cast<int>(it->second.type) == type);
    }
  }

  // Subjects.Rectify: a new value behind a token.
  void Rectify() {
    const std::string identity = Identity();
    const std::string token = Token();
    const Arg value = Value();
    const std::string reason = Pick({"rectified on request"}, 600);
    absl::StatusOr<bool> rectified =
        Await<bool>([&](vault::Callback<bool> done) {
          instance_.vault().Rectify({identity}, token, value.text, reason,
                                    std::move(done));
        });
    if (!rectified.ok()) {
      CheckRefusal(rectified.status(), value);
      return;
    }
    auto it = known_.find(token);
    SANDYQ_FUZZ_CHECK(it != known_.end());
    absl::StatusOr<fields::Normalized> normalized = fields::Normalize(
        it->second.type, value.text, instance_.normalize_options());
    SANDYQ_FUZZ_CHECK(normalized.ok());
    it->second.value = normalized->value;
    absl::StatusOr<vault::Revealed> revealed =
        Reveal("dpo", token, "subject_access_request");
    SANDYQ_FUZZ_CHECK(revealed.ok() && revealed->value == normalized->value);
  }

  void RecordConsent() {
    const std::string identity = Identity();
    vault::ConsentInput input{.subject_id = Subject(),
                              .purpose = Purpose(),
                              .granted = in_.ConsumeBool(),
                              .cross_border = in_.ConsumeBool(),
                              .policy_version = Pick({"v1"}, 100),
                              .channel = Pick({"web-form"}, 100)};
    absl::StatusOr<absl::Time> recorded =
        Await<absl::Time>([&](vault::Callback<absl::Time> done) {
          instance_.vault().RecordConsent({identity}, std::move(input),
                                          std::move(done));
        });
    if (!recorded.ok()) CheckRefusal(recorded.status(), {});
  }

  // Subjects.Block / Unblock / SetHold / ReleaseHold.
  void BlockOrHold() {
    const std::string identity = Identity();
    const std::string subject = Subject();
    const std::string reason = Pick({"on request"}, 600);
    absl::Status status;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
      case 1: {
        const bool block = in_.ConsumeBool();
        status = Await<bool>([&](vault::Callback<bool> done) {
                   instance_.vault().SetBlocked({identity}, subject, reason,
                                                block, std::move(done));
                 }).status();
        break;
      }
      case 2:
        status = Await<std::string>([&](vault::Callback<std::string> done) {
                   instance_.vault().SetHold({identity}, subject, reason,
                                             std::move(done));
                 }).status();
        break;
      case 3: {
        const std::string hold_id = Pick({""}, 80);
        status = Await<bool>([&](vault::Callback<bool> done) {
                   instance_.vault().ReleaseHold({identity}, subject, reason,
                                                 hold_id, std::move(done));
                 }).status();
        break;
      }
    }
    if (!status.ok()) CheckRefusal(status, {});
  }

  void Report() {
    const std::string identity = Identity();
    const std::string subject = Subject();
    absl::StatusOr<vault::SubjectReport> report =
        Await<vault::SubjectReport>(
            [&](vault::Callback<vault::SubjectReport> done) {
              instance_.vault().Report({identity}, subject, std::move(done));
            });
    if (!report.ok()) {
      CheckRefusal(report.status(), {});
      return;
    }
    for (const vault::SubjectReport::Field& f : report->fields) {
      auto it = known_.find(f.token);
      SANDYQ_FUZZ_CHECK(it != known_.end() && it->second.type == f.type);
    }
  }

  // Nothing stored before is lost or changed (but by Rectify), and the log
  // still verifies.
  void CheckNothingLost() {
    const std::vector<BaselineValue>& baseline = VaultInstance::Baseline();
    const size_t max = VaultInstance::Options().max_batch_items;
    for (size_t start = 0; start < baseline.size(); start += max) {
      std::vector<vault::DetokenizeInput> batch;
      for (size_t i = start; i < baseline.size() && i < start + max; ++i) {
        batch.push_back(
            {.token = baseline[i].token, .purpose = "subject_access_request"});
      }
      absl::StatusOr<vault::Vault::DetokenizeResults> results =
          Await<vault::Vault::DetokenizeResults>(
              [&](vault::Callback<vault::Vault::DetokenizeResults> done) {
                instance_.vault().DetokenizeBatch({"dpo"}, batch,
                                                  std::move(done));
              });
      SANDYQ_FUZZ_CHECK(results.ok() && results->size() == batch.size());
      for (size_t i = 0; i < batch.size(); ++i) {
        const absl::StatusOr<vault::Revealed>& revealed = (*results)[i];
        SANDYQ_FUZZ_CHECK(revealed.ok());
        SANDYQ_FUZZ_CHECK(revealed->value ==
                              known_.at(baseline[start + i].token).value &&
                          !revealed->masked);
      }
    }
    absl::StatusOr<audit::AuditLog::VerifyResult> verified =
        instance_.log().Verify();
    SANDYQ_FUZZ_CHECK(verified.ok() && verified->ok);
    SANDYQ_FUZZ_CHECK(verified->events_checked == instance_.log().last_seq());
  }

  VaultInstance& instance_;
  FuzzedDataProvider& in_;
  std::map<std::string, Known> known_;
};

}  // namespace
}  // namespace sandyq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandyq::fuzz;  // NOLINT: one entry point
  std::unique_ptr<VaultInstance> instance = VaultInstance::Open();
  SANDYQ_FUZZ_CHECK(instance != nullptr);
  FuzzedDataProvider in(data, size);
  Session(*instance, in).Run();
  return 0;
}
