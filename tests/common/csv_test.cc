// CSV reading (RFC 4180, UTF-8 or GB18030) and writing (BOM, quoting, formula guard).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/csv.h"

using namespace std::string_literals;

namespace pioneer::csv {
namespace {

using Rows = std::vector<std::vector<std::string>>;

Rows rows_of(std::string_view bytes, const ReadOptions& options = {}) {
  auto table = read(bytes, options);
  EXPECT_TRUE(table.has_value()) << (table ? "" : table.error().message);
  return table ? table->rows : Rows{};
}

// The refusal's details, or "accepted".
Json refusal(std::string_view bytes, const ReadOptions& options = {}) {
  auto table = read(bytes, options);
  if (table) return "accepted";
  return table.error().details();
}

// An inspection feedback list as Excel saves it as "CSV (逗号分隔)" on a Chinese Windows: GB18030.
constexpr std::string_view kGbFile =
    "\xCE\xCA\xCC\xE2\x2C\xD5\xFB\xB8\xC4\xB4\xEB\xCA\xA9\x2C\xD4\xF0\xC8\xCE\xB2\xBF\xC3\xC5\x0D\x0A"
    "\xD1\xB2\xB2\xEC\xB7\xB4\xC0\xA1\xCE\xCA\xCC\xE2\xD2\xBB\x2C\x22\xBD\xA8\xC1\xA2\xCC\xA8\xD5\xCB\xA3\xAC\xD6"
    "\xF0\xCF\xEE\xCF\xFA\xBA\xC5\x22\x2C\x63\x69\x74\x79\x2F\x66\x69\x6E\x61\x6E\x63\x65\x0D\x0A";
constexpr std::string_view kUtf8File =
    "问题,整改措施,责任部门\r\n"
    "巡察反馈问题一,\"建立台账，逐项销号\",city/finance\r\n";

TEST(CsvRead, Gb18030ReadsTheSameAsUtf8) {
  const Rows expected = {{"问题", "整改措施", "责任部门"}, {"巡察反馈问题一", "建立台账，逐项销号", "city/finance"}};
  auto gb = read(kGbFile);
  ASSERT_TRUE(gb.has_value()) << gb.error().message;
  EXPECT_EQ(gb->encoding, Encoding::kGb18030);
  EXPECT_EQ(gb->rows, expected);
  auto utf8 = read(kUtf8File);
  ASSERT_TRUE(utf8.has_value());
  EXPECT_EQ(utf8->encoding, Encoding::kUtf8);
  EXPECT_FALSE(utf8->bom);
  EXPECT_EQ(utf8->rows, expected);
  auto bom = read(std::string(kUtf8Bom) + std::string(kUtf8File));
  ASSERT_TRUE(bom.has_value());
  EXPECT_TRUE(bom->bom);
  EXPECT_EQ(bom->rows, expected);
  // A four-byte GB18030 sequence (U+20000) decodes too.
  EXPECT_EQ(rows_of("\x95\x32\x82\x36,a\n"), (Rows{{"\xF0\xA0\x80\x80", "a"}}));
}

TEST(CsvRead, BytesThatAreNeitherAreRefusedWithTheirLine) {
  // 0xFF is no lead byte in GB18030 and not UTF-8.
  Json why = refusal("a,b\nc,\xFF\n");
  EXPECT_EQ(why["reason"], "unknown_encoding");
  EXPECT_EQ(why["line"], 2);
  EXPECT_EQ(why["offset"], 6);
  // A GB18030 two-byte sequence cut off at the end.
  EXPECT_EQ(refusal("a,\xCE")["reason"], "unknown_encoding");
  // Marked UTF-8 but not.
  EXPECT_EQ(refusal(std::string(kUtf8Bom) + "a,\xCE\xCA\n")["reason"], "invalid_utf8");
  EXPECT_EQ(refusal("\xFF\xFE" "a\0,\0b\0"s)["reason"], "utf16");
  EXPECT_EQ(refusal("PK\x03\x04\x14\0\0\0"s)["reason"], "binary");
  auto big = read(std::string(100, 'a'), ReadOptions{.max_bytes = 99});
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, Code::kPayloadTooLarge);
}

TEST(CsvRead, Rfc4180Quoting) {
  EXPECT_EQ(rows_of("a,\"b,c\",\"say \"\"hi\"\"\"\r\n"), (Rows{{"a", "b,c", "say \"hi\""}}));
  EXPECT_EQ(rows_of("\"line one\r\nline two\",x\n1,2"), (Rows{{"line one\r\nline two", "x"}, {"1", "2"}}));
  EXPECT_EQ(rows_of("a,,\"\"\n,,\n"), (Rows{{"a", "", ""}, {"", "", ""}}));
  EXPECT_EQ(rows_of("a\n\"\"\n"), (Rows{{"a"}, {""}}));
  EXPECT_EQ(rows_of(" a , b \n"), (Rows{{" a ", " b "}}));  // spaces are part of the cell
  EXPECT_EQ(rows_of(""), Rows{});
}

TEST(CsvRead, RowNumbersCountBlankLinesAndNotQuotedLineBreaks) {
  auto table = read("h1,h2\n\n\"multi\nline\",x\r\n\r\nlast,y");
  ASSERT_TRUE(table.has_value()) << table.error().message;
  EXPECT_EQ(table->rows, (Rows{{"h1", "h2"}, {"multi\nline", "x"}, {"last", "y"}}));
  EXPECT_EQ(table->row_numbers, (std::vector<size_t>{1, 3, 5}));
}

TEST(CsvRead, MalformedInputNamesRowAndColumn) {
  struct Case {
    std::string text, reason;
    int row, column;
  };
  const std::vector<Case> cases = {
      {"a,b\nc,\"open\nmore", "unterminated_quote", 2, 2},
      {"a,b\nc,d\"e\n", "quote_in_cell", 2, 2},
      {"a,\"b\"x\n", "text_after_quote", 1, 2},
      {"a,b\rc,d\n", "lone_cr", 1, 2},
      {"a,b\nc\n", "ragged_row", 2, 2},
      {"a,b\nc,d,e\n", "ragged_row", 2, 3},
  };
  for (const Case& c : cases) {
    auto table = read(c.text);
    ASSERT_FALSE(table.has_value()) << c.text;
    EXPECT_EQ(table.error().code, Code::kBadRequest);
    EXPECT_EQ(table.error().details()["reason"], c.reason) << c.text;
    EXPECT_EQ(table.error().details()["row"], c.row) << c.text;
    EXPECT_EQ(table.error().details()["column"], c.column) << c.text;
    const std::string where = "第 " + std::to_string(c.row) + " 行第 " + std::to_string(c.column) + " 列";
    EXPECT_NE(table.error().message.find(where), std::string::npos) << table.error().message;
  }
  EXPECT_EQ(rows_of("a,b\nc\n", ReadOptions{.same_width = false}), (Rows{{"a", "b"}, {"c"}}));
}

TEST(CsvRead, LimitsAreEnforced) {
  EXPECT_EQ(refusal("a,b,c\n", ReadOptions{.max_columns = 2})["reason"], "too_many_columns");
  EXPECT_EQ(refusal("abc\n", ReadOptions{.max_cell_bytes = 2})["reason"], "cell_too_long");
  EXPECT_EQ(refusal("\"abc\"\n", ReadOptions{.max_cell_bytes = 2})["reason"], "cell_too_long");
  EXPECT_EQ(refusal("\"a\"\"\"\"\"\n", ReadOptions{.max_cell_bytes = 2})["reason"], "cell_too_long");
  auto rows = read("a\nb\nc\n", ReadOptions{.max_rows = 2});
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().code, Code::kPayloadTooLarge);
  EXPECT_EQ(rows.error().details()["row"], 3);
  EXPECT_EQ(rows_of("a\nb\n", ReadOptions{.max_rows = 2}).size(), 2u);
}

TEST(CsvFormulaGuard, GuardsWhatASpreadsheetWouldRunAndUndoesExactlyThat) {
  EXPECT_EQ(guard_formula("=SUM(A1:A9)"), "'=SUM(A1:A9)");
  EXPECT_EQ(guard_formula("+86 10 1234"), "'+86 10 1234");
  EXPECT_EQ(guard_formula("-1"), "'-1");
  EXPECT_EQ(guard_formula("@cmd"), "'@cmd");
  EXPECT_EQ(guard_formula("\tx"), "'\tx");
  EXPECT_EQ(guard_formula("'=x"), "''=x");
  EXPECT_EQ(guard_formula("'x"), "'x");
  EXPECT_EQ(guard_formula("整改"), "整改");
  EXPECT_EQ(guard_formula(""), "");
  for (std::string_view s : {"=1", "'=1", "''=1", "'", "''", "'x", "x=", "", "-", "'-", "@", "\r", "a'=b"}) {
    EXPECT_EQ(unguard_formula(guard_formula(s)), s) << s;
  }
}

TEST(CsvWrite, BomQuotingAndCrlf) {
  Writer w;
  w.text("名称");
  w.text("a,b");
  w.text("say \"hi\"");
  w.end_row();
  w.text("two\nlines");
  w.text(" padded ");
  w.text("=HYPERLINK(\"http://x\")");
  w.end_row();
  w.value("-3");
  w.text("-3");
  w.value("");
  w.end_row();
  EXPECT_EQ(w.take(), std::string(kUtf8Bom) +
                          "名称,\"a,b\",\"say \"\"hi\"\"\"\r\n"
                          "\"two\nlines\",\" padded \",\"'=HYPERLINK(\"\"http://x\"\")\"\r\n"
                          "-3,'-3,\r\n");
  EXPECT_EQ(w.take(), "");
  Writer plain(false);
  plain.value("x");
  plain.end_row();
  EXPECT_EQ(plain.take(), "x\r\n");
}

TEST(CsvWrite, WhatIsWrittenReadsBackUnchanged) {
  const Rows rows = {{"标题", "说明", "数值"},
                     {"=1+1", "'=quoted", "-5"},
                     {"", "多行\r\n文本", "@x"},
                     {"  ", "\"", ","}};
  Writer w;
  for (const auto& row : rows) {
    for (const std::string& cell : row) w.text(cell);
    w.end_row();
  }
  // A row of a single empty cell survives too (it is not a blank line).
  Writer single;
  single.text("h");
  single.end_row();
  single.text("");
  single.end_row();
  EXPECT_EQ(rows_of(w.take()), rows);
  EXPECT_EQ(rows_of(single.take()), (Rows{{"h"}, {""}}));
}

}  // namespace
}  // namespace pioneer::csv
