// CSV as RFC 4180 writes it, for the ledger export and the list import: a reader that takes the
// files people save from Excel or WPS (UTF-8 with or without a byte-order mark, or GB18030,
// Excel's default for "CSV" on a Chinese Windows), and a writer for exports that Excel opens in
// Chinese and that cannot smuggle formulas into a spreadsheet.
//
// Pure functions and a plain writer value; no I/O. Thread-safe as values are.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pioneer::csv {

inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

enum class Encoding { kUtf8, kGb18030 };
std::string_view encoding_name(Encoding e);  // "UTF-8", "GB18030"

struct ReadOptions {
  size_t max_bytes = 16u << 20;  // of the file as sent
  size_t max_rows = 100'000;     // rows kept (blank lines do not count)
  size_t max_columns = 256;
  size_t max_cell_bytes = 32u << 10;  // of one cell, in UTF-8
  // Every row must have as many cells as the first.
  bool same_width = true;
  // Undo the writer's formula guard: a cell of one or more "'" followed by = + - @ TAB or CR
  // loses its first "'" (see guard_formula), so that an export imports back unchanged.
  bool unguard_formulas = true;
};

struct Table {
  Encoding encoding = Encoding::kUtf8;
  bool bom = false;  // the file began with a UTF-8 byte-order mark
  std::vector<std::vector<std::string>> rows;  // cells in UTF-8; rows[0] is the first line
  // The row number a spreadsheet shows for each row (1-based): blank lines are skipped but
  // counted, and a row whose quoted cells hold line breaks is one row.
  std::vector<size_t> row_numbers;
};

// The text of a CSV file in UTF-8, and the encoding it was in. In order: a UTF-8 byte-order
// mark means UTF-8 (then every byte after it must be valid UTF-8); text that is valid UTF-8 is
// UTF-8 (pure ASCII included); anything else is decoded as GB18030 by iconv and refused when
// that fails. Refused always, with kBadRequest and details {line, offset, reason}: a UTF-16
// file (its byte-order mark), a NUL byte (a binary file such as an .xlsx), bytes that are
// neither UTF-8 nor GB18030. kPayloadTooLarge when longer than `max_bytes`.
// Note: a GB18030 text that happens to be valid UTF-8 as well is read as UTF-8; for Chinese
// text that needs a very short file (a few characters) and does not happen in a spreadsheet of
// findings.
struct Decoded {
  std::string text;
  Encoding encoding = Encoding::kUtf8;
  bool bom = false;
};
Result<Decoded> decode(std::string_view bytes, size_t max_bytes = ReadOptions{}.max_bytes);

// decode() then parse(). Every refusal is kBadRequest (kPayloadTooLarge for size limits) with
// a message naming the row and column (中文（English）) and details {row, column, reason}:
// "unterminated_quote" (row and column where the quoted cell began), "quote_in_cell" (a '"'
// inside a cell that did not begin with one), "text_after_quote" (anything but a comma or a
// line break after a closing quote), "lone_cr" (a carriage return not followed by a line feed,
// outside quotes), "too_many_columns", "cell_too_long", "too_many_rows", "ragged_row" (with
// same_width), plus decode()'s reasons. A line with nothing on it is skipped; a line break at
// the very end does not start another row.
Result<Table> read(std::string_view bytes, const ReadOptions& options = {});
// The CSV grammar alone, on text already in UTF-8 (no byte-order mark handling).
Result<Table> parse(std::string_view utf8_text, const ReadOptions& options = {});

// The formula guard of spreadsheet exports: a cell a spreadsheet would run as a formula (it
// begins with = + - @ TAB or CR, after any number of "'") gets one "'" in front, which makes
// Excel and WPS show it as text. unguard_formula undoes exactly that, so that
// unguard_formula(guard_formula(s)) == s for every s.
std::string guard_formula(std::string_view cell);
std::string unguard_formula(std::string_view cell);

// Writes CSV: CRLF line ends, cells quoted when they hold a comma, a quote, a line break or
// begin or end with a space. The output is collected and handed out by take(), so that an
// export can stream it in pieces.
class Writer {
 public:
  // With `bom`, the output begins with the UTF-8 byte-order mark (what makes Excel read it as
  // UTF-8 rather than the system's code page).
  explicit Writer(bool bom = true);

  // A cell of text that came from a user: formula-guarded, then quoted as needed.
  void text(std::string_view cell);
  // A cell the program formatted itself (a number, a date, a state id): quoted as needed but
  // not guarded, so that "-3" stays a number.
  void value(std::string_view cell);
  void end_row();
  // What was written since the last take().
  std::string take();

 private:
  void cell(std::string_view text);
  std::string out_;
  bool first_in_row_ = true;
  size_t cells_in_row_ = 0;
  bool first_cell_empty_ = false;
};

}  // namespace pioneer::csv
