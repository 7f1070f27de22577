// Metrics: request counters, a latency histogram and stream gauges, rendered in the Prometheus
// text format together with the engine's own counters. Also writes the one structured log line
// per request (buffered: see AccessLog). Thread-safe: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "engine/engine.h"
#include "storage/store.h"

namespace pioneer::api {

// The access log: one JSON line per request, to stderr. Lines are collected in memory and
// written by a background thread every 100 ms (or as soon as 64 KiB wait), so a request costs
// an append rather than a write system call of its own (3–4 % of the server's CPU under load,
// more in this VM where a system call is expensive). On SIGKILL the last ≤ 100 ms of lines
// can be lost; the access log is operational, the audit record is the event log.
class AccessLog {
 public:
  AccessLog();
  ~AccessLog();  // writes what is left
  void append(std::string_view line);  // line ends with '\n'

 private:
  void run();
  std::mutex mu_;
  std::condition_variable wake_;
  std::string pending_;
  bool stopping_ = false;
  std::thread thread_;
};

class Metrics {
 public:
  // Counts a request and writes its log line to stderr: JSON with time, method, route pattern,
  // status, duration_us and user id ("" when anonymous). Tokens are never passed in here.
  void record_request(std::string_view method, std::string_view route, int status,
                      uint64_t duration_us, std::string_view user);
  void stream_opened() { ws_sessions_.fetch_add(1); ws_opened_total_.fetch_add(1); }
  void stream_closed() { ws_sessions_.fetch_sub(1); }
  void stream_lagging() { ws_lagging_total_.fetch_add(1); }
  void events_published(uint64_t n) { events_published_.fetch_add(n); }
  void connection_refused() { connections_refused_.fetch_add(1); }
  void tls_handshake_failed() { tls_handshake_failed_.fetch_add(1); }
  void stream_unauthenticated() { ws_unauthenticated_total_.fetch_add(1); }
  void authentication_reused() { auth_reused_total_.fetch_add(1, std::memory_order_relaxed); }
  int64_t stream_sessions() const { return ws_sessions_.load(); }
  void idempotency_swept(uint64_t kept) { idempotency_records_.store(static_cast<int64_t>(kept)); }
  int64_t idempotency_records() const { return idempotency_records_.load(); }

  // The /metrics body. `connections` is the number of open connections now.
  std::string render(const engine::EngineMetrics& engine, uint64_t head, size_t connections) const;

 private:
  // Upper bounds of the latency buckets, in seconds.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05, 0.1, 0.25, 0.5, 1, 2.5};
  AccessLog log_;
  std::atomic<int64_t> idempotency_records_{-1};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status) → count
  std::array<uint64_t, kBuckets.size()> latency_buckets_{};   // non-cumulative
  uint64_t latency_count_ = 0;
  double latency_sum_s_ = 0;
  std::atomic<int64_t> ws_sessions_{0};
  std::atomic<uint64_t> ws_opened_total_{0};
  std::atomic<uint64_t> ws_lagging_total_{0};
  std::atomic<uint64_t> events_published_{0};
  std::atomic<uint64_t> connections_refused_{0};
  std::atomic<uint64_t> tls_handshake_failed_{0};
  std::atomic<uint64_t> ws_unauthenticated_total_{0};
  std::atomic<uint64_t> auth_reused_total_{0};
};

// What /metrics shows of the server's bounds and storage, besides Metrics::render.
struct ServerHealth {
  size_t max_connections = 0;       // the connection limits in force (derived at start)
  size_t per_address = 0;
  storage::Store::Health storage;
  int64_t idempotency_records = -1;  // kept after the last sweep; -1 before the first
  uint64_t idempotency_expired = 0;  // dropped as expired since start
};
std::string render_server_health(const ServerHealth& health);

}  // namespace pioneer::api
