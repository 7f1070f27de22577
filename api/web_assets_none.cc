// The console's table when it is not built (-DPIONEER_WEB=OFF): no files.
#include "api/static_files.h"

namespace pioneer::api {
const StaticFile kStaticFiles[] = {{"", "", 0, 0, 0, 0, false}};
const size_t kStaticFileCount = 0;
const unsigned char* const kStaticBlob = nullptr;
const bool kConsoleBuilt = false;
}  // namespace pioneer::api
