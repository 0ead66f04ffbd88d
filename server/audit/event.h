#ifndef SANDYQ_SERVER_AUDIT_EVENT_H_
#define SANDYQ_SERVER_AUDIT_EVENT_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace sandyq::audit {

// The numbers equal sandyq.v1.Decision (proto/sandyq/v1/audit.proto) and are
// stored: never renumber.
enum class Decision : int {
  kUnspecified = 0,
  kAllowed = 1,         // tokenize, lookup, audit calls that succeeded
  kRevealedFull = 2,    // value returned in full
  kRevealedMasked = 3,  // value returned masked
  kDenied = 4,          // refused by policy or authentication
  kInvalid = 5,         // refused because the input broke a rule
  kNotFound = 6,        // no such token
  kFailed = 7,          // an internal error
};

// One access-log entry as the vault describes it (DESIGN.md §3). It never
// holds a plaintext value or a subject id: subjects appear only as their
// keyed hash. The log adds the sequence number, time and chain hashes.
struct Event {
  std::string identity;
  std::string organisation;
  std::string country;
  std::string rpc;           // e.g. "Tokenizer.Detokenize"
  std::string subject_hash;  // 32 raw bytes, or empty
  std::string token;
  int field_type = 0;        // fields::FieldType number
  std::string purpose;
  std::string justification;
  Decision decision = Decision::kUnspecified;
  std::string rule;          // policy or validation rule behind the decision
  int code = 0;              // gRPC / absl status code returned
};

// An event as stored: the vault's description plus what the log added.
struct StoredEvent {
  uint64_t seq = 0;
  absl::Time time;
  Event event;
  std::string prev_hash;  // 32 raw bytes (zeros for the first event)
  std::string hash;       // 32 raw bytes
  std::string signature;  // checkpoints only (server/audit/chain.h)
  std::string body;       // the serialized body `hash` covers (as read)
};

}  // namespace sandyq::audit

#endif  // SANDYQ_SERVER_AUDIT_EVENT_H_
