// UTF-8 decoding and validation (RFC 3629), the base of every text check on untrusted input.
#include <gtest/gtest.h>

#include "common/utf8.h"

namespace pioneer::utf8 {
namespace {

using namespace std::string_literals;

TEST(Utf8, DecodesWellFormedSequences) {
  EXPECT_EQ(decode("a")->cp, U'a');
  EXPECT_EQ(decode("\xC2\xA0")->cp, U'\u00A0');
  EXPECT_EQ(decode("整")->cp, U'整');
  EXPECT_EQ(decode("整")->size, 3u);
  EXPECT_EQ(decode("\xF0\xA0\x80\x80")->cp, U'\U00020000');
  EXPECT_EQ(decode("\xF4\x8F\xBF\xBF")->cp, U'\U0010FFFF');
}

TEST(Utf8, RefusesWhatRfc3629Forbids) {
  for (std::string_view bad : {"", "\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF0\x80\x80\xAF",
                               "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xE6\x95", "\xE6\x95\x41"}) {
    EXPECT_FALSE(decode(bad).has_value()) << testing::PrintToString(bad);
  }
  EXPECT_EQ(first_invalid("ok整\xE6\x95"), 5u);
  EXPECT_EQ(first_invalid("ok"), std::nullopt);
  EXPECT_TRUE(valid(""));
  EXPECT_TRUE(valid("a\0b"s));
}

TEST(Utf8, AppendIsDecodesInverse) {
  for (char32_t cp : {U'\0', U'a', U'\u07FF', U'\u0800', U'整', U'\uFFFD', U'\U00010000', U'\U0010FFFF'}) {
    std::string s;
    append(s, cp);
    auto d = decode(s);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->cp, cp);
    EXPECT_EQ(d->size, s.size());
  }
}

TEST(Utf8, PrefixNeverEndsInsideACharacter) {
  EXPECT_EQ(prefix_within("整改", 6), 6u);
  EXPECT_EQ(prefix_within("整改", 5), 3u);
  EXPECT_EQ(prefix_within("整改", 4), 3u);
  EXPECT_EQ(prefix_within("整改", 3), 3u);
  EXPECT_EQ(prefix_within("整改", 2), 0u);
  EXPECT_EQ(prefix_within("ab", 1), 1u);
}

TEST(Utf8, ControlAndDirectionCharacters) {
  for (char32_t cp : {U'\0', U'\t', U'\n', U'\x7F', U'\u0085', U'\u061C', U'\u200E', U'\u200F', U'\u2028', U'\u202E',
                      U'\u2066', U'\u2069', U'\U000E0041'}) {
    EXPECT_TRUE(is_control_or_direction(cp)) << static_cast<uint32_t>(cp);
  }
  for (char32_t cp : {U' ', U'a', U'整', U'\u00A0', U'\u3000', U'\uFFFD'}) {
    EXPECT_FALSE(is_control_or_direction(cp)) << static_cast<uint32_t>(cp);
  }
}

}  // namespace
}  // namespace pioneer::utf8
