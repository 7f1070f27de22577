// Reads on the engine over a real RocksDB store: lists and their pages, title search, the
// to-do list, the event feed, statistics and histories, each showing only what the caller may see.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "engine/core/admin_rules.h"
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
using engine::InstanceFilter;

std::set<std::string> ids(const std::vector<Json>& items) {
  std::set<std::string> out;
  for (const Json& j : items) out.insert(j["id"].get<std::string>());
  return out;
}

TEST(Reads, ListsPageThroughEveryVisibleInstanceOnce) {
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

TEST(Reads, TitleSearchFindsChineseSubstrings) {
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
TEST(Reads, TitleEntriesFollowATitleChangeAndAreReusedOtherwise) {
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
TEST(Reads, ListPagesLookAtBoundedEntriesAndPageOnToTheSameAnswer) {
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

TEST(Reads, TheToDoListFollowsTheWork) {
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
  EXPECT_TRUE(tasks("wang.wei").empty());  // may still withdraw, which is no to-do
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

// The to-do list listed every instance where the caller *may* act, in-place supervisory actions
// included: the inspection office and the working committee saw every open finding as a to-do,
// the organ committee every project in progress (urge is always possible). Now it holds what
// waits on the caller: a transition that moves the instance (an escape such as withdraw or cancel
// is marked "todo": false) or an in-place one marked "todo": true. For each demo user, through
// both mechanisms.
TEST(Reads, TheToDoListHoldsOnlyWhatWaitsOnTheCaller) {
  EngineHarness h;
  const std::vector<std::string> people = {"wang.wei", "li.na",   "zhang.min", "zheng.xin", "liu.yang",
                                           "chen.jie", "zhao.lei", "sun.li",   "zhou.hua",  "wu.gang", "admin"};
  auto tasks = [&](const std::string& who, const engine::TaskFilter& filter = {}) {
    auto r = h.engine().tasks(h.user(who), 50, "", engine::ViewForm::kJson, filter);
    EXPECT_TRUE(r.has_value());
    return r ? ids(r->items) : std::set<std::string>{};
  };
  // Exactly `waiting` have `id` in their to-do; everyone else has nothing.
  auto expect_waiting_on = [&](const std::string& id, const std::set<std::string>& waiting, const std::string& step) {
    for (const std::string& who : people) {
      EXPECT_EQ(tasks(who), waiting.count(who) ? std::set<std::string>{id} : std::set<std::string>{})
          << who << " at " << step;
    }
  };
  const std::string p = new_project(h, "待办语义");
  expect_waiting_on(p, {"wang.wei"}, "draft");
  ASSERT_OK(h.fire("wang.wei", p, "issue"));
  expect_waiting_on(p, {"li.na"}, "issued");  // wang.wei may withdraw: not a to-do
  ASSERT_OK(h.fire("li.na", p, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-01-01"}}));
  expect_waiting_on(p, {"zhang.min"}, "assigned");  // li.na may urge: not a to-do
  ASSERT_OK(h.fire("zhang.min", p, "claim"));
  expect_waiting_on(p, {"zhang.min"}, "in_progress");  // zheng.xin may report progress: not a to-do
  ASSERT_OK(h.fire("zhang.min", p, "apply_completion", {{"results", "r"}}));
  expect_waiting_on(p, {"li.na"}, "completion_review");
  ASSERT_OK(h.fire("li.na", p, "approve_completion"));
  expect_waiting_on(p, {"wang.wei"}, "evaluation");
  ASSERT_OK(h.fire("wang.wei", p, "evaluate", {{"rating", "good"}, {"brand", false}}));
  expect_waiting_on(p, {}, "closed");

  auto created = h.create("zhou.hua", "inspection-rectification", "city/finance",
                          {{"title", "问题"}, {"category", "organizational"}, {"description", "d"},
                           {"severity", "serious"}, {"due_date", "2027-03-31"}});
  ASSERT_OK(created);
  const std::string f = created->body["id"].get<std::string>();
  expect_waiting_on(f, {"wang.wei"}, "planning");  // zhou.hua may cancel or urge: not a to-do
  ASSERT_OK(h.fire("wang.wei", f, "submit_plan", {{"plan", "p"}, {"responsible", "王伟"}, {"plan_due", "2027-01-31"}}));
  expect_waiting_on(f, {"wu.gang"}, "plan_review");
  ASSERT_OK(h.fire("wu.gang", f, "approve_plan"));
  expect_waiting_on(f, {"wang.wei"}, "rectifying");  // the inspection office only supervises here
  // Overdue only: nothing yet; then past 2027-03-31 the finding is overdue.
  EXPECT_TRUE(tasks("wang.wei", {.overdue_only = true}).empty());
  h.advance(200 * kDayMs);
  EXPECT_EQ(tasks("wang.wei", {.overdue_only = true}), std::set<std::string>{f});
  ASSERT_OK(h.fire("wang.wei", f, "submit_rectification", {{"evidence", "e"}}));
  expect_waiting_on(f, {"zhou.hua", "wu.gang"}, "verification");
  // Filtered by workflow.
  EXPECT_EQ(tasks("wu.gang", {.workflow = "inspection-rectification"}), std::set<std::string>{f});
  EXPECT_TRUE(tasks("wu.gang", {.workflow = "yizhi-yixiang"}).empty());
}

// 我发起的: the instances the caller created, whatever state they are in.
TEST(Reads, InstancesCreatedByTheCaller) {
  EngineHarness h;
  const std::string mine = new_project(h, "我发起的");
  const std::string closed = new_project(h, "已结束");
  ASSERT_OK(h.fire("wang.wei", closed, "withdraw", {}, "撤回"));
  auto created = h.create("zhou.hua", "inspection-rectification", "city/finance",
                          {{"title", "问题"}, {"category", "organizational"}, {"description", "d"},
                           {"severity", "serious"}, {"due_date", "2027-03-31"}});
  ASSERT_OK(created);
  engine::InstanceFilter by_me;
  by_me.created_by = "wang.wei";
  auto page = h.engine().list_instances(h.user("wang.wei"), by_me, 50, "");
  ASSERT_OK(page);
  EXPECT_EQ(ids(page->items), (std::set<std::string>{mine, closed}));
  by_me.created_by = "zhou.hua";
  page = h.engine().list_instances(h.user("zhou.hua"), by_me, 50, "");
  ASSERT_OK(page);
  EXPECT_EQ(ids(page->items), std::set<std::string>{created->body["id"].get<std::string>()});
}

TEST(Reads, EventsAfterShowOnlyWhatTheCallerMaySee) {
  EngineHarness h;
  const std::string mine = new_project(h, "财政");
  const std::string theirs = new_project(h, "教育", "city/education", "chen.jie");
  auto feed = h.engine().events_after(h.user("wang.wei"), 0, 1000);
  ASSERT_OK(feed);
  ASSERT_FALSE(feed->items.empty());
  for (const auto& e : feed->items) EXPECT_EQ(e.instance_id, mine);
  EXPECT_EQ(feed->head, h.engine().head_seq());
  // The administrator sees both instances' events, and the directory's (the demo's orgs and people).
  auto instance_events = [&](uint64_t since) {
    auto page = h.engine().events_after(h.user("admin"), since, 1000);
    EXPECT_TRUE(page.has_value());
    std::vector<engine::Event> out;
    size_t directory = 0;
    for (const auto& e : page->items) {
      if (e.type == engine::kDirectoryEvent) ++directory; else out.push_back(e);
    }
    if (since == 0) EXPECT_GT(directory, 0u);
    return out;
  };
  const auto all = instance_events(0);
  ASSERT_EQ(all.size(), 2u);
  const auto after = instance_events(all[0].seq);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].instance_id, theirs);
}

// The feed is served two ways (engine::EventScan): from the histories of the few instances a
// caller may see, or by walking the log in bounded steps. Both must give exactly the events
// of the instances the caller may see now (an instance assigned into a branch brings its whole
// history), page after page, whatever the page size and the step.
TEST(Reads, EventsAfterIsTheSameFromHistoriesAndFromTheLog) {
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
      if (e.type == engine::kDirectoryEvent) {
        if (engine::may_see_directory_event(who, e)) expected.push_back(e.seq);
        continue;
      }
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

TEST(Reads, StatisticsCountOnlyWhatTheCallerMaySee) {
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
TEST(Reads, StatsReadAStateInTheNewestVersionThatHasIt) {
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

// The history endpoint serves the stored records as they are: each must be exactly the JSON the
// API gave when it parsed and wrote them again (event_json(e).dump()), for every kind of event
// (creation, transitions with field changes, an in-place urge with a comment, quotes and
// newlines in client text), and visibility is the same as history()'s.
TEST(Reads, HistoryTextIsTheStoredRecordAndTheApiJson) {
  EngineHarness h;
  const std::string id = new_project(h, "引号\"与\\反斜杠");
  ASSERT_OK(h.fire("wang.wei", id, "issue", {{"due_date", "2027-06-30"}}, "出题说明：\"重点\"\t任务\n第二行"));
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

}  // namespace
}  // namespace pioneer::testing
