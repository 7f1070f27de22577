// Logins: the slow password work of login and password changes, and the limits on failed
// logins. Beast-free.
//
// Argon2id takes tens of milliseconds and megabytes by design, so it runs on a few threads of
// its own, never on an I/O thread (which would stall every connection it serves) nor on the
// engine's writer. The queue is bounded: when it is full, post() refuses and the caller answers
// 503 overloaded.
//
// Failed logins are counted per user id and per client address in a sliding window. Once a
// user has max_user_failures failures within the window, every attempt for that user answers
// 429 too_many_attempts (the right password too) until the oldest failure leaves the window;
// the same for an address with max_address_failures. Counters live in memory only: a restart
// forgets them. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pioneer::api {

class Logins {
 public:
  struct Options {
    size_t threads = 1;
    size_t queue_limit = 64;
    size_t max_user_failures = 5;
    size_t max_address_failures = 50;
    int64_t window_ms = 15 * 60 * 1000;
  };
  explicit Logins(Options options);
  ~Logins();  // finishes the queued work, then joins
  Logins(const Logins&) = delete;
  Logins& operator=(const Logins&) = delete;

  // Runs `work` on a password thread; false (and `work` dropped) when the queue is full.
  bool post(std::function<void()> work);

  // Milliseconds until `user` from `address` may try again at `now`; 0 when they may now.
  int64_t retry_after_ms(const std::string& user, const std::string& address, int64_t now_ms);
  void record_failure(const std::string& user, const std::string& address, int64_t now_ms);
  // A successful login clears the user's failures (not the address's).
  void record_success(const std::string& user);

 private:
  using Window = std::deque<int64_t>;  // failure times, oldest first
  int64_t wait_ms(std::map<std::string, Window>& windows, const std::string& key, size_t limit, int64_t now_ms);
  void add(std::map<std::string, Window>& windows, const std::string& key, int64_t now_ms);
  void run();

  Options options_;
  std::mutex mu_;
  std::map<std::string, Window> users_;
  std::map<std::string, Window> addresses_;

  std::mutex queue_mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace pioneer::api
