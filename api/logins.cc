#include "api/logins.h"

#include <algorithm>

#include "common/thread_name.h"

namespace pioneer::api {

namespace {
// Keys kept at most per map; past it the windows that have emptied are dropped, and if that is
// not enough, the oldest keys (a flood of made-up user names cannot grow memory without bound).
constexpr size_t kMaxKeys = 100000;
}  // namespace

Logins::Logins(Options options) : options_(options) {
  for (size_t i = 0; i < std::max<size_t>(1, options_.threads); ++i) {
    threads_.emplace_back([this] {
      name_this_thread("pioneer-passwd");
      run();
    });
  }
}

Logins::~Logins() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool Logins::post(std::function<void()> work) {
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_ || queue_.size() >= options_.queue_limit) return false;
    queue_.push_back(std::move(work));
  }
  wake_.notify_one();
  return true;
}

void Logins::run() {
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock lock(queue_mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

int64_t Logins::wait_ms(std::map<std::string, Window>& windows, const std::string& key, size_t limit, int64_t now_ms) {
  auto it = windows.find(key);
  if (it == windows.end()) return 0;
  Window& w = it->second;
  while (!w.empty() && w.front() + options_.window_ms <= now_ms) w.pop_front();
  if (w.empty()) {
    windows.erase(it);
    return 0;
  }
  if (w.size() < limit) return 0;
  // Locked until enough failures have left the window to fall below the limit.
  return w[w.size() - limit] + options_.window_ms - now_ms;
}

void Logins::add(std::map<std::string, Window>& windows, const std::string& key, int64_t now_ms) {
  if (windows.size() >= kMaxKeys && !windows.count(key)) {
    std::erase_if(windows, [&](const auto& kv) { return kv.second.empty() || kv.second.back() + options_.window_ms <= now_ms; });
    if (windows.size() >= kMaxKeys) windows.erase(windows.begin());
  }
  Window& w = windows[key];
  w.push_back(now_ms);
  // More than the limit is never needed to decide.
  while (w.size() > std::max(options_.max_user_failures, options_.max_address_failures)) w.pop_front();
}

int64_t Logins::retry_after_ms(const std::string& user, const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return std::max(wait_ms(users_, user, options_.max_user_failures, now_ms),
                  wait_ms(addresses_, address, options_.max_address_failures, now_ms));
}

void Logins::record_failure(const std::string& user, const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mu_);
  add(users_, user, now_ms);
  add(addresses_, address, now_ms);
}

void Logins::record_success(const std::string& user) {
  std::lock_guard lock(mu_);
  users_.erase(user);
}

}  // namespace pioneer::api
