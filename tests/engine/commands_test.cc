// Commands on the engine over a real RocksDB store: refusals change nothing, field rules
// name what broke, one writer serialises conflicting commands, idempotency.
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

TEST(Commands, EveryRefusalLeavesTheStoreUntouched) {
  EngineHarness h;
  const std::string id = new_project(h, "测试项目");
  ASSERT_OK(h.fire("wang.wei", id, "issue"));
  const auto before = h.snapshot();
  const uint64_t head = h.engine().head_seq();
  // One of each refusal of the rules.
  ASSERT_CODE(h.fire("chen.jie", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}),
              Code::kNotFound);                                                          // other department
  ASSERT_CODE(h.fire("li.na", id, "claim"), Code::kTransitionNotAllowed);                // wrong state
  ASSERT_CODE(h.fire("li.na", id, "no_such_transition"), Code::kTransitionNotAllowed);
  ASSERT_CODE(h.fire("wang.wei", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}),
              Code::kForbidden);                                                         // wrong role
  ASSERT_CODE(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}, {}, 1),
              Code::kVersionConflict);                                                   // stale version
  ASSERT_CODE(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}}), Code::kMissingFields);
  ASSERT_CODE(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-02-30"}}),
              Code::kInvalidField);                                                      // not a date
  ASSERT_CODE(h.fire("li.na", id, "assign", {{"branch", "city/education/b1"}, {"due_date", "2027-01-01"}}),
              Code::kInvalidField);                                                      // branch of another dept
  ASSERT_CODE(h.fire("li.na", id, "assign", {{"branch", "city/finance"}, {"due_date", "2027-01-01"}}),
              Code::kInvalidField);                                                      // not a branch
  ASSERT_CODE(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}, {"colour", "red"}}),
              Code::kInvalidField);                                                      // unknown field
  ASSERT_CODE(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}, {"rating", "good"}}),
              Code::kInvalidField);                                                      // not accepted here
  ASSERT_CODE(h.fire("li.na", id, "return_for_revision"), Code::kMissingFields);       // comment required
  ASSERT_CODE(h.comment("chen.jie", id, "看看"), Code::kNotFound);
  ASSERT_CODE(h.comment("li.na", id, "   "), Code::kMissingFields);
  ASSERT_CODE(h.create("li.na", "yizhi-yixiang", "city/finance", {{"title", "x"}}), Code::kForbidden);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/education", {{"title", "x"}}), Code::kForbidden);
  ASSERT_CODE(h.create("wang.wei", "no-such-workflow", "city/finance", {{"title", "x"}}), Code::kInvalidField);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance/nowhere", {{"title", "x"}}), Code::kInvalidField);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/nowhere", {{"title", "x"}}), Code::kForbidden);  // outside the view
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "a\u202Eb"}}), Code::kInvalidField);
  ASSERT_CODE(h.comment("li.na", id, "\u3000\u200b"), Code::kMissingFields);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", std::string(201, 'x')}}),
              Code::kInvalidField);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", 42}}), Code::kInvalidField);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "x"}, {"area", "space"}}),
              Code::kInvalidField);
  EXPECT_EQ(h.engine().head_seq(), head);
  EXPECT_EQ(h.snapshot(), before);
}

TEST(Commands, FieldRulesNameTheFieldAndTheRule) {
  EngineHarness h;
  const std::string id = new_project(h, "进度测试");
  ASSERT_OK(h.fire("wang.wei", id, "issue"));
  ASSERT_OK(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}));
  ASSERT_OK(h.fire("zhang.min", id, "claim"));
  auto r = h.fire("zhang.min", id, "report_progress", {{"progress", "p"}, {"percent", 101}});
  ASSERT_CODE(r, Code::kInvalidField);
  EXPECT_EQ(r.error().details()["field"], "percent");
  EXPECT_EQ(r.error().details()["rule"], "max");
  EXPECT_NE(r.error().message.find("不能大于 100（"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("at most 100）"), std::string::npos) << r.error().message;
  r = h.fire("zhang.min", id, "report_progress", {{"progress", "p"}, {"percent", -1}});
  ASSERT_CODE(r, Code::kInvalidField);
  EXPECT_NE(r.error().message.find("不能小于 0（"), std::string::npos) << r.error().message;
  r = h.fire("zhang.min", id, "report_progress", {{"progress", "p"}, {"percent", 50.5}});
  ASSERT_CODE(r, Code::kInvalidField);
  EXPECT_EQ(r.error().details()["rule"], "type");
  r = h.fire("zhang.min", id, "report_progress", {{"progress", "p"}, {"percent", "50"}});
  ASSERT_CODE(r, Code::kInvalidField);
}

TEST(Commands, ConflictingTransitionsFromManyThreadsExactlyOneWins) {
  EngineHarness h;
  const std::string id = new_project(h, "并发测试");
  ASSERT_OK(h.fire("wang.wei", id, "issue"));
  ASSERT_OK(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}));
  const engine::Principal secretary = h.user("zhang.min");
  constexpr int kThreads = 16;
  std::atomic<int> won{0}, lost{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      // Half claim, half decline: whichever is decided first moves the state, and every
      // other command finds itself in the wrong state.
      Command c{FireTransition{id, i % 2 ? "claim" : "decline", {}, std::string("理由"), std::nullopt}, secretary, {}, {}};
      auto r = h.engine().execute(std::move(c));
      if (r) won++;
      else if (r.error().code == Code::kTransitionNotAllowed) lost++;
      else other++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), kThreads - 1);
  EXPECT_EQ(other.load(), 0);
}

TEST(Commands, ExpectedVersionSerialisesOptimisticWriters) {
  EngineHarness h;
  const std::string id = new_project(h, "乐观锁");
  auto view = h.engine().instance_view(h.user("wang.wei"), id);
  ASSERT_OK(view);
  const int64_t version = (*view)["version"];
  std::atomic<int> won{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = h.engine().execute(Command{engine::AddComment{id, "同意"}, h.user("li.na"), {}, {}});
      (void)r;
      auto t = h.fire("wang.wei", id, "issue", {}, {}, version + 1);
      if (t) won++;
      else if (t.error().code == Code::kVersionConflict || t.error().code == Code::kTransitionNotAllowed) conflicts++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(won.load(), 1);
  EXPECT_EQ(won.load() + conflicts.load(), 8);
}

TEST(Commands, IdempotentReplayAndConflict) {
  EngineHarness h;
  auto make = [&](const std::string& digest) {
    return Command{engine::CreateInstance{"yizhi-yixiang", "city/finance", {{"title", "幂等"}}, std::nullopt},
                   h.user("wang.wei"), "key-1", digest};
  };
  auto first = h.engine().execute(make("digest-a"));
  ASSERT_OK(first);
  const uint64_t head = h.engine().head_seq();
  auto replay = h.engine().execute(make("digest-a"));
  ASSERT_OK(replay);
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->body, first->body);
  EXPECT_EQ(replay->status, 201);
  EXPECT_EQ(h.engine().head_seq(), head);
  ASSERT_CODE(h.engine().execute(make("digest-b")), Code::kIdempotencyConflict);
  // The same key from another user is another key.
  Command other{engine::CreateInstance{"yizhi-yixiang", "city/education", {{"title", "幂等"}}, std::nullopt},
                h.user("chen.jie"), "key-1", "digest-b"};
  ASSERT_OK(h.engine().execute(std::move(other)));
  // Replays survive a restart.
  h.reopen();
  auto after = h.engine().execute(make("digest-a"));
  ASSERT_OK(after);
  EXPECT_EQ(after->body["id"], first->body["id"]);
}

}  // namespace
}  // namespace pioneer::testing
