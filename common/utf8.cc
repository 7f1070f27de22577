#include "common/utf8.h"

namespace pioneer::utf8 {
namespace {

// Per lead byte: the sequence length, and the range the second byte must fall in (RFC 3629
// table 3-7; the narrowed ranges exclude overlong forms, surrogates and values past U+10FFFF).
struct Lead {
  size_t size;
  unsigned char second_lo, second_hi;
  char32_t bits;
};

std::optional<Lead> lead(unsigned char c) {
  if (c < 0x80) return Lead{1, 0, 0, c};
  if (c >= 0xC2 && c <= 0xDF) return Lead{2, 0x80, 0xBF, static_cast<char32_t>(c & 0x1F)};
  if (c == 0xE0) return Lead{3, 0xA0, 0xBF, 0};
  if (c == 0xED) return Lead{3, 0x80, 0x9F, 0x0D};
  if (c >= 0xE1 && c <= 0xEF) return Lead{3, 0x80, 0xBF, static_cast<char32_t>(c & 0x0F)};
  if (c == 0xF0) return Lead{4, 0x90, 0xBF, 0};
  if (c >= 0xF1 && c <= 0xF3) return Lead{4, 0x80, 0xBF, static_cast<char32_t>(c & 0x07)};
  if (c == 0xF4) return Lead{4, 0x80, 0x8F, 4};
  return std::nullopt;
}

}  // namespace

std::optional<Decoded> decode(std::string_view s) {
  if (s.empty()) return std::nullopt;
  const auto l = lead(static_cast<unsigned char>(s[0]));
  if (!l || s.size() < l->size) return std::nullopt;
  char32_t cp = l->bits;
  for (size_t i = 1; i < l->size; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const unsigned char lo = i == 1 ? l->second_lo : 0x80, hi = i == 1 ? l->second_hi : 0xBF;
    if (b < lo || b > hi) return std::nullopt;
    cp = (cp << 6) | (b & 0x3F);
  }
  return Decoded{cp, l->size};
}

std::optional<size_t> first_invalid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const auto d = decode(s.substr(i));
    if (!d) return i;
    i += d->size;
  }
  return std::nullopt;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t prefix_within(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s.size();
  size_t n = max_bytes;
  // Step back over continuation bytes to the start of the sequence the cut falls in.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

bool is_control_or_direction(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
         (cp >= 0xE0000 && cp <= 0xE007F);
}

}  // namespace pioneer::utf8
