// Hashing, randomness and id helpers on OpenSSL. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pioneer {

// Lowercase hex digest of data with "sha256" or "sm3"; nullopt for another name.
std::optional<std::string> digest_hex(std::string_view algorithm, std::string_view data);
std::string sha256_hex(std::string_view data);

// n bytes from OpenSSL's CSPRNG (RAND_bytes). Aborts only if the CSPRNG itself fails.
std::string random_bytes(size_t n);

std::string hex_encode(std::string_view bytes);
std::string base64url_encode(std::string_view bytes);              // no padding
std::optional<std::string> base64url_decode(std::string_view text);  // nullopt when malformed

// Constant-time equality of two strings of equal length (false when lengths differ).
bool constant_time_equal(std::string_view a, std::string_view b);

// A new bearer token: "pio_" + 43 characters of base64url (32 random bytes).
std::string new_token();

// A ULID-style id: 26 characters of Crockford base32, 48 bits of time (ms) then 80 random
// bits, so ids sort by creation time.
std::string new_ulid(int64_t now_ms);

}  // namespace pioneer
