// UTF-8 as RFC 3629 defines it: decoding one code point at a time, validating whole texts, and
// classifying the code points that must never reach a stored name (controls, direction marks).
//
// Pure functions on byte strings; no allocation except where a string is returned. Thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pioneer::utf8 {

// One decoded code point and the number of bytes it took.
struct Decoded {
  char32_t cp = 0;
  size_t size = 0;
};

// The well-formed sequence at the start of `s`: no overlong forms, no surrogates, nothing above
// U+10FFFF. nullopt when `s` is empty or does not start with such a sequence (a stray
// continuation byte, a sequence cut short by the end of `s`, ...).
std::optional<Decoded> decode(std::string_view s);

// The offset of the first byte that does not start a well-formed sequence; nullopt when all of
// `s` is valid UTF-8 (an empty string is).
std::optional<size_t> first_invalid(std::string_view s);
inline bool valid(std::string_view s) { return !first_invalid(s).has_value(); }

// Appends the UTF-8 form of `cp` (which must be a scalar value: not a surrogate, <= U+10FFFF).
void append(std::string& out, char32_t cp);

// The length of the longest prefix of `s` that is at most `max_bytes` long and does not end
// inside a multi-byte sequence. `s` is expected to be valid UTF-8.
size_t prefix_within(std::string_view s, size_t max_bytes);

// C0 and C1 controls and DEL, the line and paragraph separators, the bidirectional marks,
// embeddings, overrides and isolates, and the tag characters: what breaks a line or makes a
// text display as another one.
bool is_control_or_direction(char32_t cp);

}  // namespace pioneer::utf8
