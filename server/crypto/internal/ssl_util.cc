#include "server/crypto/internal/ssl_util.h"

#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace sandyq::crypto::internal {

std::string ConsumeOpenSslErrors() {
  unsigned long first = ERR_get_error();  // NOLINT(runtime/int): OpenSSL API
  ERR_clear_error();
  if (first == 0) return "";
  char buf[256];
  ERR_error_string_n(first, buf, sizeof(buf));
  return buf;
}

absl::Status OpenSslInternalError(absl::string_view what) {
  std::string reason = ConsumeOpenSslErrors();
  if (reason.empty()) return absl::InternalError(what);
  return absl::InternalError(absl::StrCat(what, ": ", reason));
}

void OpenSslFatal(absl::string_view what) {
  std::string reason = ConsumeOpenSslErrors();
  std::fprintf(stderr, "sandyq: fatal OpenSSL failure: %.*s %s\n",
               static_cast<int>(what.size()), what.data(), reason.c_str());
  std::abort();
}

}  // namespace sandyq::crypto::internal
