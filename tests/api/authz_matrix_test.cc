// The authorization matrix, generated from the router's route table and the demo
// users: every route × every demo user × an instance of the user's own branch / another
// branch of the same department / another department → the expected status, computed from
// the rule table below (docs/api.md "Visibility", the order of checks on a transition, admin-only
// routes). A route in the router without a rule here FAILS the test: a new route cannot be
// added without deciding who may call it. Then, for every user, no other department's (or
// other branch's) instance id, title or org appears in any list, count, event feed or stream.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/router.h"
#include "tests/api/test_client.h"

namespace pioneer::test {
namespace {

constexpr const char* kYizhi = "yizhi-yixiang";

struct Grant {
  std::string role, org;
};

// The demo users (tools/demo.cc) as this test expects them; checked against /api/v1/me.
const std::map<std::string, std::vector<Grant>> kUsers = {
    {"admin", {{"admin", "city"}}},
    {"wang.wei", {{"party_group", "city/finance"}}},
    {"li.na", {{"organ_committee", "city/finance"}}},
    {"zhang.min", {{"branch_secretary", "city/finance/b1"}}},
    {"zheng.xin", {{"branch_member", "city/finance/b1"}}},
    {"liu.yang", {{"branch_secretary", "city/finance/b2"}}},
    {"chen.jie", {{"party_group", "city/education"}}},
    {"zhao.lei", {{"organ_committee", "city/education"}}},
    {"sun.li", {{"branch_secretary", "city/education/b1"}}},
    {"zhou.hua", {{"inspection_office", "city"}}},
    {"wu.gang", {{"work_committee", "city"}}},
};

bool covers(const std::string& outer, const std::string& inner) {
  return !inner.empty() && (outer == inner || inner.starts_with(outer + "/"));
}

bool has_role_covering(const std::string& user, const std::string& role, const std::string& org) {
  for (const Grant& g : kUsers.at(user)) {
    if (g.role == role && covers(g.org, org)) return true;
  }
  return false;
}

struct Inst {
  std::string key;  // fb1, fb2, eb1
  std::string id, title, org, assignee;
};

// docs/api.md "Visibility": one of the user's roles covers the instance's org or assignee org.
bool visible(const std::string& user, const Inst& in) {
  for (const Grant& g : kUsers.at(user)) {
    if (covers(g.org, in.org) || covers(g.org, in.assignee)) return true;
  }
  return false;
}

// How the instance relates to the user, for the failure messages.
std::string relation(const std::string& user, const Inst& in) {
  const std::string home = kUsers.at(user).front().org;
  auto dept = [](const std::string& org) { return org.substr(0, org.find('/', 5)); };
  if (home == "city") return "city-wide";
  if (dept(home) != in.org) return "other department";
  if (home == in.org) return "own department";
  return home == in.assignee ? "own branch" : "other branch";
}

struct Probe {
  std::string method, target, body;
  int expected;
  std::string note;
};

using Rule = std::function<std::vector<Probe>(const std::string& user)>;

class AuthzMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"--config", config_path()});
    ASSERT_TRUE(server_->started()) << server_->log();
    api_ = std::make_unique<Api>(*server_);
    insts_ = {make("fb1", "city/finance", "wang.wei", "li.na", "city/finance/b1", "矩阵MX-财政一支部"),
              make("fb2", "city/finance", "wang.wei", "li.na", "city/finance/b2", "矩阵MX-财政二支部"),
              make("eb1", "city/education", "chen.jie", "zhao.lei", "city/education/b1", "矩阵MX-教育一支部")};
  }
  void TearDown() override {
    if (server_ && server_->started()) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
    std::filesystem::remove(config_path());
  }
  // Heartbeats every second: the leak test reads each stream until it is idle.
  static std::string config_path() {
    std::string p = "/tmp/pioneer-authz-" + std::to_string(::getpid()) + ".json";
    if (!std::filesystem::exists(p)) std::ofstream(p) << R"({"heartbeat_s": 1})";
    return p;
  }

  // Created by `creator`, issued, and assigned to `branch` by `assigner`.
  Inst make(const std::string& key, const std::string& org, const std::string& creator,
            const std::string& assigner, const std::string& branch, const std::string& title) {
    Inst in{key, "", title, org, branch};
    auto r = api_->post(creator, "/api/v1/instances",
                        {{"workflow", kYizhi}, {"org", org}, {"fields", {{"title", title}, {"goal", "目标"}, {"area", "service"}}}});
    EXPECT_EQ(r.status, 201) << r.body;
    in.id = r.json().value("id", "");
    EXPECT_EQ(api_->fire(creator, in.id, "issue").status, 200);
    auto a = api_->fire(assigner, in.id, "assign", {{"branch", branch}, {"due_date", "2099-12-31"}});
    EXPECT_EQ(a.status, 200) << a.body;
    return in;
  }

  HttpResult send(const std::string& token, const Probe& p) {
    return http(server_->port(), p.method, p.target, token, p.body);
  }

  // THE rule table: method + pattern → the probes and their expected status for a user.
  std::map<std::string, Rule> rules() {
    std::map<std::string, Rule> r;
    auto all = [](std::string target, int status) {
      return [target, status](const std::string&) {
        return std::vector<Probe>{{"GET", target, "", status, "any user"}};
      };
    };
    // Public.
    r["GET /healthz"] = all("/healthz", 200);
    r["GET /metrics"] = all("/metrics", 200);
    r["GET /api/v1/openapi.json"] = all("/api/v1/openapi.json", 200);
    // Everyone authenticated; what the answer contains is checked by the leak test below.
    r["GET /api/v1/me"] = all("/api/v1/me", 200);
    r["GET /api/v1/orgs"] = all("/api/v1/orgs", 200);
    r["GET /api/v1/workflows"] = all("/api/v1/workflows", 200);
    r["GET /api/v1/instances"] = all("/api/v1/instances", 200);
    r["GET /api/v1/tasks"] = all("/api/v1/tasks", 200);
    r["GET /api/v1/events"] = all("/api/v1/events?since=0", 200);
    r["GET /api/v1/stats"] = all("/api/v1/stats?group_by=org", 200);
    r["GET /api/v1/stream"] = all("/api/v1/stream", 400);  // without the upgrade; with it: below
    r["GET /api/v1/workflows/{id}"] = [](const std::string&) {
      return std::vector<Probe>{{"GET", std::string("/api/v1/workflows/") + kYizhi, "", 200, "definitions are public to users"},
                                {"GET", "/api/v1/workflows/no-such-workflow", "", 404, "unknown"}};
    };
    r["GET /api/v1/workflows/{id}/graph"] = [](const std::string&) {
      return std::vector<Probe>{{"GET", std::string("/api/v1/workflows/") + kYizhi + "/graph", "", 200, ""}};
    };
    // Admin only.
    r["POST /api/v1/workflows"] = [](const std::string& user) {
      // An invalid definition: an administrator gets as far as validation (422), nobody else.
      return std::vector<Probe>{{"POST", "/api/v1/workflows", "{}", user == "admin" ? 422 : 403, "admin only"}};
    };
    r["POST /api/v1/users/{id}/revoke-tokens"] = [](const std::string& user) {
      return std::vector<Probe>{
          {"POST", "/api/v1/users/no.such.user/revoke-tokens", "{}", user == "admin" ? 404 : 403, "admin only"}};
    };
    // Logins: a wrong password is 401 for anyone (each user name its own, so that no lockout
    // is reached); the password routes change nothing here: a new password too short is 422
    // for everyone, a person who does not exist is 404 for the administrator and 403 for
    // everyone else; logout with an API token ends nothing and is 204.
    r["POST /api/v1/auth/login"] = [](const std::string& user) {
      return std::vector<Probe>{{"POST", "/api/v1/auth/login",
                                 Json{{"user", "matrix-" + user}, {"password", "wrong-password"}}.dump(), 401,
                                 "wrong password"}};
    };
    r["POST /api/v1/auth/logout"] = [](const std::string&) {
      return std::vector<Probe>{{"POST", "/api/v1/auth/logout", "", 204, "a token is no session"}};
    };
    r["POST /api/v1/me/password"] = [](const std::string&) {
      return std::vector<Probe>{{"POST", "/api/v1/me/password", Json{{"old", "x"}, {"new", "short"}}.dump(), 422,
                                 "too short"}};
    };
    r["POST /api/v1/users/{id}/password"] = [](const std::string& user) {
      return std::vector<Probe>{{"POST", "/api/v1/users/no.such.user/password",
                                 Json{{"password", "long-enough-password"}}.dump(), user == "admin" ? 404 : 403,
                                 "admin over the person only"}};
    };
    // The directory: anyone lists whom they see (what, the leak test checks); only an
    // administrator changes it, and here gets as far as validation (422) so that nothing changes.
    r["GET /api/v1/users"] = all("/api/v1/users", 200);
    r["POST /api/v1/users"] = [](const std::string& user) {
      return std::vector<Probe>{{"POST", "/api/v1/users", Json{{"id", "Bad Id"}, {"name", "x"}, {"org", "city/finance"}}.dump(),
                                 user == "admin" ? 422 : 403, "admin only"}};
    };
    r["PATCH /api/v1/users/{id}"] = [](const std::string& user) {
      return std::vector<Probe>{{"PATCH", "/api/v1/users/zheng.xin", Json{{"org", "city/nowhere"}}.dump(),
                                 user == "admin" ? 422 : 403, "admin only"}};
    };
    r["POST /api/v1/orgs"] = [](const std::string& user) {
      return std::vector<Probe>{{"POST", "/api/v1/orgs", Json{{"path", "city/finance/b9"}, {"name", ""}, {"kind", "branch"}}.dump(),
                                 user == "admin" ? 422 : 403, "admin only"}};
    };
    r["PATCH /api/v1/orgs/{path}"] = [](const std::string& user) {
      return std::vector<Probe>{{"PATCH", "/api/v1/orgs/city%2Ffinance", Json{{"name", ""}}.dump(), user == "admin" ? 422 : 403,
                                 "admin only"}};
    };
    // Migrating to another version: an administrator over the instance's org; as for the other
    // instance routes, one who cannot see it gets 404 (existence is not revealed), one who sees
    // it without that grant 403. An unknown version stops the administrator at 422.
    r["POST /api/v1/instances/{id}/migrate"] = [this](const std::string& user) {
      std::vector<Probe> out;
      for (const Inst& in : insts_) {
        out.push_back({"POST", "/api/v1/instances/" + in.id + "/migrate", Json{{"to_version", 99}}.dump(),
                       !visible(user, in) ? 404 : user == "admin" ? 422 : 403, "admin only " + in.key});
      }
      out.push_back({"POST", "/api/v1/instances/01NOSUCHINSTANCE/migrate", Json{{"to_version", 99}}.dump(), 404,
                     "unknown instance"});
      return out;
    };
    // Creating: the definition's create actors (party_group covering the org); no visibility
    // check (nothing exists yet) → 403. A field the definition does not accept makes an allowed
    // caller stop at 422, so that the matrix creates nothing.
    r["POST /api/v1/instances"] = [](const std::string& user) {
      std::vector<Probe> out;
      // Orgs that do not exist answer like existing ones outside the caller's view (403),
      // and are named as missing only inside it (422).
      for (const char* org : {"city/finance", "city/education", "city/finance/b1", "city/finance/b9",
                              "city/education/b9", "city/nowhere"}) {
        Json body{{"workflow", kYizhi}, {"org", org}, {"fields", {{"title", "x"}, {"not_a_field", 1}}}};
        bool may = has_role_covering(user, "party_group", org);
        out.push_back({"POST", "/api/v1/instances", body.dump(), may ? 422 : 403, std::string("create at ") + org});
      }
      return out;
    };
    // Reads of an instance: visible → 200, else 404 (never 403: existence is not revealed).
    auto instance_read = [this](std::string suffix) {
      return [this, suffix](const std::string& user) {
        std::vector<Probe> out;
        for (const Inst& in : insts_) {
          out.push_back({"GET", "/api/v1/instances/" + in.id + suffix, "", visible(user, in) ? 200 : 404,
                         in.key + " (" + relation(user, in) + ")"});
        }
        out.push_back({"GET", "/api/v1/instances/01NOSUCHINSTANCE" + suffix, "", 404, "unknown"});
        return out;
      };
    };
    r["GET /api/v1/instances/{id}"] = instance_read("");
    r["GET /api/v1/instances/{id}/events"] = instance_read("/events");
    // Transitions, in docs/api.md's order of checks: not visible → 404; not from this state → 409;
    // not an actor → 403; stale expected_version → 409 (so an allowed caller changes nothing).
    r["POST /api/v1/instances/{id}/transitions"] = [this](const std::string& user) {
      std::vector<Probe> out;
      for (const Inst& in : insts_) {
        std::string target = "/api/v1/instances/" + in.id + "/transitions";
        std::string where = in.key + " (" + relation(user, in) + ")";
        bool see = visible(user, in);
        out.push_back({"POST", target, Json{{"transition", "claim"}, {"expected_version", 0}}.dump(),
                       !see ? 404 : has_role_covering(user, "branch_secretary", in.assignee) ? 409 : 403,
                       "claim (branch secretary of the assignee) " + where});
        out.push_back({"POST", target, Json{{"transition", "decline"}, {"comment", "c"}, {"expected_version", 0}}.dump(),
                       !see ? 404 : has_role_covering(user, "branch_secretary", in.assignee) ? 409 : 403,
                       "decline (branch secretary of the assignee) " + where});
        out.push_back({"POST", target, Json{{"transition", "urge"}, {"comment", "c"}, {"expected_version", 0}}.dump(),
                       !see ? 404 : has_role_covering(user, "organ_committee", in.org) ? 409 : 403,
                       "urge (organ committee of the department) " + where});
        out.push_back({"POST", target, Json{{"transition", "evaluate"}}.dump(), see ? 409 : 404,
                       "evaluate (not from 'assigned') " + where});
      }
      return out;
    };
    // Comments: whoever may see the instance; an empty comment stops at 422 (nothing written).
    r["POST /api/v1/instances/{id}/comments"] = [this](const std::string& user) {
      std::vector<Probe> out;
      for (const Inst& in : insts_) {
        out.push_back({"POST", "/api/v1/instances/" + in.id + "/comments", Json{{"comment", ""}}.dump(),
                       visible(user, in) ? 422 : 404, in.key + " (" + relation(user, in) + ")"});
      }
      return out;
    };
    return r;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> api_;
  std::vector<Inst> insts_;
};

TEST_F(AuthzMatrixTest, EveryRouteEveryUserEveryRelation) {
  // The test's picture of the demo users is the server's.
  for (const auto& [user, grants] : kUsers) {
    Json me = api_->get(user, "/api/v1/me").json();
    ASSERT_TRUE(me.is_object()) << user;
    ASSERT_EQ(me["roles"].size(), grants.size()) << user << ": " << me;
    for (size_t i = 0; i < grants.size(); ++i) {
      EXPECT_EQ(me["roles"][i]["role"], grants[i].role) << user;
      EXPECT_EQ(me["roles"][i]["org"], grants[i].org) << user;
    }
  }

  const auto table = rules();
  const auto& routes = api::Router().routes();
  std::set<std::string> routed;
  size_t checked = 0;
  for (const api::Route& route : routes) {
    const std::string key = std::string(route.method) + " " + std::string(route.pattern);
    routed.insert(key);
    auto rule = table.find(key);
    if (rule == table.end()) {
      ADD_FAILURE() << "route " << key << " has no authorization rule in authz_matrix_test.cc: "
                    << "decide who may call it and add one";
      continue;
    }
    // Every probe must exercise this very route.
    auto check_probe = [&](const Probe& p) {
      std::vector<std::string> params;
      std::string path = p.target.substr(0, p.target.find('?'));
      EXPECT_TRUE(p.method == route.method && api::match_pattern(route.pattern, path, params))
          << "the rule for " << key << " probes " << p.method << " " << p.target;
    };
    for (const auto& [user, grants] : kUsers) {
      for (const Probe& p : rule->second(user)) {
        check_probe(p);
        auto res = send(server_->token(user), p);
        EXPECT_EQ(res.status, p.expected) << key << " as " << user << ": " << p.note << " → " << res.body;
        ++checked;
      }
    }
    // Unauthenticated, and with a token the server never issued.
    for (const Probe& p : rule->second("admin")) {
      auto anonymous = send("", p);
      auto forged = send("pio_not_a_real_token", p);
      int expected = route.auth ? 401 : p.expected;
      EXPECT_EQ(anonymous.status, expected) << key << " without a token: " << anonymous.body;
      EXPECT_EQ(forged.status, expected) << key << " with a forged token: " << forged.body;
      if (route.auth) {
        EXPECT_TRUE(std::string(route.pattern).starts_with("/api/")) << key;
      }
      checked += 2;
    }
    EXPECT_TRUE(route.auth || !std::string(route.pattern).starts_with("/api/v1/") ||
                route.pattern == "/api/v1/openapi.json" || route.pattern == "/api/v1/auth/login")
        << key << " is under /api/v1/ without authentication";
  }
  for (const auto& [key, rule] : table) {
    EXPECT_TRUE(routed.count(key)) << "rule " << key << " names no route (stale rule)";
  }
  // The stream upgrade itself: every user may open one (what it sends is checked below).
  for (const auto& [user, grants] : kUsers) {
    WsClient ws;
    EXPECT_EQ(ws.connect(server_->port(), "/api/v1/stream", server_->token(user)), 101) << user;
  }
  std::printf("authorization matrix: %zu routes, %zu users, %zu requests checked\n", routes.size(),
              kUsers.size(), checked);
  EXPECT_GT(checked, 500u);
}

// Every string that must never reach `user`: ids and titles of instances they may not see, and
// the orgs of those instances unless a visible instance has them too.
std::vector<std::string> secrets_for(const std::string& user, const std::vector<Inst>& insts) {
  std::set<std::string> shown_orgs, out;
  for (const Inst& in : insts) {
    if (visible(user, in)) shown_orgs.insert({in.org, in.assignee});
  }
  for (const Inst& in : insts) {
    if (visible(user, in)) continue;
    out.insert(in.id);
    out.insert(in.title);
    for (const std::string& org : {in.org, in.assignee}) {
      if (!shown_orgs.count(org)) out.insert("\"" + org);  // as a JSON string's start
    }
  }
  return {out.begin(), out.end()};
}

TEST_F(AuthzMatrixTest, NoOtherDepartmentDataInAnyListCountFeedOrStream) {
  // Streams first (from seq 0), so they see the stored history and the live writes below.
  std::map<std::string, std::unique_ptr<WsClient>> streams;
  for (const auto& [user, grants] : kUsers) {
    streams[user] = std::make_unique<WsClient>();
    ASSERT_EQ(streams[user]->connect(server_->port(), "/api/v1/stream?since=0", server_->token(user)), 101) << user;
  }
  // Live traffic on every instance.
  EXPECT_EQ(api_->post("wang.wei", "/api/v1/instances/" + insts_[0].id + "/comments", {{"comment", "矩阵MX-评论"}}).status, 201);
  EXPECT_EQ(api_->post("li.na", "/api/v1/instances/" + insts_[1].id + "/comments", {{"comment", "矩阵MX-评论"}}).status, 201);
  EXPECT_EQ(api_->post("chen.jie", "/api/v1/instances/" + insts_[2].id + "/comments", {{"comment", "矩阵MX-评论"}}).status, 201);

  size_t checked = 0;
  for (const auto& [user, grants] : kUsers) {
    const std::vector<std::string> secrets = secrets_for(user, insts_);
    std::set<std::string> expected_ids;
    for (const Inst& in : insts_) {
      if (visible(user, in)) expected_ids.insert(in.id);
    }
    auto no_secret = [&](const std::string& where, const std::string& text) {
      ++checked;
      for (const std::string& secret : secrets) {
        EXPECT_EQ(text.find(secret), std::string::npos) << user << " sees " << secret << " in " << where;
      }
    };
    auto get = [&](const std::string& target) {
      auto r = api_->get(user, target);
      EXPECT_EQ(r.status, 200) << user << " " << target << ": " << r.body;
      no_secret(target, r.body);
      return r.json();
    };
    // Lists: exactly the visible instances (so this check can fail both ways).
    std::set<std::string> listed;
    const Json list = get("/api/v1/instances?limit=1000");  // (a named value: range-for over a temporary's member dangles)
    for (const auto& item : list["items"]) listed.insert(item.value("id", ""));
    EXPECT_EQ(listed, expected_ids) << user;
    for (const char* q : {"?org=city/education", "?org=city/finance", "?assignee_org=city/finance/b2",
                          "?q=%E7%9F%A9%E9%98%B5MX", "?state=assigned", "?workflow=yizhi-yixiang"}) {
      get(std::string("/api/v1/instances?limit=1000&") + (q + 1));
    }
    get("/api/v1/tasks?limit=1000");
    // Counts.
    int64_t counted = 0;
    for (const char* group : {"org", "state", "assignee_org"}) {
      Json stats = get(std::string("/api/v1/stats?workflow=yizhi-yixiang&group_by=") + group);
      int64_t n = 0;
      for (const auto& g : stats["groups"]) n += g["count"].get<int64_t>();
      EXPECT_EQ(n, static_cast<int64_t>(expected_ids.size())) << user << " stats by " << group << ": " << stats;
      counted += n;
    }
    get("/api/v1/stats");
    // The event feed: only visible instances' events, all of them.
    std::set<uint64_t> feed;
    // Directory events (changes of orgs and people) only for an administrator over their org.
    auto expected_event = [&](const Json& ev) {
      if (ev.value("type", "") == "directory") return has_role_covering(user, "admin", ev.value("org", ""));
      return expected_ids.count(ev.value("instance_id", "")) > 0;
    };
    const Json events = get("/api/v1/events?since=0&limit=1000");
    for (const auto& ev : events["items"]) {
      EXPECT_TRUE(expected_event(ev)) << user << ": " << ev;
      feed.insert(ev["seq"].get<uint64_t>());
    }
    for (const std::string& id : expected_ids) {
      get("/api/v1/instances/" + id);
      get("/api/v1/instances/" + id + "/events");
    }
    get("/api/v1/orgs");
    // The people: exactly those with a role at an org one of the caller's roles covers.
    std::set<std::string> people, expected_people;
    const Json users = get("/api/v1/users?limit=1000");
    for (const auto& u : users["items"]) people.insert(u.value("id", ""));
    for (const auto& [other, grants] : kUsers) {
      for (const Grant& g : grants) {
        if (std::any_of(kUsers.at(user).begin(), kUsers.at(user).end(), [&](const Grant& mine) { return covers(mine.org, g.org); })) {
          expected_people.insert(other);
        }
      }
    }
    EXPECT_EQ(people, expected_people) << user;
    // The stream: the same events as the feed, stored and live, then idle (a heartbeat).
    std::set<uint64_t> streamed;
    WsClient& ws = *streams[user];
    auto idle = ws.read_until(
        [&](const Json& m) {
          no_secret("the stream", m.dump());
          if (m.value("type", "") == "event") {
            EXPECT_TRUE(expected_event(m["event"])) << user << ": " << m;
            streamed.insert(m["event"]["seq"].get<uint64_t>());
            return false;
          }
          return m.value("type", "") == "heartbeat" && streamed.size() >= feed.size();
        },
        nullptr, 15s);
    EXPECT_TRUE(idle.has_value()) << user << ": the stream ended (close code " << ws.close_code() << ")";
    EXPECT_EQ(streamed, feed) << user << ": the stream and the feed differ";
  }
  std::printf("leak check: %zu replies and stream messages checked\n", checked);
}

}  // namespace
}  // namespace pioneer::test
