#include "common/input.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace pioneer {

std::optional<std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();  // sets failbit on an empty file, which is fine; never throws
  if (in.bad()) return std::nullopt;
  return std::move(out).str();
}

bool json_depth_within(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skips the escaped character, so \" does not end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF); 0 when it is not one.
size_t utf8_sequence(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// The code point of a well-formed sequence of `n` bytes.
char32_t code_point(std::string_view s, size_t n) {
  const auto b = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(s[i])); };
  if (n == 1) return b(0);
  if (n == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  if (n == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

// Characters that break a line or reorder the text around them: C0 and C1 controls, DEL, the
// line and paragraph separators, and the bidirectional embeddings, overrides and isolates (a
// name could display as another one).
bool is_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
         (cp >= 0xE0000 && cp <= 0xE007F);  // tag characters
}

// Spaces of any width, and the characters that show nothing (soft hyphen, joiners, Hangul and
// Braille fillers): a name of these alone is blank.
bool is_space(char32_t cp) {
  return cp == 0x20 || cp == 0xA0 || cp == 0xAD || cp == 0x115F || cp == 0x1160 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200D) || cp == 0x202F || cp == 0x205F || cp == 0x2060 || cp == 0x2800 || cp == 0x3000 ||
         cp == 0x3164 || cp == 0xFEFF || cp == 0xFFA0;
}

}  // namespace

namespace {

// One pass over a text: whether it is UTF-8, whether it holds a character `kind` refuses, how
// many code points it has and whether one of them is visible.
struct TextScan {
  bool utf8 = true;
  bool refused = false;
  size_t chars = 0;
  bool visible = false;
};

TextScan scan_text(std::string_view text, TextKind kind) {
  TextScan out;
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_sequence(text.substr(i));
    if (n == 0) {
      out.utf8 = false;
      return out;
    }
    const char32_t cp = code_point(text.substr(i), n);
    const bool line_break = cp == '\n' || cp == '\r' || cp == '\t';
    if (is_control(cp) && !(kind == TextKind::kMultiline && line_break)) out.refused = true;
    if (!is_space(cp) && !line_break) out.visible = true;
    ++out.chars;
    i += n;
  }
  return out;
}

}  // namespace

std::optional<std::string> text_problem(std::string_view text, TextKind kind) {
  const TextScan scan = scan_text(text, kind);
  if (!scan.utf8) return "不是有效的 UTF-8 文本（is not valid UTF-8）";
  if (!scan.refused) return std::nullopt;
  if (kind == TextKind::kLine) {
    return "不能含换行、制表符、文字方向控制等控制字符（must not contain line breaks, tabs, direction overrides or other "
           "control characters）";
  }
  return "不能含文字方向控制等控制字符（must not contain direction overrides or other control characters）";
}

bool text_is_blank(std::string_view text) {
  const TextScan scan = scan_text(text, TextKind::kMultiline);
  return scan.utf8 && !scan.visible;
}

std::optional<std::string> display_name_problem(std::string_view name, size_t max_chars) {
  const TextScan scan = scan_text(name, TextKind::kLine);
  if (!scan.utf8) return "名称不是有效的 UTF-8 文本（the name is not valid UTF-8）";
  if (scan.refused) {
    return "名称不能含制表符、换行、文字方向控制等控制字符（the name must not contain tabs, newlines, direction overrides or "
           "other control characters）";
  }
  if (!scan.visible) return "名称不能为空（the name is required）";
  if (scan.chars > max_chars) {
    return "名称不能超过 " + std::to_string(max_chars) + " 个字（the name must be at most " + std::to_string(max_chars) +
           " characters）";
  }
  return std::nullopt;
}

}  // namespace pioneer
