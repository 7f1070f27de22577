// Unit tests of the Beast-free parts of api/: routing, the error mapping, query parsing, the
// stream filters and the config file. Fast; no server process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>

#include "api/http.h"
#include "api/hub.h"
#include "api/router.h"
#include "api/server.h"
#include "api/static_files.h"

namespace pioneer::api {
extern const char kOpenApiDocument[];
extern const size_t kOpenApiDocumentSize;
}  // namespace pioneer::api

namespace pioneer::api {
namespace {

TEST(Router, EveryRouteIsDocumentedInOpenApi) {
  Json doc = Json::parse(std::string(kOpenApiDocument, kOpenApiDocumentSize), nullptr, false);
  ASSERT_TRUE(doc.is_object()) << "api/openapi.json is not JSON";
  Router router;
  for (const Route& route : router.routes()) {
    std::string method(route.method);
    std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string path(route.pattern);
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    EXPECT_TRUE(doc["paths"][path].contains(method)) << route.method << " " << path;
  }
  // And nothing documented that the server does not serve.
  for (const auto& [path, ops] : doc["paths"].items()) {
    bool served = std::any_of(router.routes().begin(), router.routes().end(),
                              [&](const Route& r) { return r.pattern == path; });
    EXPECT_TRUE(served) << "documented but not routed: " << path;
  }
}

TEST(Router, MatchesPatternsSegmentBySegment) {
  std::vector<std::string> params;
  EXPECT_TRUE(match_pattern("/api/v1/instances/{id}", "/api/v1/instances/01ABC", params));
  EXPECT_EQ(params, std::vector<std::string>{"01ABC"});
  EXPECT_TRUE(match_pattern("/api/v1/workflows/{id}/graph", "/api/v1/workflows/a%20b/graph", params));
  EXPECT_EQ(params, std::vector<std::string>{"a b"});
  EXPECT_FALSE(match_pattern("/api/v1/instances/{id}", "/api/v1/instances/", params));
  EXPECT_FALSE(match_pattern("/api/v1/instances/{id}", "/api/v1/instances/x/y", params));
  EXPECT_FALSE(match_pattern("/api/v1/me", "/api/v1/me/", params));
  EXPECT_FALSE(match_pattern("/api/v1/me", "/api/v1/mex", params));
  EXPECT_TRUE(match_pattern("/healthz", "/healthz", params));
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405WithoutTouchingState) {
  Router router;  // no state: these answers must not need it
  auto answer = [&](const char* method, const char* path) {
    Request request;
    request.method = method;
    request.path = path;
    Response got;
    router.dispatch(request, [&](Response r) { got = std::move(r); });
    return got;
  };
  auto allow = [](const Response& r) {
    for (const auto& [name, value] : r.headers) {
      if (name == "Allow") return value;
    }
    return std::string();
  };
  Response got = answer("GET", "/api/v2/me");
  EXPECT_EQ(got.status, 404);
  EXPECT_EQ(Json::parse(got.body)["error"]["code"], "not_found");
  EXPECT_EQ(allow(got), "");
  got = answer("PUT", "/api/v1/instances/abc");
  EXPECT_EQ(got.status, 405);
  EXPECT_EQ(Json::parse(got.body)["error"]["code"], "bad_request");
  EXPECT_EQ(allow(got), "GET");
  got = answer("PUT", "/api/v1/instances");
  EXPECT_EQ(got.status, 405);
  EXPECT_EQ(allow(got), "GET, POST");
  got = answer("HEAD", "/api/v1/instances/abc/events");
  EXPECT_EQ(got.status, 405);
  EXPECT_EQ(allow(got), "GET");
}

// match_pattern holds at most kMaxRouteParams parameters; a route with more could never match.
TEST(Router, NoRouteHasMoreParametersThanMatchPatternHolds) {
  for (const Route& route : Router().routes()) {
    EXPECT_LE(static_cast<size_t>(std::count(route.pattern.begin(), route.pattern.end(), '{')), kMaxRouteParams)
        << route.pattern;
  }
  std::vector<std::string> params;
  EXPECT_TRUE(match_pattern("/a/{1}/{2}/{3}/{4}", "/a/x/y/z/w", params));
  EXPECT_EQ(params, (std::vector<std::string>{"x", "y", "z", "w"}));
  EXPECT_FALSE(match_pattern("/a/{1}/{2}/{3}/{4}/{5}", "/a/x/y/z/w/v", params));
}

TEST(ErrorResponse, MapsEveryCodeToTheStatusOfApiMd) {
  const std::vector<std::pair<Code, int>> table = {
      {Code::kInvalidJson, 400}, {Code::kBadRequest, 400}, {Code::kUnauthenticated, 401},
      {Code::kForbidden, 403}, {Code::kNotFound, 404}, {Code::kVersionConflict, 409},
      {Code::kTransitionNotAllowed, 409}, {Code::kIdempotencyConflict, 409},
      {Code::kPayloadTooLarge, 413}, {Code::kMissingFields, 422}, {Code::kInvalidField, 422},
      {Code::kInvalidDefinition, 422}, {Code::kOverloaded, 503}, {Code::kInternal, 500},
      {Code::kCorruption, 500}};
  for (auto [code, status] : table) {
    Response r = error_response(Error::make(code, "消息 (message)", Json{{"missing", {"a"}}}));
    EXPECT_EQ(r.status, status) << code_name(code);
    EXPECT_EQ(r.content_type, "application/json");
    Json body = Json::parse(r.body);
    EXPECT_EQ(body["error"]["code"], code_name(code));
    EXPECT_TRUE(body["error"]["details"].is_object());
  }
  Response overloaded = error_response(Error::make(Code::kOverloaded, "忙 (busy)"));
  ASSERT_EQ(overloaded.headers.size(), 1u);
  EXPECT_EQ(overloaded.headers[0], (std::pair<std::string, std::string>{"Retry-After", "1"}));
  // Internal details stay in the log.
  Response internal = error_response(Error::make(Code::kInternal, "rocksdb: IO error /secret/path"));
  EXPECT_EQ(internal.body.find("secret"), std::string::npos);
}

TEST(Http, ResponseHeadIsTheWireFormatAndCannotBeSplit) {
  Response res = json_response(201, Json{{"id", "x"}});
  res.headers.emplace_back("Idempotent-Replayed", "true");
  EXPECT_EQ(response_head(res, 11, true),
            "HTTP/1.1 201 Created\r\nServer: pioneer\r\nContent-Type: application/json\r\n"
            "Content-Security-Policy: " + std::string(kContentSecurityPolicy) + "\r\n"
            "X-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\n"
            "Idempotent-Replayed: true\r\nContent-Length: " + std::to_string(res.body.size()) + "\r\n\r\n");
  // Connection only when it differs from the version's default.
  EXPECT_NE(response_head(res, 11, false).find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_EQ(response_head(res, 10, false).find("Connection:"), std::string::npos);
  const std::string keep10 = response_head(res, 10, true);
  EXPECT_TRUE(keep10.starts_with("HTTP/1.0 201 Created\r\n")) << keep10;
  EXPECT_NE(keep10.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  // Every status we send has its reason phrase; a value can never start a field of its own.
  Response error = error_response(Error::make(Code::kOverloaded, "busy"));
  EXPECT_TRUE(response_head(error, 11, true).starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_NE(response_head(error, 11, true).find("\r\nRetry-After: 1\r\n"), std::string::npos);
  Response evil = text_response(200, "", "text/plain\r\nSet-Cookie: a=b");
  const std::string head = response_head(evil, 11, true);
  EXPECT_EQ(head.find("\r\nSet-Cookie"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 0\r\n\r\n"), std::string::npos) << head;
}

TEST(Http, QueryAndBearerParsing) {
  auto q = parse_query("limit=5&q=%E5%B9%82+x&empty=&flag&limit=7");
  EXPECT_EQ(q["limit"], "7");
  EXPECT_EQ(q["q"], "幂 x");
  EXPECT_EQ(q["empty"], "");
  EXPECT_TRUE(q.count("flag"));
  EXPECT_EQ(percent_decode("%zz%4", false), "%zz%4");
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer  abc "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bearer"), "");
}

engine::Event event(std::string workflow, std::string org, std::string assignee,
                    std::vector<engine::AudienceEntry> audience = {}) {
  engine::Event e;
  e.seq = 7;
  e.workflow = std::move(workflow);
  e.org = std::move(org);
  e.assignee_org = std::move(assignee);
  e.audience = std::move(audience);
  return e;
}

TEST(Stream, FilterNarrowsByWorkflowAndSubtree) {
  StreamFilter all;
  EXPECT_TRUE(all.admits(event("w", "city/finance", "")));
  StreamFilter b2{"", "city/finance/b2"};
  EXPECT_FALSE(b2.admits(event("w", "city/finance", "")));
  EXPECT_FALSE(b2.admits(event("w", "city/finance", "city/finance/b1")));
  EXPECT_TRUE(b2.admits(event("w", "city/finance", "city/finance/b2")));
  StreamFilter wf{"inspection-rectification", ""};
  EXPECT_FALSE(wf.admits(event("yizhi-yixiang", "city/finance", "")));
  EXPECT_TRUE(wf.admits(event("inspection-rectification", "city/finance", "")));
}

TEST(Stream, MineWhenAGrantCoversAnAudienceEntry) {
  engine::Principal zhou;
  zhou.roles = {{"inspection_office", "city"}};
  engine::Principal zhang;
  zhang.roles = {{"branch_secretary", "city/finance/b1"}};
  auto e = event("w", "city/finance", "city/finance/b1",
                 {{"inspection_office", "city/finance", ""}, {"branch_secretary", "city/finance/b2", ""}});
  EXPECT_TRUE(is_mine(zhou, e));    // city covers city/finance
  EXPECT_FALSE(is_mine(zhang, e));  // b1 does not cover b2
  // An entry naming a user is that user's, whatever roles they hold.
  zhang.id = "zhang.min";
  e.audience.push_back({"", "", "zhang.min"});
  EXPECT_TRUE(is_mine(zhang, e));
  engine::Principal nobody;
  nobody.id = "wang.wei";
  EXPECT_FALSE(is_mine(nobody, e));
}

TEST(Stream, ClientMessages) {
  EXPECT_EQ(parse_client_message("nope").error().code, Code::kInvalidJson);
  EXPECT_EQ(parse_client_message("[]").error().code, Code::kBadRequest);
  EXPECT_EQ(parse_client_message(R"({"type":"widen"})").error().code, Code::kBadRequest);
  EXPECT_EQ(parse_client_message(R"({"type":"subscribe","org":1})").error().code, Code::kBadRequest);
  EXPECT_EQ(parse_client_message(R"({"type":"subscribe","colour":"red"})").error().code, Code::kBadRequest);
  auto ok = parse_client_message(R"({"type":"subscribe","workflow":"w","org":"city/finance"})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->workflow, "w");
  EXPECT_EQ(ok->org, "city/finance");
  EXPECT_EQ(Json::parse(heartbeat_frame(42)), (Json{{"type", "heartbeat"}, {"head", 42}}));
}

// Names a person reads: UTF-8, no control characters, not blank, bounded.
TEST(DisplayNames, ControlCharactersAndBadUtf8AreRefused) {
  EXPECT_EQ(display_name_problem("市财政局第三党支部"), std::nullopt);
  EXPECT_EQ(display_name_problem("Li Na · 李娜"), std::nullopt);
  EXPECT_EQ(display_name_problem("😀"), std::nullopt);  // four bytes
  EXPECT_EQ(display_name_problem("第一\xe3\x80\x80支部"), std::nullopt);  // an ideographic space inside
  for (std::string bad : {std::string("a\tb"), std::string("a\nb"), std::string("a\rb"), std::string("a\x7f"),
                          std::string("a\xc2\x85"),  // U+0085, a C1 control (next line)
                          std::string("\xff"), std::string("\xc0\xaf"),  // not UTF-8; an overlong '/'
                          std::string("\xed\xa0\x80"),                // a surrogate
                          std::string("\xe5\xb8"),                     // cut short
                          std::string("\xf4\x90\x80\x80"),           // above U+10FFFF
                          std::string("\xe2\x80\xa8"),                // U+2028, a line separator
                          std::string("ab\xe2\x80\xae" "cd"),            // U+202E, a right-to-left override
                          std::string(""), std::string("   "),
                          std::string("\xe3\x80\x80\xc2\xa0"),       // U+3000 and U+00A0 only: blank
                          std::string("\xe3\x85\xa4\xe2\xa0\x80"),   // a Hangul and a Braille filler: blank
                          std::string("a\xe2\x80\x8f" "b"),          // U+200F, a right-to-left mark
                          std::string("a\xf3\xa0\x80\x81")}) {       // U+E0001, a tag character
    EXPECT_NE(display_name_problem(bad), std::nullopt) << bad;
  }
  std::string long_name;
  for (int i = 0; i < 100; ++i) long_name += "党";
  EXPECT_EQ(display_name_problem(long_name), std::nullopt);  // 100 characters, 300 bytes
  long_name += "党";
  EXPECT_NE(display_name_problem(long_name), std::nullopt);
}

TEST(ClientJson, DepthIsCountedOutsideStringsOnly) {
  EXPECT_TRUE(json_depth_within("", 64));
  EXPECT_TRUE(json_depth_within(std::string(64, '[') + std::string(64, ']'), 64));
  EXPECT_FALSE(json_depth_within(std::string(65, '[') + std::string(65, ']'), 64));
  EXPECT_FALSE(json_depth_within(std::string(1000000, '['), 64));
  EXPECT_TRUE(json_depth_within(R"({"a":[1,{"b":[]}],"c":{}})", 4));
  EXPECT_FALSE(json_depth_within(R"({"a":[1,{"b":[]}]})", 3));
  // Brackets inside strings, also after escaped quotes and backslashes, do not count.
  EXPECT_TRUE(json_depth_within("[\"" + std::string(500, '[') + "\"]", 1));
  EXPECT_TRUE(json_depth_within(R"(["\"[[[[", "\\", "{{{{"])", 1));
  EXPECT_FALSE(json_depth_within(R"(["\\", [[]]])", 2));  // that string is one escaped backslash
  // Closing more than was opened never underflows into "allowed deeper later".
  EXPECT_FALSE(json_depth_within("]]]]" + std::string(65, '['), 64));
}

TEST(ClientJson, ParseRefusesDeepAndMalformedAsInvalidJson) {
  EXPECT_EQ(parse_client_json(std::string(100000, '[') + std::string(100000, ']')).error().code, Code::kInvalidJson);
  EXPECT_EQ(parse_client_json("{\"a\":\"\xff\"}").error().code, Code::kInvalidJson);
  EXPECT_EQ(parse_client_json("{").error().code, Code::kInvalidJson);
  auto ok = parse_client_json(R"({"a":[[1]]})");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["a"][0][0], 1);
  EXPECT_EQ(parse_client_message(std::string(70, '[')).error().code, Code::kInvalidJson);
}

TEST(Stream, EventFramesAreSerialisedOnceAndDifferOnlyInMine) {
  auto shared = StreamEvent::make(event("w", "city/finance", ""));
  Json mine = Json::parse(*shared->frame(true));
  Json other = Json::parse(*shared->frame(false));
  EXPECT_EQ(mine["type"], "event");
  EXPECT_TRUE(mine["mine"].get<bool>());
  EXPECT_FALSE(other["mine"].get<bool>());
  EXPECT_EQ(mine["event"], other["event"]);
  EXPECT_EQ(mine["event"]["seq"], 7);
}

TEST(Config, AppliesKnownKeysAndRefusesTheRest) {
  std::string path = ::testing::TempDir() + "/pioneer-config-test.json";
  ServerConfig config;
  std::ofstream(path) << R"({"ws_queue_limit": 8, "heartbeat_s": 2, "listen": "0.0.0.0:9"})";
  EXPECT_EQ(apply_config_file(path, config), "");
  EXPECT_EQ(config.ws_queue_limit, 8u);
  EXPECT_EQ(config.heartbeat_s, 2);
  EXPECT_EQ(config.listen, "0.0.0.0:9");
  std::ofstream(path) << R"({"heartbeat_s": 5, "colour": "red"})";
  EXPECT_NE(apply_config_file(path, config), "");
  EXPECT_EQ(config.heartbeat_s, 2) << "a bad file changes nothing";
  std::ofstream(path) << R"({"threads": "two"})";
  EXPECT_NE(apply_config_file(path, config), "");
  EXPECT_NE(apply_config_file(path + ".missing", config), "");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace pioneer::api
