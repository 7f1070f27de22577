#include "api/upload/multipart.h"
#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/utf8.h"

namespace pioneer::api::upload {
namespace {

constexpr size_t kMaxBoundary = 70;   // RFC 2046 section 5.1.1
constexpr size_t kMaxPadding = 64;    // transport padding after a boundary (browsers send none)
constexpr std::string_view kVirtualCrlf = "\r\n";  // lets the first boundary match like the others

std::string both(const std::string& zh, const std::string& en) { return zh + "（" + en + "）"; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

bool is_token_char(char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_bchar(char c) {
  if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

void skip_ows(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

std::string_view take_token(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && is_token_char(s[n])) ++n;
  const std::string_view t = s.substr(0, n);
  s.remove_prefix(n);
  return t;
}

// A quoted-string at the front of `s` (the opening quote included). `\"` and `\\` are
// quoted-pairs (RFC 9110); any other backslash is kept, because browsers send a file name's
// backslashes unescaped (the HTML standard escapes only '"', CR and LF, as %22 %0D %0A).
std::optional<std::string> take_quoted(std::string_view& s) {
  std::string out;
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      s.remove_prefix(i + 1);
      return out;
    }
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) ++i;
    out += s[i];
  }
  return std::nullopt;
}

// Media-type parameters: `; name=value` pairs, value a token or a quoted-string; names
// lowercased. nullopt when malformed or a name repeats.
std::optional<std::vector<std::pair<std::string, std::string>>> parameters(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  for (;;) {
    skip_ows(s);
    if (s.empty()) return out;
    if (s.front() != ';') return std::nullopt;
    s.remove_prefix(1);
    skip_ows(s);
    const std::string name = lower(take_token(s));
    if (name.empty() || s.empty() || s.front() != '=') return std::nullopt;
    s.remove_prefix(1);
    std::string value;
    if (!s.empty() && s.front() == '"') {
      auto quoted = take_quoted(s);
      if (!quoted) return std::nullopt;
      value = std::move(*quoted);
    } else {
      value = std::string(take_token(s));
      if (value.empty()) return std::nullopt;
    }
    if (std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == name; })) return std::nullopt;
    out.emplace_back(name, std::move(value));
  }
}

const std::string* find(const std::vector<std::pair<std::string, std::string>>& list, std::string_view name) {
  for (const auto& [k, v] : list) {
    if (k == name) return &v;
  }
  return nullptr;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

// RFC 8187 ext-value: charset "'" [language] "'" pct-encoded; UTF-8 or ISO-8859-1. The value
// in UTF-8, or nullopt when malformed.
std::optional<std::string> ext_value(std::string_view v) {
  const size_t q1 = v.find('\''), q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return std::nullopt;
  const std::string charset = lower(v.substr(0, q1));
  if (charset != "utf-8" && charset != "iso-8859-1") return std::nullopt;
  std::string bytes;
  for (size_t i = q2 + 1; i < v.size(); ++i) {
    if (v[i] != '%') {
      if (!is_token_char(v[i]) || v[i] == '*' || v[i] == '\'') return std::nullopt;
      bytes += v[i];
      continue;
    }
    if (i + 2 >= v.size() || hex_value(v[i + 1]) < 0 || hex_value(v[i + 2]) < 0) return std::nullopt;
    bytes += static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
    i += 2;
  }
  if (charset == "utf-8") return utf8::valid(bytes) ? std::optional(bytes) : std::nullopt;
  std::string out;
  for (char c : bytes) utf8::append(out, static_cast<unsigned char>(c));
  return out;
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  const auto bad = [](const std::string& zh, const std::string& en) {
    return fail(Code::kBadRequest, both("上传须为 multipart/form-data：" + zh, "an upload must be multipart/form-data: " + en));
  };
  std::string_view s = content_type;
  skip_ows(s);
  const std::string type = lower(take_token(s));
  if (s.empty() || s.front() != '/') return bad("缺少媒体类型", "no media type");
  s.remove_prefix(1);
  const std::string subtype = lower(take_token(s));
  if (type != "multipart" || subtype != "form-data") return bad("收到的是 " + type + "/" + subtype, "got " + type + "/" + subtype);
  auto params = parameters(s);
  if (!params) return bad("Content-Type 参数格式不正确", "malformed Content-Type parameters");
  const std::string* boundary = find(*params, "boundary");
  if (!boundary) return bad("缺少 boundary 参数", "no boundary parameter");
  if (boundary->empty() || boundary->size() > kMaxBoundary || boundary->back() == ' ' ||
      !std::all_of(boundary->begin(), boundary->end(), is_bchar)) {
    return bad("boundary 应为 1 至 70 个允许的字符，且不以空格结尾", "the boundary must be 1 to 70 allowed characters, not ending in a space");
  }
  return *boundary;
}

MultipartReader::MultipartReader(std::string boundary, MultipartSink& sink, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), sink_(sink), limits_(limits), buffer_(kVirtualCrlf) {}

Error MultipartReader::malformed(std::string_view reason, const std::string& zh, const std::string& en) const {
  const size_t offset = consumed_ >= kVirtualCrlf.size() ? consumed_ - kVirtualCrlf.size() : 0;
  return Error::make(Code::kBadRequest, both("上传内容格式不正确：" + zh, "malformed multipart body: " + en),
                     Json{{"offset", offset}, {"reason", reason}});
}

void MultipartReader::consume(size_t n) {
  buffer_.erase(0, n);
  consumed_ += n;
}

Result<void> MultipartReader::feed(std::string_view chunk) {
  if (failure_) return fail(*failure_);
  if (state_ == State::kEpilogue) {
    consumed_ += chunk.size();
    return {};
  }
  buffer_.append(chunk);
  for (bool progressed = true; progressed;) {
    progressed = false;
    if (auto e = step(progressed)) {
      failure_ = std::move(*e);
      state_ = State::kFailed;
      buffer_.clear();
      buffer_.shrink_to_fit();
      return fail(*failure_);
    }
  }
  return {};
}

Result<void> MultipartReader::finish() {
  if (failure_) return fail(*failure_);
  if (state_ == State::kEpilogue) return {};
  consumed_ += buffer_.size();
  buffer_.clear();
  failure_ = malformed("truncated", "在结束分隔符之前中断", "the body ends before its closing boundary");
  state_ = State::kFailed;
  return fail(*failure_);
}

std::optional<Error> MultipartReader::step(bool& progressed) {
  const size_t before = consumed_;
  const State state = state_;
  std::optional<Error> e;
  switch (state_) {
    case State::kPreamble:
    case State::kBody: e = scan_body(); break;
    case State::kAfterBoundary: e = after_boundary(); break;
    case State::kHeaders: e = header_line(); break;
    case State::kEpilogue:
      consume(buffer_.size());
      return std::nullopt;
    case State::kFailed: return std::nullopt;
  }
  progressed = !e && (consumed_ != before || state_ != state);
  return e;
}

std::optional<Error> MultipartReader::scan_body() {
  const size_t at = buffer_.find(delimiter_);
  // Bytes that cannot be the start of a delimiter go out now; the rest waits for more input.
  const size_t out = at != std::string::npos
                         ? at
                         : (buffer_.size() >= delimiter_.size() ? buffer_.size() - (delimiter_.size() - 1) : 0);
  if (state_ == State::kPreamble) {
    if (consumed_ + out > limits_.max_preamble_bytes + kVirtualCrlf.size()) {
      return malformed("preamble", "第一个分隔符之前的内容过长", "too many bytes before the first boundary");
    }
  } else if (out > 0) {
    if (auto r = sink_.on_part_body(std::string_view(buffer_).substr(0, out)); !r) return r.error();
  }
  consume(out);
  if (at == std::string::npos) return std::nullopt;
  consume(delimiter_.size());
  if (state_ == State::kBody) {
    if (auto r = sink_.on_part_end(); !r) return r.error();
  }
  state_ = State::kAfterBoundary;
  return std::nullopt;
}

std::optional<Error> MultipartReader::after_boundary() {
  if (buffer_.size() < 2) return std::nullopt;
  if (buffer_[0] == '-' && buffer_[1] == '-') {
    state_ = State::kEpilogue;
    consume(buffer_.size());
    return std::nullopt;
  }
  size_t pad = 0;
  while (pad < buffer_.size() && (buffer_[pad] == ' ' || buffer_[pad] == '\t')) ++pad;
  if (pad > kMaxPadding) return malformed("padding", "分隔符后的空白过多", "too much white space after a boundary");
  if (pad + 2 > buffer_.size()) return std::nullopt;
  if (buffer_[pad] != '\r' || buffer_[pad + 1] != '\n') {
    return malformed("after_boundary", "分隔符后应换行", "a boundary must be followed by a line break");
  }
  if (++parts_ > limits_.max_parts) {
    return malformed("too_many_parts", "部分过多（至多 " + std::to_string(limits_.max_parts) + " 个）",
                     "too many parts (at most " + std::to_string(limits_.max_parts) + ")");
  }
  consume(pad + 2);
  headers_.clear();
  header_bytes_ = 0;
  state_ = State::kHeaders;
  return std::nullopt;
}

std::optional<Error> MultipartReader::header_line() {
  const size_t end = buffer_.find("\r\n");
  const size_t length = end == std::string::npos ? buffer_.size() : end + 2;
  if (header_bytes_ + length > limits_.max_header_bytes) {
    return malformed("headers_too_long", "某部分的头部超过 " + std::to_string(limits_.max_header_bytes) + " 字节",
                     "a part's headers exceed " + std::to_string(limits_.max_header_bytes) + " bytes");
  }
  if (end == std::string::npos) return std::nullopt;
  header_bytes_ += length;
  const std::string_view line = std::string_view(buffer_).substr(0, end);
  if (line.empty()) {
    consume(length);
    return begin_part();
  }
  if (line.front() == ' ' || line.front() == '\t') {
    return malformed("folded_header", "不接受折行的头部", "folded header lines are not accepted");
  }
  const bool clean = std::none_of(line.begin(), line.end(), [](char c) {
    return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F;
  });
  std::string_view rest = line;
  const std::string name = lower(take_token(rest));
  if (!clean || name.empty() || rest.empty() || rest.front() != ':') {
    return malformed("bad_header", "头部行格式不正确", "a header line is malformed");
  }
  rest.remove_prefix(1);
  skip_ows(rest);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  headers_.emplace_back(name, std::string(rest));
  consume(length);
  return std::nullopt;
}

std::optional<Error> MultipartReader::begin_part() {
  PartHeaders part;
  const auto count = [&](std::string_view n) {
    return std::count_if(headers_.begin(), headers_.end(), [&](const auto& h) { return h.first == n; });
  };
  if (count("content-disposition") != 1 || count("content-type") > 1 || count("content-transfer-encoding") > 1) {
    return malformed("part_headers", "每部分须有且仅有一个 Content-Disposition，至多一个 Content-Type",
                     "each part needs exactly one Content-Disposition and at most one Content-Type");
  }
  if (const std::string* te = find(headers_, "content-transfer-encoding")) {
    const std::string v = lower(*te);
    if (v != "binary" && v != "8bit" && v != "7bit") {
      return malformed("transfer_encoding", "不接受 Content-Transfer-Encoding: " + *te, "Content-Transfer-Encoding " + *te + " is not accepted");
    }
  }
  if (const std::string* type = find(headers_, "content-type")) part.content_type = *type;
  std::string_view cd = *find(headers_, "content-disposition");
  const std::string kind = lower(take_token(cd));
  auto params = parameters(cd);
  const std::string* name = params ? find(*params, "name") : nullptr;
  if (kind != "form-data" || !name || !utf8::valid(*name)) {
    return malformed("content_disposition", "Content-Disposition 应为 form-data 并带有 name",
                     "Content-Disposition must be form-data with a name");
  }
  part.name = *name;
  if (const std::string* ext = find(*params, "filename*")) {
    auto decoded = ext_value(*ext);
    if (!decoded) return malformed("filename", "filename* 格式不正确", "malformed filename*");
    part.filename = std::move(*decoded);
  } else if (const std::string* plain = find(*params, "filename")) {
    part.filename = *plain;
  }
  headers_.clear();
  state_ = State::kBody;
  if (auto r = sink_.on_part_begin(part); !r) return r.error();
  return std::nullopt;
}

namespace {

std::unexpected<Error> not_one_file() {
  return fail(Code::kBadRequest, both("上传须只含一个名为 file 的文件部分", "an upload must hold exactly one part, named file, with a file name"),
              Json{{"reason", "file_part"}});
}

}  // namespace

Result<void> SingleFileSink::on_part_begin(const PartHeaders& headers) {
  if (seen_ || headers.name != "file" || !headers.filename) return not_one_file();
  seen_ = true;
  return file_.on_part_begin(headers);
}

Result<void> SingleFileSink::on_part_body(std::string_view bytes) {
  if (bytes.size() > max_bytes_ - size_) {
    return fail(Code::kPayloadTooLarge, both("文件超过 " + std::to_string(max_bytes_) + " 字节的上限",
                                             "the file is larger than the limit of " + std::to_string(max_bytes_) + " bytes"),
                Json{{"reason", "file_limit"}, {"limit", max_bytes_}});
  }
  size_ += bytes.size();
  return file_.on_part_body(bytes);
}

Result<void> SingleFileSink::on_part_end() {
  ended_ = true;
  return file_.on_part_end();
}

Result<void> SingleFileSink::complete() const {
  if (!ended_) return not_one_file();
  return {};
}

}  // namespace pioneer::api::upload
