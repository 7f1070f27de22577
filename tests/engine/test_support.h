// Test support for engine tests: a temporary folder, and an engine on a real RocksDB store in
// it with the shipped workflows, the demo org and users, and a manual clock.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "engine/engine.h"
#include "storage/store.h"
#include "tests/support/support.h"

namespace pioneer::testing {

// A Store that passes every call on to another; test stores derive from it and override what
// they watch or change (commit, mostly).
class ForwardingStore : public storage::Store {
 public:
  explicit ForwardingStore(std::unique_ptr<storage::Store> inner) : inner_(std::move(inner)) {}

  Result<std::optional<std::string>> get(storage::Space s, std::string_view k) const override { return inner_->get(s, k); }
  Result<std::vector<std::optional<std::string>>> multi_get(storage::Space s,
                                                            const std::vector<std::string>& keys) const override {
    return inner_->multi_get(s, keys);
  }
  std::unique_ptr<storage::Cursor> scan(storage::Space s, std::string_view lo, std::string_view hi) const override {
    return inner_->scan(s, lo, hi);
  }
  Result<int64_t> counter(storage::Space s, std::string_view k) const override { return inner_->counter(s, k); }
  Result<void> commit(const storage::Batch& batch, bool sync) override { return inner_->commit(batch, sync); }
  Result<void> checkpoint(const std::string& dest) override { return inner_->checkpoint(dest); }
  Result<void> compact() override { return inner_->compact(); }
  Result<void> compact_space(storage::Space s) override { return inner_->compact_space(s); }
  std::optional<std::string> property(storage::Space s, std::string_view n) const override { return inner_->property(s, n); }
  Health health() const override { return inner_->health(); }
  bool try_resume() override { return inner_->try_resume(); }
  uint64_t expired_dropped() const override { return inner_->expired_dropped(); }

 protected:
  std::unique_ptr<storage::Store> inner_;
};

// 2026-11-27T00:00:00Z, a Friday.
inline constexpr int64_t kStartMs = 1795737600000LL;
inline constexpr int64_t kDayMs = 86400000LL;

class EngineHarness {
 public:
  explicit EngineHarness(const std::string& dir = "");
  // With options changed before the engine opens (fault injection).
  explicit EngineHarness(std::function<void(engine::EngineOptions&)> configure);
  ~EngineHarness();

  void open();
  void close();
  void reopen() {
    close();
    open();
  }

  engine::Engine& engine() { return *engine_; }
  ManualClock& clock() { return clock_; }
  const std::string& dir() const { return dir_; }
  engine::Principal user(const std::string& id);

  Result<engine::Reply> create(const std::string& who, const std::string& workflow, const std::string& org,
                               Json fields, std::optional<std::string> comment = {});
  Result<engine::Reply> fire(const std::string& who, const std::string& id, const std::string& transition,
                             Json fields = Json::object(), std::optional<std::string> comment = {},
                             std::optional<int64_t> expected_version = {});
  Result<engine::Reply> comment(const std::string& who, const std::string& id, const std::string& text);
  // Moves the clock and waits until the writer has fired every timer now due.
  void advance(int64_t ms);
  // Every key/value of every space, for "nothing changed" checks.
  std::map<std::string, std::string> snapshot();

 private:
  std::unique_ptr<TempDir> owned_;
  std::string dir_;
  ManualClock clock_{kStartMs};
  std::function<void(engine::EngineOptions&)> configure_;
  std::unique_ptr<engine::Engine> engine_;
};

// A 一支一项 project created by `who` in `dept`; its id ("" and a test failure when refused).
std::string new_project(EngineHarness& h, const std::string& title, const std::string& dept = "city/finance",
                        const std::string& who = "wang.wei");
// The same, issued and assigned to branch b1, due `due_date`: it has index entries of several
// kinds and two armed timers.
std::string assigned_project(EngineHarness& h, const std::string& title, const std::string& due_date = "2027-03-31");

}  // namespace pioneer::testing
