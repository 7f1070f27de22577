// Login sessions, passwords and CSRF end to end, against the real binary with the demo data
// (every demo user has a password in demo-tokens.json).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "api/http.h"
#include "api/logins.h"
#include "tests/api/test_client.h"

namespace pioneer::test {
namespace {

constexpr const char* kOwnOrigin = "http://127.0.0.1";  // the test client sends Host: 127.0.0.1

std::string login_body(const std::string& user, const std::string& password) {
  return Json{{"user", user}, {"password", password}}.dump();
}

// The cookie's value from a Set-Cookie header ("pioneer_session=VALUE; HttpOnly; ...").
std::string cookie_of(const HttpResult& r) {
  const std::string set = r.header("set-cookie");
  const std::string prefix = "pioneer_session=";
  if (set.rfind(prefix, 0) != 0) return "";
  return set.substr(prefix.size(), set.find(';') - prefix.size());
}

std::map<std::string, std::string> with_cookie(const std::string& cookie, const std::string& origin = "") {
  std::map<std::string, std::string> h{{"Cookie", "pioneer_session=" + cookie}};
  if (!origin.empty()) h["Origin"] = origin;
  return h;
}

Json new_project_body(const std::string& title) {
  return Json{{"workflow", "yizhi-yixiang"}, {"org", "city/finance"},
              {"fields", {{"title", title}, {"goal", "目标"}, {"area", "service"}}}};
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  void start(std::vector<std::string> extra) {
    server_ = std::make_unique<ServerProcess>(std::move(extra));
    ASSERT_TRUE(server_->started()) << server_->log();
    ASSERT_FALSE(server_->password("wang.wei").empty()) << "demo-tokens.json holds no password";
  }
  void TearDown() override {
    if (server_ && server_->started()) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
  }
  HttpResult login(const std::string& user, const std::string& password) {
    return http(server_->port(), "POST", "/api/v1/auth/login", "", login_body(user, password));
  }
  // Logs in with the demo password; returns the session cookie's value.
  std::string session(const std::string& user) {
    auto r = login(user, server_->password(user));
    EXPECT_EQ(r.status, 200) << r.body;
    return cookie_of(r);
  }
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(IdentityTest, LoginAnswersMeWithExpiryAndSetsAnHttpOnlyStrictCookie) {
  auto r = login("zhang.min", server_->password("zhang.min"));
  ASSERT_EQ(r.status, 200) << r.body;
  Json body = r.json();
  EXPECT_EQ(body["id"], "zhang.min");
  EXPECT_EQ(body["name"], "张敏");
  EXPECT_EQ(body["org"], "city/finance/b1");
  EXPECT_EQ(body["roles"], Json::parse(R"([{"role":"branch_secretary","org":"city/finance/b1"}])"));
  EXPECT_TRUE(body["delegations"].is_array());
  EXPECT_TRUE(body["expires_at"].is_string());
  const std::string set = r.header("set-cookie");
  EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
  EXPECT_NE(set.find("SameSite=Strict"), std::string::npos) << set;
  EXPECT_NE(set.find("Path=/"), std::string::npos) << set;
  EXPECT_EQ(set.find("Secure"), std::string::npos) << "no Secure over plain HTTP: " << set;
  const std::string cookie = cookie_of(r);
  ASSERT_GE(cookie.size(), 40u);

  // The cookie authenticates reads without an Origin, like a bearer token.
  auto me = http(server_->port(), "GET", "/api/v1/me", "", "", with_cookie(cookie));
  ASSERT_EQ(me.status, 200) << me.body;
  Json me_body = me.json();
  EXPECT_EQ(me_body["id"], "zhang.min");
  body.erase("expires_at");
  EXPECT_EQ(body, me_body);
  // Neither the password nor the cookie reaches the log.
  EXPECT_EQ(server_->log().find(server_->password("zhang.min")), std::string::npos);
  EXPECT_EQ(server_->log().find(cookie), std::string::npos);
}

TEST_F(IdentityTest, AWrongUserAndAWrongPasswordAreAnsweredAlike) {
  auto wrong_password = login("zhang.min", "not-the-password");
  auto unknown_user = login("no.such.user", "not-the-password");
  ASSERT_EQ(wrong_password.status, 401) << wrong_password.body;
  ASSERT_EQ(unknown_user.status, 401) << unknown_user.body;
  EXPECT_EQ(error_code(wrong_password), "invalid_credentials");
  EXPECT_EQ(wrong_password.body, unknown_user.body);
  EXPECT_TRUE(wrong_password.header("set-cookie").empty());
  // Malformed bodies are 400 and count for nothing.
  EXPECT_EQ(http(server_->port(), "POST", "/api/v1/auth/login", "", R"({"user":"zhang.min"})").status, 400);
  EXPECT_EQ(http(server_->port(), "POST", "/api/v1/auth/login", "", R"({"user":1,"password":"x"})").status, 400);
  EXPECT_EQ(http(server_->port(), "POST", "/api/v1/auth/login", "", R"([])").status, 400);
  EXPECT_EQ(login("zhang.min", server_->password("zhang.min")).status, 200);
}

TEST_F(IdentityTest, FiveFailuresLockTheUserOutEvenWithTheRightPassword) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(login("zhang.min", "wrong-password-" + std::to_string(i)).status, 401);
  auto locked = login("zhang.min", server_->password("zhang.min"));
  ASSERT_EQ(locked.status, 429) << locked.body;
  EXPECT_EQ(error_code(locked), "too_many_attempts");
  const int retry_after = std::atoi(locked.header("retry-after").c_str());
  EXPECT_GT(retry_after, 0);
  EXPECT_LE(retry_after, 15 * 60);
  EXPECT_TRUE(locked.header("set-cookie").empty());
  // Another person is not affected.
  EXPECT_EQ(login("zheng.xin", server_->password("zheng.xin")).status, 200);
}

TEST(IdentityLockoutTest, TheLockEndsWhenTheWindowHasPassed) {
  ConfigFile config(R"({"login_window_s": 1})");
  ServerProcess server({"--config", config.path});
  ASSERT_TRUE(server.started()) << server.log();
  auto login = [&](const std::string& password) {
    return http(server.port(), "POST", "/api/v1/auth/login", "", login_body("li.na", password));
  };
  for (int i = 0; i < 5; ++i) ASSERT_EQ(login("wrong-password!").status, 401);
  ASSERT_EQ(login(server.password("li.na")).status, 429);
  // A one-second window: the right password works again once it has passed (polled, with a
  // generous bound; nothing here measures time).
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    std::this_thread::sleep_for(100ms);
    status = login(server.password("li.na")).status;
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST_F(IdentityTest, ACookieAuthenticatedWriteNeedsTheServersOwnOrigin) {
  const std::string cookie = session("wang.wei");
  const std::string body = new_project_body("CSRF").dump();
  auto none = http(server_->port(), "POST", "/api/v1/instances", "", body, with_cookie(cookie));
  EXPECT_EQ(none.status, 403) << none.body;
  EXPECT_EQ(error_code(none), "forbidden");
  auto evil = http(server_->port(), "POST", "/api/v1/instances", "", body, with_cookie(cookie, "http://evil.example"));
  EXPECT_EQ(evil.status, 403) << evil.body;
  auto other_scheme = http(server_->port(), "POST", "/api/v1/instances", "", body, with_cookie(cookie, "https://127.0.0.1"));
  EXPECT_EQ(other_scheme.status, 403) << other_scheme.body;
  // Nothing was created by the refusals.
  auto list = http(server_->port(), "GET", "/api/v1/instances?q=CSRF", server_->token("wang.wei"));
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.json()["items"].empty()) << list.body;
  auto own = http(server_->port(), "POST", "/api/v1/instances", "", body, with_cookie(cookie, kOwnOrigin));
  EXPECT_EQ(own.status, 201) << own.body;
  // A bearer token needs no Origin.
  auto bearer = http(server_->port(), "POST", "/api/v1/instances", server_->token("wang.wei"), body);
  EXPECT_EQ(bearer.status, 201) << bearer.body;
  // A login from another site's page is refused too.
  auto foreign_login = http(server_->port(), "POST", "/api/v1/auth/login", "",
                            login_body("wang.wei", server_->password("wang.wei")), {{"Origin", "http://evil.example"}});
  EXPECT_EQ(foreign_login.status, 403) << foreign_login.body;
}

TEST(IdentityOriginTest, TheConfiguredPublicOriginIsAccepted) {
  ConfigFile config(R"({"public_origin": "https://pioneer.example.gov.cn"})");
  ServerProcess server({"--config", config.path});
  ASSERT_TRUE(server.started()) << server.log();
  auto r = http(server.port(), "POST", "/api/v1/auth/login", "", login_body("wang.wei", server.password("wang.wei")),
                {{"Origin", "https://pioneer.example.gov.cn"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto created = http(server.port(), "POST", "/api/v1/instances", "", new_project_body("经代理").dump(),
                      with_cookie(cookie_of(r), "https://pioneer.example.gov.cn"));
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST_F(IdentityTest, ACookieAuthenticatedStreamNeedsTheServersOwnOrigin) {
  const std::string cookie = session("li.na");
  WsClient none, evil, own;
  EXPECT_EQ(none.connect(server_->port(), "/api/v1/stream", "", 0, with_cookie(cookie)), 403);
  EXPECT_EQ(evil.connect(server_->port(), "/api/v1/stream", "", 0, with_cookie(cookie, "http://evil.example")), 403);
  EXPECT_EQ(own.connect(server_->port(), "/api/v1/stream", "", 0, with_cookie(cookie, kOwnOrigin)), 101);
}

TEST_F(IdentityTest, LogoutEndsTheSessionAndClosesItsStream) {
  const std::string cookie = session("li.na");
  const std::string other = session("li.na");  // a second session of the same person
  WsClient stream, other_stream;
  ASSERT_EQ(stream.connect(server_->port(), "/api/v1/stream", "", 0, with_cookie(cookie, kOwnOrigin)), 101);
  ASSERT_EQ(other_stream.connect(server_->port(), "/api/v1/stream", "", 0, with_cookie(other, kOwnOrigin)), 101);
  // Logout is a change of state: it too needs the Origin.
  EXPECT_EQ(http(server_->port(), "POST", "/api/v1/auth/logout", "", "", with_cookie(cookie)).status, 403);
  auto out = http(server_->port(), "POST", "/api/v1/auth/logout", "", "", with_cookie(cookie, kOwnOrigin));
  ASSERT_EQ(out.status, 204) << out.body;
  EXPECT_NE(out.header("set-cookie").find("Max-Age=0"), std::string::npos) << out.header("set-cookie");
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", "", "", with_cookie(cookie)).status, 401);
  EXPECT_FALSE(stream.read_until([](const Json&) { return false; }, nullptr, 5s).has_value());
  EXPECT_EQ(stream.close_code(), 4001);
  // The other session goes on.
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", "", "", with_cookie(other)).status, 200);
  EXPECT_TRUE(other_stream.is_open());
  // A plain API token used for logout is left alone.
  EXPECT_EQ(http(server_->port(), "POST", "/api/v1/auth/logout", server_->token("li.na")).status, 204);
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", server_->token("li.na")).status, 200);
}

TEST_F(IdentityTest, ChangingOnesPasswordEndsEverySessionAndTheNewOneWorks) {
  const std::string cookie = session("zheng.xin");
  const std::string token = server_->token("zheng.xin");
  auto change = [&](const Json& body) {
    return http(server_->port(), "POST", "/api/v1/me/password", token, body.dump());
  };
  auto wrong_old = change({{"old", "not-the-password"}, {"new", "a-new-password-1"}});
  EXPECT_EQ(wrong_old.status, 403) << wrong_old.body;
  auto too_short = change({{"old", server_->password("zheng.xin")}, {"new", "short"}});
  EXPECT_EQ(too_short.status, 422) << too_short.body;
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", "", "", with_cookie(cookie)).status, 200);
  auto changed = change({{"old", server_->password("zheng.xin")}, {"new", "a-new-password-1"}});
  ASSERT_EQ(changed.status, 204) << changed.body;
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", "", "", with_cookie(cookie)).status, 401);
  EXPECT_EQ(login("zheng.xin", server_->password("zheng.xin")).status, 401);
  EXPECT_EQ(login("zheng.xin", "a-new-password-1").status, 200);
  // The API token is no session: it goes on.
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", token).status, 200);
  EXPECT_EQ(server_->log().find("a-new-password-1"), std::string::npos);
}

TEST_F(IdentityTest, OnlyAnAdministratorOverThePersonSetsTheirPassword) {
  auto set = [&](const std::string& as, const std::string& user) {
    return http(server_->port(), "POST", "/api/v1/users/" + user + "/password", server_->token(as),
                Json{{"password", "set-by-admin-123"}}.dump());
  };
  EXPECT_EQ(set("wang.wei", "zheng.xin").status, 403);
  EXPECT_EQ(set("zheng.xin", "zheng.xin").status, 403);
  EXPECT_EQ(set("admin", "no.such.user").status, 404);
  EXPECT_EQ(http(server_->port(), "POST", "/api/v1/users/zheng.xin/password", server_->token("admin"),
                 Json{{"password", "short"}}.dump()).status, 422);
  ASSERT_EQ(set("admin", "zheng.xin").status, 204);
  EXPECT_EQ(login("zheng.xin", "set-by-admin-123").status, 200);
}

TEST_F(IdentityTest, SessionsSurviveARestartAndPasswordsToo) {
  const std::string cookie = session("wu.gang");
  const std::string dir = server_->dir();
  const std::string password = server_->password("wu.gang");
  ASSERT_EQ(server_->stop(), 0) << server_->log();
  ServerProcess again({}, dir);
  ASSERT_TRUE(again.started()) << again.log();
  EXPECT_EQ(http(again.port(), "GET", "/api/v1/me", "", "", with_cookie(cookie)).status, 200);
  EXPECT_EQ(http(again.port(), "POST", "/api/v1/auth/login", "", login_body("wu.gang", password)).status, 200);
  EXPECT_EQ(again.stop(), 0) << again.log();
}

// ---- the directory online ----

class DirectoryTest : public IdentityTest {
 protected:
  // As `as` with a session cookie and this server's Origin (what the console sends).
  HttpResult as(const std::string& cookie, const std::string& method, const std::string& target, const Json& body = nullptr) {
    return http(server_->port(), method, target, "", body.is_null() ? "" : body.dump(), with_cookie(cookie, kOwnOrigin));
  }
  HttpResult admin(const std::string& method, const std::string& target, const Json& body = nullptr) {
    return http(server_->port(), method, target, server_->token("admin"), body.is_null() ? "" : body.dump());
  }
  std::string users_seen_by_admin() { return admin("GET", "/api/v1/users?limit=1000").body; }
};

TEST_F(DirectoryTest, ADepartmentAdministratorsEveryEscalationIsRefused) {
  ASSERT_EQ(admin("POST", "/api/v1/users",
                  {{"id", "fin.admin"}, {"name", "财政局管理员"}, {"org", "city/finance"},
                   {"roles", {{{"role", "admin"}, {"org", "city/finance"}}}}, {"password", "fin-admin-password"}}).status,
            201);
  // A city-wide administrator whose home org lies in finance.
  ASSERT_EQ(admin("POST", "/api/v1/users",
                  {{"id", "city.admin2"}, {"name", "市管理员二"}, {"org", "city/finance"},
                   {"roles", {{{"role", "admin"}, {"org", "city"}}}}}).status,
            201);
  auto logged_in = login("fin.admin", "fin-admin-password");
  ASSERT_EQ(logged_in.status, 200) << logged_in.body;
  const std::string fin = cookie_of(logged_in);
  const std::string before = users_seen_by_admin();

  struct Attempt {
    const char* method;
    std::string target;
    Json body;
    int status;
    const char* what;
  };
  const Json admin_at_city = {{{"role", "admin"}, {"org", "city"}}};
  const std::vector<Attempt> attempts = {
      {"PATCH", "/api/v1/users/fin.admin", {{"roles", admin_at_city}}, 403, "grant oneself admin at the root"},
      {"POST", "/api/v1/users", {{"id", "x1"}, {"name", "甲"}, {"org", "city/finance"}, {"roles", admin_at_city}}, 403,
       "create an admin above"},
      {"POST", "/api/v1/users", {{"id", "x2"}, {"name", "乙"}, {"org", "city/education"}}, 403, "create in another department"},
      {"POST", "/api/v1/users", {{"id", "x3"}, {"name", "丙"}, {"org", "city/nowhere"}}, 403, "an org out of reach that does not exist"},
      {"PATCH", "/api/v1/users/zheng.xin", {{"org", "city/education"}}, 403, "move someone out of reach"},
      {"PATCH", "/api/v1/users/zheng.xin", {{"roles", {{{"role", "party_group"}, {"org", "city/education"}}}}}, 403,
       "grant a role in another department"},
      {"PATCH", "/api/v1/users/city.admin2", {{"disabled", true}}, 403, "disable an administrator above"},
      {"PATCH", "/api/v1/users/city.admin2", {{"roles", Json::array()}}, 403, "demote an administrator above"},
      {"POST", "/api/v1/users/city.admin2/revoke-tokens", Json::object(), 403, "revoke an administrator above"},
      {"POST", "/api/v1/users/city.admin2/password", {{"password", "taken-over-123"}}, 403, "take over an administrator above"},
      {"PATCH", "/api/v1/users/admin", {{"disabled", true}}, 404, "the root's administrator is out of sight"},
      {"POST", "/api/v1/users/admin/password", {{"password", "taken-over-123"}}, 404, "out of sight"},
      {"POST", "/api/v1/users/admin/revoke-tokens", Json::object(), 404, "out of sight"},
      {"PATCH", "/api/v1/users/chen.jie", {{"name", "改名"}}, 404, "another department's person"},
      {"POST", "/api/v1/users/chen.jie/revoke-tokens", Json::object(), 404, "another department's person"},
      {"POST", "/api/v1/orgs", {{"path", "city/education/b9"}, {"name", "支部"}, {"kind", "branch"}}, 403, "an org elsewhere"},
      {"POST", "/api/v1/orgs", {{"path", "other"}, {"name", "另一个根"}, {"kind", "city"}}, 403, "a second root"},
      {"PATCH", "/api/v1/orgs/city", {{"name", "改名"}}, 403, "the root: seen (above), not reached"},
      {"PATCH", "/api/v1/orgs/city%2Feducation", {{"name", "改名"}}, 404, "another department"},
      {"POST", "/api/v1/workflows", Json::object(), 403, "definitions belong to the root"},
  };
  for (const Attempt& a : attempts) {
    auto r = as(fin, a.method, a.target, a.body);
    EXPECT_EQ(r.status, a.status) << a.what << ": " << a.method << " " << a.target << " → " << r.body;
  }
  EXPECT_EQ(users_seen_by_admin(), before) << "a refused attempt changed the directory";
  EXPECT_EQ(login("city.admin2", "taken-over-123").status, 401);

  // Within the department: all of it works, at once.
  EXPECT_EQ(as(fin, "POST", "/api/v1/orgs", {{"path", "city/finance/b3"}, {"name", "第三党支部"}, {"kind", "branch"}}).status, 201);
  EXPECT_EQ(as(fin, "PATCH", "/api/v1/orgs/city%2Ffinance%2Fb3", {{"name", "市财政局第三党支部"}}).status, 200);
  auto created = as(fin, "POST", "/api/v1/users",
                    {{"id", "qian.feng"}, {"name", "钱峰"}, {"org", "city/finance/b3"},
                     {"roles", {{{"role", "branch_secretary"}, {"org", "city/finance/b3"}}}}, {"password", "qian-feng-password"}});
  ASSERT_EQ(created.status, 201) << created.body;
  auto qian = login("qian.feng", "qian-feng-password");
  ASSERT_EQ(qian.status, 200) << qian.body;
  EXPECT_EQ(qian.json()["roles"][0]["org"], "city/finance/b3");
  EXPECT_EQ(as(fin, "POST", "/api/v1/users", {{"id", "qian.feng"}, {"name", "又一个"}, {"org", "city/finance"}}).status, 422);
}

TEST_F(DirectoryTest, TheUserListShowsWhomTheCallerSeesPagedAndFiltered) {
  auto list = [&](const std::string& user, const std::string& query) {
    auto r = http(server_->port(), "GET", "/api/v1/users" + query, server_->token(user));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  };
  auto ids = [](const Json& page) {
    std::vector<std::string> out;
    for (const Json& u : page["items"]) out.push_back(u["id"]);
    return out;
  };
  const Json all = list("admin", "?limit=1000");
  EXPECT_EQ(all["items"].size(), 11u);
  EXPECT_TRUE(all["next_cursor"].is_null());
  const Json first = all["items"][0];
  for (const char* key : {"id", "name", "org", "roles", "disabled"}) EXPECT_TRUE(first.contains(key)) << key;
  // wang.wei (party group of finance) sees finance's people, no one of education.
  const auto finance = ids(list("wang.wei", "?limit=1000"));
  EXPECT_NE(std::find(finance.begin(), finance.end(), "zheng.xin"), finance.end());
  EXPECT_EQ(std::find(finance.begin(), finance.end(), "chen.jie"), finance.end());
  EXPECT_EQ(std::find(finance.begin(), finance.end(), "admin"), finance.end());
  // Filters and pages.
  EXPECT_EQ(ids(list("admin", "?org=city/education")), (std::vector<std::string>{"chen.jie", "sun.li", "zhao.lei"}));
  EXPECT_EQ(ids(list("admin", "?q=%E5%BC%A0")), (std::vector<std::string>{"zhang.min"}));  // 张
  const Json page1 = list("admin", "?limit=4");
  ASSERT_EQ(page1["items"].size(), 4u);
  ASSERT_TRUE(page1["next_cursor"].is_string());
  const Json page2 = list("admin", "?limit=1000&cursor=" + page1["next_cursor"].get<std::string>());
  EXPECT_EQ(page1["items"].size() + page2["items"].size(), 11u);
  EXPECT_EQ(page2["items"][0], all["items"][4]);
}

TEST_F(DirectoryTest, DisablingAPersonClosesTheirStreamAndRefusesThemUntilEnabled) {
  WsClient stream;
  ASSERT_EQ(stream.connect(server_->port(), "/api/v1/stream", server_->token("zheng.xin")), 101);
  const std::string cookie = session("zheng.xin");
  ASSERT_EQ(admin("PATCH", "/api/v1/users/zheng.xin", {{"disabled", true}}).status, 200);
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", server_->token("zheng.xin")).status, 401);
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", "", "", with_cookie(cookie)).status, 401);
  EXPECT_EQ(login("zheng.xin", server_->password("zheng.xin")).status, 401);
  EXPECT_FALSE(stream.read_until([](const Json&) { return false; }, nullptr, 5s).has_value());
  EXPECT_EQ(stream.close_code(), 4001);
  auto listed = admin("GET", "/api/v1/users?q=zheng.xin");
  EXPECT_EQ(listed.json()["items"][0]["disabled"], true) << listed.body;
  ASSERT_EQ(admin("PATCH", "/api/v1/users/zheng.xin", {{"disabled", false}}).status, 200);
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", server_->token("zheng.xin")).status, 200);
  EXPECT_EQ(admin("PATCH", "/api/v1/users/admin", {{"disabled", true}}).status, 422);  // not oneself
}

TEST_F(DirectoryTest, DirectoryChangesAreEventsForAdministratorsAndVerifyCoversThem) {
  WsClient admin_stream, member_stream;
  ASSERT_EQ(admin_stream.connect(server_->port(), "/api/v1/stream", server_->token("admin")), 101);
  ASSERT_EQ(member_stream.connect(server_->port(), "/api/v1/stream", server_->token("zheng.xin")), 101);
  ASSERT_EQ(admin("PATCH", "/api/v1/users/zheng.xin", {{"name", "郑新"}}).status, 200);
  auto seen = admin_stream.read_until([](const Json& m) { return m.value("type", "") == "event"; }, nullptr, 10s);
  ASSERT_TRUE(seen.has_value());
  const Json event = (*seen)["event"];
  EXPECT_EQ(event["type"], "directory");
  EXPECT_EQ(event["changes"]["user"]["name"], "郑新");
  EXPECT_EQ(event["changes"]["before"]["name"], "郑欣");
  // The member sees none of it (only heartbeats, if anything).
  EXPECT_FALSE(member_stream.read_until([](const Json& m) { return m.value("type", "") == "event"; }, nullptr, 2s).has_value());
  auto feed = http(server_->port(), "GET", "/api/v1/events?since=0&limit=1000", server_->token("zheng.xin"));
  EXPECT_EQ(feed.body.find("\"directory\""), std::string::npos);
  auto admin_feed = admin("GET", "/api/v1/events?since=0&limit=1000");
  EXPECT_NE(admin_feed.body.find("\"directory\""), std::string::npos);
  EXPECT_EQ(admin_feed.body.find("argon2"), std::string::npos);

  const std::string dir = server_->dir();
  ASSERT_EQ(server_->stop(), 0) << server_->log();
  const std::string command = std::string(PIONEER_BINARY) + " verify --data " + dir + "/data > " + dir + "/verify.out 2>&1";
  const int rc = std::system(command.c_str());
  std::ifstream out(dir + "/verify.out");
  std::string report((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << report;
}

TEST(SessionCookie, IsFoundAmongOtherCookiesAndItsHeaderCarriesTheFlags) {
  EXPECT_EQ(api::cookie_value("a=1; pioneer_session=abc; b=2", "pioneer_session"), "abc");
  EXPECT_EQ(api::cookie_value("pioneer_session=\"q\"", "pioneer_session"), "q");
  EXPECT_EQ(api::cookie_value("xpioneer_session=abc; pioneer_sessionx=d", "pioneer_session"), "");
  EXPECT_EQ(api::cookie_value("", "pioneer_session"), "");
  EXPECT_EQ(api::session_cookie_header("t", false), "pioneer_session=t; HttpOnly; SameSite=Strict; Path=/");
  EXPECT_EQ(api::session_cookie_header("t", true), "pioneer_session=t; HttpOnly; SameSite=Strict; Path=/; Secure");
  EXPECT_EQ(api::session_cookie_header("", true), "pioneer_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure");
}

// The failure window with an injected clock (the server reads the engine's clock).
TEST(LoginLimitsTest, FailuresLockAUserForTheWindowThenNoLonger) {
  api::Logins logins(api::Logins::Options{1, 4, 5, 50, 15 * 60 * 1000});
  const int64_t t0 = 1'000'000;
  for (int i = 0; i < 4; ++i) logins.record_failure("u", "10.0.0.1", t0 + i * 1000);
  EXPECT_EQ(logins.retry_after_ms("u", "10.0.0.1", t0 + 4000), 0);
  logins.record_failure("u", "10.0.0.1", t0 + 4000);
  EXPECT_EQ(logins.retry_after_ms("u", "10.0.0.2", t0 + 5000), 15 * 60 * 1000 - 5000);
  EXPECT_EQ(logins.retry_after_ms("other", "10.0.0.2", t0 + 5000), 0);
  // The first failure leaves the window: four remain, under the limit.
  EXPECT_EQ(logins.retry_after_ms("u", "10.0.0.2", t0 + 15 * 60 * 1000), 0);
  // A success clears the user's count.
  logins.record_failure("v", "10.0.0.3", t0);
  logins.record_success("v");
  for (int i = 0; i < 4; ++i) logins.record_failure("v", "10.0.0.3", t0);
  EXPECT_EQ(logins.retry_after_ms("v", "10.0.0.4", t0), 0);
}

TEST(LoginLimitsTest, OneAddressIsLimitedAcrossUsers) {
  api::Logins logins(api::Logins::Options{1, 4, 5, 3, 60 * 1000});
  logins.record_failure("a", "10.0.0.9", 0);
  logins.record_failure("b", "10.0.0.9", 0);
  EXPECT_EQ(logins.retry_after_ms("c", "10.0.0.9", 10), 0);
  logins.record_failure("c", "10.0.0.9", 0);
  EXPECT_EQ(logins.retry_after_ms("d", "10.0.0.9", 10), 60 * 1000 - 10);
  EXPECT_EQ(logins.retry_after_ms("d", "10.0.0.10", 10), 0);
}

}  // namespace
}  // namespace pioneer::test
