#include "api/static_files.h"

#include <string>

namespace pioneer::api {

namespace {

constexpr std::string_view kNotBuiltPage =
    "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>先锋</title></head>\n"
    "<body><h1>网页控制台未构建</h1>\n"
    "<p>此 pioneer 程序构建时未包含网页控制台（-DPIONEER_WEB=OFF）。API 仍在 /api/v1/ 下可用。</p>\n"
    "<p>The web console was not built into this binary (-DPIONEER_WEB=OFF). The API is at /api/v1/.</p>\n"
    "</body></html>\n";

bool reserved(std::string_view path) {
  return path == "/api" || path.starts_with("/api/") || path == "/healthz" || path == "/metrics";
}

const StaticFile* find_file(std::string_view path) {
  for (size_t i = 0; i < kStaticFileCount; ++i) {
    if (kStaticFiles[i].path == path) return &kStaticFiles[i];
  }
  return nullptr;
}

// "gzip" among the codings, and not refused with q=0.
bool accepts_gzip(std::string_view header) {
  size_t at = header.find("gzip");
  if (at == std::string_view::npos) return false;
  std::string_view rest = header.substr(at + 4);
  rest = rest.substr(0, rest.find(','));
  std::string compact;
  for (char c : rest) {
    if (c != ' ' && c != '\t') compact += c;
  }
  return !(compact.starts_with(";q=0") && compact.find_first_of("123456789") == std::string::npos);
}

Response file_response(const StaticFile& file, bool gzip) {
  Response res;
  res.content_type = std::string(file.content_type);
  const bool packed = gzip && file.gz_size > 0;
  const auto* data = reinterpret_cast<const char*>(kStaticBlob);
  res.body.assign(data + (packed ? file.gz_offset : file.offset), packed ? file.gz_size : file.size);
  res.headers.emplace_back("Cache-Control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  if (file.gz_size > 0) res.headers.emplace_back("Vary", "Accept-Encoding");
  if (packed) res.headers.emplace_back("Content-Encoding", "gzip");
  return res;
}

}  // namespace

std::optional<Response> static_response(const Request& request) {
  if (request.method != "GET" || reserved(request.path)) return std::nullopt;
  Response res;
  if (!kConsoleBuilt) {
    res = text_response(200, std::string(kNotBuiltPage), "text/html; charset=utf-8");
    res.headers.emplace_back("Cache-Control", "no-cache");
  } else if (const StaticFile* file = find_file(request.path); file != nullptr) {
    res = file_response(*file, accepts_gzip(request.accept_encoding));
  } else if (request.path.starts_with("/assets/")) {
    res = error_response(Error::make(Code::kNotFound, "未找到（not found）"));
  } else if (const StaticFile* index = find_file("/index.html"); index != nullptr) {
    res = file_response(*index, accepts_gzip(request.accept_encoding));
  } else {
    return std::nullopt;
  }
  res.route = "(console)";
  return res;
}

}  // namespace pioneer::api
