// The writer under concurrency and failure: reads never serve a stale record, a failed
// commit fails what was decided on top of it, idempotency keys repeated while a batch commits.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "engine/audit/reindex.h"
#include "engine/audit/verify.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/spaces.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/engine/test_support.h"

namespace pioneer::testing {
namespace {

using engine::Command;
using engine::FireTransition;

// Readers fill the shared read cache while the writer changes the same instances: once the
// writes are done, every read must show the last committed version, never an older one that
// a reader fetched just before a commit.
TEST(Writer, ReadsNeverServeAStaleRecordAfterConcurrentWrites) {
  EngineHarness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    auto r = h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "缓存" + std::to_string(i)}});
    ASSERT_OK(r);
    ids.push_back(r->body["id"]);
  }
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      const engine::Principal who = h.user("li.na");
      while (!done) {
        for (const std::string& id : ids) (void)h.engine().instance_view(who, id);
        (void)h.engine().list_instances(who, {}, 50, "");
      }
    });
  }
  for (int round = 0; round < 20; ++round) {
    for (const std::string& id : ids) ASSERT_OK(h.comment("li.na", id, "第" + std::to_string(round) + "轮"));
  }
  done = true;
  for (auto& t : readers) t.join();
  for (const std::string& id : ids) {
    auto view = h.engine().instance_view(h.user("li.na"), id);
    ASSERT_OK(view);
    EXPECT_EQ((*view)["version"], 21) << id;
  }
  auto page = h.engine().list_instances(h.user("li.na"), {}, 50, "");
  ASSERT_OK(page);
  for (const Json& item : page->items) EXPECT_EQ(item["version"], 21);
}

// A store whose next commit can be held until the test lets it go, and then made to fail:
// the writer decides the next batch while one is being committed, so it must forget what it
// decided on top of a batch that never became durable.
class HeldStore final : public ForwardingStore {
 public:
  explicit HeldStore(std::unique_ptr<storage::Store> inner) : ForwardingStore(std::move(inner)) {}

  void hold_next_commit() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void wait_until_held() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return held_; });
  }
  void release(bool fail) {
    std::lock_guard lock(mu_);
    hold_ = false;
    fail_ = fail;
    cv_.notify_all();
  }

  Result<void> commit(const storage::Batch& batch, bool sync) override {
    std::unique_lock lock(mu_);
    if (hold_) {
      held_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !hold_; });
      held_ = false;
      if (std::exchange(fail_, false)) return fail(Code::kInternal, "injected: the disk is gone");
    }
    lock.unlock();
    return inner_->commit(batch, sync);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false, held_ = false, fail_ = false;
};

struct Held {
  HeldStore* store = nullptr;
  std::unique_ptr<EngineHarness> harness;
  Held() {
    harness = std::make_unique<EngineHarness>([this](engine::EngineOptions& o) {
      o.wrap_store = [this](std::unique_ptr<storage::Store> inner) {
        auto held = std::make_unique<HeldStore>(std::move(inner));
        store = held.get();
        return std::unique_ptr<storage::Store>(std::move(held));
      };
    });
  }
  // Submits without waiting; the future gets the answer.
  std::future<Result<engine::Reply>> submit(Command c) {
    auto promise = std::make_shared<std::promise<Result<engine::Reply>>>();
    auto future = promise->get_future();
    harness->engine().submit(std::move(c), [promise](Result<engine::Reply> r) { promise->set_value(std::move(r)); });
    return future;
  }
  // Waits until the writer has taken every queued command (and so decided it).
  void wait_taken() {
    while (harness->engine().metrics().queue_depth > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
};

TEST(Writer, AFailedCommitFailsWhatWasDecidedOnTopOfItAndNothingElse) {
  Held t;
  EngineHarness& h = *t.harness;
  const std::string id = new_project(h, "提交失败");
  ASSERT_OK(h.fire("wang.wei", id, "issue"));
  const auto before = h.engine().instance(h.user("li.na"), id);
  ASSERT_OK(before);
  const int64_t version = before->version;
  const uint64_t head = h.engine().head_seq();

  // Batch 1 (assign) is held in its commit; batch 2 (a comment on the assigned project) is
  // decided on top of it meanwhile. Then batch 1 fails.
  t.store->hold_next_commit();
  auto assign = t.submit(Command{FireTransition{id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}, std::nullopt, version},
                                 h.user("li.na"), {}, {}});
  t.store->wait_until_held();
  auto comment = t.submit(Command{engine::AddComment{id, "在已分派的基础上"}, h.user("li.na"), {}, {}});
  t.wait_taken();

  t.store->release(/*fail=*/true);
  ASSERT_CODE(assign.get(), Code::kInternal);
  ASSERT_CODE(comment.get(), Code::kInternal);

  // Nothing of either is anywhere: not in the store, not in the head, not in the writer's
  // memory (the same transition with the same expected version is accepted again, and its
  // event takes the next sequence number after the durable head).
  EXPECT_EQ(h.engine().head_seq(), head);
  auto again = h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}, std::nullopt, version);
  ASSERT_OK(again);
  EXPECT_EQ((*again).body["version"].get<int64_t>(), version + 1);
  EXPECT_EQ(h.engine().head_seq(), head + 1);
  auto report = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump();
}

// Idempotency records were never deleted: the 24-hour limit was only checked when a key came
// back. A sweep now drops the expired ones (on compaction) and says how many are kept.
TEST(Writer, ExpiredIdempotencyRecordsAreDroppedBySweep) {
  EngineHarness h;
  auto create = [&](const std::string& key) {
    return h.engine().execute(Command{engine::CreateInstance{"yizhi-yixiang", "city/finance", {{"title", "幂等"}}, std::nullopt},
                                      h.user("wang.wei"), key, "digest-" + key});
  };
  ASSERT_OK(create("old-1"));
  ASSERT_OK(create("old-2"));
  auto kept = h.engine().sweep_idempotency();
  ASSERT_OK(kept);
  EXPECT_EQ(*kept, 2u);
  h.clock().advance(kDayMs - 1000);
  ASSERT_OK(create("new-1"));
  h.clock().advance(2000);  // the first two are now older than a day
  kept = h.engine().sweep_idempotency();
  ASSERT_OK(kept);
  EXPECT_EQ(*kept, 1u);
  EXPECT_EQ(h.engine().idempotency_expired(), 2u);
  // The dropped key is a new request again; the kept one still replays.
  auto again = create("old-1");
  ASSERT_OK(again);
  EXPECT_FALSE(again->replayed);
  auto replay = create("new-1");
  ASSERT_OK(replay);
  EXPECT_TRUE(replay->replayed);
}

TEST(Writer, AnIdempotencyKeyRepeatedWhileItsBatchCommitsIsAReplay) {
  Held t;
  EngineHarness& h = *t.harness;
  auto make = [&] {
    return Command{engine::CreateInstance{"yizhi-yixiang", "city/finance", {{"title", "提交中重放"}}, std::nullopt},
                   h.user("wang.wei"), "key-inflight", "digest-a"};
  };
  const uint64_t head = h.engine().head_seq();
  t.store->hold_next_commit();
  auto first = t.submit(make());
  t.store->wait_until_held();
  auto second = t.submit(make());  // decided while the first is not yet durable
  t.wait_taken();
  t.store->release(/*fail=*/false);
  auto a = first.get();
  auto b = second.get();
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_FALSE(a->replayed);
  EXPECT_TRUE(b->replayed);
  EXPECT_EQ(a->body["id"], b->body["id"]);
  EXPECT_EQ(h.engine().head_seq(), head + 1);  // one instance, one event
}

}  // namespace
}  // namespace pioneer::testing
