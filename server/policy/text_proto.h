#ifndef SANDYQ_SERVER_POLICY_TEXT_PROTO_H_
#define SANDYQ_SERVER_POLICY_TEXT_PROTO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"

// Reading configuration files written in protobuf text format (the policy,
// the server config), with errors a human can act on: every message names the
// file, a 1-based line and column, and for semantic errors the field path.

namespace sandyq::policy {

// Parses `text`, the contents of `filename`, into `out` (cleared first).
// Unknown fields and unknown extensions are errors. If `tree` is not null it
// records where each field was written, for TextFieldLocation().
//
// On success returns OK. On failure returns InvalidArgument whose message
// lists every error the parser reported, one per line, as
// "<filename>:<line>:<column>: <message>" (1-based, at the token at fault:
// where protobuf reports the token after it, e.g. for an unknown field name,
// this moves back to it); `out` and `tree` are
// then partially filled and must not be used. `filename` is only used in
// messages.
absl::Status ParseTextProto(absl::string_view text, absl::string_view filename,
                            google::protobuf::Message* out,
                            google::protobuf::TextFormat::ParseInfoTree* tree);

// Where the field at `path` of a message of type `type` was written, as
// "<filename>:<line>:<column>" (1-based). `text` and `tree` must be what
// ParseTextProto() parsed and filled.
//
// `path` is a dot-separated list of field names, each with "[index]" when the
// field is repeated, e.g. "identities[2].roles[0]" or
// "roles[1].grants[0].full.types[3]"; a repeated field named without an
// index means its first element. The index counts values, also when they
// were written in list syntax (`roles: ["a", "b"]`): the answer is then where
// that value starts. When the field itself was not written (it is absent, so
// it has its default value) or `path` does not name a field of `type`, the
// answer is the location of the nearest enclosing field that was written, and
// "<filename>:1:1" when there is none.
std::string TextFieldLocation(
    absl::string_view text,
    const google::protobuf::TextFormat::ParseInfoTree& tree,
    const google::protobuf::Descriptor& type, absl::string_view path,
    absl::string_view filename);

}  // namespace sandyq::policy

#endif  // SANDYQ_SERVER_POLICY_TEXT_PROTO_H_
