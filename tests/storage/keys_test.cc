// Tests for the key encoding: integer order, part separation and org-path prefixes.
#include "storage/keys.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pioneer::storage {
namespace {

using namespace std::string_literals;

TEST(KeysTest, U64IsEightBigEndianBytes) {
  EXPECT_EQ(u64_key(0x0102030405060708ull), "\x01\x02\x03\x04\x05\x06\x07\x08"s);
  EXPECT_EQ(u64_key(0), std::string(8, '\0'));
  std::string out = "p";
  put_u64(out, 0xFF);
  EXPECT_EQ(out, "p\0\0\0\0\0\0\0\xff"s);
}

TEST(KeysTest, GetU64ReadsTheFirstEightBytes) {
  EXPECT_EQ(get_u64(u64_key(42)), 42u);
  EXPECT_EQ(get_u64(u64_key(7) + "tail"), 7u);
  EXPECT_EQ(get_u64(std::string(7, '\x01')), std::nullopt);
  EXPECT_EQ(get_u64(""), std::nullopt);
}

// std::string compares as unsigned bytes, exactly like RocksDB's bytewise comparator.
TEST(KeysTest, U64ByteOrderEqualsNumericOrder) {
  std::mt19937_64 rng(20240601);
  std::vector<uint64_t> values = {0, 1, 255, 256, 65535, 65536, (1ull << 63) - 1, 1ull << 63,
                                  std::numeric_limits<uint64_t>::max()};
  for (int i = 0; i < 10000; ++i) {
    // Mix full-range values with small ones so that short and long magnitudes meet.
    values.push_back(i % 2 == 0 ? rng() : rng() >> (rng() % 64));
  }
  for (uint64_t v : values) ASSERT_EQ(get_u64(u64_key(v)), v);

  std::vector<uint64_t> by_number = values;
  std::sort(by_number.begin(), by_number.end());
  std::vector<std::string> by_bytes;
  for (uint64_t v : values) by_bytes.push_back(u64_key(v));
  std::sort(by_bytes.begin(), by_bytes.end());
  ASSERT_EQ(by_bytes.size(), by_number.size());
  for (size_t i = 0; i < by_number.size(); ++i) {
    ASSERT_EQ(get_u64(by_bytes[i]), by_number[i]) << "at " << i;
  }
}

TEST(KeysTest, BuilderJoinsPartsWithSeparator) {
  EXPECT_EQ(KeyBuilder().text("wf").text("v1").build(), "wf\0v1"s);
  EXPECT_EQ(KeyBuilder().text("a").u64(1).text("b").build(), "a\0"s + u64_key(1) + "\0b"s);
  EXPECT_EQ(KeyBuilder().text("a").org("city/finance").build(), "a\0city/finance/"s);
  EXPECT_EQ(KeyBuilder().text("a").prefix(), "a\0"s);
  EXPECT_EQ(KeyBuilder().build(), "");
}

TEST(KeysTest, PrefixNeverMatchesALongerPart) {
  const std::string prefix = KeyBuilder().text("wf").prefix();
  EXPECT_TRUE(KeyBuilder().text("wf").text("x").build().starts_with(prefix));
  EXPECT_FALSE(KeyBuilder().text("wf2").text("x").build().starts_with(prefix));
}

TEST(KeysTest, OrgPrefixCoversTheOrgAndItsChildrenOnly) {
  const std::string prefix = KeyBuilder().text("by_org").org("city/finance").build();
  auto key = [](std::string_view org) { return KeyBuilder().text("by_org").org(org).text("id1").build(); };
  EXPECT_TRUE(key("city/finance").starts_with(prefix));
  EXPECT_TRUE(key("city/finance/b1").starts_with(prefix));
  EXPECT_TRUE(key("city/finance/b1/team").starts_with(prefix));
  EXPECT_FALSE(key("city/finance2").starts_with(prefix));
  EXPECT_FALSE(key("city/financial/b1").starts_with(prefix));
  EXPECT_FALSE(key("city").starts_with(prefix));
}

TEST(KeysTest, SplitKeyRoundTrip) {
  const std::vector<std::vector<std::string>> cases = {
      {"only"},
      {"wf", "v1"},
      {"by_org", "city/finance/", "inst-42"},
      {"", "middle", ""},
      {"unicode", "市财政局", "id"},
  };
  for (const auto& parts : cases) {
    KeyBuilder b;
    for (const auto& p : parts) b.text(p);
    const std::string key = b.build();
    const std::vector<std::string_view> split = split_key(key);
    ASSERT_EQ(split.size(), parts.size()) << "key with " << parts.size() << " parts";
    for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(split[i], parts[i]);
  }
}

TEST(KeysTest, SplitKeyReturnsOrgPartWithSlash) {
  const std::string key = KeyBuilder().text("x").org("city/finance").text("id").build();
  EXPECT_EQ(split_key(key), (std::vector<std::string_view>{"x", "city/finance/", "id"}));
}

TEST(KeysTest, SplitEmptyKeyIsOneEmptyPart) {
  EXPECT_EQ(split_key(""), (std::vector<std::string_view>{""}));
}

}  // namespace
}  // namespace pioneer::storage
