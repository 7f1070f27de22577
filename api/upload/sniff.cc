#include "api/upload/sniff.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/utf8.h"

namespace pioneer::api::upload {
namespace {

constexpr size_t kHead = 4 * 1024;
constexpr size_t kTail = 256 * 1024;
constexpr size_t kRecord = 128;  // an OLE2 directory entry
constexpr std::string_view kOle2 = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
constexpr std::string_view kPng = "\x89PNG\r\n\x1A\n";

struct TypeInfo {
  FileType type;
  std::string_view name, mime;
  std::vector<std::string_view> extensions;
};

const std::vector<TypeInfo>& types() {
  static const std::vector<TypeInfo> list = {
      {FileType::kPdf, "pdf", "application/pdf", {"pdf"}},
      {FileType::kJpeg, "jpeg", "image/jpeg", {"jpg", "jpeg", "jpe", "jfif"}},
      {FileType::kPng, "png", "image/png", {"png"}},
      {FileType::kOfd, "ofd", "application/ofd", {"ofd"}},
      {FileType::kDocx, "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", {"docx"}},
      {FileType::kXlsx, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", {"xlsx"}},
      {FileType::kPptx, "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", {"pptx"}},
      {FileType::kDoc, "doc", "application/msword", {"doc"}},
      {FileType::kXls, "xls", "application/vnd.ms-excel", {"xls"}},
      {FileType::kText, "text", "text/plain; charset=utf-8", {"txt", "csv", "tsv", "md", "log"}},
  };
  return list;
}

const TypeInfo& info(FileType type) {
  for (const TypeInfo& t : types()) {
    if (t.type == type) return t;
  }
  return types().front();
}

uint32_t le(std::string_view s, size_t at, size_t bytes) {
  uint32_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

// The UTF-16LE bytes of an ASCII name.
std::string utf16le(std::string_view ascii) {
  std::string out;
  for (char c : ascii) {
    out += c;
    out += '\0';
  }
  return out;
}

// True when `rec` is an OLE2 directory entry for a stream called `name`.
bool is_stream_entry(std::string_view rec, std::string_view name) {
  static constexpr size_t kNameLength = 64, kObjectType = 66;
  static constexpr unsigned char kStream = 2;
  const std::string wide = utf16le(name);
  return le(rec, kNameLength, 2) == wide.size() + 2 && static_cast<unsigned char>(rec[kObjectType]) == kStream &&
         rec.substr(0, wide.size()) == wide && rec[wide.size()] == '\0' && rec[wide.size() + 1] == '\0';
}

// The length a UTF-8 sequence starting with `lead` claims (1 for bytes that are no lead).
size_t claimed_length(unsigned char lead) { return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1; }

bool control_byte(unsigned char c) { return (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7F; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

}  // namespace

std::string_view mime_type(FileType type) { return info(type).mime; }
std::string_view type_name(FileType type) { return info(type).name; }

bool name_fits_type(std::string_view file_name, FileType type) {
  const size_t slash = file_name.find_last_of("/\\");
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return true;  // no extension (".profile" has none either)
  const std::string ext = lower(file_name.substr(dot + 1));
  const auto& list = info(type).extensions;
  return std::find(list.begin(), list.end(), ext) != list.end();
}

void ContentSniffer::feed(std::string_view bytes) {
  if (head_.size() < kHead) head_.append(bytes.substr(0, kHead - head_.size()));
  tail_.append(bytes.size() > kTail ? bytes.substr(bytes.size() - kTail) : bytes);
  if (tail_.size() > 2 * kTail) tail_.erase(0, tail_.size() - kTail);
  scan_records(bytes);
  if (text_ok_) scan_text(bytes);
  for (size_t i = 0; first_visible_ < 0 && i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    const uint64_t at = size_ + i;
    const bool bom = at < 3 && c == static_cast<unsigned char>("\xEF\xBB\xBF"[at]);
    if (!bom && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f') first_visible_ = c;
  }
  size_ += bytes.size();
}

void ContentSniffer::scan_records(std::string_view bytes) {
  const auto check = [this](std::string_view rec) {
    word_stream_ = word_stream_ || is_stream_entry(rec, "WordDocument");
    workbook_stream_ = workbook_stream_ || is_stream_entry(rec, "Workbook");
  };
  if (!record_.empty()) {
    const size_t n = std::min(kRecord - record_.size(), bytes.size());
    record_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (record_.size() < kRecord) return;
    check(record_);
    record_.clear();
  }
  for (; bytes.size() >= kRecord; bytes.remove_prefix(kRecord)) check(bytes.substr(0, kRecord));
  record_.assign(bytes);
}

void ContentSniffer::scan_text(std::string_view bytes) {
  std::string joined;
  if (!utf8_pending_.empty()) {
    joined = utf8_pending_ + std::string(bytes);
    bytes = joined;
    utf8_pending_.clear();
  }
  // Hold back a sequence the chunk cuts off; it is checked with the next chunk.
  size_t cut = bytes.size();
  for (size_t back = 1; back <= 3 && back <= bytes.size(); ++back) {
    const auto c = static_cast<unsigned char>(bytes[bytes.size() - back]);
    if ((c & 0xC0) == 0x80) continue;
    if (claimed_length(c) > back) cut = bytes.size() - back;
    break;
  }
  const std::string_view whole = bytes.substr(0, cut);
  text_ok_ = utf8::valid(whole) && std::none_of(whole.begin(), whole.end(), [](char c) {
               return control_byte(static_cast<unsigned char>(c));
             });
  if (text_ok_) utf8_pending_.assign(bytes.substr(cut));
}

bool ContentSniffer::text() const {
  return text_ok_ && utf8_pending_.empty() && size_ > 0 && first_visible_ != '<';
}

std::optional<FileType> ContentSniffer::zip_type() const {
  static constexpr size_t kEocd = 22, kCentral = 46;
  // Exactly the last kTail bytes (tail_ may hold more), so that the answer never depends on
  // how the file was cut into chunks.
  const std::string_view tail = std::string_view(tail_).substr(tail_.size() > kTail ? tail_.size() - kTail : 0);
  const uint64_t tail_start = size_ - tail.size();
  // The end-of-central-directory record: its signature within the last 22 + 65535 bytes.
  size_t eocd = std::string::npos;
  for (size_t at = tail.size() >= kEocd ? tail.size() - kEocd + 1 : 0; at-- > 0;) {
    if (tail.substr(at, 4) == "PK\x05\x06") {
      eocd = at;
      break;
    }
    if (tail.size() - at > kEocd + 65535) break;
  }
  if (eocd == std::string::npos) return std::nullopt;
  const uint64_t cd_size = le(tail, eocd + 12, 4), cd_offset = le(tail, eocd + 16, 4);
  if (cd_offset < tail_start || cd_offset + cd_size > tail_start + eocd) return std::nullopt;  // zip64, or too far back
  std::string_view cd = tail.substr(cd_offset - tail_start, cd_size);
  bool ofd = false, content_types = false, word = false, xl = false, ppt = false;
  while (cd.size() >= kCentral && cd.starts_with("PK\x01\x02")) {
    const size_t name_len = le(cd, 28, 2), extra = le(cd, 30, 2), comment = le(cd, 32, 2);
    if (cd.size() < kCentral + name_len + extra + comment) return std::nullopt;
    const std::string_view name = cd.substr(kCentral, name_len);
    ofd = ofd || name == "OFD.xml";
    content_types = content_types || name == "[Content_Types].xml";
    word = word || name.starts_with("word/");
    xl = xl || name.starts_with("xl/");
    ppt = ppt || name.starts_with("ppt/");
    cd.remove_prefix(kCentral + name_len + extra + comment);
  }
  if (!cd.empty()) return std::nullopt;
  if (ofd) return FileType::kOfd;
  if (!content_types || word + xl + ppt != 1) return std::nullopt;
  return word ? FileType::kDocx : xl ? FileType::kXlsx : FileType::kPptx;
}

std::optional<FileType> ContentSniffer::finish() const {
  const std::string_view h = head_;
  if (h.starts_with("%PDF-")) return FileType::kPdf;
  if (h.starts_with("\xFF\xD8\xFF")) return FileType::kJpeg;
  if (h.starts_with(kPng)) return FileType::kPng;
  if (h.starts_with("PK\x03\x04")) return zip_type();
  if (h.starts_with(kOle2)) {
    if (word_stream_ == workbook_stream_) return std::nullopt;
    return word_stream_ ? FileType::kDoc : FileType::kXls;
  }
  if (text()) return FileType::kText;
  return std::nullopt;
}

}  // namespace pioneer::api::upload
