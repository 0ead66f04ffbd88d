#ifndef SANDYQ_TESTS_FAKES_HTTP_GET_H_
#define SANDYQ_TESTS_FAKES_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sandyq::testing {

struct HttpResponse {
  int status = 0;
  std::string headers;  // the header lines, as received
  std::string body;
};

// One HTTP/1.0 request to `address` ("127.0.0.1:port", IPv4 only) for
// `target` (path and query), reading the response to the end of the
// connection. For tests: no redirects, no chunked encoding, a 30 s guard
// against a server that never answers.
inline absl::StatusOr<HttpResponse> HttpRequest(absl::string_view method,
                                                absl::string_view address,
                                                absl::string_view target) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", address));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const std::string host(address.substr(0, colon));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad host ", host));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  timeval timeout{.tv_sec = 30, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  const std::string request = absl::StrCat(method, " ", target,
                                           " HTTP/1.0\r\nHost: ", address,
                                           "\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent,
                           MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError("send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      close(fd);
      return absl::DeadlineExceededError("no complete response");
    }
    if (n == 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t end_of_headers = raw.find("\r\n\r\n");
  const size_t space = raw.find(' ');
  HttpResponse response;
  if (end_of_headers == std::string::npos || space == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(raw).substr(space + 1, 3),
                        &response.status)) {
    return absl::DataLossError("malformed HTTP response");
  }
  response.headers = raw.substr(0, end_of_headers);
  response.body = raw.substr(end_of_headers + 4);
  return response;
}

inline absl::StatusOr<HttpResponse> HttpGet(absl::string_view address,
                                            absl::string_view target) {
  return HttpRequest("GET", address, target);
}

}  // namespace sandyq::testing

#endif  // SANDYQ_TESTS_FAKES_HTTP_GET_H_
