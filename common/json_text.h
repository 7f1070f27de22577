// Appending JSON text directly, for the records the writer thread encodes on every command.
//
// Building an nlohmann::json tree only to dump it cost the writer ~20 % of its time (a map
// node and a string copy per key). These helpers write the same bytes nlohmann's compact
// dump() writes (same escapes, lowercase \u00xx, UTF-8 passed through), so stored records and
// hash inputs stay byte-identical to the canonical form `Json::parse(x).dump()`, which the
// codec tests check. Callers write object keys in sorted (bytewise) order, as std::map would.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace pioneer::engine::json_text {

inline void string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

template <typename Int>
void integer(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// `"key":` — with the comma before it unless it is the first member (`first` is then cleared).
inline void key(std::string& out, std::string_view k, bool& first) {
  if (!first) out.push_back(',');
  first = false;
  string(out, k);
  out.push_back(':');
}

inline void string_or_null(std::string& out, std::string_view s, bool null_when_empty = true) {
  if (s.empty() && null_when_empty) {
    out.append("null");
  } else {
    string(out, s);
  }
}

inline void optional_string(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    string(out, *s);
  } else {
    out.append("null");
  }
}

inline void value(std::string& out, const Json& j) { out.append(j.dump()); }

// `[item, item, ...]`, each written by write(out, item).
template <class Range, class Write>
void array(std::string& out, const Range& items, Write write) {
  out.push_back('[');
  bool first = true;
  for (const auto& item : items) {
    if (!first) out.push_back(',');
    first = false;
    write(out, item);
  }
  out.push_back(']');
}

// `{"<k1>":"<v1>","<k2>":"<v2>"}` with two string members; k1 < k2. Raw keys: callers pass
// literal keys that need no escaping.
inline void pair_object(std::string& out, std::string_view k1, std::string_view v1, std::string_view k2,
                        std::string_view v2) {
  out.append("{\"").append(k1).append("\":");
  string(out, v1);
  out.append(",\"").append(k2).append("\":");
  string(out, v2);
  out.push_back('}');
}

}  // namespace pioneer::engine::json_text
