#include "tests/fuzz/vault_harness.h"

#include <tuple>
#include <utility>

#include "absl/time/civil_time.h"
#include "server/config/dev_vault.h"
#include "server/fields/fields.h"
#include "tests/fuzz/fuzz_check.h"

namespace sandyq::fuzz {
namespace {

using fields::FieldType;
using storage::Table;

constexpr char kSubjectA[] = "fuzz:0001";
constexpr char kSubjectB[] = "fuzz:0002";

std::shared_ptr<const policy::Policy> SamplePolicy() {
  static const auto* const policy = [] {
    absl::StatusOr<std::shared_ptr<const policy::Policy>> parsed =
        policy::Policy::Parse(config::kSamplePolicy, "policy.textproto");
    SANDYQ_FUZZ_CHECK(parsed.ok());
    return new std::shared_ptr<const policy::Policy>(*std::move(parsed));
  }();
  return *policy;
}

// The master key of the baseline; each instance gets a copy of its KEKs.
testing::FakeMasterKey& BaselineMasterKey() {
  static auto* const master = new testing::FakeMasterKey();
  return *master;
}

struct BaselineData {
  std::vector<BaselineValue> values;
  std::vector<StoredRecord> records;
};

const BaselineData& Build() {
  static const BaselineData* const data = [] {
    auto* out = new BaselineData;
    testing::MemoryStore store;
    testing::FakeClock clock;
    testing::FakeRandom random(1);
    {
      audit::AuditLog::Options log_options;
      log_options.completion_threads = 1;
      absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
          audit::AuditLog::Open(&store, &clock, log_options);
      SANDYQ_FUZZ_CHECK(log.ok());
      absl::StatusOr<std::unique_ptr<vault::Vault>> vault = vault::Vault::Open(
          {.store = &store,
           .log = log->get(),
           .master = &BaselineMasterKey(),
           .clock = &clock,
           .random = &random,
           .policy = SamplePolicy()},
          VaultInstance::Options());
      SANDYQ_FUZZ_CHECK(vault.ok());
      // Synthetic values only (domain/kazakhstan.md test vectors).
      const std::vector<std::tuple<const char*, FieldType, const char*>> items = {
          {kSubjectA, FieldType::kFullName, "  Әлия   Тестова "},
          {kSubjectA, FieldType::kIin, "850315300019"},
          {kSubjectA, FieldType::kPassport, "n1234 5678"},
          {kSubjectA, FieldType::kPhone, "8 (701) 234-56-78"},
          {kSubjectA, FieldType::kCardNumber, "4111 1111 1111 1111"},
          {kSubjectA, FieldType::kCardExpiry, "03/29"},
          {kSubjectA, FieldType::kEmail, "Test.User@Mail.KZ"},
          {kSubjectA, FieldType::kDateOfBirth, "1985-03-15"},
          {kSubjectA, FieldType::kAddress, "г. Алматы, ул. Тестовая, 1"},
          {kSubjectB, FieldType::kFullName, "Қайрат Тестов"},
          {kSubjectB, FieldType::kIin, "920704412346"},
          {kSubjectB, FieldType::kPhone, "+7 705 111 22 33"},
          {kSubjectB, FieldType::kCardNumber, "5555555555554444"},
      };
      for (const auto& item : items) {
        // (Structured bindings cannot be captured by clang 14's lambdas.)
        const std::string subject = std::get<0>(item);
        const FieldType type = std::get<1>(item);
        const std::string input = std::get<2>(item);
        absl::StatusOr<std::string> token =
            Await<std::string>([&](vault::Callback<std::string> done) {
              (*vault)->Tokenize({"checkout"},
                                 {.subject_id = subject,
                                  .field_type = static_cast<int>(type),
                                  .value = input,
                                  .source = "fuzz-baseline"},
                                 std::move(done));
            });
        SANDYQ_FUZZ_CHECK(token.ok());
        absl::StatusOr<vault::Revealed> revealed =
            Await<vault::Revealed>([&](vault::Callback<vault::Revealed> done) {
              (*vault)->Detokenize({"dpo"},
                                   {.token = *token,
                                    .purpose = "subject_access_request"},
                                   std::move(done));
            });
        SANDYQ_FUZZ_CHECK(revealed.ok() && !revealed->masked);
        out->values.push_back({subject, type, input, revealed->value, *token});
      }
      // A consent (consents table) and a hold (inside a subject record).
      absl::StatusOr<absl::Time> consent =
          Await<absl::Time>([&](vault::Callback<absl::Time> done) {
            (*vault)->RecordConsent({"dpo"},
                                    {.subject_id = kSubjectB,
                                     .purpose = "marketing",
                                     .granted = true,
                                     .policy_version = "fuzz-v1",
                                     .channel = "web"},
                                    std::move(done));
          });
      SANDYQ_FUZZ_CHECK(consent.ok());
      absl::StatusOr<std::string> hold =
          Await<std::string>([&](vault::Callback<std::string> done) {
            (*vault)->SetHold({"dpo"}, kSubjectB, "fuzz hold", std::move(done));
          });
      SANDYQ_FUZZ_CHECK(hold.ok());
      vault->reset();
      log->reset();
    }
    for (int t = 0; t < storage::kTableCount; ++t) {
      const Table table = static_cast<Table>(t);
      absl::Status scanned = store.Scan(
          table, "", "", [&](absl::string_view key, absl::string_view value) {
            out->records.push_back(
                {table, std::string(key), std::string(value)});
            return true;
          });
      SANDYQ_FUZZ_CHECK(scanned.ok());
    }
    return out;
  }();
  return *data;
}

}  // namespace

const std::vector<std::string>& SampleIdentities() {
  static const auto* const names = new std::vector<std::string>(
      SamplePolicy()->IdentityNames());
  return *names;
}

const std::vector<std::string>& SamplePurposes() {
  static const auto* const purposes = new std::vector<std::string>{
      "payment_processing", "order_fulfilment", "customer_support",
      "marketing",          "legal_request",    "subject_access_request"};
  return *purposes;
}

const std::vector<std::string>& SyntheticValues() {
  // domain/kazakhstan.md §1.5 (IINs), test card numbers, and the synthetic
  // names, phones and addresses the unit tests use.
  static const auto* const values = new std::vector<std::string>{
      "850315300019", "920704412346", "000229500177", "061211600012",
      "850315300018", "850315302600", "851315300011", "8503153000190",
      "Әлия Тестова", "Қайрат Тестов", "ҚАЙРАТ ТЕСТОВ", "Кайрат Тестов",
      "Aliya Testova", "Айгерiм Тестова",
      "+77012345678", "8 (701) 234-56-78", "+7 705 111 22 33", "12345",
      "4111 1111 1111 1111", "5555555555554444", "378282246310005",
      "4111111111111112", "03/29", "12/2031", "13/29", "1985-03-15",
      "2999-01-01", "N12345678", "n 1234-5678", "Test.User@Mail.KZ",
      "not-an-address", "г. Алматы, ул. Тестовая, 1",
      "sq_AAAAAAAAAAAAAAAAAAAAAAAA", "4111110000091112"};
  return *values;
}

vault::Vault::Options VaultInstance::Options() {
  vault::Vault::Options options;
  options.max_batch_items = 8;
  options.max_lookup_results = 16;
  options.background_key_maintenance = false;
  options.dek_cache_size = 16;
  return options;
}

const std::vector<BaselineValue>& VaultInstance::Baseline() {
  return Build().values;
}

const std::vector<StoredRecord>& VaultInstance::BaselineRecords() {
  return Build().records;
}

std::unique_ptr<VaultInstance> VaultInstance::Open(
    const std::function<void(testing::MemoryStore&)>& before_open) {
  const BaselineData& baseline = Build();
  std::unique_ptr<VaultInstance> instance(new VaultInstance);
  storage::WriteBatch copy;
  for (const StoredRecord& r : baseline.records) {
    copy.Put(r.table, r.key, r.value);
  }
  SANDYQ_FUZZ_CHECK(instance->store_.Write(copy, {}).ok());
  instance->master_ = std::make_unique<testing::FakeMasterKey>();
  absl::StatusOr<std::vector<uint32_t>> versions =
      BaselineMasterKey().ListKeks();
  SANDYQ_FUZZ_CHECK(versions.ok());
  for (uint32_t v : *versions) {
    absl::StatusOr<crypto::SecretBytes> kek = BaselineMasterKey().GetKek(v);
    SANDYQ_FUZZ_CHECK(kek.ok());
    SANDYQ_FUZZ_CHECK(instance->master_->PutKek(v, *kek).ok());
  }
  if (before_open) before_open(instance->store_);

  audit::AuditLog::Options log_options;
  log_options.completion_threads = 1;
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(
      &instance->store_, &instance->clock_, log_options);
  if (!log.ok()) return nullptr;
  instance->log_ = *std::move(log);
  absl::StatusOr<std::unique_ptr<vault::Vault>> vault =
      vault::Vault::Open({.store = &instance->store_,
                          .log = instance->log_.get(),
                          .master = instance->master_.get(),
                          .clock = &instance->clock_,
                          .random = &instance->random_,
                          .policy = SamplePolicy()},
                         Options());
  if (!vault.ok()) return nullptr;
  instance->vault_ = *std::move(vault);
  return instance;
}

VaultInstance::~VaultInstance() {
  // The vault's threads use the log, the log's use the store.
  vault_.reset();
  log_.reset();
}

const fields::NormalizeOptions& VaultInstance::normalize_options() const {
  static const fields::NormalizeOptions* const options = [] {
    // The vault's "today" is in Asia/Almaty (UTC+5); the fake clock starts
    // at 2026-01-01T00:00:00Z and the fuzz targets do not move it.
    const absl::CivilDay today = absl::ToCivilDay(
        testing::FakeClock().Now(), absl::FixedTimeZone(5 * 60 * 60));
    return new fields::NormalizeOptions{.today = today, .strict_iin = true};
  }();
  return *options;
}

}  // namespace sandyq::fuzz
