// TextMemo: JSON text rendered once from an immutable value and then shared by every reader.
//
// Records in the instance cache and loaded definitions are shared immutable values; the parts
// of their API views that do not depend on who asks (an instance's view after its actions, a
// transition's action entry) are rendered on first use and kept beside them. The memo is tied
// to a key the owner passes (an instance's version, which every change increments), so a
// memo could never serve text of an older state even if a record were changed in place;
// copying an owner gives the copy an empty memo (a copy is made to be changed), and memos take
// no part in comparisons.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace pioneer::engine {

class TextMemo {
 public:
  TextMemo() = default;
  TextMemo(const TextMemo&) noexcept {}
  TextMemo& operator=(const TextMemo&) noexcept {
    reset();
    return *this;
  }
  ~TextMemo() { reset(); }
  bool operator==(const TextMemo&) const { return true; }

  // The text for `key`, rendered by make() when absent or made for another key. Readers may
  // race: each renders, one publishes, and every text it hands out stays alive until the
  // owner is destroyed (a replaced text is kept, not freed, while readers may hold it).
  template <class Make>
  const std::string& get(int64_t key, Make make) const {
    const Entry* e = head_.load(std::memory_order_acquire);
    for (const Entry* p = e; p != nullptr; p = p->older) {
      if (p->key == key) return p->text;
    }
    auto fresh = std::make_unique<Entry>(Entry{key, make(), e});
    while (!head_.compare_exchange_weak(fresh->older, fresh.get(), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
    }
    return fresh.release()->text;
  }

 private:
  struct Entry {
    int64_t key;
    std::string text;
    const Entry* older;
  };
  void reset() {
    const Entry* e = head_.exchange(nullptr, std::memory_order_acq_rel);
    while (e != nullptr) {
      const Entry* older = e->older;
      delete e;
      e = older;
    }
  }
  mutable std::atomic<const Entry*> head_{nullptr};
};

}  // namespace pioneer::engine
