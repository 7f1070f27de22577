// Helpers every test binary shares: Result assertions, a temporary folder, paths into the
// source tree. Links only pioneer_common and GoogleTest (library pioneer_test_support).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"

// Prints the error's code, message and details when a Result is not ok.
#define ASSERT_OK(expr)                                                                                     \
  do {                                                                                                      \
    const auto& _r = (expr);                                                                                \
    ASSERT_TRUE(_r.has_value()) << #expr << ": " << ::pioneer::code_name(_r.error().code) << ": "          \
                                << _r.error().message << " " << _r.error().details().dump();               \
  } while (0)

// Asserts that a Result failed with this code.
#define ASSERT_CODE(expr, expected_code)                                                                    \
  do {                                                                                                      \
    const auto& _r = (expr);                                                                                \
    ASSERT_FALSE(_r.has_value()) << #expr << " succeeded; expected " << ::pioneer::code_name(expected_code); \
    ASSERT_EQ(::pioneer::code_name(_r.error().code), ::pioneer::code_name(expected_code)) << _r.error().message; \
  } while (0)

namespace pioneer::testing {

// A fresh folder under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A path in the source tree (PIONEER_SOURCE_DIR), e.g. source_path("workflows").
std::string source_path(const std::string& relative);

}  // namespace pioneer::testing
