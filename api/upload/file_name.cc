#include "api/upload/file_name.h"

#include <algorithm>

#include "common/utf8.h"

namespace pioneer::api::upload {
namespace {

constexpr size_t kMaxExtensionBytes = 16;

bool trimmed_char(char c) { return c == ' ' || c == '.' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && trimmed_char(s.front())) s.remove_prefix(1);
  while (!s.empty() && trimmed_char(s.back())) s.remove_suffix(1);
  return s;
}

// Wide spaces count as white space at the ends too (U+3000 ideographic space, U+00A0).
std::string_view trim_wide(std::string_view s) {
  for (bool changed = true; changed;) {
    changed = false;
    s = trim(s);
    for (std::string_view space : {std::string_view("\xE3\x80\x80"), std::string_view("\xC2\xA0")}) {
      if (s.starts_with(space)) s.remove_prefix(space.size()), changed = true;
      if (s.ends_with(space)) s.remove_suffix(space.size()), changed = true;
    }
  }
  return s;
}

// Keeps the extension when the name must be cut.
std::string cap(std::string name) {
  if (name.size() <= kMaxFileNameBytes) return name;
  const size_t dot = name.rfind('.');
  std::string ext;
  if (dot != std::string::npos && dot > 0 && name.size() - dot <= kMaxExtensionBytes) ext = name.substr(dot);
  const std::string_view stem = std::string_view(name).substr(0, name.size() - ext.size());
  return std::string(stem.substr(0, utf8::prefix_within(stem, kMaxFileNameBytes - ext.size()))) + ext;
}

bool attr_char(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::string clean_file_name(std::string_view raw, std::string_view fallback) {
  const size_t slash = raw.find_last_of("/\\");
  if (slash != std::string_view::npos) raw.remove_prefix(slash + 1);
  std::string out;
  while (!raw.empty()) {
    const auto d = utf8::decode(raw);
    if (!d) {
      utf8::append(out, 0xFFFD);
      raw.remove_prefix(1);
      continue;
    }
    if (!utf8::is_control_or_direction(d->cp)) out.append(raw.substr(0, d->size));
    raw.remove_prefix(d->size);
  }
  std::string name(trim_wide(out));
  name = std::string(trim_wide(cap(std::move(name))));
  if (name.empty() || name == "." || name == "..") return std::string(fallback);
  return name;
}

std::string content_disposition(std::string_view name) {
  std::string ascii, encoded;
  while (!name.empty()) {
    const auto d = utf8::decode(name);
    const size_t n = d ? d->size : 1;
    const char c = name[0];
    const bool plain = n == 1 && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                  std::string_view(".-_ ()[]").find(c) != std::string_view::npos);
    ascii += plain ? c : '_';
    for (size_t i = 0; i < n; ++i) {
      const auto b = static_cast<unsigned char>(name[i]);
      if (attr_char(static_cast<char>(b))) {
        encoded += static_cast<char>(b);
      } else {
        static constexpr char kHex[] = "0123456789ABCDEF";
        encoded += '%';
        encoded += kHex[b >> 4];
        encoded += kHex[b & 15];
      }
    }
    name.remove_prefix(n);
  }
  if (ascii.empty()) ascii = "file";
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

}  // namespace pioneer::api::upload
