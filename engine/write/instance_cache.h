// InstanceCache: decoded instance records shared by the readers, kept current by the writer.
//
// Reads would otherwise parse an instance's JSON on every request. The writer puts every
// instance it committed (after the commit, before it answers); a reader that missed reads the
// store and offers what it read with insert_if_current(), which keeps it only if no commit
// happened since the reader looked at the epoch — so a record read just before a commit can
// never overwrite the newer one the writer put. Bounded; evicts the oldest inserted.
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/core/model.h"

namespace pioneer::engine {

class InstanceCache {
 public:
  explicit InstanceCache(size_t capacity) : capacity_(capacity) {}

  using Ptr = std::shared_ptr<const Instance>;

  Ptr get(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(id);
    return it == map_.end() ? nullptr : it->second;
  }
  uint64_t epoch() const {
    std::lock_guard lock(mu_);
    return epoch_;
  }
  // Reader: keep `in` only if nothing was committed since `epoch` and the id is absent.
  void insert_if_current(const Ptr& in, uint64_t epoch) {
    std::lock_guard lock(mu_);
    if (epoch != epoch_ || map_.count(in->id)) return;
    insert_locked(in);
  }
  // Writer, after a commit: these are now the current records.
  void committed(const std::vector<Ptr>& instances) {
    std::lock_guard lock(mu_);
    for (const Ptr& in : instances) {
      auto it = map_.find(in->id);
      if (it != map_.end()) it->second = in;
      else insert_locked(in);
    }
    ++epoch_;
  }

 private:
  void insert_locked(const Ptr& in) {
    map_[in->id] = in;
    order_.push_back(in->id);
    while (map_.size() > capacity_ && !order_.empty()) {
      map_.erase(order_.front());
      order_.pop_front();
    }
  }

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Ptr> map_;
  std::deque<std::string> order_;
  uint64_t epoch_ = 0;
};

}  // namespace pioneer::engine
