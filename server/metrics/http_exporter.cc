#include "server/metrics/http_exporter.h"

#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/platform/log.h"

namespace sandyq::metrics {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

int LogMessage(const struct mg_connection*, const char* message) {
  platform::LogWarning(absl::StrCat("metrics listener: ", message));
  return 1;  // logged; civetweb prints nothing itself
}

// Opens and at once closes a TCP connection to `host`:`port` (a numeric
// address; a wildcard one is reached on loopback). Errors are ignored.
void Knock(std::string host, int port) {
  host = std::string(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), absl::StrCat(port).c_str(), &hints, &found) != 0) {
    return;
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    (void)connect(fd, found->ai_addr, found->ai_addrlen);
    close(fd);
  }
  freeaddrinfo(found);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpExporter>> HttpExporter::Start(
    const std::string& listen, Registry* registry) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        "metrics listen address must be host:port");
  }
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });  // no TLS

  std::unique_ptr<HttpExporter> exporter(new HttpExporter(registry));
  // Scrapes are rare and quick: two worker threads; a stalled client is
  // dropped after the request timeout.
  const char* options[] = {"listening_ports", listen.c_str(),
                           "num_threads", "2",
                           "request_timeout_ms", "10000",
                           nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = &LogMessage;
  mg_init_data init_data{&callbacks, exporter.get(), options};
  char error_text[256] = {0};
  mg_error_data error;
  std::memset(&error, 0, sizeof(error));
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  exporter->context_ = mg_start2(&init_data, &error);
  if (exporter->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "metrics: cannot listen on ", listen, ": ",
        error_text[0] != '\0' ? error_text : "civetweb failed to start"));
  }
  mg_set_request_handler(exporter->context_, "/metrics$",
                         &HttpExporter::HandleMetrics, exporter.get());
  mg_server_port ports[4];
  const int n = mg_get_server_ports(exporter->context_, 4, ports);
  if (n < 1 || ports[0].port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot tell the port bound for ", listen));
  }
  exporter->host_ = listen.substr(0, colon);
  exporter->port_ = ports[0].port;
  exporter->address_ = absl::StrCat(exporter->host_, ":", exporter->port_);
  return exporter;
}

HttpExporter::~HttpExporter() {
  if (context_ == nullptr) return;
  // civetweb's listening thread looks at its stop flag only between polls of
  // up to 2 s, or when a connection comes in: knock until it has stopped, so
  // that shutting down takes milliseconds.
  absl::Notification stopped;
  std::thread knocker([&] {
    do {
      Knock(host_, port_);
    } while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  });
  mg_stop(context_);
  stopped.Notify();
  knocker.join();
}

int HttpExporter::HandleMetrics(::mg_connection* conn, void* self) {
  const mg_request_info* request = mg_get_request_info(conn);
  const bool head = std::strcmp(request->request_method, "HEAD") == 0;
  if (!head && std::strcmp(request->request_method, "GET") != 0) {
    mg_send_http_error(conn, 405, "%s", "only GET and HEAD\n");
    return 405;
  }
  const std::string body = static_cast<HttpExporter*>(self)->registry_->Render();
  mg_send_http_ok(conn, kContentType, static_cast<long long>(body.size()));
  if (!head) mg_write(conn, body.data(), body.size());
  return 200;
}

}  // namespace sandyq::metrics
