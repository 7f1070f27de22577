// The three shipped workflows end to end through the engine, with the pinned demo users, a
// real RocksDB store and a manual clock.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/audit/verify.h"
#include "engine/core/indexer.h"
#include "engine/core/spaces.h"
#include "storage/store.h"
#include "tests/engine/test_support.h"

namespace pioneer::testing {
namespace {

using engine::Event;

std::string id_of(const Result<engine::Reply>& r) { return r->body["id"].get<std::string>(); }

// The API writes instance views as text without building a Json (engine::ViewForm::kText):
// for every demo user, the text must be exactly what the Json view dumps to, alone and in
// list pages (labels, actions, countersign progress, dates, title).
void expect_text_views_match(EngineHarness& h, const std::string& id) {
  for (const char* who : {"wang.wei", "li.na", "zhang.min", "zheng.xin", "zhou.hua", "wu.gang", "chen.jie"}) {
    const engine::Principal p = h.user(who);
    auto json = h.engine().instance_view(p, id);
    auto text = h.engine().instance_view_text(p, id);
    ASSERT_EQ(json.has_value(), text.has_value()) << who;
    if (!json) continue;
    EXPECT_EQ(*text, json->dump()) << who;
    auto page_json = h.engine().list_instances(p, {}, 50, "");
    auto page_text = h.engine().list_instances(p, {}, 50, "", engine::ViewForm::kText);
    ASSERT_OK(page_json);
    ASSERT_OK(page_text);
    ASSERT_EQ(page_json->items.size(), page_text->texts.size()) << who;
    for (size_t i = 0; i < page_json->items.size(); ++i) EXPECT_EQ(page_text->texts[i], page_json->items[i].dump()) << who;
    auto tasks_json = h.engine().tasks(p, 50, "");
    auto tasks_text = h.engine().tasks(p, 50, "", engine::ViewForm::kText);
    ASSERT_OK(tasks_json);
    ASSERT_OK(tasks_text);
    ASSERT_EQ(tasks_json->items.size(), tasks_text->texts.size()) << who;
  }
}

std::vector<std::string> types_of(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.push_back(e.type + (e.transition.empty() ? "" : ":" + e.transition));
  return out;
}

std::vector<Event> history(EngineHarness& h, const std::string& who, const std::string& id) {
  auto events = h.engine().history(h.user(who), id);
  EXPECT_TRUE(events.has_value());
  return events ? *events : std::vector<Event>{};
}

constexpr const char* kProject = "优化营商环境服务企业";

TEST(YizhiYixiang, FullLifecycleByTheDemoUsers) {
  EngineHarness h;
  auto created = h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "党建引领预算绩效改革"}});
  ASSERT_OK(created);
  EXPECT_EQ(created->status, 201);
  EXPECT_EQ(created->body["state"], "draft");
  EXPECT_EQ(created->body["state_label"]["zh"], "草拟");
  const std::string id = id_of(created);

  // issue needs goal and area: refused until given, naming both.
  auto missing = h.fire("wang.wei", id, "issue");
  ASSERT_CODE(missing, Code::kMissingFields);
  EXPECT_EQ(missing.error().details()["missing"], Json({"goal", "area"}));
  ASSERT_OK(h.fire("wang.wei", id, "issue", {{"goal", "预算执行率提升"}, {"area", "development"}}));

  ASSERT_OK(h.fire("li.na", id, "return_for_revision", {}, "目标请量化"));
  ASSERT_OK(h.fire("wang.wei", id, "issue", {{"goal", "预算执行率提升到95%"}}));
  auto assigned = h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-06-30"}});
  ASSERT_OK(assigned);
  EXPECT_EQ(assigned->body["assignee_org"], "city/finance/b1");
  EXPECT_EQ(assigned->body["due_at"], "2027-06-30T16:00:00Z");  // the end of that day in UTC+8

  ASSERT_OK(h.fire("zhang.min", id, "decline", {}, "本支部人手不足"));
  ASSERT_OK(h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-06-30"}}));
  ASSERT_OK(h.fire("li.na", id, "urge", {}, "请尽快认领"));
  ASSERT_OK(h.fire("zhang.min", id, "claim"));
  ASSERT_OK(h.fire("zheng.xin", id, "report_progress", {{"progress", "完成调研"}, {"percent", 30}}));
  ASSERT_OK(h.fire("zhang.min", id, "apply_completion", {{"results", "形成制度3项"}}));
  ASSERT_OK(h.fire("li.na", id, "send_back", {}, "请补充数据"));
  ASSERT_OK(h.fire("zhang.min", id, "apply_completion", {{"results", "形成制度3项，执行率97%"}}));
  ASSERT_OK(h.fire("li.na", id, "approve_completion"));
  expect_text_views_match(h, id);
  auto closed = h.fire("wang.wei", id, "evaluate", {{"rating", "excellent"}, {"brand", true}});
  ASSERT_OK(closed);
  EXPECT_EQ(closed->body["state"], "closed");
  EXPECT_EQ(closed->body["fields"]["rating"], "excellent");
  EXPECT_TRUE(closed->body["actions"].empty());
  EXPECT_FALSE(closed->body["closed_at"].is_null());
  expect_text_views_match(h, id);

  auto events = history(h, "wang.wei", id);
  EXPECT_EQ(types_of(events),
            (std::vector<std::string>{"created", "transitioned:issue", "transitioned:return_for_revision",
                                      "transitioned:issue", "transitioned:assign", "transitioned:decline",
                                      "transitioned:assign", "transitioned:urge", "transitioned:claim",
                                      "transitioned:report_progress", "transitioned:apply_completion",
                                      "transitioned:send_back", "transitioned:apply_completion",
                                      "transitioned:approve_completion", "transitioned:evaluate"}));
  EXPECT_EQ(closed->body["version"], static_cast<int64_t>(events.size()));
  EXPECT_EQ(events[0].from, std::nullopt);
  EXPECT_EQ(events[0].to, "draft");
  // Chained after the event before it in the log (the demo directory's, here).
  auto before_first = h.engine().events_after(engine::Principal::system_principal(), events[0].seq - 2, 1);
  ASSERT_OK(before_first);
  ASSERT_EQ(before_first->items.size(), 1u);
  EXPECT_EQ(events[0].prev_hash, before_first->items[0].hash);
  EXPECT_EQ(events[5].comment, "本支部人手不足");
  EXPECT_EQ(events[7].from, "assigned");  // urge is an action in place
  EXPECT_EQ(events[7].to, "assigned");
  // The assign event tells the branch secretary of b1.
  bool told = false;
  for (const auto& a : events[4].audience) told |= a.role == "branch_secretary" && a.org == "city/finance/b1";
  EXPECT_TRUE(told);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_EQ(events[i].prev_hash, events[i - 1].hash);
}

TEST(YizhiYixiang, WithdrawNeedsAComment) {
  EngineHarness h;
  auto created = h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "机关志愿服务"}});
  ASSERT_OK(created);
  auto refused = h.fire("wang.wei", id_of(created), "withdraw");
  ASSERT_CODE(refused, Code::kMissingFields);
  EXPECT_EQ(refused.error().details()["missing"], Json({"comment"}));
  auto done = h.fire("wang.wei", id_of(created), "withdraw", {}, "与年度重点重复");
  ASSERT_OK(done);
  EXPECT_EQ(done->body["state"], "withdrawn");
}

TEST(YizhiYixiang, TimersRemindOnceMarkOverdueAndSurviveRestart) {
  EngineHarness h;
  const std::string id = assigned_project(h, kProject, "2026-12-31");  // due 2026-12-31T16:00Z
  // Not claimed within 7 days: one reminder to the branch, telling the committee too.
  h.advance(7 * kDayMs + 1000);
  auto events = history(h, "li.na", id);
  ASSERT_EQ(events.back().type, "reminded");
  EXPECT_EQ(events.back().changes["timer"], "claim_reminder");
  EXPECT_EQ(events.back().actor_id, "system");
  const size_t after_reminder = events.size();
  h.advance(kDayMs);
  EXPECT_EQ(history(h, "li.na", id).size(), after_reminder) << "a reminder fires once";

  ASSERT_OK(h.fire("zhang.min", id, "claim"));
  // The due_soon reminder (7 days before the due date) and the overdue mark are armed; close
  // and reopen the store before they fall due: they must still fire, once each.
  h.reopen();
  h.clock().set(kStartMs + 28 * kDayMs);  // 2026-12-25: inside the last week
  h.advance(0);
  events = history(h, "li.na", id);
  EXPECT_EQ(events.back().type, "reminded");
  EXPECT_EQ(events.back().changes["timer"], "due_soon");
  h.reopen();
  h.clock().set(kStartMs + 36 * kDayMs);  // 2027-01-02: past the due date
  h.advance(0);
  events = history(h, "li.na", id);
  EXPECT_EQ(events.back().type, "overdue");
  auto view = h.engine().instance_view(h.user("li.na"), id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["overdue"], true);
  expect_text_views_match(h, id);
  const size_t total = events.size();
  h.reopen();
  h.advance(30 * kDayMs);
  EXPECT_EQ(history(h, "li.na", id).size(), total) << "no timer fires twice across restarts";

  // Overdue shows on lists and statistics.
  engine::InstanceFilter overdue;
  overdue.overdue_only = true;
  auto list = h.engine().list_instances(h.user("wang.wei"), overdue, 50, "");
  ASSERT_OK(list);
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0]["id"], id);
  auto stats = h.engine().stats(h.user("wang.wei"), "yizhi-yixiang", "org");
  ASSERT_OK(stats);
  ASSERT_EQ((*stats)["groups"].size(), 1u);
  EXPECT_EQ((*stats)["groups"][0]["key"], "city/finance");
  EXPECT_EQ((*stats)["groups"][0]["overdue"], 1);

  auto report = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump(2);
}

// A due date before 1970 is a valid date, long past: the project is overdue at once, as for any
// date in the past (a negative due time once sorted after every timer and never fell due).
TEST(YizhiYixiang, ADueDateBefore1970IsOverdueAtOnce) {
  EngineHarness h;
  for (const char* date : {"1969-12-31", "0001-01-01"}) {
    SCOPED_TRACE(date);
    const std::string id = assigned_project(h, kProject, date);
    h.advance(0);
    auto events = history(h, "li.na", id);
    EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const engine::Event& e) { return e.type == "overdue"; }));
    auto view = h.engine().instance_view(h.user("li.na"), id);
    ASSERT_OK(view);
    EXPECT_EQ((*view)["overdue"], true);
  }
  auto report = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump(2);
}

// The writer fires timers only when everything it decided is durable (engine/write/sequencer.cc):
// a steady stream of commands must not keep a due timer from firing.
TEST(YizhiYixiang, ATimerFiresWhileCommandsKeepArriving) {
  EngineHarness h;
  const std::string id = assigned_project(h, kProject);
  const std::string busy = assigned_project(h, kProject);
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread load([&] {
    while (!stop) {
      for (int i = 0; i < 32; ++i) {
        h.engine().submit(engine::Command{engine::AddComment{busy, "催办"}, h.user("li.na"), {}, {}},
                          [&](Result<engine::Reply>) { answered++; });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  while (answered < 200) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  h.clock().advance(7 * kDayMs + 1000);  // the claim reminder is due now
  h.engine().poke_timers();
  bool reminded = false;
  for (int i = 0; i < 500 && !reminded; ++i) {
    auto events = history(h, "li.na", id);
    reminded = !events.empty() && events.back().type == "reminded";
    if (!reminded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int during = answered;
  stop = true;
  load.join();
  h.engine().drain();
  EXPECT_TRUE(reminded) << "the reminder did not fire within 5 s under load";
  EXPECT_GT(during, 200);
  auto report = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump();
}

TEST(YizhiYixiang, LeavingAStateDisarmsItsTimers) {
  EngineHarness h;
  const std::string id = assigned_project(h, kProject, "2026-12-31");
  std::vector<engine::index::TimerKey> armed;
  for (auto c = h.engine().store().scan_prefix(engine::Space::kTimers, ""); c->valid(); c->next()) {
    if (auto t = engine::index::parse_timer_key(c->key()); t && t->id == id) armed.push_back(*t);
  }
  ASSERT_FALSE(armed.empty());
  ASSERT_OK(h.fire("zhang.min", id, "decline", {}, "人手不足"));  // back to issued: no timers there
  // A timer of a state that has been left (as when two timers of one instance fall due in one
  // batch and the first one's transition leaves the state) is dropped — a second deletion of its
  // key — and changes nothing else. Only the system fires timers.
  auto before = h.engine().instance_view(h.user("li.na"), id);
  ASSERT_OK(before);
  const engine::index::TimerKey& late = armed.front();
  auto stale = h.engine().execute(engine::Command{engine::FireTimer{id, late.name, late.due_ms},
                                                  engine::Principal::system_principal(), {}, {}});
  ASSERT_OK(stale);
  ASSERT_CODE(h.engine().execute(engine::Command{engine::FireTimer{id, late.name, late.due_ms}, h.user("li.na"), {}, {}}),
              Code::kForbidden);
  auto after = h.engine().instance_view(h.user("li.na"), id);
  ASSERT_OK(after);
  EXPECT_EQ((*after)["version"], (*before)["version"]);
  h.advance(60 * kDayMs);
  auto events = history(h, "li.na", id);
  EXPECT_EQ(events.back().transition, "decline");
  auto view = h.engine().instance_view(h.user("li.na"), id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["overdue"], false);
}

// An instance belongs to an org of the kind its workflow names (create.org_kind): a project or a
// finding to a department (a rating to a branch); elsewhere it is 422 invalid_field, for someone
// who may create there at all (who may not gets 403 first), and nothing is written.
TEST(Workflows, AnInstanceBelongsToAnOrgOfTheKindItsWorkflowNames) {
  EngineHarness h;
  const uint64_t head = h.engine().head_seq();
  auto at_branch = h.create("wang.wei", "yizhi-yixiang", "city/finance/b1", {{"title", "支部不能出题"}});
  ASSERT_CODE(at_branch, Code::kInvalidField);
  EXPECT_EQ(at_branch.error().details()["rule"], "org_kind");
  EXPECT_EQ(at_branch.error().details()["field"], "org");
  const Json finding = {{"title", "问题"}, {"category", "organizational"}, {"description", "d"}, {"severity", "serious"},
                        {"due_date", "2027-03-31"}};
  for (const char* org : {"city", "city/inspection", "city/finance/b2"}) {
    SCOPED_TRACE(org);
    ASSERT_CODE(h.create("zhou.hua", "inspection-rectification", org, finding), Code::kInvalidField);
  }
  ASSERT_CODE(h.create("zhang.min", "yizhi-yixiang", "city/finance/b1", {{"title", "无权"}}), Code::kForbidden);
  EXPECT_EQ(h.engine().head_seq(), head);
  ASSERT_OK(h.create("zhou.hua", "inspection-rectification", "city/finance", finding));
}

TEST(InspectionRectification, FullLifecycleWithJointVerification) {
  EngineHarness h;
  auto created = h.create("zhou.hua", "inspection-rectification", "city/finance",
                          {{"title", "三会一课落实不到位"}, {"category", "organizational"},
                           {"description", "部分支部组织生活记录不全"}, {"severity", "serious"},
                           {"due_date", "2027-03-31"}});
  ASSERT_OK(created);
  const std::string id = id_of(created);
  EXPECT_EQ(created->body["state"], "planning");

  ASSERT_OK(h.fire("wang.wei", id, "submit_plan",
                   {{"plan", "逐支部补课"}, {"responsible", "王伟"}, {"plan_due", "2027-01-31"}}));
  ASSERT_OK(h.fire("wu.gang", id, "reject_plan", {}, "方案需细化到支部"));
  ASSERT_OK(h.fire("wang.wei", id, "submit_plan", {{"plan", "逐支部补课，每月检查"}}));
  ASSERT_OK(h.fire("wu.gang", id, "approve_plan"));
  ASSERT_OK(h.fire("zhou.hua", id, "urge", {}, "请加快进度"));
  ASSERT_OK(h.fire("wang.wei", id, "report_progress", {{"progress", "已完成两个支部"}, {"percent", 50}}));
  ASSERT_OK(h.fire("wang.wei", id, "submit_rectification", {{"evidence", "会议记录扫描件"}}));

  // Joint verification: the first vote leaves the finding in verification.
  auto first = h.fire("zhou.hua", id, "verify_pass");
  ASSERT_OK(first);
  EXPECT_EQ(first->body["state"], "verification");
  EXPECT_EQ(first->body["pending_approvals"],
            Json::parse(R"([{"role":"inspection_office","approved_by":"zhou.hua"},{"role":"work_committee","approved_by":null}])"));
  expect_text_views_match(h, id);
  // The same voter cannot vote again.
  ASSERT_CODE(h.fire("zhou.hua", id, "verify_pass"), Code::kForbidden);
  // A failure clears the votes; both must approve again.
  ASSERT_OK(h.fire("wu.gang", id, "verify_fail", {}, "佐证不足"));
  ASSERT_OK(h.fire("wang.wei", id, "submit_rectification", {{"evidence", "补充会议记录"}}));
  auto again = h.fire("wu.gang", id, "verify_pass");
  ASSERT_OK(again);
  EXPECT_EQ(again->body["pending_approvals"][0]["approved_by"], nullptr);
  auto last = h.fire("zhou.hua", id, "verify_pass", {}, "同意销号");
  ASSERT_OK(last);
  EXPECT_EQ(last->body["state"], "closed");
  EXPECT_FALSE(last->body.contains("pending_approvals"));

  auto events = history(h, "zhou.hua", id);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[events.size() - 3].type, "approved");
  EXPECT_EQ(events[events.size() - 2].type, "approved");
  EXPECT_EQ(events[events.size() - 2].changes["approval"], "inspection_office");
  EXPECT_EQ(events.back().type, "transitioned");
  EXPECT_EQ(events.back().transition, "verify_pass");
  EXPECT_EQ(events.back().to, "closed");

  auto stats = h.engine().stats(h.user("wu.gang"), "inspection-rectification", "state");
  ASSERT_OK(stats);
  ASSERT_EQ((*stats)["groups"].size(), 1u);
  EXPECT_EQ((*stats)["groups"][0]["closed_on_time"], 1);
}

TEST(InspectionRectification, OneUserHoldingBothPartiesCannotCloseAlone) {
  EngineHarness h;
  // A user who holds both countersign roles.
  ASSERT_OK(h.engine().execute(engine::Command{
      engine::PutUser{"both.roles", "兼职人员", "city",
                      {{"inspection_office", "city"}, {"work_committee", "city"}}},
      engine::Principal::system_principal(), {}, {}}));
  auto created = h.create("zhou.hua", "inspection-rectification", "city/education",
                          {{"title", "意识形态责任制落实不够"}, {"category", "ideological"}, {"description", "…"},
                           {"severity", "general"}, {"due_date", "2027-02-28"}});
  ASSERT_OK(created);
  const std::string id = id_of(created);
  ASSERT_OK(h.fire("chen.jie", id, "submit_plan", {{"plan", "p"}, {"responsible", "陈杰"}, {"plan_due", "2027-01-15"}}));
  ASSERT_OK(h.fire("both.roles", id, "approve_plan"));
  ASSERT_OK(h.fire("chen.jie", id, "submit_rectification", {{"evidence", "e"}}));
  ASSERT_OK(h.fire("both.roles", id, "verify_pass"));
  ASSERT_CODE(h.fire("both.roles", id, "verify_pass"), Code::kForbidden);
  auto view = h.engine().instance_view(h.user("wu.gang"), id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["state"], "verification");
}

TEST(InspectionRectification, PlanReminderAfterFifteenDays) {
  EngineHarness h;
  auto created = h.create("zhou.hua", "inspection-rectification", "city/finance",
                          {{"title", "t"}, {"category", "style"}, {"description", "d"}, {"severity", "grave"},
                           {"due_date", "2027-03-31"}});
  ASSERT_OK(created);
  h.advance(15 * kDayMs);
  auto events = history(h, "wang.wei", id_of(created));
  ASSERT_EQ(events.back().type, "reminded");
  EXPECT_EQ(events.back().changes["timer"], "plan_due");
}

TEST(StarBranchRating, PublicNoticeEndsByItselfUnlessObjected) {
  EngineHarness h;
  auto created = h.create("zhang.min", "star-branch-rating", "city/finance/b1",
                          {{"title", "第一党支部2026年度星级评定"}, {"year", 2026}});
  ASSERT_OK(created);
  const std::string id = id_of(created);
  ASSERT_OK(h.fire("zhang.min", id, "submit", {{"self_assessment", "七个一标准化建设全部达标"}}));
  ASSERT_OK(h.fire("li.na", id, "score", {{"stars", 5}}));
  ASSERT_OK(h.fire("wu.gang", id, "approve"));
  // An objection during the notice period sends it back to review and stops the clock.
  h.advance(2 * kDayMs);
  ASSERT_OK(h.fire("li.na", id, "object", {}, "群众反映材料有出入"));
  h.advance(10 * kDayMs);
  auto view = h.engine().instance_view(h.user("wu.gang"), id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["state"], "review");
  // Approved again: five days later the rating takes effect by itself.
  ASSERT_OK(h.fire("wu.gang", id, "approve"));
  h.advance(5 * kDayMs - 1000);
  EXPECT_EQ((*h.engine().instance_view(h.user("wu.gang"), id))["state"], "publicity");
  h.advance(1000);
  view = h.engine().instance_view(h.user("wu.gang"), id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["state"], "rated");
  auto events = history(h, "zhang.min", id);
  EXPECT_EQ(events.back().type, "timer");
  EXPECT_EQ(events.back().transition, "conclude");
  EXPECT_EQ(events.back().actor_id, "system");
  // Nobody can fire the timer's transition by hand.
  for (const auto& a : (*view)["actions"]) EXPECT_NE(a["transition"], "conclude");
}

TEST(StarBranchRating, ManyNoticePeriodsEndingTogetherEachEndOnce) {
  EngineHarness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    auto created = h.create(i % 2 ? "zhang.min" : "liu.yang", "star-branch-rating",
                            i % 2 ? "city/finance/b1" : "city/finance/b2",
                            {{"title", "评定" + std::to_string(i)}, {"year", 2026}, {"self_assessment", "s"}});
    ASSERT_OK(created);
    const std::string id = id_of(created);
    ASSERT_OK(h.fire(i % 2 ? "zhang.min" : "liu.yang", id, "submit"));
    ASSERT_OK(h.fire("li.na", id, "score", {{"stars", 1 + i % 5}}));
    ASSERT_OK(h.fire("wu.gang", id, "approve"));
    ids.push_back(id);
    if (i == 19) h.advance(kDayMs);  // two waves, a day apart
  }
  h.advance(4 * kDayMs);
  size_t rated = 0;
  for (const std::string& id : ids) rated += (*h.engine().instance_view(h.user("wu.gang"), id))["state"] == "rated";
  EXPECT_EQ(rated, 20u) << "the first wave ends after five days, the second is still on notice";
  h.reopen();
  h.advance(kDayMs);
  for (const std::string& id : ids) {
    auto events = history(h, "wu.gang", id);
    EXPECT_EQ(std::count_if(events.begin(), events.end(), [](const Event& e) { return e.type == "timer"; }), 1) << id;
  }
  auto report = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump(2);
}

}  // namespace
}  // namespace pioneer::testing
