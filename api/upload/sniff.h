// Which kind of file an upload is, decided by its bytes and never by its name or the type the
// client claims: the allow-list of evidence files (PDF, JPEG, PNG, OFD, docx/xlsx/pptx, doc/xls,
// plain UTF-8 text). Anything else, HTML above all (a page served from our origin could run
// script), is not on the list.
//
// ContentSniffer is fed the file as it streams past, in chunks of any size, and keeps bounded
// state: the first 4 KiB, the last 256 KiB (where a zip keeps its directory), a partial UTF-8
// sequence and a partial 128-byte record (OLE2 directory entries). Not thread-safe; one per
// upload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pioneer::api::upload {

enum class FileType { kPdf, kJpeg, kPng, kOfd, kDocx, kXlsx, kPptx, kDoc, kXls, kText };

// The type stored and sent as Content-Type ("application/pdf", "text/plain; charset=utf-8", ...).
std::string_view mime_type(FileType type);
// A short stable name: "pdf", "jpeg", "png", "ofd", "docx", "xlsx", "pptx", "doc", "xls", "text".
std::string_view type_name(FileType type);
// True when the file name has no extension or one of the type's own ("a.PDF" fits kPdf,
// "a.jpeg" and "a.jpg" fit kJpeg; text fits .txt .csv .tsv .md .log). A PNG named x.pdf, or
// text named page.html, does not fit: the upload route refuses such a mismatch.
bool name_fits_type(std::string_view file_name, FileType type);

class ContentSniffer {
 public:
  void feed(std::string_view bytes);
  // The type of everything fed, or nullopt when it is none on the list. In order: "%PDF-" at the
  // start is PDF; FF D8 FF is JPEG; the PNG signature is PNG; a zip (PK\3\4 at the start, its
  // central directory readable in the last 256 KiB, not zip64) whose entries include OFD.xml at
  // the top is OFD, or that has [Content_Types].xml and entries under exactly one of word/,
  // xl/, ppt/ is docx, xlsx or pptx; an OLE2 compound file (D0 CF 11 E0 A1 B1 1A E1) with a
  // WordDocument stream is doc, one with a Workbook stream is xls (a directory entry, 128-byte
  // aligned, naming exactly one of them); anything else that is non-empty, valid UTF-8 without
  // NUL or other control characters than TAB, LF, FF and CR, and whose first character after
  // an optional byte-order mark and white space is not '<' (HTML, SVG, XML), is text.
  std::optional<FileType> finish() const;

  uint64_t size() const { return size_; }

 private:
  void scan_records(std::string_view bytes);
  void scan_text(std::string_view bytes);
  std::optional<FileType> zip_type() const;
  bool text() const;

  uint64_t size_ = 0;
  std::string head_;  // the first kHead bytes
  std::string tail_;  // the last kTail bytes at least (trimmed lazily)
  std::string record_;  // the current 128-byte record, while incomplete
  bool word_stream_ = false, workbook_stream_ = false;
  std::string utf8_pending_;  // an incomplete UTF-8 sequence at the end of the last chunk
  bool text_ok_ = true;
  int first_visible_ = -1;  // the first byte that is not white space or the byte-order mark
};

}  // namespace pioneer::api::upload
