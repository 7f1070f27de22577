#include "common/password.h"

#include <argon2.h>

#include "common/crypto.h"

namespace pioneer {

namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

// Code points of valid UTF-8, nullopt when it is not.
std::optional<size_t> utf8_chars(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return std::nullopt;
    }
    i += len;
    ++count;
  }
  return count;
}

}  // namespace

std::optional<std::string> password_problem(std::string_view password) {
  if (password.size() > kPasswordMaxBytes) return "密码过长（the password is too long）";
  auto chars = utf8_chars(password);
  if (!chars) return "密码须为有效的 UTF-8 文本（the password must be valid UTF-8）";
  if (*chars < kPasswordMinChars) {
    return "密码至少 " + std::to_string(kPasswordMinChars) + " 个字符（the password needs at least " +
           std::to_string(kPasswordMinChars) + " characters）";
  }
  return std::nullopt;
}

std::optional<std::string> hash_password(std::string_view password, PasswordCost cost) {
  const std::string salt = random_bytes(kSaltBytes);
  std::string encoded(argon2_encodedlen(cost.time, cost.memory_kib, kPasswordParallelism, kSaltBytes, kHashBytes, Argon2_id),
                      '\0');
  int rc = argon2id_hash_encoded(cost.time, cost.memory_kib, kPasswordParallelism, password.data(),
                                 password.size(), salt.data(), salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return std::nullopt;
  encoded.resize(encoded.find('\0'));
  return encoded;
}

bool verify_password(std::string_view encoded, std::string_view password) {
  if (encoded.rfind("$argon2id$", 0) != 0) return false;
  const std::string terminated(encoded);  // libargon2 reads a C string
  return argon2id_verify(terminated.c_str(), password.data(), password.size()) == ARGON2_OK;
}

bool verify_login_password(const std::optional<std::string>& encoded, std::string_view password) {
  static const std::string person_parameters = "$argon2id$v=19$m=" + std::to_string(kPersonCost.memory_kib) +
                                               ",t=" + std::to_string(kPersonCost.time) +
                                               ",p=" + std::to_string(kPasswordParallelism) + "$";
  if (!encoded) {
    (void)verify_password(dummy_password_hash(), password);
    return false;
  }
  const bool matches = verify_password(*encoded, password);
  if (encoded->rfind(person_parameters, 0) != 0) (void)verify_password(dummy_password_hash(), password);
  return matches;
}

const std::string& dummy_password_hash() {
  static const std::string hash = hash_password(base64url_encode(random_bytes(24))).value_or("");
  return hash;
}

}  // namespace pioneer
