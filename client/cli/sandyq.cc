// sandyq: command-line client for every sandyq.v1 RPC.
//
//   sandyq [--addr A] [--pki DIR] --identity ID COMMAND ...
//
// Values given as "-" are read from standard input, so personal data need not
// appear in shell history or process lists.

#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:7443", "sandyqd address host:port");
ABSL_FLAG(std::string, pki, "var/dev/pki",
          "directory with ca.crt and <identity>.crt/.key");
ABSL_FLAG(std::string, identity, "", "client identity (certificate name)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "deadline per call");
ABSL_FLAG(std::string, subject, "", "subject id (tokenize, audit query)");
ABSL_FLAG(std::string, type, "", "field type, e.g. phone, iin, full_name");
ABSL_FLAG(std::string, source, "", "where the value came from (tokenize)");
ABSL_FLAG(std::string, purpose, "", "purpose of a reveal or lookup");
ABSL_FLAG(std::string, justification, "", "justification (legal requests)");
ABSL_FLAG(std::string, who, "", "identity filter (audit query)");
ABSL_FLAG(std::string, since, "", "RFC 3339 time, inclusive (audit query)");
ABSL_FLAG(std::string, until, "", "RFC 3339 time, exclusive (audit query)");
ABSL_FLAG(uint32_t, limit, 0, "most events to return (audit query)");
ABSL_FLAG(std::string, public_key, "",
          "PEM file with the vault's checkpoint key (audit verify offline)");
ABSL_FLAG(std::string, file, "",
          "an exported log to verify offline (audit verify); default: "
          "stream it from the server");
ABSL_FLAG(std::string, reason, "", "why (subjects commands); logged, no personal data");
ABSL_FLAG(bool, withdraw, false, "subjects consent: record a withdrawal");
ABSL_FLAG(bool, cross_border, false, "subjects consent: it covers transfer abroad");
ABSL_FLAG(std::string, policy_version, "", "subjects consent: privacy policy version");
ABSL_FLAG(std::string, channel, "", "subjects consent: how it was given");
ABSL_FLAG(std::string, hold_id, "", "subjects release: which hold");
ABSL_FLAG(bool, wait, false,
          "keys rotate: wait until every data key is re-wrapped, showing "
          "progress");

namespace {

namespace v1 = ::sandyq::v1;
using sandyq::client::Client;

constexpr char kUsage[] = R"(sandyq [flags] COMMAND [ARGS]

Commands:
  tokenize --subject S --type T VALUE|- [--source SRC] [--purpose P]
  tokenize-batch FILE|-        lines: subject<TAB>type<TAB>value[<TAB>source]
  detokenize TOKEN --purpose P [--justification J]
  detokenize-batch --purpose P TOKEN...
  lookup --type T --purpose P VALUE|-
  audit query [--subject S] [--who ID] [--since T] [--until T] [--limit N]
  audit export [--since T] [--until T]     JSON lines, one event each
  audit verify                             the server recomputes the chain
  audit verify --public-key PEM [--file EXPORT]
                                           verify here, trusting only the key
  audit public-key                         the checkpoint key, PEM
  keys list
  keys rotate [--wait]
  keys destroy VERSION
  subjects consent --subject S --purpose P [--withdraw] [--cross_border]
                   [--policy_version V] [--channel C]
  subjects report --subject S              JSON
  subjects rectify TOKEN VALUE|- --reason R
  subjects block|unblock --subject S --reason R
  subjects hold --subject S --reason R
  subjects release --subject S --reason R [--hold_id H]
  subjects erase --subject S --reason R
  subjects retention                       apply the retention rules now
  admin backup DIR
  admin reload-policy                      re-read the policy file and the
                                           certificate revocation list
  health

Field types: full_name iin passport phone card_number card_expiry email
date_of_birth address.)";

int Usage(const std::string& problem) {
  std::cerr << "sandyq: " << problem << "\n\n" << kUsage << std::endl;
  return 2;
}

int Error(const absl::Status& s) {
  std::cerr << "sandyq: " << absl::StatusCodeToString(s.code()) << ": "
            << s.message() << std::endl;
  return 1;
}

std::string ValueArg(const std::string& arg) {
  if (arg != "-") return arg;
  std::string value(std::istreambuf_iterator<char>(std::cin), {});
  return std::string(absl::StripSuffix(absl::StripSuffix(value, "\n"), "\r"));
}

std::string TypeName(v1::FieldType t) {
  std::string name = v1::FieldType_Name(t);
  return absl::AsciiStrToLower(absl::StripPrefix(name, "FIELD_TYPE_"));
}

std::optional<v1::FieldType> TypeFlag() {
  return sandyq::client::ParseFieldType(absl::GetFlag(FLAGS_type));
}

int Tokenize(Client& c, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("tokenize takes one VALUE (or -)");
  auto type = TypeFlag();
  if (!type) return Usage("--type: unknown field type");
  auto token = c.Tokenize(absl::GetFlag(FLAGS_subject), *type,
                          ValueArg(args[0]), absl::GetFlag(FLAGS_source),
                          absl::GetFlag(FLAGS_purpose));
  if (!token.ok()) return Error(token.status());
  std::cout << *token << std::endl;
  return 0;
}

int TokenizeBatch(Client& c, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("tokenize-batch takes FILE or -");
  std::string text = args[0] == "-"
      ? std::string(std::istreambuf_iterator<char>(std::cin), {})
      : [&] {
          std::ifstream in(args[0]);
          return std::string(std::istreambuf_iterator<char>(in), {});
        }();
  v1::TokenizeBatchRequest request;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_no;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() < 3 || cols.size() > 4) {
      return Usage(absl::StrCat("line ", line_no, ": want 3 or 4 tab-separated columns"));
    }
    auto type = sandyq::client::ParseFieldType(cols[1]);
    if (!type) return Usage(absl::StrCat("line ", line_no, ": unknown field type"));
    v1::TokenizeRequest* item = request.add_items();
    item->set_subject_id(cols[0]);
    item->set_type(*type);
    item->set_value(cols[2]);
    if (cols.size() == 4) item->set_source(cols[3]);
  }
  auto response = c.TokenizeBatch(request);
  if (!response.ok()) return Error(response.status());
  int failed = 0;
  for (const auto& r : response->results()) {
    if (r.has_error()) {
      ++failed;
      std::cout << "error\t" << absl::StatusCodeToString(
                                    static_cast<absl::StatusCode>(r.error().code()))
                << "\t" << r.error().message() << "\n";
    } else {
      std::cout << r.token() << "\n";
    }
  }
  std::cout.flush();
  return failed == 0 ? 0 : 1;
}

int Detokenize(Client& c, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("detokenize takes one TOKEN");
  auto r = c.Detokenize(args[0], absl::GetFlag(FLAGS_purpose),
                        absl::GetFlag(FLAGS_justification));
  if (!r.ok()) return Error(r.status());
  std::cout << r->value() << std::endl;
  std::cerr << TypeName(r->type()) << (r->masked() ? ", masked" : "") << std::endl;
  return 0;
}

int DetokenizeBatch(Client& c, const std::vector<std::string>& args) {
  if (args.empty()) return Usage("detokenize-batch takes TOKEN...");
  v1::DetokenizeBatchRequest request;
  for (const auto& t : args) {
    auto* item = request.add_items();
    item->set_token(t);
    item->set_purpose(absl::GetFlag(FLAGS_purpose));
    item->set_justification(absl::GetFlag(FLAGS_justification));
  }
  auto response = c.DetokenizeBatch(request);
  if (!response.ok()) return Error(response.status());
  int failed = 0;
  for (const auto& r : response->results()) {
    if (r.has_error()) {
      ++failed;
      std::cout << "error\t" << absl::StatusCodeToString(
                                    static_cast<absl::StatusCode>(r.error().code()))
                << "\t" << r.error().message() << "\n";
    } else {
      std::cout << r.value() << "\t" << TypeName(r.type())
                << (r.masked() ? "\tmasked" : "") << "\n";
    }
  }
  std::cout.flush();
  return failed == 0 ? 0 : 1;
}

int Lookup(Client& c, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("lookup takes one VALUE (or -)");
  auto type = TypeFlag();
  if (!type) return Usage("--type: unknown field type");
  auto tokens = c.Lookup(*type, ValueArg(args[0]), absl::GetFlag(FLAGS_purpose));
  if (!tokens.ok()) return Error(tokens.status());
  for (const auto& t : *tokens) std::cout << t << "\n";
  std::cout.flush();
  return 0;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Offline verification: only the public key is trusted. With --file no
// server is contacted and `c` may be null.
int VerifyOffline(Client* c) {
  const std::string pem = ReadFileOrEmpty(absl::GetFlag(FLAGS_public_key));
  if (pem.empty()) return Usage("--public-key: cannot read the key file");
  std::vector<v1::AuditEvent> events;
  if (const std::string file = absl::GetFlag(FLAGS_file); !file.empty()) {
    std::ifstream in(file);
    if (!in) return Usage("--file: cannot read the export");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      v1::AuditEvent e;
      if (!google::protobuf::util::JsonStringToMessage(line, &e).ok()) {
        return Error(absl::InvalidArgumentError(absl::StrCat(
            "--file: line ", events.size() + 1, " is not an audit event")));
      }
      events.push_back(std::move(e));
    }
  } else {
    if (c == nullptr) return Usage("--identity: required to read the log from the server");
    absl::Status s = c->QueryAudit({}, [&](const v1::AuditEvent& e) {
      events.push_back(e);
      return true;
    });
    if (!s.ok()) return Error(s);
  }
  auto r = sandyq::client::VerifyAuditExport(events, pem);
  if (!r.ok()) return Error(r.status());
  if (!r->ok) {
    std::cout << "BROKEN at event " << r->first_bad_seq << ": " << r->reason
              << " (" << r->events_checked << " events verified before it)"
              << std::endl;
    return 1;
  }
  std::cout << "ok: " << r->events_checked << " events chained; "
            << r->checkpoints_checked << " signed checkpoints, the last at event "
            << r->last_checkpoint_seq;
  if (r->events_checked > r->last_checkpoint_seq) {
    std::cout << "; events " << r->last_checkpoint_seq + 1 << "-"
              << r->events_checked << " are not signed yet";
  }
  std::cout << std::endl;
  return 0;
}

int Audit(Client& c, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("audit takes query, export, verify or public-key");
  if (args[0] == "public-key") {
    auto pem = c.AuditSigningKey();
    if (!pem.ok()) return Error(pem.status());
    std::cout << *pem;
    return 0;
  }
  if (args[0] == "verify" && !absl::GetFlag(FLAGS_public_key).empty()) {
    return VerifyOffline(&c);
  }
  if (args[0] == "verify") {
    auto r = c.VerifyAudit();
    if (!r.ok()) return Error(r.status());
    if (r->ok()) {
      std::cout << "ok: " << r->events_checked() << " events checked" << std::endl;
      return 0;
    }
    std::cout << "BROKEN at event " << r->first_bad_seq() << ": " << r->reason()
              << " (" << r->events_checked() << " events verified before it)"
              << std::endl;
    return 1;
  }
  if (args[0] != "query" && args[0] != "export") {
    return Usage("audit takes query, export, verify or public-key");
  }
  v1::AuditQueryRequest request;
  request.set_subject_id(absl::GetFlag(FLAGS_subject));
  request.set_identity(absl::GetFlag(FLAGS_who));
  request.set_limit(absl::GetFlag(FLAGS_limit));
  using google::protobuf::util::TimeUtil;
  if (!absl::GetFlag(FLAGS_since).empty() &&
      !TimeUtil::FromString(absl::GetFlag(FLAGS_since), request.mutable_since())) {
    return Usage("--since: not an RFC 3339 time");
  }
  if (!absl::GetFlag(FLAGS_until).empty() &&
      !TimeUtil::FromString(absl::GetFlag(FLAGS_until), request.mutable_until())) {
    return Usage("--until: not an RFC 3339 time");
  }
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  const bool full = args[0] == "export";  // export keeps the stored bodies
  absl::Status s = c.QueryAudit(request, [&](const v1::AuditEvent& event) {
    v1::AuditEvent e = event;
    if (!full) e.clear_body();
    std::string line;
    (void)google::protobuf::util::MessageToJsonString(e, &line, json);
    std::cout << line << "\n";
    return true;
  });
  std::cout.flush();
  return s.ok() ? 0 : Error(s);
}

}  // namespace

std::string StateName(v1::KeyState s) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::KeyState_Name(s), "KEY_STATE_"));
}

void PrintKeys(const v1::ListKeysResponse& keys) {
  std::cout << "master key: " << keys.master_key() << "\n";
  for (const auto& k : keys.keys()) {
    std::cout << "KEK " << k.version() << "\t" << StateName(k.state()) << "\t"
              << google::protobuf::util::TimeUtil::ToString(k.created_at())
              << "\t" << k.wrapped_deks() << " data keys\n";
  }
  std::cout << "re-wrap pending: " << keys.rewrap_pending() << std::endl;
}

int Keys(Client& c, const std::vector<std::string>& args) {
  if (args.empty()) return Usage("keys takes list, rotate or destroy");
  if (args[0] == "list" && args.size() == 1) {
    auto keys = c.ListKeys();
    if (!keys.ok()) return Error(keys.status());
    PrintKeys(*keys);
    return 0;
  }
  if (args[0] == "rotate" && args.size() == 1) {
    auto version = c.RotateKeys();
    if (!version.ok()) return Error(version.status());
    std::cout << "KEK " << *version << " is primary" << std::endl;
    if (!absl::GetFlag(FLAGS_wait)) return 0;
    uint64_t last = UINT64_MAX;
    for (;;) {
      auto keys = c.ListKeys();
      if (!keys.ok()) return Error(keys.status());
      if (keys->rewrap_pending() != last) {
        last = keys->rewrap_pending();
        std::cout << "re-wrap pending: " << last << std::endl;
      }
      if (last == 0) break;
      absl::SleepFor(absl::Milliseconds(500));  // progress display only
    }
    return 0;
  }
  if (args[0] == "destroy" && args.size() == 2) {
    uint32_t version;
    if (!absl::SimpleAtoi(args[1], &version)) return Usage("destroy takes a version number");
    absl::Status s = c.DestroyKey(version);
    if (!s.ok()) return Error(s);
    std::cout << "KEK " << version << " destroyed" << std::endl;
    return 0;
  }
  return Usage("keys takes list, rotate [--wait] or destroy VERSION");
}

std::string Json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  json.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, json);
  return out;
}

int Subjects(Client& c, const std::vector<std::string>& args) {
  if (args.empty()) return Usage("subjects takes a command");
  const std::string& cmd = args[0];
  const std::string subject = absl::GetFlag(FLAGS_subject);
  const std::string reason = absl::GetFlag(FLAGS_reason);
  auto done = [](const absl::Status& s, absl::string_view what) {
    if (!s.ok()) return Error(s);
    std::cout << what << std::endl;
    return 0;
  };
  if (cmd == "consent" && args.size() == 1) {
    v1::RecordConsentRequest request;
    request.set_subject_id(subject);
    request.set_purpose(absl::GetFlag(FLAGS_purpose));
    request.set_granted(!absl::GetFlag(FLAGS_withdraw));
    request.set_cross_border(absl::GetFlag(FLAGS_cross_border));
    request.set_policy_version(absl::GetFlag(FLAGS_policy_version));
    request.set_channel(absl::GetFlag(FLAGS_channel));
    auto r = c.RecordConsent(request);
    return done(r.status(), request.granted() ? "consent recorded" : "withdrawal recorded");
  }
  if (cmd == "report" && args.size() == 1) {
    auto r = c.Report(subject);
    if (!r.ok()) return Error(r.status());
    std::cout << Json(*r) << std::endl;
    return 0;
  }
  if (cmd == "rectify" && args.size() == 3) {
    return done(c.Rectify(args[1], ValueArg(args[2]), reason), "rectified");
  }
  if (cmd == "block" && args.size() == 1) return done(c.Block(subject, reason), "blocked");
  if (cmd == "unblock" && args.size() == 1) {
    return done(c.Unblock(subject, reason), "unblocked");
  }
  if (cmd == "hold" && args.size() == 1) {
    auto id = c.SetHold(subject, reason);
    if (!id.ok()) return Error(id.status());
    std::cout << *id << std::endl;
    return 0;
  }
  if (cmd == "release" && args.size() == 1) {
    return done(c.ReleaseHold(subject, reason, absl::GetFlag(FLAGS_hold_id)),
                "hold released");
  }
  if (cmd == "erase" && args.size() == 1) {
    auto r = c.Erase(subject, reason);
    if (!r.ok()) return Error(r.status());
    std::cout << "erased " << r->tokens_erased() << " tokens; receipt "
              << r->receipt_id() << std::endl;
    return 0;
  }
  if (cmd == "retention" && args.size() == 1) {
    auto r = c.ApplyRetention();
    if (!r.ok()) return Error(r.status());
    std::cout << "destroyed " << r->destroyed() << ", depersonalized "
              << r->depersonalized() << ", skipped for holds "
              << r->skipped_for_holds() << std::endl;
    return 0;
  }
  return Usage("subjects: unknown command or wrong arguments");
}

int Admin(Client& c, const std::vector<std::string>& args) {
  if (args.size() == 2 && args[0] == "backup") {
    auto r = c.Backup(args[1]);
    if (!r.ok()) return Error(r.status());
    std::cout << r->path() << std::endl;
    return 0;
  }
  if (args.size() == 1 && args[0] == "reload-policy") {
    auto r = c.ReloadPolicy();
    // An invalid policy: the message lists every problem, one per line.
    if (!r.ok()) return Error(r.status());
    std::cout << "reloaded: " << r->description() << std::endl;
    return 0;
  }
  return Usage("admin takes backup DIR or reload-policy");
}

int main(int argc, char** argv) {
  // Accept --public-key as well as --public_key.
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--", 2) != 0) continue;
    for (char* p = argv[i] + 2; *p != '\0' && *p != '='; ++p) {
      if (*p == '-') *p = '_';
    }
  }
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return Usage("no command");
  const std::string command = positional[1];
  std::vector<std::string> args(positional.begin() + 2, positional.end());

  if (command == "audit" && args.size() == 1 && args[0] == "verify" &&
      !absl::GetFlag(FLAGS_public_key).empty() &&
      !absl::GetFlag(FLAGS_file).empty()) {
    return VerifyOffline(nullptr);  // an export: no server involved
  }
  auto client = Client::Connect({.address = absl::GetFlag(FLAGS_addr),
                                 .pki_dir = absl::GetFlag(FLAGS_pki),
                                 .identity = absl::GetFlag(FLAGS_identity),
                                 .timeout = absl::GetFlag(FLAGS_timeout)});
  if (!client.ok()) return Error(client.status());
  Client& c = **client;
  if (command == "tokenize") return Tokenize(c, args);
  if (command == "tokenize-batch") return TokenizeBatch(c, args);
  if (command == "detokenize") return Detokenize(c, args);
  if (command == "detokenize-batch") return DetokenizeBatch(c, args);
  if (command == "lookup") return Lookup(c, args);
  if (command == "audit") return Audit(c, args);
  if (command == "keys") return Keys(c, args);
  if (command == "subjects") return Subjects(c, args);
  if (command == "admin") return Admin(c, args);
  if (command == "health") {
    absl::Status s = c.CheckHealth();
    if (!s.ok()) return Error(s);
    std::cout << "SERVING" << std::endl;
    return 0;
  }
  return Usage(absl::StrCat("unknown command ", command));
}
