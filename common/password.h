// Passwords: Argon2id through libargon2 (the reference implementation), never our own.
//
// A stored hash is the PHC string argon2id_hash_encoded() writes ("$argon2id$v=19$m=...,t=...,
// p=...$salt$hash"), so the parameters travel with it and verify_password() reads them back:
// stronger parameters later apply to new hashes without breaking the old ones. Hashing is slow
// by design (tens of milliseconds, kPasswordMemoryKiB of memory): call it from a thread that may
// block, never from the writer or an I/O thread. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pioneer {

inline constexpr uint32_t kPasswordTimeCost = 2;
inline constexpr uint32_t kPasswordMemoryKiB = 19 * 1024;  // OWASP's minimum for Argon2id
inline constexpr uint32_t kPasswordParallelism = 1;
inline constexpr size_t kPasswordMinChars = 10;
inline constexpr size_t kPasswordMaxBytes = 1024;

// Why `password` may not be used (中文（English）), nullopt when it may: at least
// kPasswordMinChars characters (code points), at most kPasswordMaxBytes bytes, valid UTF-8.
std::optional<std::string> password_problem(std::string_view password);

// How much work a hash costs. People's passwords get kPersonCost. A password the machine made
// with 96 random bits or more (the demo users') cannot be guessed whatever the cost, so it may
// use kRandomSecretCost and seed a demo database without seconds of hashing.
struct PasswordCost {
  uint32_t time;
  uint32_t memory_kib;
};
inline constexpr PasswordCost kPersonCost{kPasswordTimeCost, kPasswordMemoryKiB};
inline constexpr PasswordCost kRandomSecretCost{1, 64};

// The encoded Argon2id hash of `password` with a fresh random salt; nullopt only when
// libargon2 fails (out of memory).
std::optional<std::string> hash_password(std::string_view password, PasswordCost cost = kPersonCost);

// True when `encoded` is an Argon2id hash of `password`. False for a malformed hash.
bool verify_password(std::string_view encoded, std::string_view password);

// A hash of a random password, made once: verified against when the user is unknown, so that
// an unknown user costs as much time as a wrong password.
const std::string& dummy_password_hash();

// verify_password() for a login, in about the time of a person's hash whatever is stored: no
// hash (an unknown user, or one without a password) checks the dummy hash and answers false;
// a hash made with less than kPersonCost is followed by a check of the dummy hash too.
bool verify_login_password(const std::optional<std::string>& encoded, std::string_view password);

}  // namespace pioneer
