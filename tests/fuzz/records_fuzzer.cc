// The stored-record decoders: what the vault does with records read back
// from its store (FieldRecord, SubjectRecord, KekRecord, VaultRecord,
// ConsentRecord, index entries, DEK counters, the audit head;
// docs/storage-format.md), plus the storage key and counter encodings.
//
// Input: picks one record of the baseline vault (tests/fuzz/vault_harness.h)
// and either replaces it with raw bytes, removes it, changes one field of
// its protobuf message to a fuzzed value, or adds a record under a fuzzed
// key. The vault is then opened over that store (refusing to open is fine)
// and asked to reveal, look up and re-tokenize every baseline value, report
// on both subjects, apply retention and run key maintenance.
//
// Checks: no crash, no hang, every callback once; a value that is revealed
// is exactly the value stored under that token (the AEAD binds token, type
// and subject, so a damaged record can make a value unreadable, never
// wrong); lookups name only real tokens; no error message carries a value.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "sandyq/internal/v1/records.pb.h"
#include "server/fields/fields.h"
#include "server/storage/encoding.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/vault_harness.h"

namespace sandyq::fuzz {
namespace {

namespace pb = ::sandyq::internal::v1;
using google::protobuf::FieldDescriptor;
using storage::Table;

// The message a stored value holds, or null for raw values.
std::unique_ptr<google::protobuf::Message> MessageFor(const StoredRecord& r) {
  switch (r.table) {
    case Table::kFields:
      return std::make_unique<pb::FieldRecord>();
    case Table::kSubjects:
      return std::make_unique<pb::SubjectRecord>();
    case Table::kConsents:
      return std::make_unique<pb::ConsentRecord>();
    case Table::kKeys:
      if (r.key.size() == 4) return std::make_unique<pb::KekRecord>();
      return nullptr;  // a DEK counter
    case Table::kMeta:
      if (r.key == "vault") return std::make_unique<pb::VaultRecord>();
      if (r.key == "audit_head") return std::make_unique<pb::AuditHead>();
      return nullptr;
    case Table::kAudit:
      return std::make_unique<pb::StoredAuditEvent>();
    default:
      return nullptr;
  }
}

// Sets one field of `message` (chosen by the input) to a fuzzed value.
void MutateField(google::protobuf::Message& message, FuzzedDataProvider& in) {
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  if (d->field_count() == 0) return;
  const FieldDescriptor* f =
      d->field(in.ConsumeIntegralInRange<int>(0, d->field_count() - 1));
  const google::protobuf::Reflection* r = message.GetReflection();
  if (f->is_repeated()) {
    if (in.ConsumeBool()) {
      r->ClearField(&message, f);
      return;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return;
    google::protobuf::Message* added = r->AddMessage(&message, f);
    MutateField(*added, in);
    return;
  }
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      r->SetInt32(&message, f, in.ConsumeIntegral<int32_t>());
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      r->SetInt64(&message, f, in.ConsumeIntegral<int64_t>());
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      r->SetUInt32(&message, f, in.ConsumeIntegral<uint32_t>());
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      r->SetUInt64(&message, f, in.ConsumeIntegral<uint64_t>());
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      r->SetBool(&message, f, in.ConsumeBool());
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      r->SetEnumValue(&message, f, in.ConsumeIntegral<int32_t>());
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value = r->GetString(message, f);
      if (!value.empty() && in.ConsumeBool()) {
        // Truncated, or one byte changed.
        if (in.ConsumeBool()) {
          value.resize(in.ConsumeIntegralInRange<size_t>(0, value.size() - 1));
        } else {
          value[in.ConsumeIntegralInRange<size_t>(0, value.size() - 1)] ^=
              static_cast<char>(in.ConsumeIntegralInRange<uint8_t>(1, 255));
        }
      } else {
        value = in.ConsumeRandomLengthString(128);
      }
      r->SetString(&message, f, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
}

void Tamper(testing::MemoryStore& store, FuzzedDataProvider& in) {
  const std::vector<StoredRecord>& records = VaultInstance::BaselineRecords();
  const StoredRecord& record =
      records[in.ConsumeIntegralInRange<size_t>(0, records.size() - 1)];
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      store.Poke(record.table, record.key, in.ConsumeRandomLengthString(256));
      break;
    case 1:
      store.Erase(record.table, record.key);
      break;
    case 2: {
      std::unique_ptr<google::protobuf::Message> message = MessageFor(record);
      if (message == nullptr || !message->ParseFromString(record.value)) {
        store.Poke(record.table, record.key, in.ConsumeBytesAsString(8));
        break;
      }
      MutateField(*message, in);
      store.Poke(record.table, record.key, message->SerializeAsString());
      break;
    }
    case 3: {
      // An extra record: a key near this one (same prefix) or any key.
      std::string key = record.key.substr(
          0, in.ConsumeIntegralInRange<size_t>(0, record.key.size()));
      key += in.ConsumeRandomLengthString(48);
      store.Poke(record.table, key, in.ConsumeRandomLengthString(256));
      break;
    }
  }
}

class Checker {
 public:
  explicit Checker(VaultInstance& instance) : instance_(instance) {
    for (const BaselineValue& v : VaultInstance::Baseline()) {
      by_token_[v.token] = &v;
    }
  }

  void Run() {
    std::vector<std::string> tokens;
    for (const BaselineValue& v : VaultInstance::Baseline()) {
      tokens.push_back(v.token);
    }
    for (const char* identity : {"dpo", "support"}) {
      const char* purpose =
          std::string(identity) == "dpo" ? "subject_access_request"
                                         : "customer_support";
      for (size_t start = 0; start < tokens.size(); start += 8) {
        std::vector<vault::DetokenizeInput> batch;
        for (size_t i = start; i < tokens.size() && i < start + 8; ++i) {
          batch.push_back({.token = tokens[i], .purpose = purpose});
        }
        absl::StatusOr<vault::Vault::DetokenizeResults> results =
            Await<vault::Vault::DetokenizeResults>(
                [&](vault::Callback<vault::Vault::DetokenizeResults> done) {
                  instance_.vault().DetokenizeBatch({identity}, batch,
                                                    std::move(done));
                });
        if (!results.ok()) {
          CheckError(results.status());
          continue;
        }
        SANDYQ_FUZZ_CHECK(results->size() == batch.size());
        for (size_t i = 0; i < batch.size(); ++i) {
          CheckRevealed(batch[i].token, (*results)[i]);
        }
      }
    }
    for (const BaselineValue& v : VaultInstance::Baseline()) {
      absl::StatusOr<std::vector<std::string>> found =
          Await<std::vector<std::string>>(
              [&](vault::Callback<std::vector<std::string>> done) {
                instance_.vault().Lookup(
                    {"dpo"},
                    {.field_type = static_cast<int>(v.type),
                     .value = v.input,
                     .purpose = "subject_access_request"},
                    std::move(done));
              });
      if (!found.ok()) {
        CheckError(found.status());
        continue;
      }
      for (const std::string& token : *found) {
        SANDYQ_FUZZ_CHECK(by_token_.count(token) > 0);
      }
    }
    for (const BaselineValue& v : VaultInstance::Baseline()) {
      absl::StatusOr<std::string> token =
          Await<std::string>([&](vault::Callback<std::string> done) {
            instance_.vault().Tokenize({"checkout"},
                                       {.subject_id = v.subject_id,
                                        .field_type = static_cast<int>(v.type),
                                        .value = v.input},
                                       std::move(done));
          });
      if (!token.ok()) CheckError(token.status());
    }
    for (const char* subject : {"fuzz:0001", "fuzz:0002"}) {
      absl::StatusOr<vault::SubjectReport> report =
          Await<vault::SubjectReport>(
              [&](vault::Callback<vault::SubjectReport> done) {
                instance_.vault().Report({"dpo"}, subject, std::move(done));
              });
      if (!report.ok()) CheckError(report.status());
    }
    absl::StatusOr<vault::RetentionResult> retention =
        instance_.vault().RunRetention();
    if (!retention.ok()) CheckError(retention.status());
    absl::StatusOr<int64_t> maintenance = instance_.vault().RunKeyMaintenance();
    if (!maintenance.ok()) CheckError(maintenance.status());
    (void)instance_.log().Verify();
  }

 private:
  void CheckError(const absl::Status& status) {
    SANDYQ_FUZZ_CHECK(!status.ok());
    SANDYQ_FUZZ_CHECK(!status.message().empty());
    for (const BaselineValue& v : VaultInstance::Baseline()) {
      if (v.normalized.size() >= 5) {
        SANDYQ_FUZZ_CHECK(!absl::StrContains(status.message(), v.normalized));
      }
    }
  }

  void CheckRevealed(const std::string& token,
                     const absl::StatusOr<vault::Revealed>& revealed) {
    if (!revealed.ok()) {
      CheckError(revealed.status());
      return;
    }
    const BaselineValue& v = *by_token_.at(token);
    SANDYQ_FUZZ_CHECK(revealed->type == v.type);
    SANDYQ_FUZZ_CHECK(revealed->value == (revealed->masked
                                              ? fields::Mask(v.type, v.normalized)
                                              : v.normalized));
  }

  VaultInstance& instance_;
  std::map<std::string, const BaselineValue*> by_token_;
};

void CheckEncodings(absl::string_view bytes) {
  if (std::optional<uint32_t> v = storage::DecodeU32(bytes)) {
    SANDYQ_FUZZ_CHECK(storage::EncodeU32(*v) == bytes);
  }
  if (std::optional<uint64_t> v = storage::DecodeU64(bytes)) {
    SANDYQ_FUZZ_CHECK(storage::EncodeU64(*v) == bytes);
  }
  if (std::optional<int64_t> v = storage::DecodeCounter(bytes)) {
    SANDYQ_FUZZ_CHECK(bytes.empty() ? *v == 0
                                    : storage::EncodeCounter(*v) == bytes);
  }
}

}  // namespace
}  // namespace sandyq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandyq::fuzz;  // NOLINT: one entry point
  CheckEncodings(absl::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  std::unique_ptr<VaultInstance> instance = VaultInstance::Open(
      [&](sandyq::testing::MemoryStore& store) { Tamper(store, in); });
  if (instance == nullptr) return 0;  // the vault refused to open: fine
  Checker(*instance).Run();
  return 0;
}
