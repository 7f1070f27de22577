// The engine on a real RocksDB store: refusals change nothing, one writer serialises
// conflicting commands, idempotency, lists, the to-do list, visibility and statistics.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <future>
#include <condition_variable>
#include <functional>
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
using engine::InstanceFilter;

std::string new_project(EngineHarness& h, const std::string& title, const std::string& dept = "city/finance",
                        const std::string& who = "wang.wei") {
  auto r = h.create(who, "yizhi-yixiang", dept, {{"title", title}, {"goal", "g"}, {"area", "service"}});
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r ? r->body["id"].get<std::string>() : "";
}

// A project issued and assigned to branch b1 (due 2027-03-31): it has index entries of several
// kinds and two armed timers.
std::string assigned_project(EngineHarness& h, const std::string& title) {
  const std::string id = new_project(h, title);
  EXPECT_TRUE(h.fire("wang.wei", id, "issue").has_value());
  EXPECT_TRUE(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-03-31"}}).has_value());
  return id;
}

std::set<std::string> ids(const std::vector<Json>& items) {
  std::set<std::string> out;
  for (const Json& j : items) out.insert(j["id"].get<std::string>());
  return out;
}

TEST(Engine, EveryRefusalLeavesTheStoreUntouched) {
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
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/nowhere", {{"title", "x"}}), Code::kInvalidField);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", std::string(201, 'x')}}),
              Code::kInvalidField);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", 42}}), Code::kInvalidField);
  ASSERT_CODE(h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "x"}, {"area", "space"}}),
              Code::kInvalidField);
  EXPECT_EQ(h.engine().head_seq(), head);
  EXPECT_EQ(h.snapshot(), before);
}

TEST(Engine, FieldRulesNameTheFieldAndTheRule) {
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

TEST(Engine, ConflictingTransitionsFromManyThreadsExactlyOneWins) {
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

TEST(Engine, ExpectedVersionSerialisesOptimisticWriters) {
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

TEST(Engine, IdempotentReplayAndConflict) {
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

TEST(Engine, ListsPageThroughEveryVisibleInstanceOnce) {
  EngineHarness h;
  std::set<std::string> finance, education;
  for (int i = 0; i < 23; ++i) finance.insert(new_project(h, "财政项目" + std::to_string(i)));
  for (int i = 0; i < 7; ++i) education.insert(new_project(h, "教育项目" + std::to_string(i), "city/education", "chen.jie"));
  auto walk = [&](const std::string& who, const InstanceFilter& f, size_t limit) {
    std::vector<std::string> seen;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto r = h.engine().list_instances(h.user(who), f, limit, cursor);
      EXPECT_TRUE(r.has_value());
      if (!r) break;
      EXPECT_LE(r->items.size(), limit);
      for (const Json& j : r->items) seen.push_back(j["id"]);
      if (!r->next_cursor) break;
      cursor = *r->next_cursor;
    }
    return seen;
  };
  auto admin = walk("admin", {}, 4);
  EXPECT_EQ(admin.size(), 30u);
  EXPECT_EQ(std::set<std::string>(admin.begin(), admin.end()).size(), 30u) << "each once";
  auto own = walk("wang.wei", {}, 5);
  EXPECT_EQ(std::set<std::string>(own.begin(), own.end()), finance) << "a department sees only its own";
  EXPECT_EQ(own.size(), finance.size());
  InstanceFilter edu;
  edu.org = "city/education";
  EXPECT_TRUE(walk("wang.wei", edu, 5).empty()) << "filtering cannot widen visibility";
  EXPECT_EQ(walk("admin", edu, 50).size(), 7u);
  // A branch sees only what is assigned to it.
  EXPECT_TRUE(walk("zhang.min", {}, 10).empty());
  const std::string picked = *finance.begin();
  ASSERT_OK(h.fire("wang.wei", picked, "issue"));
  ASSERT_OK(h.fire("li.na", picked, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}));
  EXPECT_EQ(walk("zhang.min", {}, 10), std::vector<std::string>{picked});
  EXPECT_TRUE(walk("liu.yang", {}, 10).empty());
  // The finance committee still sees it once, not once per index path.
  EXPECT_EQ(walk("li.na", {}, 7).size(), finance.size());
  InstanceFilter by_state;
  by_state.workflow = "yizhi-yixiang";
  by_state.state = "assigned";
  EXPECT_EQ(walk("admin", by_state, 10), std::vector<std::string>{picked});
  InstanceFilter by_assignee;
  by_assignee.assignee_org = "city/finance/b1";
  EXPECT_EQ(walk("li.na", by_assignee, 10), std::vector<std::string>{picked});
  // A cursor the server did not issue is refused.
  ASSERT_CODE(h.engine().list_instances(h.user("admin"), {}, 10, "not-a-cursor!"), Code::kBadRequest);
}

TEST(Engine, TitleSearchFindsChineseSubstrings) {
  EngineHarness h;
  const std::string a = new_project(h, "优化营商环境服务企业");
  new_project(h, "机关志愿服务进社区");
  const std::string c = new_project(h, "营商环境对标提升", "city/education", "chen.jie");
  InstanceFilter f;
  f.text = "营商环境";
  auto admin = h.engine().list_instances(h.user("admin"), f, 50, "");
  ASSERT_OK(admin);
  EXPECT_EQ(ids(admin->items), (std::set<std::string>{a, c}));
  auto finance = h.engine().list_instances(h.user("wang.wei"), f, 50, "");
  ASSERT_OK(finance);
  EXPECT_EQ(ids(finance->items), (std::set<std::string>{a}));
  f.text = "服";
  auto one_char = h.engine().list_instances(h.user("wang.wei"), f, 50, "");
  ASSERT_OK(one_char);
  EXPECT_EQ(one_char->items.size(), 2u);
}

// The writer copies the title-search entries from the record before a change when the title is
// unchanged; a changed title is indexed afresh. Both must equal entries computed from scratch,
// and search follows the title.
TEST(Engine, TitleEntriesFollowATitleChangeAndAreReusedOtherwise) {
  EngineHarness h;
  const std::string id = new_project(h, "优化营商环境");
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  auto before = h.engine().instance(h.user("admin"), id);
  ASSERT_OK(before);
  const auto before_entries = engine::index::entries(**def, *before);
  engine::Instance same = *before;
  same.state = "issued";
  EXPECT_EQ(engine::index::entries(**def, same, &*before, &before_entries), engine::index::entries(**def, same));
  engine::Instance renamed = same;
  renamed.fields["title"] = "机关志愿服务";
  EXPECT_EQ(engine::index::entries(**def, renamed, &*before, &before_entries),
            engine::index::entries(**def, renamed));
  engine::Instance untitled = same;
  untitled.fields.erase("title");
  EXPECT_EQ(engine::index::entries(**def, untitled, &*before, &before_entries),
            engine::index::entries(**def, untitled));

  // Through the writer: a transition that changes the title, then one that does not.
  ASSERT_OK(h.fire("wang.wei", id, "issue", {{"title", "机关志愿服务"}}));
  ASSERT_OK(h.fire("li.na", id, "return_for_revision", Json::object(), "请补充目标"));
  InstanceFilter f;
  f.text = "营商";
  auto old_title = h.engine().list_instances(h.user("admin"), f, 50, "");
  ASSERT_OK(old_title);
  EXPECT_TRUE(old_title->items.empty());
  f.text = "志愿";
  auto new_title = h.engine().list_instances(h.user("admin"), f, 50, "");
  ASSERT_OK(new_title);
  EXPECT_EQ(ids(new_title->items), (std::set<std::string>{id}));
  auto verified = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump(2);
}

// A filter the index does not narrow (a one-character title search) walks index entries; a
// page looks at no more than page_scan_limit of them and may end short, with a next_cursor.
// Paging on finds exactly what an unbounded walk finds, each once.
TEST(Engine, ListPagesLookAtBoundedEntriesAndPageOnToTheSameAnswer) {
  EngineHarness h([](engine::EngineOptions& o) { o.page_scan_limit = 3; });
  std::set<std::string> issued;
  for (int i = 0; i < 12; ++i) {
    const std::string id = new_project(h, (i % 4 == 3 ? "甲项目" : "项目") + std::to_string(i));
    if (i % 4 == 3) {
      ASSERT_OK(h.fire("wang.wei", id, "issue"));
      issued.insert(id);
    }
  }
  for (int i = 0; i < 3; ++i) new_project(h, "教育" + std::to_string(i), "city/education", "chen.jie");
  auto page_through = [&](const std::string& user, bool expect_short, auto&& read) {
    std::set<std::string> seen;
    std::string cursor;
    int pages = 0, short_pages = 0;
    for (; pages < 100; ++pages) {
      auto page = read(h.user(user), cursor);
      EXPECT_TRUE(page.has_value());
      if (!page) break;
      EXPECT_LE(page->items.size(), 2u);
      short_pages += page->items.size() < 2 && page->next_cursor.has_value();
      for (const Json& j : page->items) EXPECT_TRUE(seen.insert(j["id"].get<std::string>()).second) << "twice";
      if (!page->next_cursor) break;
      cursor = *page->next_cursor;
    }
    if (expect_short) {
      EXPECT_GT(short_pages, 0) << "the bound never cut a page";
    }
    return seen;
  };
  InstanceFilter f;
  f.text = "甲";
  EXPECT_EQ(page_through("wang.wei", true, [&](const engine::Principal& who, const std::string& c) {
              return h.engine().list_instances(who, f, 2, c);
            }),
            issued);
  // A state without its workflow is read from the state index of each workflow that has it.
  InstanceFilter by_state;
  by_state.state = "issued";
  EXPECT_EQ(page_through("wang.wei", false, [&](const engine::Principal& who, const std::string& c) {
              return h.engine().list_instances(who, by_state, 2, c);
            }),
            issued);
  by_state.state = "no_workflow_has_this";
  auto none = h.engine().list_instances(h.user("wang.wei"), by_state, 2, "");
  ASSERT_OK(none);
  EXPECT_TRUE(none->items.empty());
  EXPECT_FALSE(none->next_cursor.has_value());
  EXPECT_EQ(page_through("li.na", false, [&](const engine::Principal& who, const std::string& c) {
              return h.engine().tasks(who, 2, c);
            }),
            issued);
}

TEST(Engine, TheToDoListFollowsTheWork) {
  EngineHarness h;
  const std::string id = new_project(h, "待办测试");
  auto tasks = [&](const std::string& who) {
    auto r = h.engine().tasks(h.user(who), 50, "");
    EXPECT_TRUE(r.has_value());
    return r ? ids(r->items) : std::set<std::string>{};
  };
  EXPECT_EQ(tasks("wang.wei"), std::set<std::string>{id});
  EXPECT_TRUE(tasks("li.na").empty());
  ASSERT_OK(h.fire("wang.wei", id, "issue"));
  EXPECT_EQ(tasks("wang.wei"), std::set<std::string>{id});  // may still withdraw
  EXPECT_EQ(tasks("li.na"), std::set<std::string>{id});
  ASSERT_OK(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}));
  EXPECT_TRUE(tasks("wang.wei").empty());
  EXPECT_EQ(tasks("zhang.min"), std::set<std::string>{id});
  EXPECT_TRUE(tasks("liu.yang").empty());
  EXPECT_TRUE(tasks("chen.jie").empty());
  auto page = h.engine().tasks(h.user("zhang.min"), 50, "");
  ASSERT_OK(page);
  std::set<std::string> actions;
  for (const Json& a : page->items[0]["actions"]) actions.insert(a["transition"]);
  EXPECT_EQ(actions, (std::set<std::string>{"claim", "decline"}));
  ASSERT_OK(h.fire("zhang.min", id, "claim"));
  ASSERT_OK(h.fire("zhang.min", id, "apply_completion", {{"results", "r"}}));
  ASSERT_OK(h.fire("li.na", id, "approve_completion"));
  ASSERT_OK(h.fire("wang.wei", id, "evaluate", {{"rating", "good"}, {"brand", false}}));
  EXPECT_TRUE(tasks("wang.wei").empty());
  EXPECT_TRUE(tasks("li.na").empty());
}

TEST(Engine, EventsAfterShowOnlyWhatTheCallerMaySee) {
  EngineHarness h;
  const std::string mine = new_project(h, "财政");
  const std::string theirs = new_project(h, "教育", "city/education", "chen.jie");
  auto feed = h.engine().events_after(h.user("wang.wei"), 0, 1000);
  ASSERT_OK(feed);
  ASSERT_FALSE(feed->items.empty());
  for (const auto& e : feed->items) EXPECT_EQ(e.instance_id, mine);
  EXPECT_EQ(feed->head, h.engine().head_seq());
  auto all = h.engine().events_after(h.user("admin"), 0, 1000);
  ASSERT_OK(all);
  EXPECT_EQ(all->items.size(), 2u);
  auto after = h.engine().events_after(h.user("admin"), all->items[0].seq, 1000);
  ASSERT_OK(after);
  ASSERT_EQ(after->items.size(), 1u);
  EXPECT_EQ(after->items[0].instance_id, theirs);
}

// The feed is served two ways (engine::EventScan): from the histories of the few instances a
// caller may see, or by walking the log in bounded steps. Both must give exactly the events
// of the instances the caller may see now (an instance assigned into a branch brings its whole
// history), page after page, whatever the page size and the step.
TEST(Engine, EventsAfterIsTheSameFromHistoriesAndFromTheLog) {
  EngineHarness h;
  std::vector<std::string> finance, education;
  for (int i = 0; i < 4; ++i) {
    finance.push_back(new_project(h, "财政" + std::to_string(i)));
    education.push_back(new_project(h, "教育" + std::to_string(i), "city/education", "chen.jie"));
  }
  for (int i = 0; i < 3; ++i) ASSERT_OK(h.fire("wang.wei", finance[i], "issue"));
  ASSERT_OK(h.fire("li.na", finance[0], "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}));
  ASSERT_OK(h.fire("li.na", finance[1], "assign", {{"branch", "city/finance/b2"}, {"due_date", "2027-01-01"}}));
  ASSERT_OK(h.fire("zhang.min", finance[0], "claim"));
  ASSERT_OK(h.fire("chen.jie", education[0], "issue"));
  ASSERT_OK(h.fire("wang.wei", finance[3], "issue"));
  const uint64_t head = h.engine().head_seq();

  auto all = h.engine().events_after(engine::Principal::system_principal(), 0, 1000);
  ASSERT_OK(all);
  ASSERT_EQ(all->items.size(), head);
  ASSERT_TRUE(all->caught_up());

  auto feed = [&](const std::string& user, size_t limit, engine::EventScan scan) {
    std::vector<uint64_t> seqs;
    uint64_t since = 0;
    for (int calls = 0; calls < 1000; ++calls) {
      auto page = h.engine().events_after(h.user(user), since, limit, scan);
      EXPECT_TRUE(page.has_value());
      if (!page) break;
      EXPECT_LE(page->items.size(), limit);
      for (const auto& e : page->items) {
        EXPECT_GT(e.seq, since);
        seqs.push_back(e.seq);
      }
      if (page->items.size() < limit && !page->caught_up()) {
        EXPECT_LE(page->next_since - since, scan.max_examined) << "walked past its bound";
      }
      if (page->caught_up()) return seqs;
      EXPECT_GT(page->next_since, since) << "no progress";
      since = page->next_since;
    }
    ADD_FAILURE() << "never caught up";
    return seqs;
  };
  const engine::EventScan histories{.merge_after = 0};                         // few instances each
  const engine::EventScan log{.max_examined = 3, .max_merged_instances = 0, .merge_after = 0};  // the log
  for (const char* user : {"admin", "wang.wei", "li.na", "zhang.min", "zheng.xin", "liu.yang", "chen.jie",
                           "sun.li", "zhou.hua"}) {
    SCOPED_TRACE(user);
    const engine::Principal who = h.user(user);
    std::vector<uint64_t> expected;
    for (const auto& e : all->items) {
      auto in = h.engine().instance(engine::Principal::system_principal(), e.instance_id);
      ASSERT_OK(in);
      if (who.can_see(in->org, in->assignee_org)) expected.push_back(e.seq);
    }
    for (size_t limit : {1, 2, 5, 1000}) {
      SCOPED_TRACE(limit);
      EXPECT_EQ(feed(user, limit, histories), expected);
      EXPECT_EQ(feed(user, limit, log), expected);
    }
  }
  // zhang.min sees finance[0] only, with the events from before it was assigned to her branch.
  auto branch = h.engine().events_after(h.user("zhang.min"), 0, 1000);
  ASSERT_OK(branch);
  ASSERT_EQ(branch->items.size(), 4u);  // created, issued, assigned, claimed
  for (const auto& e : branch->items) EXPECT_EQ(e.instance_id, finance[0]);
  EXPECT_EQ(branch->next_since, head);
  // Served from her one instance's history, the walk's bound does not apply: one call.
  auto merged = h.engine().events_after(h.user("zhang.min"), 0, 1000, engine::EventScan{.max_examined = 1, .merge_after = 0});
  ASSERT_OK(merged);
  EXPECT_EQ(merged->items.size(), 4u);
  EXPECT_TRUE(merged->caught_up());
  // A short tail is walked (merge_after), and then the bound applies.
  auto walked = h.engine().events_after(h.user("zhang.min"), 0, 1000, engine::EventScan{.max_examined = 1});
  ASSERT_OK(walked);
  EXPECT_FALSE(walked->caught_up());

  // A walk that finds nothing in its step says how far it looked; after head there is nothing.
  // liu.yang sees finance[1] only: created third, issued ninth or later.
  auto step = h.engine().events_after(h.user("liu.yang"), 3, 10, log);
  ASSERT_OK(step);
  EXPECT_TRUE(step->items.empty());
  EXPECT_EQ(step->next_since, 6u);
  EXPECT_FALSE(step->caught_up());
  auto after = h.engine().events_after(h.user("admin"), head + 5, 10);
  ASSERT_OK(after);
  EXPECT_TRUE(after->items.empty());
  EXPECT_TRUE(after->caught_up());
  EXPECT_EQ(after->next_since, head + 5);
}

TEST(Engine, StatisticsCountOnlyWhatTheCallerMaySee) {
  EngineHarness h;
  new_project(h, "a");
  new_project(h, "b");
  const std::string c = new_project(h, "c", "city/education", "chen.jie");
  ASSERT_OK(h.fire("chen.jie", c, "issue"));
  auto admin = h.engine().stats(h.user("admin"), "yizhi-yixiang", "org");
  ASSERT_OK(admin);
  ASSERT_EQ((*admin)["groups"].size(), 2u);
  EXPECT_EQ((*admin)["groups"][0]["key"], "city/education");
  EXPECT_EQ((*admin)["groups"][0]["by_state"]["issued"], 1);
  EXPECT_EQ((*admin)["groups"][1]["count"], 2);
  EXPECT_EQ((*admin)["groups"][1]["name"], "市财政局");
  auto finance = h.engine().stats(h.user("wang.wei"), "yizhi-yixiang", "state");
  ASSERT_OK(finance);
  ASSERT_EQ((*finance)["groups"].size(), 1u);
  EXPECT_EQ((*finance)["groups"][0]["key"], "draft");
  EXPECT_EQ((*finance)["groups"][0]["count"], 2);
  ASSERT_CODE(h.engine().stats(h.user("admin"), "yizhi-yixiang", "colour"), Code::kBadRequest);
}

// Counters carry no definition version: a state that a newer version renamed still counts as
// what it was (closed_on_time must not go to 0 when `done` is renamed).
TEST(Engine, StatsReadAStateInTheNewestVersionThatHasIt) {
  EngineHarness h;
  const std::string id = assigned_project(h, "统计版本");
  ASSERT_OK(h.fire("zhang.min", id, "claim"));
  ASSERT_OK(h.fire("zhang.min", id, "apply_completion", {{"results", "r"}}));
  ASSERT_OK(h.fire("li.na", id, "approve_completion"));
  ASSERT_OK(h.fire("wang.wei", id, "evaluate", {{"rating", "good"}, {"brand", false}}));
  auto closed_on_time = [&] {
    auto stats = h.engine().stats(h.user("wang.wei"), "yizhi-yixiang", "state");
    EXPECT_TRUE(stats.has_value());
    int64_t n = 0;
    if (stats) for (const Json& g : (*stats)["groups"]) n += g["closed_on_time"].get<int64_t>();
    return n;
  };
  EXPECT_EQ(closed_on_time(), 1);
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  std::string text = (*def)->source.dump();
  for (size_t p = text.find("\"closed\""); p != std::string::npos; p = text.find("\"closed\"", p)) {
    text.replace(p, 8, "\"finished\"");
  }
  auto reg = h.engine().execute(Command{engine::RegisterDefinition{Json::parse(text)}, h.user("admin"), {}, {}});
  ASSERT_OK(reg);
  ASSERT_EQ(reg->body["version"], 2) << reg->body;
  EXPECT_EQ(closed_on_time(), 1);
}

// DEFINITIONS.md "Versions": moving a running instance to a new version is an explicit, checked
// operation with the state mapping given. Version 2 renames in_progress to leading and adds a
// field; the instance keeps its history, its to-do entries and timers follow the new version,
// and verify passes before and after a restart.
TEST(Engine, AnAdministratorMovesARunningInstanceToANewVersion) {
  EngineHarness h;
  const engine::Principal admin = h.user("admin");
  const std::string id = assigned_project(h, "迁移到新版本");  // due 2027-03-31
  ASSERT_OK(h.fire("zhang.min", id, "claim"));
  const std::string closed = new_project(h, "已撤回");
  ASSERT_OK(h.fire("wang.wei", closed, "withdraw", Json::object(), "不再办理"));
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  std::string text = (*def)->source.dump();
  for (size_t p = text.find("\"in_progress\""); p != std::string::npos; p = text.find("\"in_progress\"", p)) {
    text.replace(p, 13, "\"leading\"");
  }
  Json v2 = Json::parse(text);
  v2["fields"]["summary"] = {{"type", "text"}, {"label", {{"zh", "小结"}}}};
  ASSERT_OK(h.engine().execute(Command{engine::RegisterDefinition{v2}, admin, {}, {}}));
  auto migrate = [&](const engine::Principal& who, const std::string& instance, int version,
                     std::map<std::string, std::string> states, std::optional<int64_t> expected = {}) {
    return h.engine().execute(Command{engine::MigrateInstance{instance, version, std::move(states), "按新版本办理", expected}, who, {}, {}});
  };

  // Refusals change nothing.
  const auto before = h.snapshot();
  ASSERT_CODE(migrate(h.user("wang.wei"), id, 2, {{"in_progress", "leading"}}), Code::kForbidden);
  ASSERT_CODE(migrate(admin, id, 2, {}), Code::kInvalidField);  // version 2 has no in_progress
  ASSERT_CODE(migrate(admin, id, 2, {{"in_progress", "closed"}}), Code::kInvalidField);  // terminal
  ASSERT_CODE(migrate(admin, id, 3, {{"in_progress", "leading"}}), Code::kInvalidField);  // no such version
  ASSERT_CODE(migrate(admin, id, 1, {}), Code::kInvalidField);                           // already there
  ASSERT_CODE(migrate(admin, id, 1, {}, 1), Code::kVersionConflict);                     // stale first, as for transitions
  ASSERT_CODE(migrate(admin, id, 2, {{"in_progress", "leading"}}, 1), Code::kVersionConflict);
  ASSERT_CODE(migrate(admin, closed, 2, {}), Code::kTransitionNotAllowed);
  ASSERT_CODE(migrate(admin, "01NOSUCHINSTANCE0000000000", 2, {}), Code::kNotFound);
  EXPECT_EQ(h.snapshot(), before);

  auto moved = migrate(admin, id, 2, {{"in_progress", "leading"}});
  ASSERT_OK(moved);
  EXPECT_EQ(moved->body["workflow_version"], 2) << moved->body;
  EXPECT_EQ(moved->body["state"], "leading");
  auto events = h.engine().history(admin, id);
  ASSERT_OK(events);
  const engine::Event& last = events->back();
  EXPECT_EQ(last.type, "migrated");
  EXPECT_EQ(last.from, "in_progress");
  EXPECT_EQ(last.to, "leading");
  EXPECT_EQ(last.changes, (Json{{"workflow_version", 2}, {"previous_version", 1}}));
  EXPECT_EQ(last.comment, "按新版本办理");

  // The work goes on under version 2: its new field, its to-do list, its timers.
  ASSERT_OK(h.fire("zhang.min", id, "report_progress", {{"progress", "p"}, {"percent", 50}}));
  auto tasks = h.engine().tasks(h.user("zhang.min"), 50, "");
  ASSERT_OK(tasks);
  ASSERT_EQ(tasks->items.size(), 1u);
  EXPECT_EQ(tasks->items[0]["state"], "leading");
  auto verified = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump();
  h.reopen();
  auto view = h.engine().instance_view(admin, id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["workflow_version"], 2);
  h.advance(200 * kDayMs);  // past 2027-03-31: the overdue timer of "leading" fires
  view = h.engine().instance_view(admin, id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["overdue"], true) << *view;
  // Back to version 1: the reminder and the overdue mark that fired do not fire again.
  auto count_timer_events = [&] {
    auto all = h.engine().history(admin, id);
    EXPECT_TRUE(all.has_value());
    return all ? std::count_if(all->begin(), all->end(), [](const engine::Event& e) { return e.type == "reminded" || e.type == "overdue"; })
               : 0;
  };
  const auto fired_before = count_timer_events();
  EXPECT_EQ(fired_before, 2);
  ASSERT_OK(migrate(admin, id, 1, {{"leading", "in_progress"}}));
  h.advance(kDayMs);
  EXPECT_EQ(count_timer_events(), fired_before);
  // The dossier carries the versions its events were made under, and proves intact.
  auto dossier = engine::export_dossier(h.engine().store(), h.engine().roles(), id);
  ASSERT_OK(dossier);
  EXPECT_EQ((*dossier)["definition"]["version"], 1);
  ASSERT_EQ((*dossier)["earlier_definitions"].size(), 2u);
  EXPECT_EQ((*dossier)["earlier_definitions"][0]["version"], 1);
  EXPECT_EQ((*dossier)["earlier_definitions"][1]["version"], 2);
  EXPECT_TRUE((*dossier)["earlier_definitions"][1]["source"]["states"].contains("leading"));
  EXPECT_TRUE(engine::verify_dossier(*dossier).ok);
  auto against = engine::verify_dossier_against_store(*dossier, h.engine().store(), h.engine().roles());
  ASSERT_OK(against);
  EXPECT_TRUE(against->ok) << against->to_json().dump();
  // Offline, the list must be the versions the hash-chained migrated events name.
  Json dropped = *dossier;
  dropped.erase("earlier_definitions");
  EXPECT_FALSE(engine::verify_dossier(dropped).ok);
  Json swapped = *dossier;
  std::swap(swapped["earlier_definitions"][0], swapped["earlier_definitions"][1]);
  EXPECT_FALSE(engine::verify_dossier(swapped).ok);
  Json edited = *dossier;
  edited["earlier_definitions"][1]["source"]["title"]["zh"] = "篡改";
  against = engine::verify_dossier_against_store(edited, h.engine().store(), h.engine().roles());
  ASSERT_OK(against);
  EXPECT_FALSE(against->ok);
  verified = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump();
}

// An administrator of one department (admin@city/education: the CLI may grant it) acts within
// it: revokes the tokens of its people, moves its instances; definitions belong to the whole
// tree, and so do the other departments.
TEST(Engine, ADepartmentAdministratorActsWithinItsDepartmentOnly) {
  EngineHarness h;
  const engine::Principal system = engine::Principal::system_principal();
  ASSERT_OK(h.engine().execute(
      Command{engine::PutUser{"edu.admin", "教育局管理员", "city/education", {{"admin", "city/education"}}}, system, {}, {}}));
  const engine::Principal edu = h.user("edu.admin");
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  Json changed = (*def)->source;
  changed["title"]["zh"] = "一支一项（教育局改）";
  ASSERT_CODE(h.engine().execute(Command{engine::RegisterDefinition{changed}, edu, {}, {}}), Code::kForbidden);
  ASSERT_CODE(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, edu, {}, {}}), Code::kForbidden);  // finance
  ASSERT_CODE(h.engine().execute(Command{engine::RevokeTokens{"no.such.user"}, edu, {}, {}}), Code::kNotFound);
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"chen.jie"}, edu, {}, {}}));       // education
  // The administrator of the whole tree still does all of it.
  ASSERT_OK(h.engine().execute(Command{engine::RegisterDefinition{changed}, h.user("admin"), {}, {}}));
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, h.user("admin"), {}, {}}));
  // Migrating: another department's instance is not even visible to it.
  const std::string finance = new_project(h, "财政局的项目");
  ASSERT_CODE(h.engine().execute(Command{engine::MigrateInstance{finance, 2, {}, {}, {}}, edu, {}, {}}), Code::kNotFound);
  const std::string education = new_project(h, "教育局的项目", "city/education", "chen.jie");
  auto moved = h.engine().execute(Command{engine::MigrateInstance{education, 2, {}, {}, {}}, edu, {}, {}});
  ASSERT_CODE(moved, Code::kInvalidField);  // it was created on version 2: it may be seen and tried
}

TEST(Engine, RegisteringAChangedDefinitionMakesANewVersionAndInstancesKeepTheirs) {
  EngineHarness h;
  const std::string old_id = new_project(h, "老版本");
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  Json changed = (*def)->source;
  changed["states"]["draft"]["label"]["zh"] = "起草";
  const engine::Principal admin = h.user("admin");
  auto reg = h.engine().execute(Command{engine::RegisterDefinition{changed}, admin, {}, {}});
  ASSERT_OK(reg);
  EXPECT_EQ(reg->status, 201);
  EXPECT_EQ(reg->body["version"], 2);
  // The same content again is no new version.
  auto same = h.engine().execute(Command{engine::RegisterDefinition{changed}, admin, {}, {}});
  ASSERT_OK(same);
  EXPECT_EQ(same->body["version"], 2);
  EXPECT_EQ(same->body["registered"], false);
  ASSERT_CODE(h.engine().execute(Command{engine::RegisterDefinition{changed}, h.user("wang.wei"), {}, {}}),
              Code::kForbidden);
  Json broken = changed;
  broken["create"]["to"] = "nowhere";
  ASSERT_CODE(h.engine().execute(Command{engine::RegisterDefinition{broken}, admin, {}, {}}), Code::kInvalidDefinition);
  const std::string new_id = new_project(h, "新版本");
  auto old_view = h.engine().instance_view(admin, old_id);
  auto new_view = h.engine().instance_view(admin, new_id);
  ASSERT_OK(old_view);
  ASSERT_OK(new_view);
  EXPECT_EQ((*old_view)["workflow_version"], 1);
  EXPECT_EQ((*old_view)["state_label"]["zh"], "草拟");
  EXPECT_EQ((*new_view)["workflow_version"], 2);
  EXPECT_EQ((*new_view)["state_label"]["zh"], "起草");
  h.reopen();  // versions persist; the harness loads workflows/ again, as serve --workflows does
  auto after = h.engine().instance_view(admin, old_id);
  ASSERT_OK(after);
  EXPECT_EQ((*after)["state_label"]["zh"], "草拟");
  // The shipped file equals version 1: it does not come back as version 3 over the registered 2.
  auto latest = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(latest);
  EXPECT_EQ((*latest)->version, 2);
  const std::string newest_id = new_project(h, "重启之后");
  auto newest = h.engine().instance_view(admin, newest_id);
  ASSERT_OK(newest);
  EXPECT_EQ((*newest)["workflow_version"], 2);
}

TEST(Engine, TheSystemsUserIdIsReserved) {
  EngineHarness h;
  const engine::Principal system = engine::Principal::system_principal();
  auto r = h.engine().execute(Command{engine::PutUser{"system", "冒名", "city", {}}, system, {}, {}});
  ASSERT_CODE(r, Code::kInvalidField);
  EXPECT_NE(r.error().message.find("reserved"), std::string::npos) << r.error().message;
  ASSERT_CODE(h.engine().user("system"), Code::kNotFound);
}

TEST(Engine, TokensAuthenticateUntilRevoked) {
  EngineHarness h;
  const std::string token = new_token();
  const engine::Principal system = engine::Principal::system_principal();
  ASSERT_OK(h.engine().execute(Command{engine::IssueToken{"li.na", sha256_hex(token), 0}, system, {}, {}}));
  auto who = h.engine().authenticate(token);
  ASSERT_OK(who);
  EXPECT_EQ(who->id, "li.na");
  ASSERT_CODE(h.engine().authenticate(token + "x"), Code::kUnauthenticated);
  ASSERT_CODE(h.engine().authenticate(""), Code::kUnauthenticated);
  const std::string expiring = new_token();
  ASSERT_OK(h.engine().execute(
      Command{engine::IssueToken{"li.na", sha256_hex(expiring), h.clock().now_ms() + kDayMs}, system, {}, {}}));
  ASSERT_OK(h.engine().authenticate(expiring));
  h.clock().advance(kDayMs);
  ASSERT_CODE(h.engine().authenticate(expiring), Code::kUnauthenticated);
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, system, {}, {}}));
  ASSERT_CODE(h.engine().authenticate(token), Code::kUnauthenticated);
  h.reopen();
  ASSERT_CODE(h.engine().authenticate(token), Code::kUnauthenticated);
}

// A session's credential (the token's hash) is checked again for free only while nothing the
// answer depends on changed: any org, user or token change, or the token's expiry, sends it
// back to the directory.
TEST(Engine, ACredentialNeedsNoLookupUntilSomethingItDependsOnChanges) {
  EngineHarness h;
  const engine::Principal system = engine::Principal::system_principal();
  const std::string token = new_token();
  ASSERT_OK(h.engine().execute(
      Command{engine::IssueToken{"li.na", sha256_hex(token), h.clock().now_ms() + kDayMs}, system, {}, {}}));
  engine::Engine::Credential c = engine::Engine::credential(token);
  EXPECT_EQ(c.token_hash, sha256_hex(token));
  EXPECT_FALSE(h.engine().still_authenticated(c));  // never checked
  auto who = h.engine().authenticate(c);
  ASSERT_OK(who);
  EXPECT_EQ(who->id, "li.na");
  EXPECT_TRUE(h.engine().still_authenticated(c));

  // Another user's token: the directory changed, so the next check looks again (and passes).
  ASSERT_OK(h.engine().execute(Command{engine::IssueToken{"wang.wei", sha256_hex(new_token()), 0}, system, {}, {}}));
  EXPECT_FALSE(h.engine().still_authenticated(c));
  ASSERT_OK(h.engine().authenticate(c));
  EXPECT_TRUE(h.engine().still_authenticated(c));

  // The user's roles change: the new ones come back from the next check.
  auto before = h.engine().user("li.na");
  ASSERT_OK(before);
  ASSERT_OK(h.engine().execute(
      Command{engine::PutUser{"li.na", before->name, before->home_org, {{"party_group", "city"}}}, system, {}, {}}));
  EXPECT_FALSE(h.engine().still_authenticated(c));
  who = h.engine().authenticate(c);
  ASSERT_OK(who);
  ASSERT_EQ(who->roles.size(), 1u);
  EXPECT_EQ(who->roles[0].role, "party_group");

  // Expiry: nothing changed in the directory, but the clock passed the token's end.
  h.clock().advance(kDayMs - 1);
  EXPECT_TRUE(h.engine().still_authenticated(c));
  h.clock().advance(1);
  EXPECT_FALSE(h.engine().still_authenticated(c));
  ASSERT_CODE(h.engine().authenticate(c), Code::kUnauthenticated);
  EXPECT_FALSE(h.engine().still_authenticated(c));  // a failed check is never "still" good

  // Revocation of an unexpiring token.
  const std::string forever = new_token();
  ASSERT_OK(h.engine().execute(Command{engine::IssueToken{"li.na", sha256_hex(forever), 0}, system, {}, {}}));
  engine::Engine::Credential f = engine::Engine::credential(forever);
  ASSERT_OK(h.engine().authenticate(f));
  h.clock().advance(100 * kDayMs);
  EXPECT_TRUE(h.engine().still_authenticated(f));
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, system, {}, {}}));
  EXPECT_FALSE(h.engine().still_authenticated(f));
  ASSERT_CODE(h.engine().authenticate(f), Code::kUnauthenticated);
}

// The history endpoint serves the stored records as they are: each must be exactly the JSON the
// API gave when it parsed and wrote them again (event_json(e).dump()), for every kind of event
// (creation, transitions with field changes, an in-place urge with a comment, quotes and
// newlines in client text), and visibility is the same as history()'s.
TEST(Engine, HistoryTextIsTheStoredRecordAndTheApiJson) {
  EngineHarness h;
  const std::string id = new_project(h, "引号\"与\\反斜杠\n换行");
  ASSERT_OK(h.fire("wang.wei", id, "issue", {{"due_date", "2027-06-30"}}, "出题说明：\"重点\"\t任务"));
  ASSERT_OK(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}}));
  ASSERT_OK(h.fire("li.na", id, "urge", Json::object(), "请在本周内😀推进"));
  const engine::Principal admin = h.user("admin");
  auto events = h.engine().history(admin, id);
  ASSERT_OK(events);
  auto texts = h.engine().history_text(admin, id);
  ASSERT_OK(texts);
  ASSERT_EQ(texts->size(), events->size());
  ASSERT_GE(texts->size(), 4u);
  for (size_t i = 0; i < texts->size(); ++i) {
    EXPECT_EQ((*texts)[i], engine::event_json((*events)[i]).dump()) << i;
    EXPECT_EQ((*texts)[i], engine::encode_event((*events)[i])) << i;
  }
  // Someone who may not see the instance gets the same refusal from both.
  const engine::Principal other = h.user("chen.jie");
  auto refused = h.engine().history(other, id);
  auto refused_text = h.engine().history_text(other, id);
  ASSERT_FALSE(refused.has_value());
  ASSERT_FALSE(refused_text.has_value());
  EXPECT_EQ(refused.error().code, refused_text.error().code);
}

TEST(Engine, VerifyFindsAnEditedEvent) {
  EngineHarness h;
  const std::string id = new_project(h, "可信历史");
  ASSERT_OK(h.fire("wang.wei", id, "issue"));
  auto ok = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(ok);
  EXPECT_TRUE(ok->ok) << ok->to_json().dump(2);
  // Edit one byte of the second event's comment-free content: the chain must catch it.
  auto second = h.engine().store().get(engine::Space::kEvents, storage::u64_key(2));
  ASSERT_OK(second);
  ASSERT_TRUE(second->has_value());
  std::string edited = **second;
  auto pos = edited.find("wang.wei");
  ASSERT_NE(pos, std::string::npos);
  edited[pos] = 'W';
  storage::Batch b;
  b.put(engine::Space::kEvents, storage::u64_key(2), edited);
  ASSERT_OK(h.engine().store().commit(b));
  auto bad = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(bad);
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->first_bad_seq, 2u);
}

// verify_store keeps no per-key state (it must run on a million instances): each kind of
// damage is still found, and named.
TEST(Engine, VerifyFindsEachKindOfDamageToTheDerivedFamilies) {
  using engine::Space;
  struct Damage {
    const char* what;
    std::function<void(storage::Batch&, const std::string& a, const std::string& b, engine::Engine& e)> apply;
  };
  auto first_key = [](engine::Engine& e, storage::Space space) {
    auto c = e.store().scan_prefix(space, "");
    return c->valid() ? std::string(c->key()) : std::string();
  };
  const std::vector<Damage> damages = {
      {"missing or mistagged index entry",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine& e) {
         for (auto c = e.store().scan_prefix(Space::kIndexes, ""); c->valid(); c->next()) {
           if (engine::index::id_of(c->key()) == a) return b.single_del(Space::kIndexes, std::string(c->key()));
         }
       }},
      {"stray index entry",
       [](storage::Batch& b, const std::string&, const std::string&, engine::Engine&) {
         b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
       }},
      {"a timer is missing",
       [&](storage::Batch& b, const std::string&, const std::string&, engine::Engine& e) {
         b.single_del(Space::kTimers, first_key(e, Space::kTimers));
       }},
      {"stray timer",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine&) {
         b.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, a), "");
       }},
      {"history does not match the log",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine&) {
         b.del(Space::kInstanceEvents, engine::index::history_key(a, 2));
       }},
      {"a history entry points at another event",
       [](storage::Batch& b, const std::string& a, const std::string& other, engine::Engine& e) {
         auto seq = e.store().get(Space::kInstanceEvents, engine::index::history_key(other, 1));
         b.put(Space::kInstanceEvents, engine::index::history_key(a, 99), **seq);
       }},
      {"events of a missing instance",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine&) { b.del(Space::kInstances, a); }},
      {"a statistics counter is off",
       [&](storage::Batch& b, const std::string&, const std::string&, engine::Engine& e) {
         b.add(Space::kCounters, first_key(e, Space::kCounters), 2);
       }},
      {"a statistics counter is not a number",
       [&](storage::Batch& b, const std::string&, const std::string&, engine::Engine& e) {
         b.put(Space::kCounters, first_key(e, Space::kCounters), "not eight bytes");
       }},
  };
  for (const Damage& d : damages) {
    EngineHarness h;
    const std::string a = assigned_project(h, "受损的项目");
    const std::string other = new_project(h, "另一个项目");
    auto clean = engine::verify_store(h.engine().store(), h.engine().roles());
    ASSERT_OK(clean);
    ASSERT_TRUE(clean->ok) << clean->to_json().dump(2);
    storage::Batch b;
    d.apply(b, a, other, h.engine());
    ASSERT_OK(h.engine().store().commit(b));
    auto report = engine::verify_store(h.engine().store(), h.engine().roles());
    ASSERT_OK(report);
    EXPECT_FALSE(report->ok) << d.what;
    const std::string text = report->to_json().dump();
    EXPECT_NE(text.find(d.what), std::string::npos) << d.what << ": " << text;
  }
}

// Each kind of damage to the derived families — including the two that would break the writer's
// SingleDelete contract, a second put of a present entry and an entry deleted the old way with a
// plain Delete — is repaired by reindex_store; afterwards verify passes, the engine moves the
// instance on (single-deleting the repaired keys), and a full compaction succeeds.
TEST(Engine, ReindexRepairsEachKindOfDamageToTheDerivedFamilies) {
  using engine::Space;
  struct Damage {
    const char* what;
    std::function<void(storage::Batch&, const storage::Store&, const std::string& a)> apply;
    bool seen_by_verify = true;  // a second put of the same value is invisible to verify (reindex rewrites it anyway)
  };
  auto a_index_key = [](const storage::Store& store, const std::string& a, const char* kind) {
    for (auto c = store.scan_prefix(Space::kIndexes, storage::KeyBuilder().text(kind).prefix()); c->valid(); c->next()) {
      if (engine::index::id_of(c->key()) == a) return std::string(c->key());
    }
    return std::string();
  };
  auto a_timer_key = [](const storage::Store& store, const std::string& a) {
    for (auto c = store.scan_prefix(Space::kTimers, ""); c->valid(); c->next()) {
      if (auto t = engine::index::parse_timer_key(c->key()); t && t->id == a) return std::string(c->key());
    }
    return std::string();
  };
  const std::vector<Damage> damages = {
      {"missing index entry", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.single_del(Space::kIndexes, a_index_key(st, a, "s"));
       }},
      {"entry deleted with a plain Delete", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.repair_del(Space::kIndexes, a_index_key(st, a, "t"));
       }},
      {"entry put twice, the second time mistagged", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.put(Space::kIndexes, a_index_key(st, a, "s"), "x");
       }},
      {"an entry of the instance under a state it is not in", [](storage::Batch& b, const storage::Store&, const std::string& a) {
         b.put(Space::kIndexes,
               storage::KeyBuilder().text("s").text("yizhi-yixiang").text("completed").org("city/finance").text(a).build(), "o");
       }},
      {"stray index entry", [](storage::Batch& b, const storage::Store&, const std::string&) {
         b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
       }},
      {"missing timer", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.single_del(Space::kTimers, a_timer_key(st, a));
       }},
      {"timer put twice", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.put(Space::kTimers, a_timer_key(st, a), "");
       }, false},
      {"stray timer", [](storage::Batch& b, const storage::Store&, const std::string& a) {
         b.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, a), "");
       }},
      {"counter off", [](storage::Batch& b, const storage::Store& st, const std::string&) {
         auto c = st.scan_prefix(Space::kCounters, "");
         b.add(Space::kCounters, std::string(c->key()), 3);
       }},
      {"counter not a number", [](storage::Batch& b, const storage::Store& st, const std::string&) {
         auto c = st.scan_prefix(Space::kCounters, "");
         b.put(Space::kCounters, std::string(c->key()), "x");
       }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    EngineHarness h;
    const engine::RoleCatalog roles = h.engine().roles();
    const std::string a = assigned_project(h, "待修复的项目");
    h.close();
    {
      auto store = storage::Store::open(h.dir(), engine::store_layout());
      ASSERT_OK(store);
      storage::Batch b;
      d.apply(b, **store, a);
      ASSERT_OK((*store)->commit(b));
      auto damaged = engine::verify_store(**store, roles);
      ASSERT_OK(damaged);
      EXPECT_EQ(damaged->ok, !d.seen_by_verify);
      auto rebuilt = engine::reindex_store(**store, roles);
      ASSERT_OK(rebuilt);
      EXPECT_EQ(rebuilt->instances, 1u);
      EXPECT_EQ(rebuilt->unreadable_instances, 0u);
      auto repaired = engine::verify_store(**store, roles);
      ASSERT_OK(repaired);
      EXPECT_TRUE(repaired->ok) << repaired->to_json().dump(2);
      // One version per key and no deletion left in either family: what a later single_del
      // needs (a second put would come back after it, a Delete below it fails the compaction).
      // Reopened first, so that everything is in the tables.
      store->reset();
      store = storage::Store::open(h.dir(), engine::store_layout());
      ASSERT_OK(store);
      for (storage::Space space : {Space::kIndexes, Space::kTimers}) {
        uint64_t keys = 0;
        for (auto c = (*store)->scan_prefix(space, ""); c->valid(); c->next()) ++keys;
        auto tables = (*store)->property(space, "rocksdb.aggregated-table-properties");
        ASSERT_TRUE(tables.has_value());
        EXPECT_NE(tables->find("# entries=" + std::to_string(keys) + ";"), std::string::npos) << *tables;
        EXPECT_NE(tables->find("# deletions=0;"), std::string::npos) << *tables;
      }
      auto pending = (*store)->get(Space::kMeta, engine::kReindexPendingKey);
      ASSERT_OK(pending);
      EXPECT_FALSE(pending->has_value());
    }
    h.open();
    ASSERT_OK(h.fire("zhang.min", a, "claim"));  // leaves the state: its entries and timer single-deleted
    ASSERT_OK(h.engine().store().compact());
    auto after = engine::verify_store(h.engine().store(), roles);
    ASSERT_OK(after);
    EXPECT_TRUE(after->ok) << after->to_json().dump(2);
    auto page = h.engine().list_instances(h.user("li.na"), {}, 50, "");
    ASSERT_OK(page);
    ASSERT_EQ(page->items.size(), 1u);
    EXPECT_EQ(page->items[0]["state"], "in_progress");
  }
}

// A store that counts the instance records read one at a time (reindex reads one only for a
// key whose fingerprint is not among the implied keys').
class CountingStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<std::optional<std::string>> get(storage::Space s, std::string_view k) const override {
    if (s == engine::Space::kInstances) ++record_reads;
    return ForwardingStore::get(s, k);
  }
  mutable int record_reads = 0;
};

std::set<std::string> keys_of(const storage::Store& store, storage::Space space) {
  std::set<std::string> keys;
  for (auto c = store.scan_prefix(space, ""); c->valid(); c->next()) keys.insert(std::string(c->key()));
  return keys;
}

// Among many instances, reindex deletes exactly the strays — those of an instance that does not
// exist, those a readable record does not imply, keys naming no instance — keeps every implied
// key, reads a record only for a stray that names one (the implied keys are found by their
// fingerprints), and says what it is doing at each of its four steps.
TEST(Engine, ReindexDeletesExactlyTheStraysAmongManyInstances) {
  using engine::Space;
  EngineHarness h;
  const engine::RoleCatalog roles = h.engine().roles();
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    ids.push_back(new_project(h, "项目 " + std::to_string(i)));
    if (i % 3 == 0) ASSERT_OK(h.fire("wang.wei", ids.back(), "issue"));
    if (i % 6 == 0) {
      ASSERT_OK(h.fire("li.na", ids.back(), "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-03-31"}}));
    }
  }
  h.close();
  auto opened = storage::Store::open(h.dir(), engine::store_layout());
  ASSERT_OK(opened);
  CountingStore store(std::move(*opened));
  const std::set<std::string> index_before = keys_of(store, Space::kIndexes), timers_before = keys_of(store, Space::kTimers);
  ASSERT_FALSE(timers_before.empty());
  storage::Batch b;
  b.put(Space::kIndexes, storage::KeyBuilder().text("s").text("yizhi-yixiang").text("closed").org("city/finance").text(ids[7]).build(), "o");
  b.put(Space::kIndexes, storage::KeyBuilder().text("t").text("branch_secretary").org("city/finance/b1").text(ids[13]).build(), "");
  b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
  b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("").build(), "o");  // names no instance
  b.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, ids[6]), "");
  b.put(Space::kTimers, "x", "");  // not a timer key
  ASSERT_OK(store.commit(b, true));
  std::vector<std::string> lines;
  engine::ReindexOptions options;
  options.progress = [&](const std::string& line) { lines.push_back(line); };
  auto rebuilt = engine::reindex_store(store, roles, options);
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->instances, 30u);
  EXPECT_EQ(rebuilt->stray_index_entries, 4u);
  EXPECT_EQ(rebuilt->stray_timers, 2u);
  EXPECT_EQ(rebuilt->index_entries_written, 0u);
  EXPECT_EQ(rebuilt->timers_written, 0u);
  EXPECT_EQ(rebuilt->index_entries, index_before.size());
  EXPECT_EQ(rebuilt->timers, timers_before.size());
  EXPECT_EQ(store.record_reads, 4);  // the four strays that name an instance, nothing else
  EXPECT_EQ(keys_of(store, Space::kIndexes), index_before);
  EXPECT_EQ(keys_of(store, Space::kTimers), timers_before);
  auto verified = engine::verify_store(store, roles);
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump(2);
  ASSERT_GE(lines.size(), 4u);
  for (const char* step : {"reindex: 1/4 ", "reindex: 2/4 ", "reindex: 3/4 ", "reindex: 4/4 "}) {
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(step, 0) == 0; }), 1) << step;
  }
}

// Records reindex may not derive from — one that does not decode, one copied under another key —
// keep whatever they imply (the writer cannot touch those instances either), while strays are
// still deleted; verify names both records.
TEST(Engine, ReindexLeavesWhatUnreadableRecordsImplyAlone) {
  using engine::Space;
  EngineHarness h;
  const engine::RoleCatalog roles = h.engine().roles();
  const std::string a = assigned_project(h, "记录损坏");
  const std::string b = new_project(h, "被复制的记录");
  h.close();
  auto store = storage::Store::open(h.dir(), engine::store_layout());
  ASSERT_OK(store);
  const std::set<std::string> index_before = keys_of(**store, Space::kIndexes), timers_before = keys_of(**store, Space::kTimers);
  ASSERT_FALSE(timers_before.empty());
  auto b_record = (*store)->get(Space::kInstances, b);
  ASSERT_OK(b_record);
  ASSERT_TRUE(b_record->has_value());
  storage::Batch damage;
  damage.put(Space::kInstances, a, "garbage");
  damage.put(Space::kInstances, "01COPYOFANOTHERINSTANCE000", **b_record);
  damage.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
  ASSERT_OK((*store)->commit(damage));
  auto rebuilt = engine::reindex_store(**store, roles);
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->instances, 3u);
  EXPECT_EQ(rebuilt->unreadable_instances, 2u);
  EXPECT_EQ(rebuilt->stray_index_entries, 1u);
  EXPECT_EQ(rebuilt->stray_timers, 0u);
  EXPECT_EQ(keys_of(**store, Space::kIndexes), index_before);  // a's entries kept, the stray gone
  EXPECT_EQ(keys_of(**store, Space::kTimers), timers_before);
  auto verified = engine::verify_store(**store, roles);
  ASSERT_OK(verified);
  EXPECT_FALSE(verified->ok);
  const std::string report = verified->to_json().dump();
  EXPECT_NE(report.find("实例记录无法解析"), std::string::npos) << report;
  EXPECT_NE(report.find("a record's id differs from its key"), std::string::npos) << report;
}

// A record that lists one timer twice implies one key: counting it twice would let a stray
// timer hide behind the surplus, in verify and in reindex.
TEST(Engine, ATimerListedTwiceDoesNotHideAStray) {
  using engine::Space;
  EngineHarness h;
  const engine::RoleCatalog roles = h.engine().roles();
  const std::string a = assigned_project(h, "重复的定时器");
  h.close();
  auto store = storage::Store::open(h.dir(), engine::store_layout());
  ASSERT_OK(store);
  const std::set<std::string> timers_before = keys_of(**store, Space::kTimers);
  auto record = (*store)->get(Space::kInstances, a);
  ASSERT_OK(record);
  auto in = engine::decode_instance(**record);
  ASSERT_OK(in);
  ASSERT_FALSE(in->timers.empty());
  in->timers.push_back(in->timers.front());
  storage::Batch damage;
  damage.put(Space::kInstances, a, engine::encode_instance(*in));
  damage.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, "01NOSUCHINSTANCE0000000000"), "");
  ASSERT_OK((*store)->commit(damage));
  auto damaged = engine::verify_store(**store, roles);
  ASSERT_OK(damaged);
  const std::string report = damaged->to_json().dump();
  EXPECT_NE(report.find("a timer is listed twice"), std::string::npos) << report;
  EXPECT_NE(report.find("stray"), std::string::npos) << report;
  auto rebuilt = engine::reindex_store(**store, roles);
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->stray_timers, 1u);
  EXPECT_EQ(keys_of(**store, Space::kTimers), timers_before);
}

// A reindex that did not finish leaves its mark, and the engine will not serve such a database
// (its derived families may hold keys with two versions) until a run completes.
TEST(Engine, AnInterruptedReindexKeepsTheEngineFromOpening) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  engine::RoleCatalog roles;
  {
    EngineHarness h(dir);
    roles = h.engine().roles();
    new_project(h, "中断");
  }
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    storage::Batch b;
    b.put(engine::Space::kMeta, engine::kReindexPendingKey, "1");
    ASSERT_OK((*store)->commit(b));
  }
  engine::EngineOptions options;
  options.data_dir = dir;
  ASSERT_CODE(engine::Engine::open(options), Code::kCorruption);
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    ASSERT_OK(engine::reindex_store(**store, roles));
  }
  auto opened = engine::Engine::open(options);
  ASSERT_OK(opened);
}

}  // namespace
}  // namespace pioneer::testing

namespace pioneer::testing {
namespace {

TEST(Engine, Sm3IsSelectableForANewDatabaseAndStaysChosen) {
  TempDir tmp;
  engine::EngineOptions options;
  options.data_dir = tmp.path() + "/db";
  options.hash_algorithm = "sm3";
  {
    auto e = engine::Engine::open(options);
    ASSERT_OK(e);
    ASSERT_OK((*e)->execute(engine::Command{engine::PutOrg{{"city", "市委", "city", ""}},
                                            engine::Principal::system_principal(), {}, {}}));
    ASSERT_OK((*e)->execute(engine::Command{engine::PutOrg{{"city/finance", "市财政局", "department", ""}},
                                            engine::Principal::system_principal(), {}, {}}));
    ASSERT_OK((*e)->load_workflows_dir(source_path("workflows")));
    ASSERT_OK((*e)->execute(engine::Command{engine::PutUser{"p", "党组", "city/finance", {{"party_group", "city/finance"}}},
                                            engine::Principal::system_principal(), {}, {}}));
    auto who = (*e)->user("p");
    ASSERT_OK(who);
    ASSERT_OK((*e)->execute(engine::Command{
        engine::CreateInstance{"yizhi-yixiang", "city/finance", {{"title", "国密"}}, std::nullopt}, *who, {}, {}}));
  }
  options.hash_algorithm = "sha256";  // ignored: the database keeps the algorithm it was made with
  auto e = engine::Engine::open(options);
  ASSERT_OK(e);
  auto feed = (*e)->events_after(*(*e)->user("p"), 0, 10);
  ASSERT_OK(feed);
  ASSERT_EQ(feed->items.size(), 1u);
  const auto& event = feed->items[0];
  EXPECT_EQ(event.hash, *digest_hex("sm3", engine::event_hash_input(event)));
  EXPECT_NE(event.hash, sha256_hex(engine::event_hash_input(event)));
  auto report = engine::verify_store((*e)->store(), (*e)->roles());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump(2);
  options.data_dir = tmp.path() + "/other";
  options.hash_algorithm = "md5";
  ASSERT_CODE(engine::Engine::open(options), Code::kBadRequest);
}

}  // namespace
}  // namespace pioneer::testing

namespace pioneer::testing {
namespace {

// Readers fill the shared read cache while the writer changes the same instances: once the
// writes are done, every read must show the last committed version, never an older one that
// a reader fetched just before a commit.
TEST(Engine, ReadsNeverServeAStaleRecordAfterConcurrentWrites) {
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

TEST(Engine, AFailedCommitFailsWhatWasDecidedOnTopOfItAndNothingElse) {
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

TEST(Engine, AnIdempotencyKeyRepeatedWhileItsBatchCommitsIsAReplay) {
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
