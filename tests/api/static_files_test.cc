// The console's static answers (api/static_files.h): which paths are the console's, the
// fallback to index.html, caching and gzip. Runs against whatever table this build embedded:
// the built console, or none (-DPIONEER_WEB=OFF).
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "api/router.h"
#include "api/static_files.h"

namespace pioneer::api {
namespace {

Request get(std::string path, std::string accept_encoding = "") {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  r.accept_encoding = std::move(accept_encoding);
  return r;
}

std::string header(const Response& res, std::string_view name) {
  for (const auto& [key, value] : res.headers) {
    if (key == name) return value;
  }
  return "";
}

const StaticFile* entry_script() {
  for (size_t i = 0; i < kStaticFileCount; ++i) {
    if (kStaticFiles[i].immutable && kStaticFiles[i].path.ends_with(".js")) return &kStaticFiles[i];
  }
  return nullptr;
}

TEST(StaticFiles, TheApiHealthAndMetricsAreNeverTheConsoles) {
  for (const char* path : {"/api/v1/nothing", "/api", "/api/", "/healthz", "/metrics"}) {
    EXPECT_FALSE(static_response(get(path))) << path;
  }
  Request post = get("/");
  post.method = "POST";
  EXPECT_FALSE(static_response(post));
}

TEST(StaticFiles, ADeepLinkAnswersTheConsolePageUncached) {
  for (const char* path : {"/", "/tasks", "/instances/abc?x=1", "/a/b/c"}) {
    auto res = static_response(get(path));
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->content_type, "text/html; charset=utf-8") << path;
    EXPECT_EQ(header(*res, "Cache-Control"), "no-cache") << path;
    if (kConsoleBuilt) {
      EXPECT_NE(res->body.find("<div id=\"app\">"), std::string::npos) << path;
    } else {
      EXPECT_NE(res->body.find("网页控制台未构建"), std::string::npos) << path;
    }
  }
}

TEST(StaticFiles, HashedAssetsAreImmutableAndGzippedWhenAccepted) {
  if (!kConsoleBuilt) GTEST_SKIP() << "built with -DPIONEER_WEB=OFF";
  const StaticFile* script = entry_script();
  ASSERT_NE(script, nullptr);
  auto plain = static_response(get(std::string(script->path)));
  ASSERT_TRUE(plain);
  EXPECT_EQ(header(*plain, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(header(*plain, "Content-Encoding"), "");
  EXPECT_EQ(plain->body.size(), script->size);
  auto packed = static_response(get(std::string(script->path), "br, gzip, deflate"));
  ASSERT_TRUE(packed);
  EXPECT_EQ(header(*packed, "Content-Encoding"), "gzip");
  EXPECT_EQ(header(*packed, "Vary"), "Accept-Encoding");
  EXPECT_LT(packed->body.size(), plain->body.size());
  EXPECT_EQ(packed->body.substr(0, 2), std::string("\x1f\x8b", 2));
  auto refused = static_response(get(std::string(script->path), "gzip;q=0, identity"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(header(*refused, "Content-Encoding"), "");
}

TEST(StaticFiles, AMissingAssetIsNotFoundRatherThanThePage) {
  if (!kConsoleBuilt) GTEST_SKIP() << "built with -DPIONEER_WEB=OFF";
  auto res = static_response(get("/assets/index-00000000.js"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->content_type, "application/json");
}

TEST(StaticFiles, TheRouterAnswersUnknownPathsWithTheConsoleAndUnknownApiPathsWith404) {
  Router router;
  Response page, api;
  router.dispatch(get("/instances/xyz"), [&](Response r) { page = std::move(r); });
  router.dispatch(get("/api/v1/xyz"), [&](Response r) { api = std::move(r); });
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.route, "(console)");
  EXPECT_EQ(api.status, 404);
  EXPECT_EQ(api.content_type, "application/json");
}

}  // namespace
}  // namespace pioneer::api
