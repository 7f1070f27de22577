// ServerState: what every part of a running server shares (no Beast here).
//
// Built once by serve() and outlived by nothing that refers to it: serve() stops the I/O
// threads and destroys every session before it destroys this. The counters are atomics because
// every I/O thread updates them.
#pragma once

#include <atomic>
#include <cstddef>

#include "api/hub.h"
#include "api/metrics.h"
#include "api/server.h"
#include "engine/engine.h"

namespace pioneer::api {

class Router;
class Logins;

struct ServerState {
  const ServerConfig& config;
  engine::Engine& engine;
  Hub& hub;
  Metrics& metrics;
  const Router& router;
  std::atomic<size_t> connections{0};  // open HTTP and WebSocket connections
  std::atomic<size_t> in_flight{0};    // requests read but not yet answered
  std::atomic<bool> stopping{false};   // SIGINT/SIGTERM seen: answer no new requests
  Logins* logins = nullptr;            // password work and login limits (null: logins answer 503)
};

// Holds one of the `connections` slots for as long as a connection lives; moves with the
// connection from its HTTP session to its WebSocket session.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(std::atomic<size_t>* counter) : counter_(counter) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept : counter_(other.counter_) { other.counter_ = nullptr; }
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    if (this != &other) {
      release();
      counter_ = other.counter_;
      other.counter_ = nullptr;
    }
    return *this;
  }
  ~ConnectionSlot() { release(); }

 private:
  void release() {
    if (counter_) counter_->fetch_sub(1);
    counter_ = nullptr;
  }
  std::atomic<size_t>* counter_ = nullptr;
};

}  // namespace pioneer::api
