// End-to-end tests of the HTTP API (docs/api.md): the real `pioneer serve` binary on a loopback
// port with the demo data, spoken to over real HTTP/1.1. Each test starts its own server on
// its own fresh data folder.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <filesystem>

#include "common/crypto.h"
#include "tests/api/test_client.h"

namespace pioneer::test {
namespace {

constexpr const char* kYizhi = "yizhi-yixiang";
constexpr const char* kInspection = "inspection-rectification";

bool has_action(const Json& instance, const std::string& transition) {
  for (const auto& a : instance.value("actions", Json::array())) {
    if (a.value("transition", "") == transition) return true;
  }
  return false;
}

std::set<std::string> ids_of(const Json& items) {
  std::set<std::string> out;
  for (const auto& i : items) out.insert(i.value("id", ""));
  return out;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>();
    ASSERT_TRUE(server_->started()) << server_->log();
    ASSERT_FALSE(server_->token("wang.wei").empty()) << "demo-tokens.json not written";
    api_ = std::make_unique<Api>(*server_);
  }
  void TearDown() override {
    if (server_ && server_->started()) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
  }

  // A yizhi-yixiang project of city/finance created by wang.wei; returns its id.
  std::string create_project(const std::string& title) {
    auto r = api_->post("wang.wei", "/api/v1/instances",
                        {{"workflow", kYizhi}, {"org", "city/finance"},
                         {"fields", {{"title", title}, {"goal", "目标"}, {"area", "service"}}}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }
  // Created, issued and assigned to `branch`.
  std::string assigned_project(const std::string& title, const std::string& branch) {
    std::string id = create_project(title);
    EXPECT_EQ(api_->fire("wang.wei", id, "issue").status, 200);
    auto r = api_->fire("li.na", id, "assign", {{"branch", branch}, {"due_date", "2099-12-31"}});
    EXPECT_EQ(r.status, 200) << r.body;
    return id;
  }
  // Expects status and (when given) error code; returns the JSON body.
  Json expect(const HttpResult& r, int status, const std::string& code = "") {
    EXPECT_EQ(r.status, status) << r.body;
    if (!code.empty()) {
      EXPECT_EQ(error_code(r), code) << r.body;
    }
    if (r.status >= 400) {
      EXPECT_EQ(r.header("content-type"), "application/json");
      Json j = r.json();
      EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].contains("message") &&
                  j["error"].contains("details"))
          << r.body;
    }
    return r.json();
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, PublicEndpointsNeedNoToken) {
  Json health = expect(api_->get("", "/healthz"), 200);
  EXPECT_EQ(health["status"], "ok");
  EXPECT_TRUE(health["head"].is_number_unsigned());

  auto doc = api_->get("", "/api/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  Json spec = doc.json();
  ASSERT_TRUE(spec.is_object()) << "openapi.json is not JSON";
  EXPECT_TRUE(spec.value("openapi", "").starts_with("3."));
  for (const char* path : {"/healthz", "/metrics", "/api/v1/me", "/api/v1/orgs", "/api/v1/workflows",
                           "/api/v1/workflows/{id}", "/api/v1/workflows/{id}/graph", "/api/v1/instances",
                           "/api/v1/instances/{id}", "/api/v1/instances/{id}/transitions",
                           "/api/v1/instances/{id}/comments", "/api/v1/instances/{id}/events",
                           "/api/v1/tasks", "/api/v1/events", "/api/v1/stats", "/api/v1/stream"}) {
    EXPECT_TRUE(spec["paths"].contains(path)) << "openapi.json lacks " << path;
  }

  api_->get("wang.wei", "/api/v1/me");
  auto metrics = api_->get("", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_TRUE(metrics.header("content-type").starts_with("text/plain"));
  EXPECT_NE(metrics.body.find("pioneer_http_requests_total{route=\"/api/v1/me\",status=\"200\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("pioneer_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find("pioneer_engine_queue_depth"), std::string::npos);
  EXPECT_NE(metrics.body.find("pioneer_engine_batch_size_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find("pioneer_stream_sessions"), std::string::npos);
}

// The demo tokens are live credentials (the admin's among them): the file is owner-only, as the
// comment beside the code that writes it says.
TEST_F(ApiTest, DemoTokensFileIsReadableByItsOwnerOnly) {
  namespace fs = std::filesystem;
  const fs::perms p = fs::status(server_->data_dir() + "/demo-tokens.json").permissions();
  EXPECT_EQ(p & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  EXPECT_NE(p & fs::perms::owner_read, fs::perms::none);
}

TEST_F(ApiTest, AuthenticationAndMe) {
  expect(api_->get("", "/api/v1/me"), 401, "unauthenticated");
  expect(http(server_->port(), "GET", "/api/v1/me", "pio_not_a_real_token"), 401, "unauthenticated");
  expect(http(server_->port(), "GET", "/api/v1/instances", "", "", {{"Authorization", "Basic abc"}}), 401,
         "unauthenticated");
  Json me = expect(api_->get("zhou.hua", "/api/v1/me"), 200);
  EXPECT_EQ(me["id"], "zhou.hua");
  EXPECT_EQ(me["name"], "周华");
  EXPECT_EQ(me["home_org"], "city/inspection");
  EXPECT_EQ(me["roles"], Json::parse(R"([{"role":"inspection_office","org":"city"}])"));
  // The access log is written in the background, every 100 ms; the token never reaches it.
  for (int i = 0; i < 100 && server_->log().find("\"route\":\"/api/v1/me\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(server_->log().find("\"route\":\"/api/v1/me\""), std::string::npos);
  EXPECT_EQ(server_->log().find(server_->token("zhou.hua")), std::string::npos);
}

TEST_F(ApiTest, UnknownRoutesAndMethods) {
  expect(api_->get("wang.wei", "/api/v1/nothing"), 404, "not_found");
  expect(api_->get("", "/api/nowhere"), 404, "not_found");
  EXPECT_EQ(api_->get("", "/nowhere").status, 200);  // outside /api/: the console's page
  auto r = http(server_->port(), "DELETE", "/api/v1/instances", server_->token("wang.wei"));
  expect(r, 405, "bad_request");
  EXPECT_EQ(r.header("allow"), "GET, POST");
  expect(api_->get("wang.wei", "/api/v1/instances/no-such-id"), 404, "not_found");
  expect(api_->get("wang.wei", "/api/v1/stream"), 400, "bad_request");  // no upgrade
}

TEST_F(ApiTest, YizhiYixiangThroughEveryTransition) {
  auto created = api_->post("wang.wei", "/api/v1/instances",
                            {{"workflow", kYizhi}, {"org", "city/finance"},
                             {"fields", {{"title", "党建+财政服务"}}}, {"comment", "起草"}});
  Json inst = expect(created, 201);
  EXPECT_EQ(created.header("content-type"), "application/json");
  std::string id = inst["id"];
  EXPECT_EQ(inst["state"], "draft");
  EXPECT_EQ(inst["version"], 1);
  EXPECT_EQ(inst["state_label"]["zh"], "草拟");
  EXPECT_EQ(inst["created_by"], "wang.wei");
  EXPECT_TRUE(has_action(inst, "issue"));

  // issue needs goal and area.
  Json missing = expect(api_->fire("wang.wei", id, "issue"), 422, "missing_fields");
  auto list = missing["error"]["details"]["missing"];
  EXPECT_NE(std::find(list.begin(), list.end(), "goal"), list.end()) << missing;
  EXPECT_NE(std::find(list.begin(), list.end(), "area"), list.end()) << missing;

  auto step = [&](const std::string& user, const std::string& t, const Json& fields,
                  const std::string& comment, const std::string& to) {
    Json out = expect(api_->fire(user, id, t, fields, comment), 200);
    EXPECT_EQ(out.value("state", ""), to) << user << " " << t << ": " << out;
    return out;
  };
  step("wang.wei", "issue", {{"goal", "提升服务"}, {"area", "service"}}, "", "issued");
  Json no_comment = expect(api_->fire("li.na", id, "return_for_revision"), 422, "missing_fields");
  EXPECT_EQ(no_comment["error"]["details"]["missing"], Json::array({"comment"}));
  // A comment left out of POST .../comments is the same error, absent, null or empty.
  for (const Json& body : {Json::object(), Json{{"comment", nullptr}}, Json{{"comment", ""}}}) {
    Json refused = expect(api_->post("li.na", "/api/v1/instances/" + id + "/comments", body), 422, "missing_fields");
    EXPECT_EQ(refused["error"]["details"]["missing"], Json::array({"comment"})) << body;
  }
  step("li.na", "return_for_revision", {}, "目标再具体些", "draft");
  step("wang.wei", "issue", {}, "", "issued");
  Json assigned = step("li.na", "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}}, "", "assigned");
  EXPECT_EQ(assigned["assignee_org"], "city/finance/b1");
  EXPECT_EQ(assigned["fields"]["due_date"], "2099-12-31");

  Json seen_by_b1 = expect(api_->get("zhang.min", "/api/v1/instances/" + id), 200);
  EXPECT_TRUE(has_action(seen_by_b1, "claim"));
  EXPECT_TRUE(has_action(seen_by_b1, "decline"));
  EXPECT_FALSE(has_action(seen_by_b1, "assign"));
  expect(api_->get("liu.yang", "/api/v1/instances/" + id), 404, "not_found");

  step("zhang.min", "decline", {}, "人手不足", "issued");
  step("li.na", "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}}, "", "assigned");
  step("li.na", "urge", {}, "请尽快认领", "assigned");
  step("zhang.min", "claim", {}, "", "in_progress");
  Json progress = step("zhang.min", "report_progress", {{"progress", "已完成调研"}, {"percent", 40}}, "", "in_progress");
  EXPECT_EQ(progress["fields"]["percent"], 40);
  step("zheng.xin", "report_progress", {{"progress", "过半"}, {"percent", 60}}, "", "in_progress");
  step("li.na", "urge", {}, "加快进度", "in_progress");
  step("zhang.min", "apply_completion", {{"results", "形成服务品牌"}}, "", "completion_review");
  step("li.na", "send_back", {}, "补充材料", "in_progress");
  step("zhang.min", "apply_completion", {}, "", "completion_review");
  step("li.na", "approve_completion", {}, "", "evaluation");
  Json closed = step("wang.wei", "evaluate", {{"rating", "excellent"}, {"brand", true}}, "", "closed");
  EXPECT_EQ(closed["state_label"]["zh"], "已结项");
  EXPECT_TRUE(closed["actions"].empty()) << closed;

  // History: every step is an event, oldest first, hash-chained.
  Json events = expect(api_->get("zhang.min", "/api/v1/instances/" + id + "/events"), 200);
  ASSERT_TRUE(events["items"].is_array());
  const Json& items = events["items"];
  ASSERT_EQ(items.size(), closed["version"].get<size_t>());
  EXPECT_EQ(items[0]["type"], "created");
  EXPECT_TRUE(items[0]["from"].is_null());
  EXPECT_EQ(items[0]["to"], "draft");
  // Chained to the event before it in the log: the directory's (the demo's people) come first.
  Json before = expect(api_->get("admin", "/api/v1/events?since=" + std::to_string(items[0]["seq"].get<uint64_t>() - 2) +
                                              "&limit=1"), 200);
  ASSERT_EQ(before["items"].size(), 1u);
  EXPECT_EQ(before["items"][0]["type"], "directory");
  EXPECT_EQ(items[0]["prev_hash"], before["items"][0]["hash"]);
  for (size_t i = 1; i < items.size(); ++i) {
    EXPECT_EQ(items[i]["prev_hash"].get<std::string>().size(), 64u);
    EXPECT_GT(items[i]["seq"].get<uint64_t>(), items[i - 1]["seq"].get<uint64_t>());
  }
  EXPECT_EQ(items.back()["transition"], "evaluate");
  EXPECT_EQ(items.back()["actor"]["id"], "wang.wei");

  // withdraw, on another project.
  std::string other = create_project("撤销的项目");
  expect(api_->fire("wang.wei", other, "withdraw"), 422, "missing_fields");
  EXPECT_EQ(expect(api_->fire("wang.wei", other, "withdraw", {}, "不再需要"), 200)["state"], "withdrawn");
}

TEST_F(ApiTest, InspectionRectificationWithCountersign) {
  Json fields{{"title", "组织生活不规范"}, {"category", "organizational"}, {"description", "三会一课记录缺失"},
              {"severity", "serious"}, {"due_date", "2099-06-30"}};
  // Only the inspection office creates findings.
  expect(api_->post("wang.wei", "/api/v1/instances", {{"workflow", kInspection}, {"org", "city/finance"}, {"fields", fields}}),
         403, "forbidden");
  Json inst = expect(api_->post("zhou.hua", "/api/v1/instances",
                                {{"workflow", kInspection}, {"org", "city/finance"}, {"fields", fields}}),
                     201);
  std::string id = inst["id"];
  EXPECT_EQ(inst["state"], "planning");

  auto step = [&](const std::string& user, const std::string& t, const Json& f, const std::string& comment,
                  const std::string& to) {
    Json out = expect(api_->fire(user, id, t, f, comment), 200);
    EXPECT_EQ(out.value("state", ""), to) << user << " " << t << ": " << out;
    return out;
  };
  Json plan{{"plan", "建立台账"}, {"responsible", "王伟"}, {"plan_due", "2099-01-31"}};
  step("wang.wei", "submit_plan", plan, "", "plan_review");
  step("wu.gang", "reject_plan", {}, "方案不具体", "planning");
  step("zhou.hua", "urge", {}, "请抓紧", "planning");
  step("wang.wei", "submit_plan", {}, "", "plan_review");
  step("wu.gang", "approve_plan", {}, "", "rectifying");
  step("wang.wei", "report_progress", {{"progress", "已整改一半"}, {"percent", 50}}, "", "rectifying");
  step("wu.gang", "urge", {}, "注意时限", "rectifying");
  step("wang.wei", "submit_rectification", {{"evidence", "会议记录"}}, "", "verification");
  step("zhou.hua", "verify_fail", {}, "佐证不足", "rectifying");
  step("wang.wei", "submit_rectification", {{"evidence", "补充后的会议记录"}}, "", "verification");

  // Countersign: the first vote answers 200 with the instance still in verification.
  Json first = step("zhou.hua", "verify_pass", {}, "", "verification");
  ASSERT_TRUE(first.contains("pending_approvals")) << first;
  bool office_voted = false, committee_pending = false;
  for (const auto& p : first["pending_approvals"]) {
    if (p["role"] == "inspection_office") office_voted = p["approved_by"] == "zhou.hua";
    if (p["role"] == "work_committee") committee_pending = p["approved_by"].is_null();
  }
  EXPECT_TRUE(office_voted) << first;
  EXPECT_TRUE(committee_pending) << first;
  // The party group cannot vote.
  expect(api_->fire("wang.wei", id, "verify_pass"), 403, "forbidden");
  Json closed = step("wu.gang", "verify_pass", {}, "", "closed");
  EXPECT_EQ(closed["state_label"]["zh"], "已销号");
  // A closed finding takes no more comments (they were accepted and bumped its version).
  expect(api_->post("zhou.hua", "/api/v1/instances/" + id + "/comments", {{"comment", "补充"}}), 409,
         "transition_not_allowed");
  EXPECT_EQ(expect(api_->get("zhou.hua", "/api/v1/instances/" + id), 200)["version"], closed["version"]);

  Json events = expect(api_->get("wu.gang", "/api/v1/instances/" + id + "/events"), 200);
  const Json& items = events["items"];
  ASSERT_GE(items.size(), 3u);
  EXPECT_EQ(items[items.size() - 3]["type"], "approved");
  EXPECT_EQ(items[items.size() - 2]["type"], "approved");
  EXPECT_EQ(items.back()["type"], "transitioned");
  EXPECT_EQ(items.back()["to"], "closed");

  // cancel, on another finding.
  Json second = expect(api_->post("zhou.hua", "/api/v1/instances",
                                  {{"workflow", kInspection}, {"org", "city/education"}, {"fields", fields}}),
                       201);
  expect(api_->fire("wu.gang", second["id"], "cancel", {}, "误报"), 403, "forbidden");
  EXPECT_EQ(expect(api_->fire("zhou.hua", second["id"], "cancel", {}, "误报"), 200)["state"], "cancelled");
}

// The to-do list over HTTP: only what waits on the caller, narrowed by workflow and overdue;
// 我发起的 through created_by=me.
TEST_F(ApiTest, ToDoListHoldsWhatWaitsOnTheCallerAndCreatedByMe) {
  std::string id = create_project("待办过滤");
  auto ids_at = [&](const std::string& user, const std::string& target) {
    return ids_of(expect(api_->get(user, target), 200)["items"]);
  };
  EXPECT_EQ(ids_at("wang.wei", "/api/v1/tasks"), std::set<std::string>{id});
  EXPECT_EQ(ids_at("wang.wei", "/api/v1/tasks?workflow=yizhi-yixiang"), std::set<std::string>{id});
  EXPECT_TRUE(ids_at("wang.wei", "/api/v1/tasks?workflow=inspection-rectification").empty());
  EXPECT_TRUE(ids_at("wang.wei", "/api/v1/tasks?overdue=true").empty());
  expect(api_->get("wang.wei", "/api/v1/tasks?overdue=maybe"), 400, "bad_request");
  expect(api_->fire("wang.wei", id, "issue"), 200);
  EXPECT_TRUE(ids_at("wang.wei", "/api/v1/tasks").empty());  // withdrawing is no to-do
  expect(api_->fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}}), 200);
  EXPECT_TRUE(ids_at("li.na", "/api/v1/tasks").empty());  // urging is no to-do
  EXPECT_EQ(ids_at("zhang.min", "/api/v1/tasks"), std::set<std::string>{id});
  // The inspection office's to-do holds no project and no finding waiting on others.
  EXPECT_TRUE(ids_at("zhou.hua", "/api/v1/tasks").empty());
  EXPECT_EQ(ids_at("wang.wei", "/api/v1/instances?created_by=me"), std::set<std::string>{id});
  EXPECT_TRUE(ids_at("li.na", "/api/v1/instances?created_by=me").empty());
  expect(api_->get("li.na", "/api/v1/instances?created_by=wang.wei"), 400, "bad_request");
}

TEST_F(ApiTest, TransitionRefusalsInApiOrder) {
  std::string id = create_project("拒绝测试");
  // Another department cannot see it: 404 for reads and writes alike.
  expect(api_->get("chen.jie", "/api/v1/instances/" + id), 404, "not_found");
  expect(api_->fire("chen.jie", id, "issue"), 404, "not_found");
  expect(api_->post("chen.jie", "/api/v1/instances/" + id + "/comments", {{"comment", "看看"}}), 404, "not_found");
  // No such transition from draft (even for someone who could not fire it anyway).
  expect(api_->fire("li.na", id, "approve_completion"), 409, "transition_not_allowed");
  expect(api_->fire("wang.wei", id, "no_such_transition"), 409, "transition_not_allowed");
  // Visible, possible from draft, but not li.na's to fire.
  expect(api_->fire("li.na", id, "issue"), 403, "forbidden");
  // Stale expected_version.
  auto stale = api_->post("wang.wei", "/api/v1/instances/" + id + "/transitions",
                          {{"transition", "issue"}, {"expected_version", 7}});
  expect(stale, 409, "version_conflict");
  // Fields: invalid enum value, unknown field, too long.
  expect(api_->fire("wang.wei", id, "issue", {{"area", "nonsense"}}), 422, "invalid_field");
  Json unknown = expect(api_->fire("wang.wei", id, "issue", {{"bogus", 1}}), 422, "invalid_field");
  EXPECT_NE(unknown.dump().find("bogus"), std::string::npos) << unknown;
  expect(api_->fire("wang.wei", id, "issue", {{"percent", "many"}}), 422, "invalid_field");
  // Nothing above changed the instance.
  Json now = expect(api_->get("wang.wei", "/api/v1/instances/" + id), 200);
  EXPECT_EQ(now["version"], 1);
  EXPECT_EQ(now["state"], "draft");
  // The right expected_version passes.
  auto good = api_->post("wang.wei", "/api/v1/instances/" + id + "/transitions",
                         {{"transition", "issue"}, {"expected_version", 1}});
  EXPECT_EQ(expect(good, 200)["version"], 2);
  // A comment is an event without a state change.
  Json commented = expect(api_->post("li.na", "/api/v1/instances/" + id + "/comments", {{"comment", "已阅"}}), 201);
  Json after = expect(api_->get("wang.wei", "/api/v1/instances/" + id), 200);
  EXPECT_EQ(after["state"], "issued");
  EXPECT_EQ(after["version"], 3) << commented;
  Json events = expect(api_->get("wang.wei", "/api/v1/instances/" + id + "/events"), 200);
  EXPECT_EQ(events["items"].back()["type"], "commented");
  EXPECT_EQ(events["items"].back()["comment"], "已阅");
}

TEST_F(ApiTest, IdempotencyKeyReplaysAndConflicts) {
  Json body{{"workflow", kYizhi}, {"org", "city/finance"}, {"fields", {{"title", "幂等项目"}}}};
  auto first = api_->post("wang.wei", "/api/v1/instances", body, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = api_->post("wang.wei", "/api/v1/instances", body, {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.json()["id"], first.json()["id"]);
  EXPECT_EQ(again.json(), first.json());
  Json other = body;
  other["fields"]["title"] = "另一个";
  expect(api_->post("wang.wei", "/api/v1/instances", other, {{"Idempotency-Key", "k-1"}}), 409,
         "idempotency_conflict");
  Json list = expect(api_->get("wang.wei", "/api/v1/instances?q=%E5%B9%82%E7%AD%89"), 200);  // q=幂等
  EXPECT_EQ(list["items"].size(), 1u) << list;
  // The same key on a transition.
  std::string id = first.json()["id"];
  Json issue{{"transition", "issue"}, {"fields", {{"goal", "g"}, {"area", "reform"}}}};
  auto t1 = api_->post("wang.wei", "/api/v1/instances/" + id + "/transitions", issue, {{"Idempotency-Key", "k-2"}});
  auto t2 = api_->post("wang.wei", "/api/v1/instances/" + id + "/transitions", issue, {{"Idempotency-Key", "k-2"}});
  EXPECT_EQ(t1.status, 200) << t1.body;
  EXPECT_EQ(t2.status, 200) << t2.body;
  EXPECT_EQ(t2.json()["version"], t1.json()["version"]);
  EXPECT_EQ(expect(api_->get("wang.wei", "/api/v1/instances/" + id), 200)["version"], 2);
}

TEST_F(ApiTest, MalformedAndOversizedRequests) {
  expect(api_->post_raw("wang.wei", "/api/v1/instances", "{not json"), 400, "invalid_json");
  expect(api_->post_raw("wang.wei", "/api/v1/instances", "[1,2]"), 400, "bad_request");
  Json unknown = expect(api_->post("wang.wei", "/api/v1/instances",
                                   {{"workflow", kYizhi}, {"org", "city/finance"}, {"fields", Json::object()},
                                    {"colour", "red"}}),
                        400, "bad_request");
  EXPECT_NE(unknown["error"]["message"].get<std::string>().find("colour"), std::string::npos);
  expect(api_->post("wang.wei", "/api/v1/instances", {{"workflow", kYizhi}, {"org", "city/finance"}, {"fields", "x"}}),
         400, "bad_request");
  expect(api_->post("wang.wei", "/api/v1/instances", {{"workflow", 3}, {"org", "city/finance"}}), 400, "bad_request");
  expect(api_->post("wang.wei", "/api/v1/instances", {{"org", "city/finance"}}), 400, "bad_request");
  std::string id = create_project("畸形请求");
  expect(api_->post("wang.wei", "/api/v1/instances/" + id + "/transitions",
                    {{"transition", "issue"}, {"expected_version", "one"}}),
         400, "bad_request");
  expect(api_->post("wang.wei", "/api/v1/instances/" + id + "/comments", {{"comment", 5}}), 400, "bad_request");

  // Body over 1 MiB → 413, and the server keeps serving.
  std::string big = R"({"comment":")" + std::string(1200 * 1024, 'x') + R"("})";
  expect(api_->post_raw("wang.wei", "/api/v1/instances/" + id + "/comments", big), 413, "payload_too_large");
  // Header over 16 KiB → 431 with a JSON body.
  std::string huge_header = "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(20000, 'a') + "\r\n\r\n";
  std::string answer = raw_exchange(server_->port(), huge_header);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 431")) << answer.substr(0, 200);
  EXPECT_NE(answer.find("\"code\":\"bad_request\""), std::string::npos);
  // Not HTTP at all → 400.
  std::string garbage = raw_exchange(server_->port(), "HELLO THERE\r\n\r\n");
  EXPECT_TRUE(garbage.starts_with("HTTP/1.1 400")) << garbage.substr(0, 200);
  expect(api_->get("", "/healthz"), 200);
}

// Every error a person may read is Chinese first, then English, in one form: 中文（English）.
// One request per kind of refusal, from each layer that writes messages: the HTTP session, the
// router, the handlers, authentication and the engine.
TEST_F(ApiTest, ErrorMessagesAreChineseThenEnglishInOneForm) {
  std::string id = create_project("报错格式");
  const std::string tx = "/api/v1/instances/" + id + "/transitions";
  std::vector<std::pair<std::string, HttpResult>> answers = {
      {"invalid JSON", api_->post_raw("wang.wei", "/api/v1/instances", "{not json")},
      {"not an object", api_->post_raw("wang.wei", "/api/v1/instances", "[1,2]")},
      {"unknown keys", api_->post("wang.wei", tx, {{"transition", "issue"}, {"colour", "red"}})},
      {"wrong type", api_->post("wang.wei", tx, {{"transition", "issue"}, {"expected_version", "one"}})},
      {"missing", api_->post("wang.wei", "/api/v1/instances", {{"org", "city/finance"}})},
      {"limit", api_->get("wang.wei", "/api/v1/instances?limit=0")},
      {"cursor", api_->get("wang.wei", "/api/v1/instances?cursor=x")},
      {"overdue", api_->get("wang.wei", "/api/v1/instances?overdue=maybe")},
      {"graph format", api_->get("wang.wei", "/api/v1/workflows/yizhi-yixiang/graph?format=png")},
      {"group_by", api_->get("wang.wei", "/api/v1/stats?workflow=yizhi-yixiang&group_by=colour")},
      {"no token", api_->get("", "/api/v1/me")},
      {"unknown path", api_->get("wang.wei", "/api/v1/nothing")},
      {"method", http(server_->port(), "PUT", "/api/v1/instances", server_->token("wang.wei"))},
      {"no such instance", api_->get("wang.wei", "/api/v1/instances/01ZZZZZZZZZZZZZZZZZZZZZZZZ")},
      {"transition not allowed", api_->fire("wang.wei", id, "claim")},
      {"forbidden", api_->fire("li.na", id, "issue")},
      {"field rule", api_->post("wang.wei", "/api/v1/instances",
                                {{"workflow", kYizhi}, {"org", "city/finance"}, {"fields", {{"title", 5}}}})},
  };
  for (const auto& [what, r] : answers) {
    const Json body = r.json();
    ASSERT_TRUE(body.contains("error")) << what << ": " << r.status << " " << r.body;
    const std::string message = body["error"]["message"].get<std::string>();
    const size_t open = message.find("（");
    ASSERT_NE(open, std::string::npos) << what << ": " << message;
    EXPECT_TRUE(message.ends_with("）")) << what << ": " << message;
    // Chinese before the bracket: a CJK character is three bytes starting 0xE4..0xE9.
    EXPECT_TRUE(std::any_of(message.begin(), message.begin() + open,
                            [](char c) { auto u = static_cast<unsigned char>(c); return u >= 0xE4 && u <= 0xE9; }))
        << what << ": " << message;
    EXPECT_EQ(message.find(" ("), std::string::npos) << what << ": the other bracket form in " << message;
  }
}

TEST_F(ApiTest, PagingParameters) {
  for (int i = 0; i < 3; ++i) create_project("分页 " + std::to_string(i));
  for (const char* bad : {"limit=0", "limit=-1", "limit=abc", "limit=1001", "limit=1.5", "cursor=not-a-cursor"}) {
    expect(api_->get("wang.wei", std::string("/api/v1/instances?") + bad), 400, "bad_request");
    expect(api_->get("wang.wei", std::string("/api/v1/tasks?") + bad), 400, "bad_request");
  }
  // Cursors the server did not issue: the start of the list, a root the caller does not have, a
  // key outside the root's range.
  auto forged = [](const Json& j) { return base64url_encode(j.dump()); };
  for (const std::string& cursor : {forged({{"r", 0}, {"k", ""}}), forged({{"r", 7}, {"k", base64url_encode("o\x01x")}}),
                                    forged({{"r", 0}, {"k", base64url_encode("zzz")}})}) {
    expect(api_->get("wang.wei", "/api/v1/instances?cursor=" + cursor), 400, "bad_request");
    expect(api_->get("wang.wei", "/api/v1/tasks?cursor=" + cursor), 400, "bad_request");
  }
  expect(api_->get("wang.wei", "/api/v1/events?limit=0"), 400, "bad_request");
  expect(api_->get("wang.wei", "/api/v1/events?since=x"), 400, "bad_request");
  expect(api_->get("wang.wei", "/api/v1/instances?overdue=maybe"), 400, "bad_request");

  // Walk the list two at a time: every project once, then next_cursor null.
  std::set<std::string> seen;
  std::string target = "/api/v1/instances?limit=2";
  for (int pages = 0; pages < 5; ++pages) {
    Json page = expect(api_->get("wang.wei", target), 200);
    ASSERT_TRUE(page.contains("next_cursor")) << page;
    EXPECT_LE(page["items"].size(), 2u);
    for (const auto& item : page["items"]) EXPECT_TRUE(seen.insert(item["id"]).second) << "duplicate";
    if (page["next_cursor"].is_null()) break;
    target = "/api/v1/instances?limit=2&cursor=" + page["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(seen.size(), 3u);

  Json events = expect(api_->get("wang.wei", "/api/v1/events?since=0&limit=2"), 200);
  EXPECT_EQ(events["items"].size(), 2u);
  EXPECT_TRUE(events["head"].is_number());
  uint64_t last = events["items"][1]["seq"];
  EXPECT_EQ(events["next_since"], last);  // a full page goes on after its last item
  Json rest = expect(api_->get("wang.wei", "/api/v1/events?since=" + std::to_string(last)), 200);
  EXPECT_EQ(rest["items"].size(), 1u);
  EXPECT_GT(rest["items"][0]["seq"].get<uint64_t>(), last);
  EXPECT_EQ(rest["next_since"], rest["head"]);  // caught up
}

TEST_F(ApiTest, NobodySeesAnotherDepartment) {
  std::string b1 = assigned_project("一支部项目", "city/finance/b1");
  std::string b2 = assigned_project("二支部项目", "city/finance/b2");
  std::string draft = create_project("草稿");
  Json edu = expect(api_->post("chen.jie", "/api/v1/instances",
                               {{"workflow", kYizhi}, {"org", "city/education"}, {"fields", {{"title", "教育局项目"}}}}),
                    201);
  std::string e = edu["id"];

  auto list = [&](const std::string& user, const std::string& q = "") {
    return ids_of(expect(api_->get(user, "/api/v1/instances" + q), 200)["items"]);
  };
  EXPECT_EQ(list("wang.wei"), (std::set<std::string>{b1, b2, draft}));
  EXPECT_EQ(list("zhang.min"), (std::set<std::string>{b1}));
  EXPECT_EQ(list("liu.yang"), (std::set<std::string>{b2}));
  EXPECT_EQ(list("chen.jie"), (std::set<std::string>{e}));
  EXPECT_EQ(list("zhou.hua").size(), 4u);  // city-wide role
  EXPECT_EQ(list("wang.wei", "?assignee_org=city/finance/b2"), (std::set<std::string>{b2}));
  EXPECT_EQ(list("wang.wei", "?state=draft"), (std::set<std::string>{draft}));
  EXPECT_EQ(list("zhou.hua", "?org=city/education"), (std::set<std::string>{e}));
  EXPECT_EQ(list("liu.yang", "?org=city/finance/b1"), (std::set<std::string>{}));
  EXPECT_EQ(list("zhou.hua", "?workflow=inspection-rectification"), (std::set<std::string>{}));
  EXPECT_TRUE(list("wang.wei", "?overdue=true").empty());

  // To-do lists: b1's secretary may claim b1's project only.
  EXPECT_EQ(ids_of(expect(api_->get("zhang.min", "/api/v1/tasks"), 200)["items"]), (std::set<std::string>{b1}));
  EXPECT_EQ(ids_of(expect(api_->get("liu.yang", "/api/v1/tasks"), 200)["items"]), (std::set<std::string>{b2}));
  Json task = expect(api_->get("zhang.min", "/api/v1/tasks"), 200)["items"][0];
  EXPECT_TRUE(has_action(task, "claim")) << task;
  EXPECT_TRUE(ids_of(expect(api_->get("chen.jie", "/api/v1/tasks"), 200)["items"]).count(e));

  // The event feed.
  // (Named values: a range-for over a member of a temporary Json would dangle and check nothing.)
  const Json liu_feed = expect(api_->get("liu.yang", "/api/v1/events?since=0"), 200);
  EXPECT_EQ(liu_feed["items"].size(), 3u) << liu_feed;  // created, issued, assigned
  for (const auto& ev : liu_feed["items"]) {
    EXPECT_EQ(ev["instance_id"], b2) << ev;
  }
  const Json chen_feed = expect(api_->get("chen.jie", "/api/v1/events?since=0"), 200);
  EXPECT_EQ(chen_feed["items"].size(), 1u) << chen_feed;  // created
  for (const auto& ev : chen_feed["items"]) {
    EXPECT_EQ(ev["instance_id"], e) << ev;
  }
  expect(api_->get("liu.yang", "/api/v1/instances/" + b1 + "/events"), 404, "not_found");

  // Statistics count only what the caller may see.
  auto total = [&](const std::string& user, const std::string& group_by) {
    Json stats = expect(api_->get(user, "/api/v1/stats?workflow=yizhi-yixiang&group_by=" + group_by), 200);
    EXPECT_EQ(stats["group_by"], group_by);
    int64_t n = 0;
    for (const auto& g : stats["groups"]) n += g["count"].get<int64_t>();
    return n;
  };
  EXPECT_EQ(total("wang.wei", "state"), 3);
  EXPECT_EQ(total("liu.yang", "state"), 1);
  EXPECT_EQ(total("liu.yang", "assignee_org"), 1);
  EXPECT_EQ(total("chen.jie", "org"), 1);
  EXPECT_EQ(total("zhou.hua", "org"), 4);
  expect(api_->get("wang.wei", "/api/v1/stats?group_by=colour"), 400, "bad_request");

  // Orgs: what the caller's roles cover, plus the way up to the root.
  std::set<std::string> orgs = ids_of(expect(api_->get("zhang.min", "/api/v1/orgs"), 200)["items"]);
  EXPECT_EQ(orgs, (std::set<std::string>{"city", "city/finance", "city/finance/b1"}));
  EXPECT_EQ(ids_of(expect(api_->get("admin", "/api/v1/orgs"), 200)["items"]).size(), 8u);
  Json first = expect(api_->get("wang.wei", "/api/v1/orgs"), 200)["items"][0];
  for (const char* key : {"id", "name", "kind", "parent"}) EXPECT_TRUE(first.contains(key)) << first;
}

TEST_F(ApiTest, WorkflowDefinitions) {
  Json list = expect(api_->get("zhang.min", "/api/v1/workflows"), 200);
  std::set<std::string> ids;
  for (const auto& w : list["items"]) {
    ids.insert(w["id"]);
    EXPECT_TRUE(w["title"].contains("zh"));
    EXPECT_GE(w["version"].get<int>(), 1);
  }
  EXPECT_TRUE(ids.count(kYizhi) && ids.count(kInspection));
  Json def = expect(api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang"), 200);
  EXPECT_EQ(def["id"], kYizhi);
  EXPECT_TRUE(def.contains("transitions") && def.contains("states"));
  EXPECT_EQ(expect(api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang?version=1"), 200)["version"], 1);
  expect(api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang?version=99"), 404, "not_found");
  expect(api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang?version=x"), 400, "bad_request");
  expect(api_->get("zhang.min", "/api/v1/workflows/nope"), 404, "not_found");

  auto dot = api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang/graph?format=dot");
  EXPECT_EQ(dot.status, 200);
  EXPECT_TRUE(dot.header("content-type").starts_with("text/plain"));
  EXPECT_NE(dot.body.find("digraph"), std::string::npos) << dot.body;
  auto mermaid = api_->get("zhang.min", "/api/v1/workflows/inspection-rectification/graph?format=mermaid");
  EXPECT_EQ(mermaid.status, 200);
  EXPECT_NE(mermaid.body.find("联合验收"), std::string::npos) << mermaid.body;
  EXPECT_NE(mermaid.body, dot.body);
  expect(api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang/graph?format=png"), 400, "bad_request");

  // Registering: admin only; every problem listed; a changed definition becomes version 2.
  Json changed = def;
  changed["title"]["zh"] = "一支一项先锋工程（修订）";
  expect(api_->post("wang.wei", "/api/v1/workflows", changed), 403, "forbidden");
  Json broken = changed;
  broken["transitions"][0]["to"] = "nowhere";
  Json problems = expect(api_->post("admin", "/api/v1/workflows", broken), 422, "invalid_definition");
  EXPECT_FALSE(problems["error"]["details"].empty()) << problems;
  expect(api_->post_raw("admin", "/api/v1/workflows", "{oops"), 400, "invalid_json");
  auto registered = api_->post("admin", "/api/v1/workflows", changed);
  EXPECT_EQ(registered.status, 201) << registered.body;
  Json latest = expect(api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang"), 200);
  EXPECT_EQ(latest["version"], 2);
  EXPECT_EQ(latest["title"]["zh"], "一支一项先锋工程（修订）");
}

// An instance started under version 1 moves to version 2 only when an administrator says so.
TEST_F(ApiTest, AnAdministratorMigratesAnInstanceToTheNewVersion) {
  const std::string id = create_project("迁移");
  Json def = expect(api_->get("zhang.min", "/api/v1/workflows/yizhi-yixiang"), 200);
  def["states"]["draft"]["label"]["zh"] = "起草中";
  ASSERT_EQ(api_->post("admin", "/api/v1/workflows", def).status, 201);
  EXPECT_EQ(expect(api_->get("wang.wei", "/api/v1/instances/" + id), 200)["workflow_version"], 1);
  const std::string target = "/api/v1/instances/" + id + "/migrate";
  expect(api_->post("wang.wei", target, {{"to_version", 2}}), 403, "forbidden");  // sees it, no admin grant
  expect(api_->post("chen.jie", target, {{"to_version", 2}}), 404, "not_found");  // another department
  // A malformed request, as for a transition: 400.
  expect(api_->post("admin", target, Json::object()), 400, "bad_request");
  expect(api_->post("admin", target, {{"to_version", "2"}}), 400, "bad_request");
  expect(api_->post("admin", target, {{"to_version", 2}, {"states", {{"draft", 1}}}}), 400, "bad_request");
  expect(api_->post("admin", target, {{"to_version", 2}, {"colour", "red"}}), 400, "bad_request");
  // A well-formed one the workflow refuses: 422.
  expect(api_->post("admin", target, {{"to_version", 2}, {"states", {{"draft", "nowhere"}}}}), 422, "invalid_field");
  expect(api_->post("admin", target, {{"to_version", 2}, {"expected_version", 7}}), 409, "version_conflict");
  Json moved = expect(api_->post("admin", target, {{"to_version", 2}, {"comment", "按修订版办理"}}), 200);
  EXPECT_EQ(moved["workflow_version"], 2);
  EXPECT_EQ(moved["state"], "draft");
  EXPECT_EQ(moved["state_label"]["zh"], "起草中") << moved;
  Json events = expect(api_->get("wang.wei", "/api/v1/instances/" + id + "/events"), 200);
  const Json& last = events["items"].back();
  EXPECT_EQ(last["type"], "migrated") << last;
  EXPECT_EQ(last["changes"]["workflow_version"], 2);
  EXPECT_EQ(last["actor"]["id"], "admin");
  // The party group goes on under version 2.
  EXPECT_EQ(expect(api_->post("wang.wei", "/api/v1/instances/" + id + "/transitions", {{"transition", "issue"}}), 200)["state"],
            "issued");
}

TEST_F(ApiTest, RestartKeepsDataAndTokens) {
  std::string id = create_project("重启之后");
  std::string token = server_->token("wang.wei");
  std::string dir = server_->dir();
  ASSERT_EQ(server_->stop(), 0) << server_->log();
  // Same folder, --demo again: nothing is reseeded, old tokens still work.
  ServerProcess again({}, dir);
  ASSERT_TRUE(again.started()) << again.log();
  EXPECT_EQ(again.token("wang.wei"), token);
  auto r = http(again.port(), "GET", "/api/v1/instances/" + id, token);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["fields"]["title"], "重启之后");
  EXPECT_EQ(again.stop(), 0);
}

// A server with short timeouts, from a --config file.
class LimitsTest : public ::testing::Test {};

TEST_F(LimitsTest, TimeoutsAndConnectionLimit) {
  char tmpl[] = "/tmp/pioneer-cfg-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string config = std::string(tmpl) + "/config.json";
  std::ofstream(config) << R"({"request_timeout_s": 1, "idle_timeout_s": 2, "max_connections": 3})";
  ServerProcess server({"--config", config});
  ASSERT_TRUE(server.started()) << server.log();
  // Slowloris: half a request line, then silence → closed after ~1 s.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(server.port(), "GET /healthz HTTP/1.1\r\nHo", 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  // Idle keep-alive: one request answered, then silence → closed after ~2 s.
  EXPECT_TRUE(closed_by_server(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 6s));
  EXPECT_EQ(http(server.port(), "GET", "/healthz").status, 200);
  // Three open streams fill max_connections: the next connection gets 503 overloaded. First
  // wait until the server has let go of the connections above (on a loaded machine a closed
  // session can take a moment to be released): only our own /metrics request is open.
  for (int i = 0; i < 100; ++i) {
    if (http(server.port(), "GET", "/metrics").body.find("\npioneer_http_connections 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  std::string token = server.token("wang.wei");
  {
    WsClient a, b, c;
    ASSERT_EQ(a.connect(server.port(), "/api/v1/stream", token), 101);
    ASSERT_EQ(b.connect(server.port(), "/api/v1/stream", token), 101);
    ASSERT_EQ(c.connect(server.port(), "/api/v1/stream", token), 101);
    auto refused = http(server.port(), "GET", "/healthz");
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.header("retry-after"), "1");
  }
  // Slots come back when connections end.
  HttpResult ok;
  for (int i = 0; i < 50 && ok.status != 200; ++i) {
    std::this_thread::sleep_for(20ms);
    ok = http(server.port(), "GET", "/healthz");
  }
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(server.stop(), 0) << server.log();
  std::filesystem::remove_all(tmpl);
}

TEST_F(LimitsTest, FloodGetsOverloadedNeverACrash) {
  char tmpl[] = "/tmp/pioneer-cfg-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string config = std::string(tmpl) + "/config.json";
  std::ofstream(config) << R"({"queue_limit": 1, "threads": 8})";
  ServerProcess server({"--config", config});
  ASSERT_TRUE(server.started()) << server.log();
  Api api(server);
  auto created = api.post("wang.wei", "/api/v1/instances",
                          {{"workflow", "yizhi-yixiang"}, {"org", "city/finance"}, {"fields", {{"title", "洪水"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  std::string target = "/api/v1/instances/" + created.json()["id"].get<std::string>() + "/comments";
  std::atomic<int> accepted{0}, overloaded{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    // 25 comments each, and on until someone was refused (at most 400 each): eight senders
    // against a queue of one overflow it long before that.
    clients.emplace_back([&] {
      for (int i = 0; i < 400 && (i < 25 || overloaded.load() == 0); ++i) {
        auto r = api.post("li.na", target, {{"comment", "刷屏"}});
        if (r.status == 201) {
          ++accepted;
        } else if (r.status == 503 && r.header("retry-after") == "1" &&
                   r.json()["error"]["code"] == "overloaded") {
          ++overloaded;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(accepted.load(), 0);
  EXPECT_GT(overloaded.load(), 0);
  // Every accepted comment is in the history; the refused ones changed nothing.
  auto events = api.get("li.na", "/api/v1/instances/" + created.json()["id"].get<std::string>() + "/events");
  EXPECT_EQ(events.json()["items"].size(), static_cast<size_t>(accepted.load()) + 1);
  EXPECT_EQ(server.stop(), 0) << server.log();
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace pioneer::test
