#ifndef SANDYQ_SERVER_SERVICE_METRICS_INTERCEPTOR_H_
#define SANDYQ_SERVER_SERVICE_METRICS_INTERCEPTOR_H_

#include <memory>
#include <string>

#include "grpcpp/support/server_interceptor.h"
#include "server/service/server_metrics.h"

namespace sandyq::service {

// A gRPC server interceptor factory that reports every call to a method of
// sandyq's services (not health or reflection) to `metrics`: its method,
// status code, caller identity and purpose, and its latency from arrival to
// the status being sent. Calls refused before any handler (draining, a
// message too large, a cancelled call) are counted too. The identity comes
// from the client certificate as in the handlers; the purpose from the
// request (Tokenize, Detokenize, Lookup and their batches; "(mixed)" for a
// batch naming several). `metrics` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewMetricsInterceptorFactory(ServerMetrics* metrics, std::string trust_domain);

}  // namespace sandyq::service

#endif  // SANDYQ_SERVER_SERVICE_METRICS_INTERCEPTOR_H_
