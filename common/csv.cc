#include "common/csv.h"

#include <nlohmann/json.hpp>

#include <errno.h>
#include <iconv.h>

#include <memory>
#include <utility>
#include <variant>

#include "common/utf8.h"

namespace pioneer::csv {
namespace {

std::string both(const std::string& zh, const std::string& en) { return zh + "（" + en + "）"; }

// The 1-based line an offset of `bytes` is on (line feeds before it, plus one).
size_t line_of(std::string_view bytes, size_t offset) {
  size_t line = 1;
  for (size_t i = 0; i < offset && i < bytes.size(); ++i) line += bytes[i] == '\n' ? 1 : 0;
  return line;
}

std::unexpected<Error> encoding_error(std::string_view bytes, size_t offset, std::string_view reason,
                                      const std::string& zh, const std::string& en) {
  const size_t line = line_of(bytes, offset);
  const std::string l = std::to_string(line);
  return fail(Code::kBadRequest, both("CSV 文件第 " + l + " 行：" + zh, "CSV file, line " + l + ": " + en),
              Json{{"line", line}, {"offset", offset}, {"reason", reason}});
}

// GB18030 to UTF-8 with iconv, strictly: the offset of the first byte it cannot decode, or the text.
std::variant<std::string, size_t> from_gb18030(std::string_view bytes) {
  iconv_t cd = iconv_open("UTF-8", "GB18030");
  if (cd == reinterpret_cast<iconv_t>(-1)) return size_t{0};
  std::unique_ptr<void, int (*)(iconv_t)> closer(cd, iconv_close);
  std::string out(bytes.size() * 2 + 16, '\0');  // GB18030 needs at most 4 bytes per 2..4 in
  char* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  char* dst = out.data();
  size_t out_left = out.size();
  while (in_left > 0) {
    if (iconv(cd, &in, &in_left, &dst, &out_left) == static_cast<size_t>(-1)) {
      if (errno == E2BIG) {
        const size_t used = static_cast<size_t>(dst - out.data());
        out.resize(out.size() * 2);
        dst = out.data() + used;
        out_left = out.size() - used;
        continue;
      }
      return static_cast<size_t>(in - bytes.data());  // EILSEQ, or EINVAL: cut off at the end
    }
  }
  out.resize(static_cast<size_t>(dst - out.data()));
  return out;
}

bool is_guarded_start(char c) { return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r'; }

// True when `cell` is zero or more "'" and then a character a spreadsheet starts a formula with.
bool formula_like(std::string_view cell) {
  size_t i = 0;
  while (i < cell.size() && cell[i] == '\'') ++i;
  return i < cell.size() && is_guarded_start(cell[i]);
}

class Parser {
 public:
  Parser(std::string_view text, const ReadOptions& options) : s_(text), o_(options) {}
  Result<Table> run();

 private:
  std::unexpected<Error> error(std::string_view reason, size_t column, const std::string& zh, const std::string& en) {
    const std::string r = std::to_string(row_), c = std::to_string(column);
    return fail(reason == "too_many_rows" ? Code::kPayloadTooLarge : Code::kBadRequest,
                both("CSV 第 " + r + " 行第 " + c + " 列：" + zh, "CSV row " + r + ", column " + c + ": " + en),
                Json{{"row", row_}, {"column", column}, {"reason", reason}});
  }
  // Reads one cell at pos_ into `cell`; sets `ends_row` when a line break or the end follows.
  std::optional<Error> read_cell(std::string& cell, bool& ends_row);
  std::optional<Error> read_quoted(std::string& cell);
  std::optional<Error> end_of_cell(bool& ends_row);
  std::optional<Error> add_row(std::vector<std::string>&& row);

  std::string_view s_;
  const ReadOptions& o_;
  size_t pos_ = 0, row_ = 1, column_ = 1;
  Table table_;
};

std::optional<Error> Parser::end_of_cell(bool& ends_row) {
  if (pos_ == s_.size()) {
    ends_row = true;
    return std::nullopt;
  }
  const char c = s_[pos_];
  if (c == ',') {
    ++pos_;
    ends_row = false;
    return std::nullopt;
  }
  if (c == '\n' || (c == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n')) {
    pos_ += c == '\n' ? 1 : 2;
    ends_row = true;
    return std::nullopt;
  }
  if (c == '\r') return error("lone_cr", column_, "回车符后缺少换行符", "a carriage return without a line feed").error();
  return error("text_after_quote", column_, "右引号后只能是逗号或换行", "only a comma or a line break may follow a closing quote")
      .error();
}

std::optional<Error> Parser::read_quoted(std::string& cell) {
  const size_t start_row = row_;
  ++pos_;  // the opening quote
  for (;;) {
    const size_t quote = s_.find('"', pos_);
    if (quote == std::string_view::npos) {
      row_ = start_row;
      return error("unterminated_quote", column_, "引号未闭合", "a quoted cell is never closed").error();
    }
    cell.append(s_.substr(pos_, quote - pos_));
    pos_ = quote + 1;
    if (cell.size() > o_.max_cell_bytes) break;
    if (pos_ < s_.size() && s_[pos_] == '"') {
      cell += '"';
      ++pos_;
      continue;
    }
    return std::nullopt;
  }
  return error("cell_too_long", column_, "单元格超过 " + std::to_string(o_.max_cell_bytes) + " 字节",
               "a cell is longer than " + std::to_string(o_.max_cell_bytes) + " bytes")
      .error();
}

std::optional<Error> Parser::read_cell(std::string& cell, bool& ends_row) {
  if (pos_ < s_.size() && s_[pos_] == '"') {
    if (auto e = read_quoted(cell)) return e;
  } else {
    const size_t end = s_.find_first_of(",\r\n\"", pos_);
    const size_t stop = end == std::string_view::npos ? s_.size() : end;
    cell.assign(s_.substr(pos_, stop - pos_));
    pos_ = stop;
    if (pos_ < s_.size() && s_[pos_] == '"') {
      return error("quote_in_cell", column_, "不以引号开头的单元格中不能有引号，请用引号包住整个单元格",
                   "a quote inside a cell that does not begin with one; quote the whole cell")
          .error();
    }
    if (cell.size() > o_.max_cell_bytes) {
      return error("cell_too_long", column_, "单元格超过 " + std::to_string(o_.max_cell_bytes) + " 字节",
                   "a cell is longer than " + std::to_string(o_.max_cell_bytes) + " bytes")
          .error();
    }
  }
  return end_of_cell(ends_row);
}

std::optional<Error> Parser::add_row(std::vector<std::string>&& row) {
  if (table_.rows.size() >= o_.max_rows) {
    return error("too_many_rows", 1, "超过 " + std::to_string(o_.max_rows) + " 行",
                 "more than " + std::to_string(o_.max_rows) + " rows")
        .error();
  }
  if (o_.same_width && !table_.rows.empty() && row.size() != table_.rows[0].size()) {
    const std::string n = std::to_string(row.size()), w = std::to_string(table_.rows[0].size());
    return error("ragged_row", std::min(row.size(), table_.rows[0].size()) + 1, "本行有 " + n + " 列，第一行有 " + w + " 列",
                 "this row has " + n + " cells, the first row " + w)
        .error();
  }
  if (o_.unguard_formulas) {
    for (std::string& cell : row) {
      if (!cell.empty() && cell[0] == '\'') cell = unguard_formula(cell);
    }
  }
  table_.rows.push_back(std::move(row));
  table_.row_numbers.push_back(row_);
  return std::nullopt;
}

Result<Table> Parser::run() {
  while (pos_ < s_.size()) {
    // A line with nothing on it is skipped (but keeps its number).
    if (s_[pos_] == '\n' || (s_[pos_] == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n')) {
      pos_ += s_[pos_] == '\n' ? 1 : 2;
      ++row_;
      continue;
    }
    std::vector<std::string> row;
    column_ = 1;
    for (bool ends_row = false; !ends_row; ++column_) {
      if (column_ > o_.max_columns) {
        return error("too_many_columns", column_, "超过 " + std::to_string(o_.max_columns) + " 列",
                     "more than " + std::to_string(o_.max_columns) + " columns");
      }
      std::string cell;
      if (auto e = read_cell(cell, ends_row)) return fail(std::move(*e));
      row.push_back(std::move(cell));
    }
    if (auto e = add_row(std::move(row))) return fail(std::move(*e));
    ++row_;
  }
  return std::move(table_);
}

}  // namespace

std::string_view encoding_name(Encoding e) { return e == Encoding::kGb18030 ? "GB18030" : "UTF-8"; }

Result<Decoded> decode(std::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return fail(Code::kPayloadTooLarge, both("CSV 文件超过 " + std::to_string(max_bytes) + " 字节",
                                             "the CSV file is larger than " + std::to_string(max_bytes) + " bytes"));
  }
  if (bytes.starts_with("\xFF\xFE") || bytes.starts_with("\xFE\xFF")) {
    return encoding_error(bytes, 0, "utf16", "这是 UTF-16 文本，请另存为“CSV UTF-8”", "the file is UTF-16; save it as CSV UTF-8");
  }
  if (const size_t nul = bytes.find('\0'); nul != std::string_view::npos) {
    return encoding_error(bytes, nul, "binary", "含有空字节，不是 CSV 文本（是否为 Excel 文件？请另存为 CSV）",
                          "a NUL byte: this is not CSV text (an Excel file? save it as CSV)");
  }
  Decoded out;
  if (bytes.starts_with(kUtf8Bom)) {
    out.bom = true;
    bytes.remove_prefix(kUtf8Bom.size());
    if (auto bad = utf8::first_invalid(bytes)) {
      return encoding_error(bytes, *bad, "invalid_utf8", "文件标明为 UTF-8，但含有无效的 UTF-8 字节",
                            "the file is marked as UTF-8 but holds bytes that are not UTF-8");
    }
    out.text.assign(bytes);
    return out;
  }
  if (utf8::valid(bytes)) {
    out.text.assign(bytes);
    return out;
  }
  auto gb = from_gb18030(bytes);
  if (const size_t* bad = std::get_if<size_t>(&gb)) {
    return encoding_error(bytes, *bad, "unknown_encoding", "既不是 UTF-8 也不是 GB18030 编码的文本",
                          "the text is neither UTF-8 nor GB18030");
  }
  out.text = std::move(std::get<std::string>(gb));
  out.encoding = Encoding::kGb18030;
  return out;
}

Result<Table> parse(std::string_view text, const ReadOptions& options) { return Parser(text, options).run(); }

Result<Table> read(std::string_view bytes, const ReadOptions& options) {
  auto decoded = decode(bytes, options.max_bytes);
  if (!decoded) return fail(decoded.error());
  auto table = parse(decoded->text, options);
  if (!table) return table;
  table->encoding = decoded->encoding;
  table->bom = decoded->bom;
  return table;
}

std::string guard_formula(std::string_view cell) {
  return formula_like(cell) ? "'" + std::string(cell) : std::string(cell);
}

std::string unguard_formula(std::string_view cell) {
  if (!cell.empty() && cell[0] == '\'' && formula_like(cell)) cell.remove_prefix(1);
  return std::string(cell);
}

Writer::Writer(bool bom) {
  if (bom) out_ = kUtf8Bom;
}

void Writer::cell(std::string_view text) {
  if (!first_in_row_) out_ += ',';
  first_in_row_ = false;
  if (++cells_in_row_ == 1) first_cell_empty_ = text.empty();
  const bool quote = text.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!text.empty() && (text.front() == ' ' || text.back() == ' '));
  if (!quote) {
    out_ += text;
    return;
  }
  out_ += '"';
  for (char c : text) {
    if (c == '"') out_ += '"';
    out_ += c;
  }
  out_ += '"';
}

void Writer::text(std::string_view text) { cell(guard_formula(text)); }

void Writer::value(std::string_view text) { cell(text); }

void Writer::end_row() {
  // A row of one empty cell is written as "" (a line with nothing on it is skipped on reading).
  if (cells_in_row_ == 1 && first_cell_empty_) out_ += "\"\"";
  out_ += "\r\n";
  first_in_row_ = true;
  cells_in_row_ = 0;
}

std::string Writer::take() { return std::exchange(out_, std::string()); }

}  // namespace pioneer::csv
