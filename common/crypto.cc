#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <memory>

namespace pioneer {

std::optional<std::string> digest_hex(std::string_view algorithm, std::string_view data) {
  // OpenSSL 3 looks the implementation of EVP_sha256() up in its provider tables on every
  // EVP_Digest call ("implicit fetch"); fetched once here (kept for the life of the process,
  // thread-safe to share), that is skipped: about a third of each event's hash under callgrind.
  // nullptr when the provider lacks the algorithm: then the legacy object is used.
  static const EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static const EVP_MD* const kSm3 = EVP_MD_fetch(nullptr, "SM3", nullptr);
  const EVP_MD* md = nullptr;
  if (algorithm == "sha256") md = kSha256 ? kSha256 : EVP_sha256();
  else if (algorithm == "sm3") md = kSm3 ? kSm3 : EVP_sm3();
  if (md == nullptr) return std::nullopt;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return std::nullopt;
  return hex_encode(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::string sha256_hex(std::string_view data) { return *digest_hex("sha256", data); }

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();  // no randomness means no safe tokens: refusing to go on is the only option
  }
  return out;
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  auto b = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out += kB64[(v >> 18) & 63]; out += kB64[(v >> 12) & 63]; out += kB64[(v >> 6) & 63]; out += kB64[v & 63];
  }
  if (bytes.size() - i == 1) {
    uint32_t v = b(i) << 16;
    out += kB64[(v >> 18) & 63]; out += kB64[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8);
    out += kB64[(v >> 18) & 63]; out += kB64[(v >> 12) & 63]; out += kB64[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, or the text was not produced by the encoder.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string new_token() { return "pio_" + base64url_encode(random_bytes(32)); }

std::string new_ulid(int64_t now_ms) {
  static constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string rnd = random_bytes(10);
  // 128 bits: 48 time + 80 random, written as 26 base32 digits (the top 2 bits are zero).
  unsigned __int128 v = static_cast<unsigned __int128>(static_cast<uint64_t>(now_ms) & 0xFFFFFFFFFFFFull) << 80;
  for (int i = 0; i < 10; ++i) {
    v |= static_cast<unsigned __int128>(static_cast<unsigned char>(rnd[i])) << (8 * (9 - i));
  }
  std::string out(26, '0');
  for (int i = 25; i >= 0; --i) {
    out[i] = kCrockford[static_cast<int>(v & 31)];
    v >>= 5;
  }
  return out;
}

}  // namespace pioneer
