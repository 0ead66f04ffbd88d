#ifndef SANDYQ_SERVER_METRICS_HTTP_EXPORTER_H_
#define SANDYQ_SERVER_METRICS_HTTP_EXPORTER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/metrics/registry.h"

struct mg_context;
struct mg_connection;

namespace sandyq::metrics {

// A plain-HTTP listener, apart from the gRPC port, that serves
// `GET /metrics` (and HEAD) with the registry rendered in the Prometheus text
// format; every other path is 404, every other method 405. Built on Debian's
// civetweb; it serves no files. It has no TLS and no authentication: bind it
// to loopback or an interface only the monitoring network reaches. What it
// shows names identities and purposes from the policy, never personal data.
class HttpExporter {
 public:
  // Binds `listen` ("host:port", an IP address; port 0 picks a free port)
  // and starts serving `registry`, which must outlive the exporter.
  static absl::StatusOr<std::unique_ptr<HttpExporter>> Start(
      const std::string& listen, Registry* registry);
  // Stops listening; waits for requests in progress.
  ~HttpExporter();

  // The address actually bound, e.g. "127.0.0.1:43117".
  const std::string& address() const { return address_; }

 private:
  explicit HttpExporter(Registry* registry) : registry_(registry) {}
  static int HandleMetrics(::mg_connection* conn, void* self);

  Registry* const registry_;
  mg_context* context_ = nullptr;
  std::string host_;  // as given, e.g. "127.0.0.1" or "[::1]"
  int port_ = 0;      // as bound
  std::string address_;
};

}  // namespace sandyq::metrics

#endif  // SANDYQ_SERVER_METRICS_HTTP_EXPORTER_H_
