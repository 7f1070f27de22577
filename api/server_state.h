// ServerState: what every part of a running server shares (no Beast here).
//
// Built once by serve() and outlived by nothing that refers to it: serve() stops the I/O
// threads and destroys every session before it destroys this. The counters are atomics because
// every I/O thread updates them.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/hub.h"
#include "api/metrics.h"
#include "api/server.h"
#include "engine/engine.h"

namespace pioneer::api {

class Router;
class Logins;

// How many connections may be open at once, in all and per client address. serve() sets the
// limits once before it accepts (derived from the open-files limit, see server.cc); the
// listener asks admit() for every accepted socket, and the ConnectionSlot it fills gives the
// place back when the connection ends, on whichever I/O thread that happens. Thread-safe.
class ConnectionLimits {
 public:
  enum class Admission {
    kServe,   // under both limits
    kRefuse,  // over a limit: answer 503 politely (a short answer, a bounded linger)
    kDrop,    // over a limit with too many refusals already lingering: close at once
  };

  void set(size_t total, size_t per_address, size_t refusing) {
    total_limit_ = total;
    per_address_limit_ = per_address;
    refusing_limit_ = refusing;
  }
  size_t total_limit() const { return total_limit_; }
  size_t per_address_limit() const { return per_address_limit_; }

  // Open connections (served and being refused).
  size_t open() const { return served_.load() + refusing_.load(); }

  class Slot;
  Admission admit(const std::string& address, Slot& slot);

  // Holds a connection's place for as long as it lives; moves with the connection from its
  // HTTP session to its WebSocket session.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept { *this = std::move(other); }
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        release();
        limits_ = other.limits_;
        address_ = std::move(other.address_);
        refusing_ = other.refusing_;
        other.limits_ = nullptr;
      }
      return *this;
    }
    ~Slot() { release(); }

   private:
    friend class ConnectionLimits;
    void release() {
      if (limits_ != nullptr) limits_->release(address_, refusing_);
      limits_ = nullptr;
    }
    ConnectionLimits* limits_ = nullptr;
    std::string address_;  // "" for a refusal (it holds no place of its address)
    bool refusing_ = false;
  };

 private:
  void release(const std::string& address, bool refusing);

  size_t total_limit_ = 0;
  size_t per_address_limit_ = 0;
  size_t refusing_limit_ = 0;
  std::atomic<size_t> served_{0};
  std::atomic<size_t> refusing_{0};
  std::mutex mu_;
  std::unordered_map<std::string, size_t> per_address_;  // served connections of each address
};

using ConnectionSlot = ConnectionLimits::Slot;

inline ConnectionLimits::Admission ConnectionLimits::admit(const std::string& address, Slot& slot) {
  slot = Slot();
  bool serve = false;
  if (served_.load() < total_limit_) {
    std::lock_guard lock(mu_);
    size_t& mine = per_address_[address];
    serve = mine < per_address_limit_;
    if (serve) ++mine;
    if (mine == 0) per_address_.erase(address);
  }
  if (serve) {
    served_.fetch_add(1);
    slot.limits_ = this;
    slot.address_ = address;
    return Admission::kServe;
  }
  if (refusing_.fetch_add(1) >= refusing_limit_) {
    refusing_.fetch_sub(1);
    return Admission::kDrop;
  }
  slot.limits_ = this;
  slot.refusing_ = true;
  return Admission::kRefuse;
}

inline void ConnectionLimits::release(const std::string& address, bool refusing) {
  if (refusing) {
    refusing_.fetch_sub(1);
    return;
  }
  served_.fetch_sub(1);
  std::lock_guard lock(mu_);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

struct ServerState {
  const ServerConfig& config;
  engine::Engine& engine;
  Hub& hub;
  Metrics& metrics;
  const Router& router;
  ConnectionLimits connections{};      // open HTTP and WebSocket connections, and their limits
  std::atomic<size_t> in_flight{0};    // requests read but not yet answered
  std::atomic<bool> stopping{false};   // SIGINT/SIGTERM seen: answer no new requests
  Logins* logins = nullptr;            // password work and login limits (null: logins answer 503)
};

}  // namespace pioneer::api
