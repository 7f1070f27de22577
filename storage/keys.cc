// Key encoding: big-endian integers and separator-joined parts (see keys.h for the layout and
// why it keeps bytewise order meaningful). Pure functions, thread-safe.
#include "storage/keys.h"

namespace pioneer::storage {

void put_u64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

std::optional<uint64_t> get_u64(std::string_view in) {
  if (in.size() < 8) return std::nullopt;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<uint8_t>(in[i]);
  }
  return v;
}

std::string u64_key(uint64_t v) {
  std::string out;
  out.reserve(8);
  put_u64(out, v);
  return out;
}

void KeyBuilder::sep() {
  if (!first_) key_.push_back(kSep);
  first_ = false;
}

KeyBuilder& KeyBuilder::text(std::string_view part) {
  sep();
  key_.append(part);
  return *this;
}

// The trailing '/' is what keeps "city/finance/" from being a prefix of "city/finance2/".
KeyBuilder& KeyBuilder::org(std::string_view org_path) {
  sep();
  key_.append(org_path);
  key_.push_back('/');
  return *this;
}

KeyBuilder& KeyBuilder::u64(uint64_t v) {
  sep();
  put_u64(key_, v);
  return *this;
}

// An empty key yields one empty part, as text("") would have built it.
std::vector<std::string_view> split_key(std::string_view key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t pos = key.find(kSep); pos != std::string_view::npos; pos = key.find(kSep, start)) {
    parts.push_back(key.substr(start, pos - start));
    start = pos + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

}  // namespace pioneer::storage
