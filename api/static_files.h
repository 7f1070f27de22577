// The web console, embedded into the binary (web/, built and packed by the build: see
// CMakeLists.txt, web/scripts/embed.mjs). Beast-free.
//
// static_response() answers a GET for any path outside /api/, /healthz and /metrics: the file
// at that path, or index.html for any other path (the console's own routes), so that a deep
// link opens the console. A missing file under /assets/ is 404 instead (an old hashed name
// must not be answered with a page). Hashed assets are sent immutable for a year, everything
// else no-cache; the gzip variant when the client accepts gzip. Without the console
// (-DPIONEER_WEB=OFF) every such path answers a short page saying it was not built.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "api/http.h"

namespace pioneer::api {

struct StaticFile {
  std::string_view path;  // "/index.html", "/assets/index-3f9a.js"
  std::string_view content_type;
  size_t offset, size;        // the file in kStaticBlob
  size_t gz_offset, gz_size;  // its gzip variant; gz_size 0: none
  bool immutable;             // hashed name: cache for a year
};

// The generated table (web_assets.cc, or api/web_assets_none.cc without the console).
extern const StaticFile kStaticFiles[];
extern const size_t kStaticFileCount;
extern const unsigned char* const kStaticBlob;
extern const bool kConsoleBuilt;

// The security headers every response carries, the API's too (added by response_head()).
// style-src allows inline styles: Element Plus positions popovers and dialogs through style
// attributes and Mermaid writes a <style> element into each diagram; scripts stay 'self' only.
// connect-src 'self' covers ws: and wss: to the same host and port (CSP Level 3).
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// The console's answer to `request`, or nullopt when the path is not the console's (the
// router then answers 404 or 405 as for any unknown path).
std::optional<Response> static_response(const Request& request);

}  // namespace pioneer::api
