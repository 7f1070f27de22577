// The HTTP + WebSocket server: `pioneer serve`.
//
// serve() opens the engine on config.data_dir, loads the workflows, optionally seeds the demo
// data, listens, prints "listening on http://HOST:PORT" (or https) on standard output once it
// accepts connections, and serves until SIGINT or SIGTERM; then it stops accepting, lets
// in-flight writes finish, and closes the database cleanly. Returns the process exit code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pioneer::api {

struct ServerConfig {
  std::string data_dir = "data";
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free one
  bool demo = false;                      // seed the demo org and users into an empty folder
  std::string workflows_dir = "workflows";
  std::string roles_file;                 // "" = the built-in defaults (same as config/roles.json)
  std::string tls_cert;                   // both set: serve HTTPS and WSS
  std::string tls_key;
  int threads = 2;                        // I/O threads
  // Limits (docs/api.md "Limits"), all configurable.
  size_t body_limit = 1u << 20;
  size_t header_limit = 16u << 10;
  int idle_timeout_s = 60;
  int request_timeout_s = 30;
  size_t ws_message_limit = 64u << 10;
  size_t ws_queue_limit = 1024;           // queued messages per stream before it is closed 4008
  size_t ws_send_buffer = 0;              // SO_SNDBUF of a stream socket; 0 = kernel auto-tuning
  int heartbeat_s = 20;
  // Connections: at most this many, and never more than the open-files limit allows once
  // storage's reserve is kept (serve() derives the real limit at start and logs it).
  size_t max_connections = 20000;
  // Per client address; 0 = the connection limit less an eighth, so one address never takes
  // every place.
  size_t max_connections_per_address = 0;
  size_t queue_limit = 10000;             // engine command queue
  // Read bounds (engine::EngineOptions::page_scan_limit, engine::EventScan).
  size_t page_scan_limit = 5000;          // index entries one list or to-do page looks at
  size_t feed_scan_events = 10000;        // events one feed page or replay step looks at
  size_t feed_merge_instances = 2000;     // at most this many visible: served from histories
  std::string hash_algorithm = "sha256";  // for a new database: sha256 or sm3
  // Login sessions and passwords.
  std::string public_origin;              // e.g. "https://pioneer.example.gov.cn" behind a proxy; "" = none
  int session_idle_s = 8 * 3600;          // a session ends after this long without use
  int session_max_s = 7 * 24 * 3600;      // ... and this long after login in any case
  size_t login_max_failures = 5;          // failed logins per user within login_window_s ...
  size_t login_max_address_failures = 50; // ... and per client address, before 429
  int login_window_s = 15 * 60;
  size_t password_threads = 1;            // threads hashing and checking passwords
  size_t memtable_bytes = 0;              // per storage family before a flush; 0 = 64 MiB
};

// Reads a JSON config file whose keys are the ServerConfig member names; only the keys present
// are changed. Returns "" on success, else a message naming the problem.
std::string apply_config_file(const std::string& path, ServerConfig& config);

int serve(const ServerConfig& config);

}  // namespace pioneer::api
