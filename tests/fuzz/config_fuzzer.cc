// The server config parser (server/config) and the text-format location
// finder it shares with the policy (server/policy/text_proto.h).
//
// Input: a field path up to the first newline (e.g. "tls.cert_file" or
// "backups.targets[2].path"), then a text-format sandyq.v1.ServerConfig.
//
// Checks: a refusal is InvalidArgument with every line located in the file;
// an accepted config has what the server needs, with absolute paths; any
// path gets a location inside the file.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/text_format.h"
#include "sandyq/v1/config.pb.h"
#include "server/config/config.h"
#include "server/platform/duration.h"
#include "server/policy/text_proto.h"
#include "tests/fuzz/fuzz_check.h"

namespace sandyq::fuzz {
namespace {

constexpr char kFile[] = "fuzz.textproto";

void CheckLocation(absl::string_view text, absl::string_view location) {
  // "<file>:<line>:<column>", both 1-based and inside the text.
  std::vector<absl::string_view> parts = absl::StrSplit(location, ':');
  SANDYQ_FUZZ_CHECK(parts.size() == 3 && parts[0] == kFile);
  int line = 0, column = 0;
  SANDYQ_FUZZ_CHECK(absl::SimpleAtoi(parts[1], &line) && line >= 1);
  SANDYQ_FUZZ_CHECK(absl::SimpleAtoi(parts[2], &column) && column >= 1);
  SANDYQ_FUZZ_CHECK(static_cast<size_t>(line) <= text.size() + 1);
}

}  // namespace
}  // namespace sandyq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandyq;  // NOLINT: one entry point
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const absl::string_view path = input.substr(0, newline);
  const absl::string_view text =
      newline == absl::string_view::npos ? "" : input.substr(newline + 1);

  absl::StatusOr<v1::ServerConfig> config = config::ParseServerConfig(
      std::string(text), fuzz::kFile, "/fuzz/base");
  if (!config.ok()) {
    SANDYQ_FUZZ_CHECK(config.status().code() ==
                      absl::StatusCode::kInvalidArgument);
    for (absl::string_view line :
         absl::StrSplit(config.status().message(), '\n')) {
      SANDYQ_FUZZ_CHECK(absl::StartsWith(line, "fuzz.textproto:"));
    }
  } else {
    SANDYQ_FUZZ_CHECK(!config->listen().empty());
    SANDYQ_FUZZ_CHECK(config->residency_country().size() == 2);
    for (const std::string* p :
         {&config->data_dir(), &config->policy_file(),
          &config->tls().cert_file(), &config->tls().key_file(),
          &config->tls().client_ca_file(), &config->erasure_ledger()}) {
      SANDYQ_FUZZ_CHECK(absl::StartsWith(*p, "/"));
    }
    for (const std::string* d :
         {&config->keys().rotate_every(), &config->audit().checkpoint_every(),
          &config->retention_every()}) {
      if (d->empty()) continue;
      absl::StatusOr<absl::Duration> parsed = config::ParseConfigDuration(*d);
      SANDYQ_FUZZ_CHECK(parsed.ok() && *parsed > absl::ZeroDuration());
    }
  }

  // Any path, in any parsed text, gets a location in the file.
  v1::ServerConfig proto;
  google::protobuf::TextFormat::ParseInfoTree tree;
  if (policy::ParseTextProto(text, fuzz::kFile, &proto, &tree).ok()) {
    fuzz::CheckLocation(text, policy::TextFieldLocation(
                                  text, tree, *v1::ServerConfig::descriptor(),
                                  path, fuzz::kFile));
  }

  // Durations, as written in configs and policies.
  absl::StatusOr<absl::Duration> duration = platform::ParseDuration(path);
  if (duration.ok()) {
    SANDYQ_FUZZ_CHECK(*duration > absl::ZeroDuration());
  } else {
    SANDYQ_FUZZ_CHECK(duration.status().code() ==
                      absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
