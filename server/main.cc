// sandyqd: the composition root. Flags -> configuration -> real
// implementations -> gRPC server -> wait for a signal.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/audit/audit_log.h"
#include "server/config/config.h"
#include "server/config/dev_vault.h"
#include "server/crypto/master_key.h"
#include "server/metrics/http_exporter.h"
#include "server/metrics/registry.h"
#include "server/platform/clock.h"
#include "server/platform/exit_deadline.h"
#include "server/platform/files.h"
#include "server/platform/log.h"
#include "server/platform/memory_limit.h"
#include "server/platform/random.h"
#include "server/policy/access_rules.h"
#include "server/service/grpc_server.h"
#include "server/service/server_metrics.h"
#include "server/storage/store.h"
#include "server/vault/backups.h"
#include "server/vault/erasure_ledger.h"
#include "server/vault/key_manager.h"
#include "server/vault/vault.h"

ABSL_FLAG(bool, dev, false,
          "Run a development vault in --data_dir, creating a dev CA, "
          "certificates, a file master key and the sample policy on first "
          "run.");
ABSL_FLAG(std::string, data_dir, "var/dev", "Development vault directory (--dev).");
ABSL_FLAG(std::string, listen, "127.0.0.1:7443",
          "Address to listen on (--dev); port 0 picks a free port.");
ABSL_FLAG(std::string, config, "",
          "Production configuration file (text-format sandyq.v1.ServerConfig).");
ABSL_FLAG(std::string, init_master_key, "",
          "Create a new file master key at this path (mode 0600) and exit. "
          "Refuses to overwrite an existing file.");
ABSL_FLAG(bool, create_master_key, false,
          "With --config: create the configured master key (a file, or a "
          "non-extractable key in the PKCS#11 token) and exit.");
ABSL_FLAG(std::string, migrate_master_key_to, "",
          "With --config (server stopped): move the vault to the master key "
          "of this other config file, copying every KEK and re-wrapping the "
          "vault's root keys without touching data, then exit.");
ABSL_FLAG(std::string, rotate_every, "",
          "Overrides keys.rotate_every of the config (e.g. 90d).");
ABSL_FLAG(int32_t, rewrap_per_second, 0,
          "Overrides keys.rewrap_per_second of the config (-1: unthrottled).");
ABSL_FLAG(uint32_t, checkpoint_every_events, 0,
          "Overrides audit.checkpoint_every_events of the config.");
ABSL_FLAG(std::string, restore_backup, "",
          "With --config (server stopped): restore the field data of this "
          "backup directory into the vault, keeping keys, consents, subject "
          "state and the access log as they are, and re-applying every "
          "erasure of the ledger; then exit.");
ABSL_FLAG(bool, unsafe_skip_sync, false,
          "Acknowledge writes before the WAL is synced (storage.unsafe_skip_sync): "
          "only to measure what durability costs. Loses acknowledged writes "
          "on power loss.");
ABSL_FLAG(bool, compact, false,
          "With --config or --dev (server stopped): compact the store, print "
          "its size on disk, and exit.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "On SIGTERM, how long calls in flight may take to finish. The "
          "whole stop (drain, then writing out the access log and closing "
          "the store) is cut off with exit status 1 after this plus 5s.");
ABSL_FLAG(std::string, metrics_listen, "",
          "Overrides metrics.listen of the config: host:port of the plain-HTTP "
          "Prometheus listener (GET /metrics); port 0 picks a free one; "
          "\"off\" for none. --dev listens on 127.0.0.1:0.");
ABSL_FLAG(uint32_t, block_cache_mb, 0,
          "Overrides storage.block_cache_mb of the config: MiB of RocksDB's "
          "block cache (0: the config's value, whose default is 256).");
ABSL_FLAG(uint32_t, row_cache_mb, 0,
          "Overrides storage.row_cache_mb of the config: MiB of RocksDB's "
          "row cache (0: the config's value, whose default is 256).");
ABSL_FLAG(bool, allow_root, false,
          "Run as root. Without --dev sandyqd refuses to run as root: it "
          "runs as its own user (the systemd unit's User=sandyq), so files "
          "it creates stay readable to that user and a compromise does not "
          "own the host. For containers and tests that only have root.");

namespace sandyq {
namespace {

// After the drain, how long writing out the access log and closing the store
// may take before the process exits anyway.
constexpr absl::Duration kFlushTimeout = absl::Seconds(5);

// The malloc this process runs with, as jemalloc itself reports it: sandyqd
// links jemalloc (server/CMakeLists.txt), and a build or a preload that lost
// it would show here.
std::string Allocator() {
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 ||
      version == nullptr) {
    return "unknown";
  }
  return absl::StrCat("jemalloc ", version);
}

int Fail(const absl::Status& status) {
  std::cerr << "sandyqd: " << status.message() << std::endl;
  std::cerr << "sandyqd: not started" << std::endl;
  return 1;
}

audit::AuditLog::Options AuditOptions(const sandyq::v1::ServerConfig& cfg,
                                      bool sync) {
  audit::AuditLog::Options options{.sync = sync};
  if (cfg.audit().checkpoint_every_events() != 0) {
    options.checkpoint_every_events = cfg.audit().checkpoint_every_events();
  }
  if (!cfg.audit().checkpoint_every().empty()) {
    options.checkpoint_interval =
        *config::ParseConfigDuration(cfg.audit().checkpoint_every());
  }
  return options;
}

struct CacheSizes {
  size_t block_cache_bytes = 0;
  size_t row_cache_bytes = 0;
};

// RocksDB's block and row caches in bytes: each the flag, else the config,
// else 256 MiB. Caches larger together than the process may use (the
// machine's memory, or its cgroup's memory.max) are refused: they would
// grow the process until it is killed, long after startup.
absl::StatusOr<CacheSizes> CacheBytes(const sandyq::v1::ServerConfig& cfg) {
  constexpr uint32_t kDefaultMb = 256;
  auto pick = [](uint32_t flag, uint32_t config) -> uint64_t {
    return flag != 0 ? flag : config != 0 ? config : kDefaultMb;
  };
  const uint64_t block_mb = pick(absl::GetFlag(FLAGS_block_cache_mb),
                                 cfg.storage().block_cache_mb());
  const uint64_t row_mb =
      pick(absl::GetFlag(FLAGS_row_cache_mb), cfg.storage().row_cache_mb());
  if (const uint64_t memory_mb = platform::MemoryLimitBytes() >> 20;
      memory_mb > 0 && block_mb + row_mb > memory_mb) {
    return absl::InvalidArgumentError(absl::StrCat(
        "storage.block_cache_mb + storage.row_cache_mb (or --block_cache_mb, "
        "--row_cache_mb): ", block_mb, " + ", row_mb,
        " MiB is more than the memory this process may use (", memory_mb,
        " MiB: the machine's, or its cgroup's memory.max)"));
  }
  return CacheSizes{.block_cache_bytes = static_cast<size_t>(block_mb) << 20,
                    .row_cache_bytes = static_cast<size_t>(row_mb) << 20};
}

std::vector<vault::BackupTarget> BackupTargets(const sandyq::v1::ServerConfig& cfg) {
  std::vector<vault::BackupTarget> targets;
  for (const auto& t : cfg.backups().targets()) {
    targets.push_back({.path = t.path(), .country = t.country()});
  }
  return targets;
}

int RewrapPerSecond(const sandyq::v1::ServerConfig& cfg) {
  if (const int32_t flag = absl::GetFlag(FLAGS_rewrap_per_second); flag != 0) {
    return flag < 0 ? 0 : flag;  // 0 means unthrottled to KeyMaintenance
  }
  return cfg.keys().rewrap_per_second() == 0
             ? 2000
             : static_cast<int>(cfg.keys().rewrap_per_second());
}

// --migrate_master_key_to: the server must be stopped (RocksDB's lock file
// makes sure of it).
int MigrateMasterKey(const sandyq::v1::ServerConfig& cfg,
                     const std::string& target_path) {
  absl::StatusOr<sandyq::v1::ServerConfig> target =
      config::LoadServerConfig(target_path);
  if (!target.ok()) return Fail(target.status());
  absl::StatusOr<std::unique_ptr<crypto::MasterKeyProvider>> from =
      config::OpenMasterKey(cfg.master_key());
  if (!from.ok()) return Fail(from.status());
  absl::StatusOr<std::unique_ptr<crypto::MasterKeyProvider>> to =
      config::OpenMasterKey(target->master_key());
  if (!to.ok()) return Fail(to.status());
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenRocksDbStore({.path = cfg.data_dir(), .create_if_missing = false});
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(
      store->get(), &platform::RealClock(), AuditOptions(cfg, true));
  if (!log.ok()) return Fail(log.status());
  if (absl::Status s =
          vault::MigrateMasterKey(store->get(), log->get(), from->get(), to->get());
      !s.ok()) {
    return Fail(s);
  }
  std::cout << "sandyqd: the vault now opens with " << (*to)->Describe()
            << "; start it with " << target_path << std::endl;
  return 0;
}

// --compact: the server must be stopped.
int Compact(const sandyq::v1::ServerConfig& cfg) {
  absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::OpenRocksDbStore(
      {.path = cfg.data_dir(), .create_if_missing = false});
  if (!store.ok()) return Fail(store.status());
  if (absl::Status s = (*store)->CompactAll(); !s.ok()) return Fail(s);
  store->reset();
  std::cout << "sandyqd: compacted " << cfg.data_dir() << std::endl;
  return 0;
}

// --restore_backup: the server must be stopped (RocksDB's lock file makes
// sure of it).
int Restore(const sandyq::v1::ServerConfig& cfg, const std::string& backup) {
  absl::StatusOr<std::unique_ptr<vault::ErasureLedger>> ledger =
      vault::ErasureLedger::Open(cfg.erasure_ledger());
  if (!ledger.ok()) return Fail(ledger.status());
  absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::OpenRocksDbStore(
      {.path = cfg.data_dir(), .create_if_missing = false});
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(
      store->get(), &platform::RealClock(), AuditOptions(cfg, true));
  if (!log.ok()) return Fail(log.status());
  if (absl::Status s = vault::RestoreBackup(**store, backup, **ledger, **log);
      !s.ok()) {
    return Fail(s);
  }
  std::cout << "sandyqd: restored " << backup << std::endl;
  return 0;
}

int Run() {
  // The development vault runs wherever a developer or a CI container does,
  // often as root; everything else is production and refuses root.
  if (!absl::GetFlag(FLAGS_dev)) {
    if (absl::GetFlag(FLAGS_allow_root)) {
      if (geteuid() == 0) platform::LogWarning("running as root (--allow_root)");
    } else if (absl::Status s = platform::CheckNotRoot(geteuid()); !s.ok()) {
      return Fail(s);
    }
  }
  if (const std::string path = absl::GetFlag(FLAGS_init_master_key);
      !path.empty()) {
    if (absl::Status s = crypto::CreateFileMasterKey(path, platform::SystemRandom());
        !s.ok()) {
      std::cerr << "sandyqd: " << s.message() << std::endl;
      return 1;
    }
    std::cout << "sandyqd: created master key " << path
              << "; keep an offline copy: without it the vault cannot be opened"
              << std::endl;
    return 0;
  }
  std::string config_path = absl::GetFlag(FLAGS_config);
  if (absl::GetFlag(FLAGS_dev)) {
    if (!config_path.empty()) {
      return Fail(absl::InvalidArgumentError("--dev and --config exclude each other"));
    }
    absl::StatusOr<std::string> dev = config::PrepareDevVault(
        absl::GetFlag(FLAGS_data_dir), absl::GetFlag(FLAGS_listen));
    if (!dev.ok()) return Fail(dev.status());
    config_path = *dev;
  } else if (config_path.empty()) {
    return Fail(absl::InvalidArgumentError("give --config FILE, or --dev"));
  }

  absl::StatusOr<sandyq::v1::ServerConfig> cfg =
      config::LoadServerConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  if (const std::string every = absl::GetFlag(FLAGS_rotate_every); !every.empty()) {
    if (!config::ParseConfigDuration(every).ok()) {
      return Fail(absl::InvalidArgumentError("--rotate_every: not a duration"));
    }
    cfg->mutable_keys()->set_rotate_every(every);
  }
  if (const uint32_t n = absl::GetFlag(FLAGS_checkpoint_every_events); n != 0) {
    cfg->mutable_audit()->set_checkpoint_every_events(n);
  }
  if (absl::GetFlag(FLAGS_unsafe_skip_sync)) {
    cfg->mutable_storage()->set_unsafe_skip_sync(true);
  }
  if (const std::string m = absl::GetFlag(FLAGS_metrics_listen); !m.empty()) {
    cfg->mutable_metrics()->set_listen(m == "off" ? "" : m);
  }
  if (absl::GetFlag(FLAGS_compact)) return Compact(*cfg);
  if (absl::GetFlag(FLAGS_create_master_key)) {
    absl::StatusOr<std::unique_ptr<crypto::MasterKeyProvider>> created =
        config::OpenMasterKey(cfg->master_key(), /*create=*/true);
    if (!created.ok()) return Fail(created.status());
    std::cout << "sandyqd: created master key " << (*created)->Describe()
              << std::endl;
    return 0;
  }
  if (const std::string target = absl::GetFlag(FLAGS_migrate_master_key_to);
      !target.empty()) {
    return MigrateMasterKey(*cfg, target);
  }
  if (const std::string backup = absl::GetFlag(FLAGS_restore_backup);
      !backup.empty()) {
    return Restore(*cfg, backup);
  }
  // The policy and the revocation list; SIGHUP and Admin.ReloadPolicy load
  // them again the same way.
  absl::StatusOr<policy::AccessRules> rules = config::LoadAccessRules(*cfg);
  if (!rules.ok()) return Fail(rules.status());

  if (absl::Status s = platform::MakeDirs(cfg->data_dir(), 0700); !s.ok()) {
    return Fail(s);
  }
  if (absl::Status s = platform::CheckOwnerOnly(cfg->data_dir()); !s.ok()) {
    return Fail(s);
  }
  absl::StatusOr<std::unique_ptr<crypto::MasterKeyProvider>> master =
      config::OpenMasterKey(cfg->master_key());
  if (!master.ok()) return Fail(master.status());

  absl::StatusOr<std::string> cert = platform::ReadFile(cfg->tls().cert_file());
  absl::StatusOr<std::string> key = platform::ReadFile(cfg->tls().key_file());
  absl::StatusOr<std::string> ca = platform::ReadFile(cfg->tls().client_ca_file());
  for (const auto* s : {&cert, &key, &ca}) {
    if (!s->ok()) return Fail(s->status());
  }
  if (absl::Status s = platform::CheckOwnerOnly(cfg->tls().key_file()); !s.ok()) {
    return Fail(s);
  }

  // Declared before what it observes, so that on every way out of Run it
  // is destroyed after them (the log reports to it until it is gone).
  std::unique_ptr<service::ServerMetrics> server_metrics;
  absl::StatusOr<std::unique_ptr<vault::ErasureLedger>> ledger =
      vault::ErasureLedger::Open(cfg->erasure_ledger());
  if (!ledger.ok()) return Fail(ledger.status());
  absl::StatusOr<CacheSizes> caches = CacheBytes(*cfg);
  if (!caches.ok()) return Fail(caches.status());
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenRocksDbStore({.path = cfg->data_dir(),
                                 .block_cache_bytes = caches->block_cache_bytes,
                                 .row_cache_bytes = caches->row_cache_bytes});
  if (!store.ok()) return Fail(store.status());
  const bool sync = !cfg->storage().unsafe_skip_sync();
  if (!sync) {
    platform::LogWarning(
        "storage.unsafe_skip_sync is set: acknowledged writes can be lost");
  }
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(
      store->get(), &platform::RealClock(), AuditOptions(*cfg, sync));
  if (!log.ok()) return Fail(log.status());

  absl::StatusOr<std::unique_ptr<vault::Vault>> vault = vault::Vault::Open(
      {.store = store->get(),
       .log = log->get(),
       .master = master->get(),
       .clock = &platform::RealClock(),
       .random = &platform::SystemRandom(),
       .policy = rules->policy,
       .ledger = ledger->get(),
       .revoked = rules->revoked,
       .load_access_rules = [cfg = *cfg] { return config::LoadAccessRules(cfg); }},
      {.residency_country = cfg->residency_country(),
       .rotate_every = cfg->keys().rotate_every().empty()
                           ? absl::ZeroDuration()
                           : *config::ParseConfigDuration(cfg->keys().rotate_every()),
       .rewrap_per_second = RewrapPerSecond(*cfg),
       .retention_every = cfg->retention_every().empty()
                              ? absl::Hours(1)
                              : *config::ParseConfigDuration(cfg->retention_every()),
       .backup_targets = BackupTargets(*cfg)});
  if (!vault.ok()) return Fail(vault.status());

  std::unique_ptr<metrics::HttpExporter> exporter;
  if (!cfg->metrics().listen().empty()) {
    server_metrics = std::make_unique<service::ServerMetrics>(
        &metrics::DefaultRegistry(), vault->get(), store->get(), log->get());
    (*log)->SetObserver(server_metrics.get());
    absl::StatusOr<std::unique_ptr<metrics::HttpExporter>> started =
        metrics::HttpExporter::Start(cfg->metrics().listen(),
                                     &metrics::DefaultRegistry());
    if (!started.ok()) return Fail(started.status());
    exporter = std::move(*started);
  }

  absl::StatusOr<std::unique_ptr<service::GrpcServer>> server =
      service::GrpcServer::Start({.listen = cfg->listen(),
                                  .cert_pem = *cert,
                                  .key_pem = *key,
                                  .client_ca_pem = *ca,
                                  .trust_domain = cfg->tls().trust_domain(),
                                  .metrics = server_metrics.get()},
                                 vault->get());
  if (!server.ok()) return Fail(server.status());

  platform::LogInfo(absl::StrCat(
      "residency country ", cfg->residency_country(), "; master key ",
      (*master)->Describe(), "; ", cfg->policy_file(), ": ",
      rules->description, "; memory allocator ", Allocator()));
  if (exporter != nullptr) {
    // Before the serving line, so whoever waits for that has seen this.
    std::cout << "sandyqd: metrics on http://" << exporter->address()
              << "/metrics" << std::endl;
  }
  // Tests and scripts wait for this line on stdout.
  std::cout << "sandyqd: serving on " << (*server)->address() << std::endl;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      // What Admin.ReloadPolicy does, without a caller; the vault logs and
      // records the outcome.
      absl::Notification reloaded;
      (*vault)->ReloadPolicyOnSignal(
          [&reloaded](absl::StatusOr<vault::ReloadInfo>) { reloaded.Notify(); });
      reloaded.WaitForNotification();
      continue;
    }
    platform::LogInfo(absl::StrCat("signal ", sig, ": draining calls in flight"));
    break;
  }
  const absl::Time drain_deadline =
      absl::Now() + absl::GetFlag(FLAGS_drain_timeout);
  // Stopping stays bounded even if a call or a background task never
  // finishes (a hung disk, a long backup): what was acknowledged is durable
  // already, and RocksDB recovers the rest as after a crash.
  platform::ExitDeadline stop_limit(
      drain_deadline + kFlushTimeout,
      "stop took longer than --drain_timeout + 5s; exiting without "
      "closing the store");
  (*server)->Shutdown(drain_deadline);
  (*server)->Wait();
  server->reset();
  exporter.reset();
  vault->reset();
  log->reset();  // writes everything queued before it returns
  server_metrics.reset();
  store->reset();
  ledger->reset();
  stop_limit.Cancel();
  platform::LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace sandyq

int main(int argc, char** argv) {
  // Key material must never reach a core dump.
  if (absl::Status s = sandyq::platform::DisableCoreDumps(); !s.ok()) {
    std::cerr << "sandyqd: " << s.message() << std::endl;
    return 1;
  }
  // Everything the server creates (RocksDB files, backups, the erasure
  // ledger, keys) is for its own user only, whatever umask it was started
  // with; files that must be shared (dev client certificates) get their
  // mode explicitly.
  ::umask(077);
  // Signals are taken by sigwait in Run(); block them before any thread
  // (gRPC, RocksDB) starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Debian's Abseil is built with mutex deadlock detection on (BUILD-NOTES).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "sandyqd --dev [--data_dir DIR] [--listen HOST:PORT]\n"
      "sandyqd --config FILE\n"
      "sandyqd --init_master_key FILE");
  absl::ParseCommandLine(argc, argv);
  return sandyq::Run();
}
