#include "api/metrics.h"

#include <chrono>
#include <cstdio>
#include <sstream>

#include "common/json_text.h"
#include "engine/core/codec.h"

namespace pioneer::api {

void Metrics::record_request(std::string_view method, std::string_view route, int status,
                             uint64_t duration_us, std::string_view user) {
  {
    std::lock_guard lock(mu_);
    ++requests_[{std::string(route), status}];
    double seconds = static_cast<double>(duration_us) / 1e6;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      if (seconds <= kBuckets[i]) {
        ++latency_buckets_[i];
        break;
      }
    }
    ++latency_count_;
    latency_sum_s_ += seconds;
  }
  namespace jt = engine::json_text;
  std::string line;
  line.reserve(160);
  line.append("{\"duration_us\":");
  jt::integer(line, duration_us);
  line.append(",\"method\":");
  jt::string(line, method);
  line.append(",\"route\":");
  jt::string(line, route);
  line.append(",\"status\":");
  jt::integer(line, status);
  line.append(",\"time\":");
  jt::string(line, engine::format_time(SystemClock().now_ms()));
  line.append(",\"user\":");
  jt::string(line, user);
  line.append("}\n");
  log_.append(line);
}

AccessLog::AccessLog() : thread_([this] { run(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void AccessLog::append(std::string_view line) {
  bool full;
  {
    std::lock_guard lock(mu_);
    pending_.append(line);
    full = pending_.size() >= (64u << 10);
  }
  if (full) wake_.notify_one();
}

void AccessLog::run() {
  std::string out;
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::milliseconds(100),
                   [&] { return stopping_ || pending_.size() >= (64u << 10); });
    out.clear();
    out.swap(pending_);
    const bool stop = stopping_;
    lock.unlock();
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), stderr);
      std::fflush(stderr);
    }
    lock.lock();
    if (stop && pending_.empty()) return;
  }
}

// Long but flat: one Prometheus text block per metric, in the order /metrics lists them.
std::string Metrics::render(const engine::EngineMetrics& engine, uint64_t head,
                            size_t connections) const {
  std::ostringstream out;
  {
    std::lock_guard lock(mu_);
    out << "# HELP pioneer_http_requests_total HTTP requests by route pattern and status.\n"
           "# TYPE pioneer_http_requests_total counter\n";
    for (const auto& [key, count] : requests_) {
      out << "pioneer_http_requests_total{route=\"" << key.first << "\",status=\"" << key.second
          << "\"} " << count << "\n";
    }
    out << "# HELP pioneer_http_request_duration_seconds Time from a complete request to its answer.\n"
           "# TYPE pioneer_http_request_duration_seconds histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += latency_buckets_[i];
      out << "pioneer_http_request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} "
          << cumulative << "\n";
    }
    out << "pioneer_http_request_duration_seconds_bucket{le=\"+Inf\"} " << latency_count_ << "\n"
        << "pioneer_http_request_duration_seconds_sum " << latency_sum_s_ << "\n"
        << "pioneer_http_request_duration_seconds_count " << latency_count_ << "\n";
  }
  out << "# HELP pioneer_http_connections Open HTTP and WebSocket connections.\n"
         "# TYPE pioneer_http_connections gauge\n"
      << "pioneer_http_connections " << connections << "\n"
      << "# HELP pioneer_http_connections_refused_total Connections refused over max_connections.\n"
         "# TYPE pioneer_http_connections_refused_total counter\n"
      << "pioneer_http_connections_refused_total " << connections_refused_.load() << "\n"
      << "# HELP pioneer_tls_handshake_failures_total TLS handshakes that failed or timed out.\n"
         "# TYPE pioneer_tls_handshake_failures_total counter\n"
      << "pioneer_tls_handshake_failures_total " << tls_handshake_failed_.load() << "\n"
      << "# HELP pioneer_stream_sessions Open WebSocket stream sessions.\n"
         "# TYPE pioneer_stream_sessions gauge\n"
      << "pioneer_stream_sessions " << ws_sessions_.load() << "\n"
      << "# HELP pioneer_stream_sessions_opened_total WebSocket stream sessions opened.\n"
         "# TYPE pioneer_stream_sessions_opened_total counter\n"
      << "pioneer_stream_sessions_opened_total " << ws_opened_total_.load() << "\n"
      << "# HELP pioneer_stream_lagging_total Stream sessions closed 4008 (lagging).\n"
         "# TYPE pioneer_stream_lagging_total counter\n"
      << "pioneer_stream_lagging_total " << ws_lagging_total_.load() << "\n"
      << "# HELP pioneer_stream_unauthenticated_total Stream sessions closed 4001 (token revoked or expired).\n"
         "# TYPE pioneer_stream_unauthenticated_total counter\n"
      << "pioneer_stream_unauthenticated_total " << ws_unauthenticated_total_.load() << "\n"
      << "# HELP pioneer_http_authentications_reused_total Requests whose bearer token was not checked again: "
         "the connection's last authentication still held (same header, no directory change, not expired).\n"
         "# TYPE pioneer_http_authentications_reused_total counter\n"
      << "pioneer_http_authentications_reused_total " << auth_reused_total_.load() << "\n"
      << "# HELP pioneer_events_published_total Committed events handed to the stream hub.\n"
         "# TYPE pioneer_events_published_total counter\n"
      << "pioneer_events_published_total " << events_published_.load() << "\n"
      << "# HELP pioneer_event_head The newest event sequence.\n"
         "# TYPE pioneer_event_head gauge\n"
      << "pioneer_event_head " << head << "\n"
      << "# HELP pioneer_engine_commands_total Commands decided by the writer.\n"
         "# TYPE pioneer_engine_commands_total counter\n"
      << "pioneer_engine_commands_total " << engine.commands << "\n"
      << "# HELP pioneer_engine_batches_total Batches committed (one synced write each).\n"
         "# TYPE pioneer_engine_batches_total counter\n"
      << "pioneer_engine_batches_total " << engine.batches << "\n"
      << "# HELP pioneer_engine_events_total Events committed.\n"
         "# TYPE pioneer_engine_events_total counter\n"
      << "pioneer_engine_events_total " << engine.events << "\n"
      << "# HELP pioneer_engine_queue_depth Commands waiting for the writer.\n"
         "# TYPE pioneer_engine_queue_depth gauge\n"
      << "pioneer_engine_queue_depth " << engine.queue_depth << "\n"
      << "# HELP pioneer_engine_overloaded_total Commands refused because the queue was full.\n"
         "# TYPE pioneer_engine_overloaded_total counter\n"
      << "pioneer_engine_overloaded_total " << engine.overloaded << "\n";
  // Batch sizes: the engine keeps non-cumulative buckets 1, 2-4, 5-16, 17-64, 65-256, 257+.
  static constexpr const char* kBatchLe[] = {"1", "4", "16", "64", "256", "+Inf"};
  out << "# HELP pioneer_engine_batch_size Commands per committed batch.\n"
         "# TYPE pioneer_engine_batch_size histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < 6; ++i) {
    if (i < engine.batch_size_buckets.size()) cumulative += engine.batch_size_buckets[i];
    out << "pioneer_engine_batch_size_bucket{le=\"" << kBatchLe[i] << "\"} " << cumulative << "\n";
  }
  // Every decided command belongs to exactly one batch, so the sum of batch sizes is commands.
  out << "pioneer_engine_batch_size_sum " << engine.commands << "\n"
      << "pioneer_engine_batch_size_count " << cumulative << "\n";
  out << "# HELP pioneer_engine_commit_seconds Time to write and sync one batch to the store.\n"
         "# TYPE pioneer_engine_commit_seconds histogram\n";
  cumulative = 0;
  for (size_t i = 0; i < engine.commit_buckets.size(); ++i) {
    cumulative += engine.commit_buckets[i];
    out << "pioneer_engine_commit_seconds_bucket{le=\"";
    if (i < std::size(engine::EngineMetrics::kCommitBucketsMs)) out << engine::EngineMetrics::kCommitBucketsMs[i] / 1000;
    else out << "+Inf";
    out << "\"} " << cumulative << "\n";
  }
  out << "pioneer_engine_commit_seconds_sum " << static_cast<double>(engine.commit_us_total) / 1e6 << "\n"
      << "pioneer_engine_commit_seconds_count " << cumulative << "\n";
  return out.str();
}

namespace {

// One metric: its HELP and TYPE lines and its value.
template <class T>
void metric(std::ostringstream& out, const char* name, const char* type, const char* help, T value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n" << name << " " << value << "\n";
}

}  // namespace

std::string render_server_health(const ServerHealth& health) {
  std::ostringstream out;
  metric(out, "pioneer_http_connection_limit", "gauge",
         "Connections served at most (derived at start from the open-files limit).", health.max_connections);
  metric(out, "pioneer_http_connection_limit_per_address", "gauge", "Connections served at most per client address.",
         health.per_address);
  metric(out, "pioneer_storage_writable", "gauge",
         "1 while storage accepts writes, 0 after a background error until it recovers.", health.storage.stopped ? 0 : 1);
  metric(out, "pioneer_storage_background_errors_total", "counter", "Background errors that stopped writes (RocksDB).",
         health.storage.background_errors);
  metric(out, "pioneer_storage_recoveries_total", "counter",
         "Times storage accepted writes again after a background error.", health.storage.recoveries);
  if (health.idempotency_records >= 0) {
    metric(out, "pioneer_idempotency_records", "gauge",
           "Idempotency records kept (younger than 24 h), as of the last hourly sweep.", health.idempotency_records);
  }
  metric(out, "pioneer_idempotency_expired_total", "counter", "Idempotency records dropped after 24 h.",
         health.idempotency_expired);
  return out.str();
}

}  // namespace pioneer::api
