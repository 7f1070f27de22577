// Key encoding helpers. Integers are big-endian so that RocksDB's bytewise order is numeric
// order; text parts are joined with a separator byte that cannot occur inside them (0x00), so
// that one part can never be mistaken for the prefix of another. Org paths are written with a
// trailing '/', so the prefix "city/finance/" covers city/finance and everything under it but
// never "city/finance2". Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pioneer::storage {

inline constexpr char kSep = '\0';

void put_u64(std::string& out, uint64_t v);          // 8 bytes, big-endian
std::optional<uint64_t> get_u64(std::string_view in);  // the first 8 bytes, nullopt when short
std::string u64_key(uint64_t v);

// Builds a key from parts: part0 \0 part1 \0 ... (no trailing separator).
class KeyBuilder {
 public:
  KeyBuilder& text(std::string_view part);      // appends the part (then a separator before the next)
  KeyBuilder& org(std::string_view org_path);   // appends "org_path/" (see above)
  KeyBuilder& u64(uint64_t v);                  // appends 8 big-endian bytes
  std::string build() const { return key_; }
  // The key so far plus a separator: a prefix matching every key that has more parts after.
  std::string prefix() const { return key_ + kSep; }

 private:
  void sep();
  std::string key_;
  bool first_ = true;
};

// Splits a key built only from text()/org() parts back into its parts.
std::vector<std::string_view> split_key(std::string_view key);

}  // namespace pioneer::storage
