// Security end-to-end tests against the real binary: TLS (HTTPS and WSS), token
// revocation effective at once (also for open streams), and the admin client the CLI uses.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "api/admin_client.h"
#include "common/crypto.h"
#include "engine/engine.h"
#include "tests/api/test_client.h"
#include "tests/support/support.h"

namespace pioneer::test {
namespace {

using Clock = std::chrono::steady_clock;

bool is_event(const Json& m) { return m.is_object() && m.value("type", "") == "event"; }

using pioneer::testing::TempDir;

// A self-signed certificate for 127.0.0.1 made with the openssl command-line tool.
bool make_self_signed(const std::string& dir, std::string& cert, std::string& key) {
  cert = dir + "/cert.pem";
  key = dir + "/key.pem";
  std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 "
                        "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert +
                        " >" + dir + "/openssl.log 2>&1";
  int rc = std::system(command.c_str());
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0 && std::filesystem::exists(cert);
}

// A CA and a certificate for 127.0.0.1 that it issued (leaf.pem, leaf.key, ca.pem in `dir`).
bool make_ca_issued(const std::string& dir) {
  std::ofstream(dir + "/leaf.ext") << "subjectAltName=IP:127.0.0.1\n";
  const std::string log = " >>" + dir + "/openssl.log 2>&1";
  const std::string command =
      "cd " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=Pioneer-Test-CA -days 1 -keyout ca.key -out ca.pem" +
      log + " && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout leaf.key -out leaf.csr" + log +
      " && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out leaf.pem" + log;
  int rc = std::system(command.c_str());
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0 && std::filesystem::exists(dir + "/leaf.pem");
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(make_self_signed(dir_.path(), cert_, key_)) << "openssl req failed; see " << dir_.path();
    config_ = dir_.path() + "/config.json";
    std::ofstream(config_) << R"({"request_timeout_s": 2})";
  }
  TempDir dir_;
  std::string cert_, key_, config_;
};

TEST_F(TlsTest, ServesHttpsAndWssAndRefusesPlainHttpCleanly) {
  ServerProcess server({"--tls-cert", cert_, "--tls-key", key_, "--config", config_});
  ASSERT_TRUE(server.started()) << server.log();
  EXPECT_TRUE(server.tls()) << "expected 'listening on https://...'";
  const uint16_t port = server.port();

  // HTTPS, with the certificate verified.
  auto me = https(port, cert_, "GET", "/api/v1/me", server.token("wang.wei"));
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me.json()["id"], "wang.wei");
  EXPECT_EQ(https(port, cert_, "GET", "/api/v1/me", "pio_wrong").status, 401);
  EXPECT_EQ(https(port, cert_, "GET", "/healthz").status, 200);

  // A plain-HTTP client on the TLS port gets no HTTP answer and is disconnected promptly.
  auto t0 = Clock::now();
  std::string plain = raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 6s);
  EXPECT_FALSE(plain.starts_with("HTTP/")) << plain.substr(0, 100);
  EXPECT_LT(Clock::now() - t0, 5s) << "the server kept a non-TLS client";
  EXPECT_EQ(http(port, "GET", "/healthz").status, 0);
  // A client that connects and never starts the handshake is dropped after request_timeout_s.
  t0 = Clock::now();
  EXPECT_TRUE(closed_by_server(port, "", 6s));
  EXPECT_LT(Clock::now() - t0, 5s);

  // WSS: an event created over HTTPS arrives on the stream.
  WsClient ws(cert_);
  ASSERT_EQ(ws.connect(port, "/api/v1/stream", server.token("li.na")), 101);
  auto created = https(port, cert_, "POST", "/api/v1/instances", server.token("wang.wei"),
                       Json{{"workflow", "yizhi-yixiang"}, {"org", "city/finance"},
                            {"fields", {{"title", "加密传输"}}}}
                           .dump());
  ASSERT_EQ(created.status, 201) << created.body;
  auto event = ws.read_until(is_event, nullptr, 10s);
  ASSERT_TRUE(event.has_value()) << "no event over WSS (close code " << ws.close_code() << ")";
  EXPECT_EQ((*event)["event"]["instance_id"], created.json()["id"]);
  // A bad token is still refused before the upgrade.
  WsClient bad(cert_);
  EXPECT_EQ(bad.connect(port, "/api/v1/stream", "pio_wrong"), 401);

  // Everything else kept working, and failed handshakes were counted.
  auto metrics = https(port, cert_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.body.find("pioneer_tls_handshake_failures_total 0\n"), std::string::npos) << metrics.body;
  ws.close();
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// Over TLS the session cookie is Secure: a browser never sends it over plain HTTP.
TEST_F(TlsTest, TheSessionCookieIsSecureUnderTls) {
  ServerProcess server({"--tls-cert", cert_, "--tls-key", key_, "--config", config_});
  ASSERT_TRUE(server.started()) << server.log();
  auto r = https(server.port(), cert_, "POST", "/api/v1/auth/login", "",
                 Json{{"user", "wang.wei"}, {"password", server.password("wang.wei")}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string set = r.header("set-cookie");
  EXPECT_NE(set.find("; Secure"), std::string::npos) << set;
  EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
  EXPECT_NE(set.find("SameSite=Strict"), std::string::npos) << set;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// Revoking online works against a TLS server too, not only over http://. The certificate is verified: against --ca, and it must name the host in the URL.
TEST_F(TlsTest, TheCommandLineRevokesOverHttpsAndChecksTheCertificate) {
  ServerProcess server({"--tls-cert", cert_, "--tls-key", key_, "--config", config_});
  ASSERT_TRUE(server.started()) << server.log();
  const std::string port = std::to_string(server.port());
  const std::string url = "https://127.0.0.1:" + port;

  auto untrusted = api::revoke_user_tokens(url, server.token("admin"), "zheng.xin");  // system roots only
  EXPECT_EQ(untrusted.status, 0);
  EXPECT_NE(untrusted.error.find("not trusted"), std::string::npos) << untrusted.error;
  // The certificate names 127.0.0.1, not localhost.
  auto wrong_name = api::revoke_user_tokens("https://localhost:" + port, server.token("admin"), "zheng.xin",
                                            std::chrono::seconds(10), cert_);
  EXPECT_EQ(wrong_name.status, 0);
  EXPECT_NE(wrong_name.error.find("not trusted"), std::string::npos) << wrong_name.error;
  // Plain HTTP to the TLS port gets no answer.
  EXPECT_EQ(api::revoke_user_tokens("http://127.0.0.1:" + port, server.token("admin"), "zheng.xin",
                                    std::chrono::seconds(3)).status, 0);
  ASSERT_EQ(https(server.port(), cert_, "GET", "/api/v1/me", server.token("zheng.xin")).status, 200);

  // The binary, as an operator runs it.
  const std::string command = std::string(PIONEER_BINARY) + " user revoke --server " + url + " --ca " + cert_ +
                              " --token " + server.token("admin") + " --id zheng.xin 2>&1";
  FILE* p = popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("\"revoked\""), std::string::npos) << out;
  EXPECT_EQ(https(server.port(), cert_, "GET", "/api/v1/me", server.token("zheng.xin")).status, 401);
  EXPECT_EQ(https(server.port(), cert_, "GET", "/api/v1/me", server.token("wang.wei")).status, 200);
  // --ca means https://.
  EXPECT_NE(api::http_call("http://127.0.0.1:" + port, "GET", "/healthz", "", "", std::chrono::seconds(3), cert_).error.find("https"),
            std::string::npos);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// --ca may name the CA, or the server's own certificate when a CA issued it.
TEST_F(TlsTest, TheCommandLineTrustsACaOrTheServersOwnCertificate) {
  ASSERT_TRUE(make_ca_issued(dir_.path())) << "openssl failed; see " << dir_.path() << "/openssl.log";
  ServerProcess server({"--tls-cert", dir_.path() + "/leaf.pem", "--tls-key", dir_.path() + "/leaf.key", "--config", config_});
  ASSERT_TRUE(server.started()) << server.log();
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port());
  for (const std::string& anchor : {dir_.path() + "/ca.pem", dir_.path() + "/leaf.pem"}) {
    auto me = api::http_call(url, "GET", "/api/v1/me", server.token("li.na"), "", std::chrono::seconds(10), anchor);
    EXPECT_EQ(me.status, 200) << anchor << ": " << me.error;
  }
  auto other = api::http_call(url, "GET", "/healthz", "", "", std::chrono::seconds(10), cert_);  // an unrelated certificate
  EXPECT_EQ(other.status, 0);
  EXPECT_NE(other.error.find("not trusted"), std::string::npos) << other.error;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST_F(TlsTest, OnlyWhenConfiguredAndBothFilesAreNeeded) {
  // Without TLS options: plain HTTP, as before.
  ServerProcess plain;
  ASSERT_TRUE(plain.started()) << plain.log();
  EXPECT_FALSE(plain.tls());
  EXPECT_EQ(http(plain.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(https(plain.port(), cert_, "GET", "/healthz").status, 0);
  EXPECT_EQ(plain.stop(), 0);
  // A certificate without its key, or a key that does not exist: the server refuses to start.
  ServerProcess half({"--tls-cert", cert_});
  EXPECT_FALSE(half.started());
  ServerProcess missing({"--tls-cert", cert_, "--tls-key", dir_.path() + "/nope.pem"});
  EXPECT_FALSE(missing.started());
  EXPECT_NE(missing.log().find("tls-key"), std::string::npos) << missing.log();
}

class RevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>();
    ASSERT_TRUE(server_->started()) << server_->log();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    if (server_ && server_->started()) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
  }
  std::unique_ptr<ServerProcess> server_;
  std::string url_;
};

TEST_F(RevocationTest, AdminRouteRefusesEveryoneElse) {
  Api api(*server_);
  const std::string target = "/api/v1/users/zheng.xin/revoke-tokens";
  auto anonymous = api.post("", target, Json::object());
  EXPECT_EQ(anonymous.status, 401) << anonymous.body;
  for (const char* user : {"wang.wei", "zhou.hua", "wu.gang", "zheng.xin"}) {
    auto r = api.post(user, target, Json::object());
    EXPECT_EQ(r.status, 403) << user << ": " << r.body;
    EXPECT_EQ(error_code(r), "forbidden");
  }
  auto unknown = api.post("admin", "/api/v1/users/no.such.user/revoke-tokens", Json::object());
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  auto extra = api.post("admin", target, Json{{"colour", "red"}});
  EXPECT_EQ(extra.status, 400) << extra.body;
  EXPECT_EQ(http(server_->port(), "GET", target, server_->token("admin")).status, 405);
  // None of that revoked anything.
  EXPECT_EQ(api.get("zheng.xin", "/api/v1/me").status, 200);
}

TEST_F(RevocationTest, RevokedTokenFailsAtOnceAndItsStreamsCloseWhileOthersStayOpen) {
  Api api(*server_);
  const std::string victim = server_->token("zheng.xin");
  WsClient victim_header, victim_query, other;
  ASSERT_EQ(victim_header.connect(server_->port(), "/api/v1/stream", victim), 101);
  ASSERT_EQ(victim_query.connect(server_->port(), "/api/v1/stream?access_token=" + victim), 101);
  ASSERT_EQ(other.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);
  ASSERT_EQ(api.get("zheng.xin", "/api/v1/me").status, 200);

  // Revoked through the admin client the CLI uses (`pioneer user revoke --server`).
  auto t0 = Clock::now();
  api::ClientReply reply = api::revoke_user_tokens(url_, server_->token("admin"), "zheng.xin");
  ASSERT_EQ(reply.status, 200) << reply.error << reply.body;
  Json body = Json::parse(reply.body, nullptr, false);
  EXPECT_EQ(body["user"], "zheng.xin") << reply.body;
  EXPECT_EQ(body["revoked"], 1) << reply.body;

  // At once: the very next request is 401, and so is a new stream.
  auto me = api.get("zheng.xin", "/api/v1/me");
  EXPECT_EQ(me.status, 401) << me.body;
  WsClient again;
  EXPECT_EQ(again.connect(server_->port(), "/api/v1/stream", victim), 401);

  // The open streams of that user close with 4001 within a few seconds.
  for (WsClient* ws : {&victim_header, &victim_query}) {
    EXPECT_FALSE(ws->read_until([](const Json&) { return false; }, nullptr, 5s).has_value());
    EXPECT_FALSE(ws->is_open());
    EXPECT_EQ(ws->close_code(), 4001);
  }
  EXPECT_LT(Clock::now() - t0, 4s);

  // Another user's stream stays open and still receives events.
  auto created = api.post("wang.wei", "/api/v1/instances",
                          {{"workflow", "yizhi-yixiang"}, {"org", "city/finance"}, {"fields", {{"title", "吊销之后"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  auto event = other.read_until(is_event, nullptr, 10s);
  ASSERT_TRUE(event.has_value()) << "close code " << other.close_code();
  EXPECT_EQ((*event)["event"]["instance_id"], created.json()["id"]);
  EXPECT_TRUE(other.is_open());
  auto metrics = http(server_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("pioneer_stream_unauthenticated_total 2\n"), std::string::npos) << metrics;

  // The revocation is durable: still refused after a restart. Others' tokens still work.
  std::string dir = server_->dir();
  ASSERT_EQ(server_->stop(), 0) << server_->log();
  ServerProcess restarted({}, dir);
  ASSERT_TRUE(restarted.started()) << restarted.log();
  EXPECT_EQ(http(restarted.port(), "GET", "/api/v1/me", victim).status, 401);
  EXPECT_EQ(http(restarted.port(), "GET", "/api/v1/me", server_->token("li.na")).status, 200);
  EXPECT_EQ(restarted.stop(), 0);
}

// Expiry over HTTP (the engine test covers it with a manual clock): a token issued with a
// lifetime of a few seconds, as `pioneer user token --ttl-days` does with days, works until
// then; after it, requests are 401 and its open stream closes 4001 — with no restart.
TEST(TokenExpiryTest, AnExpiredTokenIsRefusedAndItsStreamCloses) {
  ServerProcess first;
  ASSERT_TRUE(first.started()) << first.log();
  ASSERT_EQ(first.stop(), 0) << first.log();
  const std::string token = new_token();
  int64_t expires_ms = 0;
  {
    engine::EngineOptions options;
    options.data_dir = first.data_dir();
    auto opened = engine::Engine::open(options);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    expires_ms = (*opened)->clock().now_ms() + 4000;
    auto issued = (*opened)->execute(engine::Command{engine::IssueToken{"zhao.lei", sha256_hex(token), expires_ms},
                                                     engine::Principal::system_principal(), {}, {}});
    ASSERT_TRUE(issued.has_value()) << issued.error().message;
  }
  ServerProcess server({}, first.dir());
  ASSERT_TRUE(server.started()) << server.log();
  auto me = http(server.port(), "GET", "/api/v1/me", token);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me.json()["id"], "zhao.lei");
  // A keep-alive connection whose authentication is remembered (api/router.h, AuthMemo)
  // must still see the expiry.
  HttpConnection kept(server.port());
  EXPECT_EQ(kept.request("GET", "/api/v1/me", token).status, 200);
  EXPECT_EQ(kept.request("GET", "/api/v1/me", token).status, 200);
  WsClient stream, other;
  ASSERT_EQ(stream.connect(server.port(), "/api/v1/stream?access_token=" + token), 101);
  ASSERT_EQ(other.connect(server.port(), "/api/v1/stream", server.token("zhao.lei")), 101);

  const auto wall_now = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  while (wall_now() <= expires_ms + 50) std::this_thread::sleep_for(50ms);
  auto expired = http(server.port(), "GET", "/api/v1/me", token);
  EXPECT_EQ(expired.status, 401) << expired.body;
  auto expired_kept = kept.request("GET", "/api/v1/me", token);
  EXPECT_EQ(expired_kept.status, 401) << expired_kept.body;
  EXPECT_EQ(error_code(expired), "unauthenticated") << expired.body;
  WsClient late;
  EXPECT_EQ(late.connect(server.port(), "/api/v1/stream", token), 401);
  EXPECT_FALSE(stream.read_until([](const Json&) { return false; }, nullptr, 5s).has_value());
  EXPECT_EQ(stream.close_code(), 4001);
  // The same user's other (unexpiring) token is untouched.
  EXPECT_EQ(http(server.port(), "GET", "/api/v1/me", server.token("zhao.lei")).status, 200);
  EXPECT_TRUE(other.is_open());
  EXPECT_EQ(server.stop(), 0);
}

// One keep-alive connection carrying several users' requests, as a proxy's upstream connection
// does. The connection remembers its last authentication (api/router.h, AuthMemo): each request
// must still be answered as its own token's user, a bad token on it must not inherit the last
// good one, and a revocation applies to the very next request on it.
TEST_F(RevocationTest, OneConnectionCarriesManyUsersAndSeesARevocationAtOnce) {
  auto request = [&](const std::string& method, const std::string& target, const std::string& token,
                     bool last = false) {
    std::string out = method + " " + target + " HTTP/1.1\r\nHost: pioneer\r\n";
    if (!token.empty()) out += "Authorization: Bearer " + token + "\r\n";
    if (method == "POST") out += "Content-Type: application/json\r\nContent-Length: 2\r\n";
    if (last) out += "Connection: close\r\n";
    return out + "\r\n" + (method == "POST" ? "{}" : "");
  };
  const std::string victim = server_->token("zheng.xin"), other = server_->token("li.na"),
                    admin = server_->token("admin");
  const std::string wire =
      request("GET", "/api/v1/me", victim) + request("GET", "/api/v1/me", victim) +
      request("GET", "/api/v1/me", other) + request("GET", "/api/v1/me", victim + "x") +
      request("GET", "/api/v1/me", "") + request("GET", "/api/v1/me", victim) +
      request("POST", "/api/v1/users/zheng.xin/revoke-tokens", admin) +
      request("GET", "/api/v1/me", victim) + request("GET", "/api/v1/me", admin) +
      // The connection's last authentication is admin's, made before this revocation.
      request("POST", "/api/v1/users/admin/revoke-tokens", admin) + request("GET", "/api/v1/me", admin) +
      request("GET", "/api/v1/me", other, /*last=*/true);
  auto reused = [&] {
    const std::string m = http(server_->port(), "GET", "/metrics").body;
    const std::string name = "\npioneer_http_authentications_reused_total ";
    const size_t at = m.find(name);
    return at == std::string::npos ? -1 : std::stoll(m.substr(at + name.size()));
  };
  const long long reused_before = reused();
  const std::string answers = raw_exchange(server_->port(), wire, 10s);

  // Each answer: its status and, for /me, the user id.
  std::vector<std::pair<int, std::string>> got;
  size_t at = 0;
  while ((at = answers.find("HTTP/1.1 ", at)) != std::string::npos) {
    const int status = std::stoi(answers.substr(at + 9, 3));
    const size_t head_end = answers.find("\r\n\r\n", at);
    const size_t length_at = answers.find("Content-Length: ", at);
    ASSERT_NE(head_end, std::string::npos);
    ASSERT_LT(length_at, head_end);
    const size_t length = std::stoul(answers.substr(length_at + 16));
    const Json body = Json::parse(answers.substr(head_end + 4, length), nullptr, false);
    got.emplace_back(status, body.is_object() && body.contains("id") ? body["id"].get<std::string>() : "");
    at = head_end + 4 + length;
  }
  const std::vector<std::pair<int, std::string>> want = {
      {200, "zheng.xin"}, {200, "zheng.xin"}, {200, "li.na"}, {401, ""}, {401, ""},
      {200, "zheng.xin"}, {200, ""},          {401, ""},      {200, "admin"}, {200, ""},
      {401, ""},          {200, "li.na"}};
  EXPECT_EQ(got, want) << answers;
  // Reused exactly twice: zheng.xin's second request, and admin's revocation of admin right
  // after admin's GET. Every other request changed the header or followed a revocation.
  EXPECT_EQ(reused() - reused_before, 2);
}

TEST_F(RevocationTest, TheTokenIsNeverLogged) {
  const std::string victim = server_->token("zheng.xin");
  {
    WsClient ws;
    ASSERT_EQ(ws.connect(server_->port(), "/api/v1/stream?access_token=" + victim), 101);
    ASSERT_EQ(api::revoke_user_tokens(url_, server_->token("admin"), "zheng.xin").status, 200);
    EXPECT_FALSE(ws.read_until([](const Json&) { return false; }, nullptr, 5s).has_value());
    EXPECT_EQ(ws.close_code(), 4001);
  }
  EXPECT_EQ(http(server_->port(), "GET", "/api/v1/me", victim).status, 401);
  ASSERT_EQ(server_->stop(), 0);
  std::string log = server_->log();
  EXPECT_FALSE(log.empty());
  EXPECT_EQ(log.find(victim), std::string::npos) << "a token appears in the server log";
  EXPECT_EQ(log.find(server_->token("admin")), std::string::npos) << "a token appears in the server log";
}

TEST_F(RevocationTest, AdminClientAnswersAndFailsCleanly) {
  // Every answer comes back with its status and body.
  auto me = api::http_call(url_, "GET", "/api/v1/me", server_->token("li.na"), "");
  EXPECT_EQ(me.status, 200) << me.error;
  EXPECT_EQ(Json::parse(me.body, nullptr, false)["id"], "li.na") << me.body;
  auto forbidden = api::revoke_user_tokens(url_, server_->token("wang.wei"), "li.na");
  EXPECT_EQ(forbidden.status, 403) << forbidden.error;
  EXPECT_NE(forbidden.body.find("forbidden"), std::string::npos) << forbidden.body;
  EXPECT_EQ(api::revoke_user_tokens(url_, server_->token("admin"), "no.such.user").status, 404);
  EXPECT_EQ(api::revoke_user_tokens(url_, "pio_wrong", "li.na").status, 401);
  EXPECT_EQ(api::revoke_user_tokens(url_ + "/", server_->token("admin"), "nobody/../x").status, 404);
  EXPECT_EQ(api::http_call("http://localhost:" + std::to_string(server_->port()), "GET", "/healthz", "", "").status, 200);

  // No answer: error set, status 0, never a hang.
  for (const std::string& bad : {std::string("https://127.0.0.1:1"), std::string("ftp://x"), std::string("http://"),
                                 std::string("https://127.0.0.1:" + std::to_string(server_->port())),  // not TLS
                                 std::string("http://127.0.0.1:notaport")}) {
    auto r = api::http_call(bad, "GET", "/healthz", "", "");
    EXPECT_EQ(r.status, 0) << bad;
    EXPECT_FALSE(r.error.empty()) << bad;
  }
  auto refused = api::http_call("http://127.0.0.1:1", "GET", "/healthz", "", "", 2s);
  EXPECT_EQ(refused.status, 0);
  EXPECT_FALSE(refused.error.empty());
  // A header injection attempt through the token is refused before anything is sent.
  auto injected = api::http_call(url_, "GET", "/api/v1/me", "x\r\nX-Evil: 1", "");
  EXPECT_EQ(injected.status, 0);
  // li.na was not revoked by any of this.
  EXPECT_EQ(api::http_call(url_, "GET", "/api/v1/me", server_->token("li.na"), "").status, 200);
}

}  // namespace
}  // namespace pioneer::test
