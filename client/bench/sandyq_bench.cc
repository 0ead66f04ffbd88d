// sandyq-bench: a load generator for sandyqd on the gRPC callback client API,
// over mTLS like a real client.
//
//   sandyq-bench MODE [--addr A] [--pki DIR] [--concurrency N] [--duration D] ...
//
// MODE: health | tokenize | detokenize | tokenize-batch | detokenize-batch |
//       lookup | mixed
//
// One JSON line per run goes to stdout, a readable table to stderr. Errors
// are counted by status code and printed; the exit code is 1 if any call (or
// batch item) failed, unless --allow_errors.
//
// Cost model: every request message is generated before the measured phase
// and reused cyclically; a completion callback records one latency into its
// slot's own vector and starts the next call (closed loop) or hands the slot
// back to the pacing thread (open loop, --rate). Nothing on the per-call path
// logs, locks (except on errors and in open loop) or blocks.

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/bench/synthetic_values.h"
#include "client/client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "sandyq/v1/tokenizer.grpc.pb.h"

ABSL_FLAG(std::string, mode, "", "the mode (or give it as the first argument)");
ABSL_FLAG(std::string, addr, "127.0.0.1:7443", "sandyqd address host:port");
ABSL_FLAG(std::string, pki, "var/dev/pki",
          "directory with ca.crt and <identity>.crt/.key");
ABSL_FLAG(std::string, identity, "",
          "identity of the measured calls; default: checkout for health and "
          "tokenize*, dpo for detokenize*/lookup (mixed: see "
          "--tokenize_identity, --reveal_identity)");
ABSL_FLAG(std::string, tokenize_identity, "checkout",
          "identity for Tokenize in mixed mode and for --preload");
ABSL_FLAG(std::string, reveal_identity, "dpo",
          "identity for Detokenize in mixed mode");
ABSL_FLAG(std::string, purpose, "subject_access_request",
          "purpose of Detokenize and Lookup");
ABSL_FLAG(std::string, justification, "", "justification of Detokenize");
ABSL_FLAG(int, concurrency, 64, "calls in flight");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured time");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2),
          "load before the measured time, not measured");
ABSL_FLAG(int, batch, 100, "items per batch call (tokenize-batch, detokenize-batch)");
ABSL_FLAG(std::string, types, "all",
          "comma list of field types (full_name, iin, passport, phone, "
          "card_number, card_expiry, email, date_of_birth, address) or all");
ABSL_FLAG(int64_t, preload, -1,
          "tokenize N values before the run (batches of --preload_batch) to "
          "have tokens; -1: 10000 for detokenize*, lookup and mixed, else 0");
ABSL_FLAG(int, preload_batch, 1000, "items per preload batch");
ABSL_FLAG(int, preload_concurrency, 4, "preload batches in flight");
ABSL_FLAG(uint64_t, subjects, 10000, "distinct subject ids values are spread over");
ABSL_FLAG(std::string, tokenize_order, "spread",
          "order of unary Tokenize values: spread (calls in flight concern "
          "different subjects, as in online traffic) or by_subject (a "
          "subject's fields in consecutive calls, which the server serializes "
          "per subject); batches and the preload are always by_subject");
ABSL_FLAG(double, rate, 0,
          "open loop: start at most R calls/s in total (latency is measured "
          "from the scheduled start); 0 = closed loop");
ABSL_FLAG(int, channels, 4,
          "separate gRPC channels (TCP connections) per identity");
ABSL_FLAG(uint64_t, seed, 0, "seed of the synthetic values; 0 = random");
ABSL_FLAG(std::string, label, "", "free text copied into the JSON");
ABSL_FLAG(std::string, durable, "",
          "true/false: whether the server syncs writes; copied into the JSON");
ABSL_FLAG(int, mix_tokenize_pct, 20, "mixed: percent of calls that tokenize");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "deadline of every call");
ABSL_FLAG(bool, allow_errors, false, "exit 0 even if calls failed");
ABSL_FLAG(int64_t, pool, 0,
          "distinct values pre-generated for tokenize*; 0 = enough for the "
          "run at a generous rate (a repeat would be an idempotent hit; "
          "repeats are reported)");
ABSL_FLAG(std::string, save_tokens, "",
          "write the preloaded tokens (token<TAB>type<TAB>value) to FILE");
ABSL_FLAG(int64_t, save_tokens_sample, 0,
          "with --save_tokens: save a uniform random sample of this many "
          "tokens instead of all (scale runs)");
ABSL_FLAG(std::string, load_tokens, "",
          "read tokens written by --save_tokens instead of (or before) preloading");
ABSL_FLAG(int, server_pid, 0, "report this process's CPU use in the window");
ABSL_FLAG(int64_t, print_values, 0,
          "print the first N synthetic items (subject, type, value) and exit");

namespace sandyq::bench {
namespace {

namespace v1 = ::sandyq::v1;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr char kUsage[] = R"(sandyq-bench MODE [flags]

Modes:
  health            grpc.health.v1.Health/Check: one round trip, same server and TLS
  tokenize          Tokenize, new values (identity checkout); calls in flight
                    concern different subjects (--tokenize_order)
  detokenize        Detokenize preloaded tokens (identity dpo, --purpose)
  tokenize-batch    TokenizeBatch of --batch items
  detokenize-batch  DetokenizeBatch of --batch preloaded tokens
  lookup            Lookup of preloaded values (identity dpo, --purpose)
  mixed             --mix_tokenize_pct% Tokenize (checkout), the rest Detokenize
                    (dpo), each identity on its own channels
  verify            not a benchmark: reveals every token of --load_tokens once
                    (DetokenizeBatch of --batch, identity dpo, --purpose) and
                    checks that each returns the value saved with it; exits 1
                    if any is missing or differs (e.g. after kill -9)

Example:
  sandyq-bench tokenize --addr 127.0.0.1:7443 --pki var/dev/pki \
      --concurrency 64 --duration 10s --label durable)";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// utime + stime of another process, in seconds; -1 if unreadable.
double ProcessCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ');
  // After "pid (comm) ": field 3 (state) is f[0]; utime is field 14, stime 15.
  if (f.size() < 13) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

enum Op : int {
  kHealth,
  kTokenize,
  kDetokenize,
  kTokenizeBatch,
  kDetokenizeBatch,
  kLookup,
  kNumOps
};
constexpr const char* kOpNames[kNumOps] = {
    "health", "tokenize", "detokenize", "tokenize-batch", "detokenize-batch",
    "lookup"};

constexpr int kNumCodes = 17;  // grpc::StatusCode 0..16

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// ---------------------------------------------------------------------------
// Statistics. Each slot owns one Stats (one call at a time uses a slot, and
// the completion of call k happens before the start of call k+1), merged
// after the run.

struct OpStats {
  std::vector<int64_t> latency_ns;  // successful calls completed in the window
  uint64_t ok = 0;                  // successful calls in the window
  uint64_t items = 0;               // items of those calls that did not fail
  uint64_t errors = 0;              // failed calls in the window
  uint64_t item_errors = 0;         // failed items of successful batch calls
  uint64_t lookup_empty = 0;        // lookups of stored values finding nothing
  uint64_t lookup_tokens = 0;       // tokens those lookups returned, in all

  void Merge(OpStats&& o) {
    latency_ns.insert(latency_ns.end(), o.latency_ns.begin(), o.latency_ns.end());
    ok += o.ok;
    items += o.items;
    errors += o.errors;
    item_errors += o.item_errors;
    lookup_empty += o.lookup_empty;
    lookup_tokens += o.lookup_tokens;
  }
};

struct Stats {
  OpStats op[kNumOps];
  uint64_t errors_by_code[kNumCodes] = {};       // calls, in the window
  uint64_t item_errors_by_code[kNumCodes] = {};  // batch items, in the window
  uint64_t outside_errors = 0;  // failed calls and items in warm-up or drain
  uint64_t pool_repeats = 0;    // tokenize values issued a second time

  void Merge(Stats&& o) {
    for (int i = 0; i < kNumOps; ++i) op[i].Merge(std::move(o.op[i]));
    for (int i = 0; i < kNumCodes; ++i) {
      errors_by_code[i] += o.errors_by_code[i];
      item_errors_by_code[i] += o.item_errors_by_code[i];
    }
    outside_errors += o.outside_errors;
    pool_repeats += o.pool_repeats;
  }
};

// The first distinct error messages, with counts. Touched only on errors.
class ErrorLog {
 public:
  void Note(int code, absl::string_view message) {
    std::string text = absl::StrCat(CodeName(code), ": ", message);
    absl::MutexLock lock(&mu_);
    for (auto& [seen, count] : distinct_) {
      if (seen == text) {
        ++count;
        return;
      }
    }
    if (distinct_.size() < kMaxDistinct) {
      distinct_.emplace_back(std::move(text), 1);
    } else {
      ++others_;
    }
  }
  void Print(std::ostream& out) {
    absl::MutexLock lock(&mu_);
    for (const auto& [text, count] : distinct_) {
      out << "  error x" << count << "  " << text << "\n";
    }
    if (others_ > 0) out << "  ... and " << others_ << " more errors\n";
  }

 private:
  static constexpr size_t kMaxDistinct = 8;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, uint64_t>> distinct_ ABSL_GUARDED_BY(mu_);
  uint64_t others_ ABSL_GUARDED_BY(mu_) = 0;
};

ErrorLog& Errors() {
  static ErrorLog* const log = new ErrorLog;
  return *log;
}

// ---------------------------------------------------------------------------
// Channels: one TLS connection each.

struct ChannelSet {
  std::string identity;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Tokenizer::Stub>> tokenizer;
  std::vector<std::unique_ptr<Health::Stub>> health;
};

absl::StatusOr<std::unique_ptr<ChannelSet>> Connect(const std::string& identity,
                                                    int count) {
  static int next_channel_id = 0;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      client::LoadCredentials({.address = absl::GetFlag(FLAGS_addr),
                               .pki_dir = absl::GetFlag(FLAGS_pki),
                               .identity = identity});
  if (!creds.ok()) return creds.status();
  auto set = std::make_unique<ChannelSet>();
  set->identity = identity;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // Channels with equal arguments would share one subchannel (and one TCP
    // connection) through the global subchannel pool; a local pool and a
    // distinct argument give each channel its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sandyq.bench.channel_id", next_channel_id++);
    // No retry policy is configured; skip the retry machinery per call.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    args.SetMaxReceiveMessageSize(64 << 20);
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(absl::GetFlag(FLAGS_addr), *creds, args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10))) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to ", absl::GetFlag(FLAGS_addr), " as ", identity,
          " within 10 s (check --addr and --pki)"));
    }
    set->tokenizer.push_back(v1::Tokenizer::NewStub(channel));
    set->health.push_back(Health::NewStub(channel));
    set->channels.push_back(std::move(channel));
  }
  return set;
}

// ---------------------------------------------------------------------------
// Pre-generated requests.

struct Workload {
  HealthCheckRequest health;
  std::vector<v1::TokenizeRequest> tokenize;
  std::vector<v1::TokenizeBatchRequest> tokenize_batch;
  std::vector<v1::DetokenizeRequest> detokenize;
  std::vector<v1::DetokenizeBatchRequest> detokenize_batch;
  std::vector<v1::LookupRequest> lookup;
};

void FillTokenize(const SyntheticValues& gen, uint64_t n, v1::TokenizeRequest* r) {
  SyntheticItem item;
  gen.Make(n, &item);
  r->set_subject_id(std::move(item.subject_id));
  r->set_type(static_cast<v1::FieldType>(item.type));
  r->set_value(std::move(item.value));
  r->set_source("sandyq-bench");
}

// ---------------------------------------------------------------------------
// The runner.

struct RunConfig {
  std::vector<Op> pattern;  // op of call n is pattern[n % size]
  int concurrency = 1;
  double rate = 0;  // calls/s; 0 = closed loop
  absl::Duration warmup;
  absl::Duration duration;
  uint64_t limit = 0;  // > 0: exactly this many calls, all measured, no time limit
  ChannelSet* writer = nullptr;  // Tokenize*, and health
  ChannelSet* reader = nullptr;  // Detokenize*, Lookup
  absl::Duration timeout;
  // Preload: token of item i of tokenize_batch[b] goes to (*tokens)[b * stride + i].
  std::vector<std::string>* tokens = nullptr;
  size_t tokens_stride = 0;
};

struct RunResult {
  Stats stats;
  double window_s = 0;
  double client_cpu_s = 0;
  double server_cpu_s = -1;
  uint64_t late_starts = 0;  // open loop: calls started > 1 ms after schedule
  double start_lag_p99_ms = 0;  // open loop: how late calls started (pacer
  double start_lag_max_ms = 0;  // starved of CPU, or every slot busy)
  bool drained = true;
};

class Runner {
 public:
  Runner(RunConfig config, const Workload& work)
      : config_(std::move(config)), work_(work) {}

  RunResult Run() {
    const int n = config_.concurrency;
    slots_.reserve(n);
    for (int i = 0; i < n; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->runner = this;
      slot->channel = i;
      for (auto& op : slot->stats.op) op.latency_ns.reserve(1024);
      slots_.push_back(std::move(slot));
    }
    timeout_ = absl::ToChronoNanoseconds(config_.timeout);
    const bool timed = config_.limit == 0;
    const bool open_loop = config_.rate > 0 && timed;
    RunResult result;
    int64_t t0 = 0;
    double cpu0 = 0, server0 = -1;
    auto start_window = [&] {
      t0 = NowNs();
      cpu0 = CpuSeconds();
      if (const int pid = absl::GetFlag(FLAGS_server_pid); pid > 0) {
        server0 = ProcessCpuSeconds(pid);
      }
      phase_.store(kMeasure, std::memory_order_release);
    };
    if (!timed || config_.warmup <= absl::ZeroDuration()) start_window();

    active_.store(n);
    std::thread pacer;
    if (open_loop) {
      {
        absl::MutexLock lock(&mu_);
        for (auto& s : slots_) free_.push_back(s.get());
      }
      pacer = std::thread([this] { Pace(); });
    } else {
      for (auto& s : slots_) {
        if (!Issue(s.get(), NowNs())) Retire();
      }
    }

    if (timed) {
      if (config_.warmup > absl::ZeroDuration()) {
        absl::SleepFor(config_.warmup);
        start_window();
      }
      absl::SleepFor(config_.duration);
      {
        absl::MutexLock lock(&mu_);
        stop_.store(true);
      }
      phase_.store(kDrain, std::memory_order_release);
    }
    // The window ends now (timed) or when the last call completes (limit).
    if (pacer.joinable()) pacer.join();
    if (open_loop) {
      absl::MutexLock lock(&mu_);
      for (size_t i = 0; i < free_.size(); ++i) RetireLocked();
      free_.clear();
    }
    if (timed) FinishWindow(result, t0, cpu0, server0);
    {
      absl::MutexLock lock(&mu_);
      // Give up once no call has completed for the call timeout and 30 s
      // more: a call is stuck. A long preload (--limit) drains for as long
      // as it makes progress.
      const absl::Duration patience = config_.timeout + absl::Seconds(30);
      uint64_t seen = completed_.load();
      absl::Time give_up = absl::Now() + patience;
      while (active_.load() > 0 && absl::Now() < give_up) {
        done_cv_.WaitWithDeadline(&mu_, std::min(give_up, absl::Now() + absl::Seconds(1)));
        if (const uint64_t now_done = completed_.load(); now_done != seen) {
          seen = now_done;
          give_up = absl::Now() + patience;
        }
      }
      result.drained = active_.load() == 0;
    }
    if (!timed) FinishWindow(result, t0, cpu0, server0);
    if (!result.drained) return result;  // slots stay alive: calls may still use them
    for (auto& s : slots_) {
      s->ctx.reset();
      result.stats.Merge(std::move(s->stats));
    }
    result.late_starts = late_starts_;
    if (!start_lag_ns_.empty()) {
      std::sort(start_lag_ns_.begin(), start_lag_ns_.end());
      result.start_lag_p99_ms =
          start_lag_ns_[(start_lag_ns_.size() - 1) * 99 / 100] / 1e6;
      result.start_lag_max_ms = start_lag_ns_.back() / 1e6;
    }
    return result;
  }

 private:
  enum Phase : int { kWarmup, kMeasure, kDrain };

  struct Slot {
    Runner* runner = nullptr;
    int channel = 0;
    std::optional<grpc::ClientContext> ctx;
    Op op = kHealth;
    size_t pool_index = 0;
    int64_t start_ns = 0;
    HealthCheckResponse health;
    v1::TokenizeResponse tokenize;
    v1::DetokenizeResponse detokenize;
    v1::TokenizeBatchResponse tokenize_batch;
    v1::DetokenizeBatchResponse detokenize_batch;
    v1::LookupResponse lookup;
    Stats stats;
  };

  void FinishWindow(RunResult& r, int64_t t0, double cpu0, double server0) {
    r.window_s = (NowNs() - t0) / 1e9;
    r.client_cpu_s = CpuSeconds() - cpu0;
    if (server0 >= 0) {
      r.server_cpu_s = ProcessCpuSeconds(absl::GetFlag(FLAGS_server_pid)) - server0;
    }
  }

  template <typename T>
  const T& Pick(const std::vector<T>& pool, uint64_t i, Slot* s) {
    if (i >= pool.size() && (s->op == kTokenize || s->op == kTokenizeBatch)) {
      ++s->stats.pool_repeats;
    }
    s->pool_index = i % pool.size();
    return pool[s->pool_index];
  }

  // Starts the next call on `s`; false if the run has no more calls.
  bool Issue(Slot* s, int64_t start_ns) {
    const uint64_t n = issued_.fetch_add(1, std::memory_order_relaxed);
    if (config_.limit > 0 && n >= config_.limit) return false;
    const Op op = config_.pattern[n % config_.pattern.size()];
    const uint64_t i = next_[op].fetch_add(1, std::memory_order_relaxed);
    s->op = op;
    s->start_ns = start_ns;
    s->ctx.emplace();
    s->ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
    grpc::ClientContext* ctx = &*s->ctx;
    auto done = [s](grpc::Status status) { s->runner->OnDone(s, std::move(status)); };
    switch (op) {
      case kHealth:
        s->health.Clear();
        config_.writer->health[s->channel % config_.writer->health.size()]
            ->async()->Check(ctx, &work_.health, &s->health, done);
        break;
      case kTokenize: {
        const auto& req = Pick(work_.tokenize, i, s);
        s->tokenize.Clear();
        Writer(s)->async()->Tokenize(ctx, &req, &s->tokenize, done);
        break;
      }
      case kTokenizeBatch: {
        const auto& req = Pick(work_.tokenize_batch, i, s);
        s->tokenize_batch.Clear();
        Writer(s)->async()->TokenizeBatch(ctx, &req, &s->tokenize_batch, done);
        break;
      }
      case kDetokenize: {
        const auto& req = Pick(work_.detokenize, i, s);
        s->detokenize.Clear();
        Reader(s)->async()->Detokenize(ctx, &req, &s->detokenize, done);
        break;
      }
      case kDetokenizeBatch: {
        const auto& req = Pick(work_.detokenize_batch, i, s);
        s->detokenize_batch.Clear();
        Reader(s)->async()->DetokenizeBatch(ctx, &req, &s->detokenize_batch, done);
        break;
      }
      case kLookup: {
        const auto& req = Pick(work_.lookup, i, s);
        s->lookup.Clear();
        Reader(s)->async()->Lookup(ctx, &req, &s->lookup, done);
        break;
      }
      case kNumOps:
        break;
    }
    return true;
  }

  v1::Tokenizer::Stub* Writer(Slot* s) {
    return config_.writer->tokenizer[s->channel % config_.writer->tokenizer.size()].get();
  }
  v1::Tokenizer::Stub* Reader(Slot* s) {
    return config_.reader->tokenizer[s->channel % config_.reader->tokenizer.size()].get();
  }

  // Runs on a gRPC thread; must not block.
  void OnDone(Slot* s, grpc::Status status) {
    const int64_t end_ns = NowNs();
    const bool measured = phase_.load(std::memory_order_acquire) == kMeasure;
    Stats& st = s->stats;
    OpStats& os = st.op[s->op];
    uint64_t items = 1;
    uint64_t failed_items = 0;
    auto item_error = [&](int code, const std::string& message) {
      ++failed_items;
      if (code < 0 || code >= kNumCodes) code = static_cast<int>(grpc::StatusCode::UNKNOWN);
      if (measured) {
        ++st.item_errors_by_code[code];
      } else {
        ++st.outside_errors;
      }
      Errors().Note(code, absl::StrCat("(batch item) ", message));
    };
    if (status.ok()) {
      switch (s->op) {
        case kHealth:
          if (s->health.status() != HealthCheckResponse::SERVING) {
            status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "health: server is not SERVING");
          }
          break;
        case kTokenizeBatch: {
          const auto& req = work_.tokenize_batch[s->pool_index];
          const auto& res = s->tokenize_batch.results();
          items = req.items_size();
          if (res.size() != req.items_size()) {
            status = grpc::Status(grpc::StatusCode::INTERNAL,
                                  "bench: batch reply has a different item count");
            break;
          }
          for (int j = 0; j < res.size(); ++j) {
            if (res[j].has_error()) {
              item_error(res[j].error().code(), res[j].error().message());
            } else if (config_.tokens != nullptr) {
              (*config_.tokens)[s->pool_index * config_.tokens_stride + j] =
                  res[j].token();
            }
          }
          break;
        }
        case kDetokenizeBatch: {
          const auto& req = work_.detokenize_batch[s->pool_index];
          const auto& res = s->detokenize_batch.results();
          items = req.items_size();
          if (res.size() != req.items_size()) {
            status = grpc::Status(grpc::StatusCode::INTERNAL,
                                  "bench: batch reply has a different item count");
            break;
          }
          for (const auto& r : res) {
            if (r.has_error()) item_error(r.error().code(), r.error().message());
          }
          break;
        }
        case kLookup:
          if (measured) {
            if (s->lookup.tokens_size() == 0) ++os.lookup_empty;
            os.lookup_tokens += s->lookup.tokens_size();
          }
          break;
        default:
          break;
      }
    }
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (status.ok()) {
      if (measured) {
        os.latency_ns.push_back(end_ns - s->start_ns);
        ++os.ok;
        os.items += items - failed_items;
        os.item_errors += failed_items;
      }
    } else {
      const int code = static_cast<int>(status.error_code());
      if (measured) {
        ++os.errors;
        ++st.errors_by_code[code >= 0 && code < kNumCodes ? code : 2];
      } else {
        ++st.outside_errors;
      }
      Errors().Note(code, status.error_message());
    }

    if (config_.rate > 0 && config_.limit == 0) {  // open loop: back to the pacer
      absl::MutexLock lock(&mu_);
      if (stop_.load()) {
        RetireLocked();
      } else {
        free_.push_back(s);
        free_cv_.Signal();
      }
      return;
    }
    if (stop_.load(std::memory_order_relaxed) || !Issue(s, NowNs())) Retire();
  }

  // Open loop: starts call k at start + k / rate on a free slot; latency
  // counts from the scheduled time, so queueing behind busy slots shows.
  void Pace() {
    prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 µs instead of 50 µs
    const double interval_ns = 1e9 / config_.rate;
    const int64_t start = NowNs();
    uint64_t k = 0;
    while (!stop_.load()) {
      const int64_t due = start + static_cast<int64_t>(k * interval_ns);
      const int64_t now = NowNs();
      if (due > now) {
        absl::SleepFor(absl::Nanoseconds(std::min<int64_t>(due - now, 5000000)));
        continue;
      }
      Slot* s = nullptr;
      {
        absl::MutexLock lock(&mu_);
        while (free_.empty() && !stop_.load()) {
          free_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
        }
        if (stop_.load()) break;
        s = free_.back();
        free_.pop_back();
      }
      const int64_t lag = NowNs() - due;
      if (lag > 1000000) ++late_starts_;
      if (phase_.load(std::memory_order_relaxed) == kMeasure) start_lag_ns_.push_back(lag);
      Issue(s, due);
      ++k;
    }
  }

  void Retire() {
    absl::MutexLock lock(&mu_);
    RetireLocked();
  }
  void RetireLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (active_.fetch_sub(1) == 1) done_cv_.SignalAll();
  }

  const RunConfig config_;
  const Workload& work_;
  std::chrono::nanoseconds timeout_{0};
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<int> phase_{kWarmup};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> issued_{0};
  std::atomic<uint64_t> completed_{0};  // calls answered, ok or not
  std::atomic<uint64_t> next_[kNumOps] = {};
  std::atomic<int> active_{0};
  uint64_t late_starts_ = 0;           // pacer thread only
  std::vector<int64_t> start_lag_ns_;  // pacer thread only

  absl::Mutex mu_;
  absl::CondVar free_cv_;
  absl::CondVar done_cv_;
  std::vector<Slot*> free_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------
// Reporting.

struct Summary {
  uint64_t ok = 0, items = 0, errors = 0, item_errors = 0, lookup_empty = 0;
  double qps = 0, items_per_s = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;  // ms
};

Summary Summarize(std::vector<int64_t>& lat, uint64_t ok, uint64_t items,
                  uint64_t errors, uint64_t item_errors, uint64_t lookup_empty,
                  double window_s) {
  Summary s;
  s.ok = ok;
  s.items = items;
  s.errors = errors;
  s.item_errors = item_errors;
  s.lookup_empty = lookup_empty;
  s.qps = window_s > 0 ? ok / window_s : 0;
  s.items_per_s = window_s > 0 ? items / window_s : 0;
  if (lat.empty()) return s;
  std::sort(lat.begin(), lat.end());
  auto at = [&](double q) {
    size_t rank = static_cast<size_t>(std::ceil(q * lat.size()));
    if (rank == 0) rank = 1;
    return lat[std::min(rank, lat.size()) - 1] / 1e6;
  };
  s.p50 = at(0.5);
  s.p90 = at(0.9);
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  s.max = lat.back() / 1e6;
  double sum = 0;
  for (int64_t v : lat) sum += v;
  s.mean = sum / lat.size() / 1e6;
  return s;
}

Summary SummarizeOp(OpStats& o, double window_s) {
  return Summarize(o.latency_ns, o.ok, o.items, o.errors, o.item_errors,
                   o.lookup_empty, window_s);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string Num(double v) { return absl::StrFormat("%.3f", v); }

std::string SummaryJson(const Summary& s) {
  // errors: failed calls plus failed items of batch calls.
  return absl::StrCat("\"calls\":", s.ok + s.errors, ",\"ok\":", s.ok,
                      ",\"errors\":", s.errors + s.item_errors,
                      ",\"failed_calls\":", s.errors, ",\"item_errors\":", s.item_errors,
                      ",\"qps\":", Num(s.qps), ",\"items_per_s\":", Num(s.items_per_s),
                      ",\"p50_ms\":", Num(s.p50), ",\"p90_ms\":", Num(s.p90),
                      ",\"p99_ms\":", Num(s.p99), ",\"p999_ms\":", Num(s.p999),
                      ",\"max_ms\":", Num(s.max), ",\"mean_ms\":", Num(s.mean));
}

void PrintSummaryLine(const std::string& name, const Summary& s) {
  std::cerr << absl::StrFormat(
      "  %-17s %9d %6d %10.1f %11.1f %8.3f %8.3f %8.3f %8.3f %8.3f\n", name,
      s.ok + s.errors, s.errors + s.item_errors, s.qps, s.items_per_s, s.p50,
      s.p90, s.p99, s.p999, s.max);
}

// ---------------------------------------------------------------------------

struct KnownToken {
  std::string token;
  int type = 0;
  std::string value;
};

// Reads a file written by --save_tokens: token, type number, value, tab-separated.
absl::Status LoadTokens(const std::string& path, std::vector<KnownToken>* known) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cols = absl::StrSplit(line, absl::MaxSplits('\t', 2));
    int type = 0;
    if (cols.size() != 3 || !absl::SimpleAtoi(cols[1], &type)) continue;
    known->push_back({std::move(cols[0]), type, std::move(cols[2])});
  }
  return absl::OkStatus();
}

// `verify`: every saved token, revealed once, must come back with its type and
// the stored form of its saved value. Prints one JSON line; 0 if all did.
int Verify() {
  const std::string path = absl::GetFlag(FLAGS_load_tokens);
  if (path.empty()) {
    std::cerr << "sandyq-bench: verify needs --load_tokens FILE\n";
    return 2;
  }
  std::vector<KnownToken> known;
  if (absl::Status s = LoadTokens(path, &known); !s.ok()) {
    std::cerr << "sandyq-bench: " << s << std::endl;
    return 2;
  }
  absl::StatusOr<std::unique_ptr<client::Client>> c = client::Client::Connect(
      {.address = absl::GetFlag(FLAGS_addr),
       .pki_dir = absl::GetFlag(FLAGS_pki),
       .identity = absl::GetFlag(FLAGS_reveal_identity),
       .timeout = absl::GetFlag(FLAGS_timeout)});
  if (!c.ok()) {
    std::cerr << "sandyq-bench: " << c.status() << std::endl;
    return 2;
  }
  const size_t batch = static_cast<size_t>(std::clamp(absl::GetFlag(FLAGS_batch), 1, 1000));
  uint64_t verified = 0, mismatched = 0, failed = 0;
  std::map<int, uint64_t> failed_by_code;
  for (size_t from = 0; from < known.size(); from += batch) {
    const size_t to = std::min(known.size(), from + batch);
    v1::DetokenizeBatchRequest request;
    for (size_t i = from; i < to; ++i) {
      v1::DetokenizeRequest* item = request.add_items();
      item->set_token(known[i].token);
      item->set_purpose(absl::GetFlag(FLAGS_purpose));
    }
    absl::StatusOr<v1::DetokenizeBatchResponse> response = (*c)->DetokenizeBatch(request);
    if (!response.ok() || response->results_size() != static_cast<int>(to - from)) {
      std::cerr << "sandyq-bench: verify: DetokenizeBatch failed: "
                << (response.ok() ? absl::InternalError("wrong number of results")
                                  : response.status())
                << std::endl;
      return 2;
    }
    for (size_t i = from; i < to; ++i) {
      const v1::DetokenizeResult& r = response->results(static_cast<int>(i - from));
      if (r.has_error()) {
        ++failed;
        ++failed_by_code[r.error().code()];
      } else if (r.masked() || static_cast<int>(r.type()) != known[i].type ||
                 r.value() != StoredForm(known[i].type, known[i].value)) {
        ++mismatched;  // values are synthetic, but print none of them
      } else {
        ++verified;
      }
    }
  }
  std::vector<std::string> codes;
  for (const auto& [code, n] : failed_by_code) {
    codes.push_back(absl::StrCat("\"",
                                 absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
                                 "\":", n));
  }
  std::cout << "{\"mode\":\"verify\",\"tokens\":" << known.size()
            << ",\"verified\":" << verified << ",\"failed\":" << failed
            << ",\"mismatched\":" << mismatched << ",\"failed_by_code\":{"
            << absl::StrJoin(codes, ",") << "}}" << std::endl;
  std::cerr << absl::StrFormat(
      "verify: %d tokens from %s: %d returned their value, %d failed, %d differed\n",
      known.size(), path, verified, failed, mismatched);
  return failed == 0 && mismatched == 0 && !known.empty() ? 0 : 1;
}

std::optional<Op> ParseMode(const std::string& mode) {
  for (int i = 0; i < kNumOps; ++i) {
    if (mode == kOpNames[i]) return static_cast<Op>(i);
  }
  return std::nullopt;
}

int Usage(const std::string& problem) {
  std::cerr << "sandyq-bench: " << problem << "\n\n" << kUsage << std::endl;
  return 2;
}

int Fail(const absl::Status& s) {
  std::cerr << "sandyq-bench: " << s << std::endl;
  return 2;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::string mode = absl::GetFlag(FLAGS_mode);
  if (positional.size() == 2 && mode.empty()) mode = positional[1];
  if (positional.size() > 2 || (positional.size() == 2 && mode != positional[1])) {
    return Usage("unexpected arguments");
  }
  const bool print_only = absl::GetFlag(FLAGS_print_values) > 0;
  if (print_only) mode = "tokenize";
  if (mode.empty()) return Usage("no mode");
  if (mode == "verify") return Verify();
  const bool mixed = mode == "mixed";
  std::optional<Op> single = ParseMode(mode);
  if (!mixed && !single) return Usage(absl::StrCat("unknown mode '", mode, "'"));

  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const int channels = absl::GetFlag(FLAGS_channels);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int mix_pct = absl::GetFlag(FLAGS_mix_tokenize_pct);
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  if (concurrency < 1) return Usage("--concurrency must be >= 1");
  if (channels < 1) return Usage("--channels must be >= 1");
  if (batch < 1 || batch > 1000) return Usage("--batch must be 1..1000");
  if (mix_pct < 0 || mix_pct > 100) return Usage("--mix_tokenize_pct must be 0..100");
  if (rate < 0) return Usage("--rate must be >= 0");
  if (duration <= absl::ZeroDuration()) return Usage("--duration must be > 0");
  const std::string durable = absl::GetFlag(FLAGS_durable);
  if (!durable.empty() && durable != "true" && durable != "false") {
    return Usage("--durable must be true or false");
  }

  std::vector<int> types;
  const std::string types_flag = absl::GetFlag(FLAGS_types);
  std::vector<std::string> type_names;
  if (types_flag == "all") {
    for (int t = 1; t <= 9; ++t) types.push_back(t);
  } else {
    for (const std::string& name :
         std::vector<std::string>(absl::StrSplit(types_flag, ',', absl::SkipEmpty()))) {
      std::optional<v1::FieldType> t = client::ParseFieldType(name);
      if (!t) return Usage(absl::StrCat("--types: unknown field type '", name, "'"));
      types.push_back(static_cast<int>(*t));
    }
    if (types.empty()) return Usage("--types: empty");
  }
  for (int t : types) {
    std::string name = v1::FieldType_Name(static_cast<v1::FieldType>(t)).substr(11);
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    type_names.push_back(name);
  }

  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) {
    seed = static_cast<uint64_t>(absl::GetCurrentTimeNanos()) ^
           (static_cast<uint64_t>(getpid()) << 32);
  }
  const uint64_t subjects = std::max<uint64_t>(1, absl::GetFlag(FLAGS_subjects));
  SyntheticValues gen(seed, types, subjects);
  const std::string tokenize_order = absl::GetFlag(FLAGS_tokenize_order);
  if (tokenize_order != "spread" && tokenize_order != "by_subject") {
    std::cerr << "sandyq-bench: --tokenize_order must be spread or by_subject\n";
    return 2;
  }
  const SyntheticValues unary_gen(seed, types, subjects,
                                  tokenize_order == "spread"
                                      ? ItemOrder::kSpread
                                      : ItemOrder::kBySubject);

  if (const int64_t n = absl::GetFlag(FLAGS_print_values); n > 0) {
    SyntheticItem item;
    for (int64_t i = 0; i < n; ++i) {
      gen.Make(i, &item);
      const size_t t = std::find(types.begin(), types.end(), item.type) - types.begin();
      std::cout << item.subject_id << '\t' << type_names[t] << '\t'
                << item.value << '\n';
    }
    return 0;
  }

  const bool reads = mixed || *single == kDetokenize ||
                     *single == kDetokenizeBatch || *single == kLookup;
  const bool writes = mixed || *single == kTokenize || *single == kTokenizeBatch ||
                      *single == kHealth;
  int64_t preload = absl::GetFlag(FLAGS_preload);
  if (preload < 0) preload = reads && absl::GetFlag(FLAGS_load_tokens).empty() ? 10000 : 0;

  // Identities.
  const std::string identity_flag = absl::GetFlag(FLAGS_identity);
  std::string writer_identity = absl::GetFlag(FLAGS_tokenize_identity);
  std::string reader_identity = absl::GetFlag(FLAGS_reveal_identity);
  if (!mixed && !identity_flag.empty()) {
    (reads ? reader_identity : writer_identity) = identity_flag;
  }
  std::unique_ptr<ChannelSet> writer, reader, preloader;
  if (writes) {
    auto c = Connect(writer_identity, channels);
    if (!c.ok()) return Fail(c.status());
    writer = *std::move(c);
  }
  if (reads) {
    auto c = Connect(reader_identity, channels);
    if (!c.ok()) return Fail(c.status());
    reader = *std::move(c);
  }
  if (preload > 0) {
    if (writer && writer->identity == absl::GetFlag(FLAGS_tokenize_identity)) {
      preloader = nullptr;  // reuse `writer`
    } else {
      auto c = Connect(absl::GetFlag(FLAGS_tokenize_identity), channels);
      if (!c.ok()) return Fail(c.status());
      preloader = *std::move(c);
    }
  }
  ChannelSet* preload_set = preloader ? preloader.get() : writer.get();

  bool failed = false;
  std::string preload_json;

  // Tokens to read: loaded from a file, then preloaded.
  std::vector<KnownToken> known;
  if (const std::string path = absl::GetFlag(FLAGS_load_tokens); !path.empty()) {
    if (absl::Status s = LoadTokens(path, &known); !s.ok()) return Fail(s);
    std::cerr << "loaded " << known.size() << " tokens from " << path << "\n";
  }
  if (preload > 0) {
    const int pb = std::max(1, absl::GetFlag(FLAGS_preload_batch));
    Workload pw;
    const int64_t t_gen = NowNs();
    pw.tokenize_batch.resize((preload + pb - 1) / pb);
    for (int64_t n = 0; n < preload; ++n) {
      FillTokenize(gen, n, pw.tokenize_batch[n / pb].add_items());
    }
    std::vector<std::string> tokens(preload);
    RunConfig rc;
    rc.pattern = {kTokenizeBatch};
    rc.concurrency = std::max(1, absl::GetFlag(FLAGS_preload_concurrency));
    rc.limit = pw.tokenize_batch.size();
    rc.writer = preload_set;
    rc.timeout = std::max(absl::GetFlag(FLAGS_timeout), absl::Seconds(60));
    rc.tokens = &tokens;
    rc.tokens_stride = pb;
    const double gen_s = (NowNs() - t_gen) / 1e9;
    RunResult r = Runner(std::move(rc), pw).Run();
    if (!r.drained) {
      std::cerr << "sandyq-bench: preload calls did not finish\n";
      std::_Exit(3);
    }
    OpStats& o = r.stats.op[kTokenizeBatch];
    const uint64_t errs = o.errors + o.item_errors;
    std::cerr << absl::StrFormat(
        "preload: %d items in %.2f s (%.0f items/s; %d calls of %d, %d in flight, "
        "as %s), %d errors; values generated in %.2f s\n",
        preload, r.window_s, o.items / r.window_s, o.ok + o.errors, pb,
        absl::GetFlag(FLAGS_preload_concurrency), preload_set->identity, errs, gen_s);
    preload_json = absl::StrCat(",\"preload\":", preload, ",\"preload_s\":",
                                Num(r.window_s), ",\"preload_items_per_s\":",
                                Num(o.items / r.window_s), ",\"preload_errors\":", errs);
    if (errs > 0) {
      Errors().Print(std::cerr);
      failed = true;
      if (!absl::GetFlag(FLAGS_allow_errors)) {
        std::cerr << "sandyq-bench: preload failed\n";
        return 1;
      }
    }
    SyntheticItem item;
    for (int64_t n = 0; n < preload; ++n) {
      if (tokens[n].empty()) continue;  // the item failed
      gen.Make(n, &item);
      known.push_back({std::move(tokens[n]), item.type, std::move(item.value)});
    }
    if (const std::string path = absl::GetFlag(FLAGS_save_tokens); !path.empty()) {
      std::ofstream out(path);
      std::vector<const KnownToken*> saved;
      for (const auto& k : known) saved.push_back(&k);
      if (const int64_t sample = absl::GetFlag(FLAGS_save_tokens_sample);
          sample > 0 && sample < static_cast<int64_t>(saved.size())) {
        std::mt19937_64 pick(seed ^ 0x5eed);
        std::shuffle(saved.begin(), saved.end(), pick);
        saved.resize(sample);
      }
      for (const KnownToken* k : saved) {
        out << k->token << '\t' << k->type << '\t' << k->value << '\n';
      }
      if (!out) return Fail(absl::InternalError(absl::StrCat("cannot write ", path)));
      std::cerr << "saved " << saved.size() << " tokens to " << path << "\n";
    }
  }
  if (reads && known.empty()) {
    return Usage("this mode needs tokens: --preload N or --load_tokens FILE");
  }

  // Requests for the measured run.
  const int64_t t_gen = NowNs();
  std::mt19937_64 rng(seed);
  std::shuffle(known.begin(), known.end(), rng);
  Workload work;
  RunConfig rc;
  if (mixed) {
    std::vector<Op> pattern(100, kDetokenize);
    std::fill(pattern.begin(), pattern.begin() + mix_pct, kTokenize);
    std::shuffle(pattern.begin(), pattern.end(), rng);
    rc.pattern = std::move(pattern);
  } else {
    rc.pattern = {*single};
  }
  const double run_s = absl::ToDoubleSeconds(warmup + duration);
  // Items to pre-generate: enough for the run at `generous_rate` items/s
  // (closed loop) or at the requested rate (open loop).
  auto pool_items = [&](double generous_rate, int items_per_call) -> int64_t {
    if (const int64_t p = absl::GetFlag(FLAGS_pool); p > 0) return p;
    const double want = rate > 0 ? rate * run_s * 1.2 * items_per_call
                                 : generous_rate * run_s;
    return std::clamp<int64_t>(static_cast<int64_t>(want), 10000, 4000000);
  };
  uint64_t n_next = preload;  // values after the preloaded ones
  const bool any_tokenize =
      std::count(rc.pattern.begin(), rc.pattern.end(), kTokenize) > 0;
  if (any_tokenize) {
    const int64_t count = pool_items(mixed ? 40000.0 * mix_pct / 100 : 40000, 1);
    work.tokenize.resize(count);
    // Both orders hold the same items in every block of subjects * types
    // items: start a block of its own, so no value repeats a preloaded one.
    const uint64_t block = subjects * types.size();
    n_next = (n_next + block - 1) / block * block;
    for (int64_t i = 0; i < count; ++i) {
      FillTokenize(unary_gen, n_next++, &work.tokenize[i]);
    }
  }
  if (!mixed && *single == kTokenizeBatch) {
    const int64_t calls = std::max<int64_t>(1, pool_items(250000, batch) / batch);
    work.tokenize_batch.resize(calls);
    for (int64_t c = 0; c < calls; ++c) {
      for (int j = 0; j < batch; ++j) {
        FillTokenize(gen, n_next++, work.tokenize_batch[c].add_items());
      }
    }
  }
  const std::string purpose = absl::GetFlag(FLAGS_purpose);
  const std::string justification = absl::GetFlag(FLAGS_justification);
  auto fill_detokenize = [&](const KnownToken& k, v1::DetokenizeRequest* r) {
    r->set_token(k.token);
    r->set_purpose(purpose);
    r->set_justification(justification);
  };
  if (mixed || *single == kDetokenize) {
    work.detokenize.resize(known.size());
    for (size_t i = 0; i < known.size(); ++i) fill_detokenize(known[i], &work.detokenize[i]);
  }
  if (!mixed && *single == kDetokenizeBatch) {
    const size_t calls = std::max<size_t>(1, known.size() / batch);
    work.detokenize_batch.resize(calls);
    size_t k = 0;
    for (size_t c = 0; c < calls; ++c) {
      for (int j = 0; j < batch; ++j) {
        fill_detokenize(known[k++ % known.size()], work.detokenize_batch[c].add_items());
      }
    }
  }
  if (!mixed && *single == kLookup) {
    work.lookup.resize(known.size());
    for (size_t i = 0; i < known.size(); ++i) {
      work.lookup[i].set_type(static_cast<v1::FieldType>(known[i].type));
      work.lookup[i].set_value(known[i].value);
      work.lookup[i].set_purpose(purpose);
    }
  }
  const double gen_s = (NowNs() - t_gen) / 1e9;
  known.clear();
  known.shrink_to_fit();

  rc.concurrency = concurrency;
  rc.rate = rate;
  rc.warmup = warmup;
  rc.duration = duration;
  rc.writer = writer.get();
  rc.reader = reader.get();
  rc.timeout = absl::GetFlag(FLAGS_timeout);
  RunResult r = Runner(std::move(rc), work).Run();
  if (!r.drained) {
    std::cerr << "sandyq-bench: calls still in flight " << absl::GetFlag(FLAGS_timeout)
              << " + 30 s after the end; giving up\n";
    Errors().Print(std::cerr);
    std::_Exit(3);
  }

  // Totals over the ops of this mode.
  Stats& st = r.stats;
  std::vector<int64_t> all;
  uint64_t ok = 0, items = 0, errors = 0, item_errors = 0, lookup_empty = 0;
  uint64_t lookup_ok = 0, lookup_tokens = 0;
  std::vector<std::pair<Op, Summary>> per_op;
  for (int i = 0; i < kNumOps; ++i) {
    OpStats& o = st.op[i];
    if (o.ok + o.errors == 0) continue;
    all.insert(all.end(), o.latency_ns.begin(), o.latency_ns.end());
    ok += o.ok;
    items += o.items;
    errors += o.errors;
    item_errors += o.item_errors;
    lookup_empty += o.lookup_empty;
    lookup_tokens += o.lookup_tokens;
    if (i == kLookup) lookup_ok = o.ok;
    if (mixed) per_op.emplace_back(static_cast<Op>(i), SummarizeOp(o, r.window_s));
  }
  Summary total = Summarize(all, ok, items, errors, item_errors, lookup_empty, r.window_s);

  const std::string identity =
      mixed ? absl::StrCat(writer_identity, "+", reader_identity)
            : (reads ? reader_identity : writer_identity);
  const int items_per_call = (!mixed && (*single == kTokenizeBatch ||
                                         *single == kDetokenizeBatch)) ? batch : 1;
  std::string json = absl::StrCat(
      "{\"mode\":", JsonString(mode), ",\"label\":", JsonString(absl::GetFlag(FLAGS_label)));
  if (!durable.empty()) absl::StrAppend(&json, ",\"durable\":", durable);
  absl::StrAppend(&json, ",\"identity\":", JsonString(identity),
                  ",\"concurrency\":", concurrency, ",\"channels\":", channels,
                  ",\"rate\":", Num(rate), ",\"batch\":", items_per_call,
                  ",\"types\":", JsonString(absl::StrJoin(type_names, ",")),
                  ",\"subjects\":", subjects,
                  ",\"tokenize_order\":", JsonString(tokenize_order),
                  ",\"seed\":", seed,
                  ",\"duration_s\":", Num(r.window_s),
                  ",\"warmup_s\":", Num(absl::ToDoubleSeconds(warmup)), ",");
  absl::StrAppend(&json, SummaryJson(total));
  absl::StrAppend(&json, ",\"errors_by_code\":{");
  bool first = true;
  for (int c = 0; c < kNumCodes; ++c) {
    const uint64_t n = st.errors_by_code[c] + st.item_errors_by_code[c];
    if (n == 0) continue;
    absl::StrAppend(&json, first ? "" : ",", JsonString(CodeName(c)), ":", n);
    first = false;
  }
  absl::StrAppend(&json, "},\"errors_outside_window\":", st.outside_errors,
                  ",\"pool_repeats\":", st.pool_repeats);
  if (lookup_empty > 0 || (!mixed && *single == kLookup)) {
    absl::StrAppend(&json, ",\"lookup_empty\":", lookup_empty);
    // A value shared by many people (a card expiry, a birth date) returns
    // many tokens, each read and logged: the mean says what a call did.
    absl::StrAppend(&json, ",\"lookup_tokens_per_call\":",
                    Num(lookup_ok > 0 ? static_cast<double>(lookup_tokens) / lookup_ok : 0));
  }
  if (rate > 0) {
    absl::StrAppend(&json, ",\"late_starts\":", r.late_starts,
                    ",\"start_lag_p99_ms\":", Num(r.start_lag_p99_ms),
                    ",\"start_lag_max_ms\":", Num(r.start_lag_max_ms));
  }
  absl::StrAppend(&json, ",\"client_cpu_pct\":",
                  Num(100 * r.client_cpu_s / std::max(r.window_s, 1e-9)));
  if (r.server_cpu_s >= 0) {
    absl::StrAppend(&json, ",\"server_cpu_pct\":",
                    Num(100 * r.server_cpu_s / std::max(r.window_s, 1e-9)));
  }
  absl::StrAppend(&json, preload_json);
  if (mixed) {
    absl::StrAppend(&json, ",\"ops\":{");
    for (size_t i = 0; i < per_op.size(); ++i) {
      absl::StrAppend(&json, i ? "," : "", JsonString(kOpNames[per_op[i].first]),
                      ":{", SummaryJson(per_op[i].second), "}");
    }
    absl::StrAppend(&json, "}");
  }
  absl::StrAppend(&json, "}");

  // The readable table.
  std::cerr << absl::StrFormat(
      "sandyq-bench %s%s: %s, %d in flight, %d channels/identity, %s, %.2f s "
      "measured after %.1f s warm-up; request pool built in %.2f s\n",
      mode, absl::GetFlag(FLAGS_label).empty() ? "" : " [" + absl::GetFlag(FLAGS_label) + "]",
      identity, concurrency, channels,
      rate > 0 ? absl::StrFormat("open loop at %.0f calls/s", rate) : "closed loop",
      r.window_s, absl::ToDoubleSeconds(warmup), gen_s);
  std::cerr << absl::StrFormat("  %-17s %9s %6s %10s %11s %8s %8s %8s %8s %8s\n", "op",
                               "calls", "errors", "calls/s", "items/s", "p50 ms",
                               "p90 ms", "p99 ms", "p99.9 ms", "max ms");
  for (const auto& [op, s] : per_op) PrintSummaryLine(kOpNames[op], s);
  PrintSummaryLine(mixed ? "all" : mode, total);
  std::cerr << absl::StrFormat("  client CPU %.0f%% of one core", 100 * r.client_cpu_s / r.window_s);
  if (r.server_cpu_s >= 0) {
    std::cerr << absl::StrFormat(", server CPU %.0f%%", 100 * r.server_cpu_s / r.window_s);
  }
  std::cerr << "\n";
  if (st.pool_repeats > 0) {
    std::cerr << "  WARNING: " << st.pool_repeats
              << " tokenize requests repeated pre-generated values (idempotent "
                 "hits); raise --pool\n";
  }
  if (rate > 0 && r.late_starts > 0) {
    std::cerr << absl::StrFormat(
        "  WARNING: %d calls started >1 ms after their scheduled time (p99 %.3f "
        "ms, max %.3f ms late: every slot busy, or the client starved of CPU); "
        "latency counts from the scheduled time\n",
        r.late_starts, r.start_lag_p99_ms, r.start_lag_max_ms);
  }
  if (lookup_empty > 0) {
    std::cerr << "  WARNING: " << lookup_empty << " lookups of stored values found no token\n";
  }
  const uint64_t all_errors = errors + item_errors + st.outside_errors;
  if (all_errors > 0) {
    std::cerr << "  ERRORS: " << errors << " calls and " << item_errors
              << " batch items failed in the window, " << st.outside_errors
              << " during warm-up/drain; first distinct messages:\n";
    Errors().Print(std::cerr);
    failed = true;
  }
  std::cout << json << std::endl;
  return failed && !absl::GetFlag(FLAGS_allow_errors) ? 1 : 0;
}

}  // namespace
}  // namespace sandyq::bench

int main(int argc, char** argv) {
  // Debian's Abseil is built with mutex deadlock detection on (BUILD-NOTES).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return sandyq::bench::Main(argc, argv);
}
