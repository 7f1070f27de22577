// The fuzz targets: one function per parser or decoder that takes untrusted bytes.
//
// Each is an ordinary function of (data, size) so that the same code runs in two places: the
// libFuzzer binaries (fuzz/fuzz_main.cc, built with -DPIONEER_FUZZ=ON by clang) and the
// regression test tests/tools/fuzz_replay_test.cc, which replays every seed and every kept
// crash input under the normal build (and under ASan/UBSan in CI). A target returns 0; a
// property that fails (a round trip that changes a value, a 500 answer to bad input) aborts
// with a message, which libFuzzer reports as a crash and the replay test as a death.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pioneer::fuzz {

using TargetFn = int (*)(const uint8_t* data, size_t size);

struct Target {
  std::string_view name;  // also the folder under fuzz/corpus/ and fuzz/regressions/
  TargetFn run;
};

// engine/core/definition.h parse_definition() on arbitrary JSON bytes (then definition_graph()).
int definition(const uint8_t* data, size_t size);
// engine/core/codec.h decode_event / decode_instance / decode_org; what decodes must round-trip.
int records(const uint8_t* data, size_t size);
// parse_time, parse_date_days, parse_duration_ms; what parses must format and parse back.
int time(const uint8_t* data, size_t size);
// engine/audit/verify.h verify_dossier() on an arbitrary dossier file.
int dossier(const uint8_t* data, size_t size);
// api/http.h parse_query, percent_decode, bearer_token; api/router.h match_pattern on every
// route pattern; common/crypto.h base64url_decode (the cursor's outer layer).
int query(const uint8_t* data, size_t size);
// api/hub.h parse_client_message (WebSocket client messages) and what follows from a filter.
int ws_message(const uint8_t* data, size_t size);
// A whole request through api::Router::dispatch on a small real store: method, path, query
// (cursors, limits, filters), bearer user, Idempotency-Key and body. See targets.cc for the
// input format.
int api_request(const uint8_t* data, size_t size);

const std::vector<Target>& all_targets();

}  // namespace pioneer::fuzz
