// A streaming reader of multipart/form-data (RFC 7578 on RFC 2046's multipart grammar), for
// uploads: the body is fed in chunks of any size as they arrive, and each part's headers and
// body bytes come out through a sink while they stream past, so that memory stays bounded
// whatever the size of the upload: the reader keeps at most one part's header block
// (Limits::max_header_bytes) and a delimiter's length of body bytes that might begin the next
// boundary, besides the chunk it is given.
//
// Strict: anything RFC 2046 and RFC 7578 do not allow is refused, and so is anything browsers
// and curl never send (header folding, a Content-Transfer-Encoding that changes the bytes, a
// part without a form-data Content-Disposition or a name). A refusal is final: every later
// feed() and finish() returns it again, and the sink hears of nothing more.
//
// Not thread-safe: one reader per request, fed from one strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pioneer::api::upload {

// The boundary of a "multipart/form-data; boundary=..." media type (the parameter quoted or
// not; type, subtype and parameter names in any case). kBadRequest naming what is wrong when
// the type is another, the boundary is missing, given twice, empty, longer than 70 characters,
// holds a character RFC 2046 does not allow (bchars), or ends in a space.
Result<std::string> multipart_boundary(std::string_view content_type);

struct PartHeaders {
  std::string name;  // Content-Disposition: form-data; name="..."
  // The file name as the client sent it (filename*=UTF-8''... preferred over filename="..."),
  // not cleaned: clean_file_name() in file_name.h makes it fit to store. nullopt for a field
  // that is not a file.
  std::optional<std::string> filename;
  std::string content_type = "text/plain";  // the part's own Content-Type, as sent; never trusted
};

// What the reader calls, in order, for each part: begin once, body zero or more times with the
// next bytes of that part (each call with at least one byte), end once. A non-ok result stops
// the reader at once: feed() returns that error and the reader is failed from then on (a
// consumer refuses an over-large file, or a second part named `file`, this way).
class MultipartSink {
 public:
  virtual ~MultipartSink() = default;
  virtual Result<void> on_part_begin(const PartHeaders& headers) = 0;
  virtual Result<void> on_part_body(std::string_view bytes) = 0;
  virtual Result<void> on_part_end() = 0;
};

// The upload route's rule over the reader: the body holds exactly one part, named `file`, with
// a file name, and its bytes are at most `max_bytes`. That part's callbacks go on to `file`;
// anything else stops the reader: another part, or a second one, with kBadRequest (reason
// "file_part"), more bytes than `max_bytes` with kPayloadTooLarge (reason "file_limit"), before
// they reach `file`.
class SingleFileSink : public MultipartSink {
 public:
  SingleFileSink(MultipartSink& file, uint64_t max_bytes) : file_(file), max_bytes_(max_bytes) {}
  Result<void> on_part_begin(const PartHeaders& headers) override;
  Result<void> on_part_body(std::string_view bytes) override;
  Result<void> on_part_end() override;
  // After the reader's finish() succeeded: kBadRequest (reason "file_part") when no file part
  // came, else ok.
  Result<void> complete() const;
  uint64_t size() const { return size_; }

 private:
  MultipartSink& file_;
  const uint64_t max_bytes_;
  uint64_t size_ = 0;
  bool seen_ = false, ended_ = false;
};

struct MultipartLimits {
  size_t max_parts = 16;
  size_t max_header_bytes = 8 * 1024;  // of one part's header block, line ends included
  size_t max_preamble_bytes = 1024;    // bytes before the first boundary (browsers send none)
};

class MultipartReader {
 public:
  // `boundary` as multipart_boundary() returns it. The sink must outlive the reader.
  MultipartReader(std::string boundary, MultipartSink& sink, MultipartLimits limits = {});

  // The next bytes of the body. Errors are kBadRequest ("上传内容格式不正确（malformed
  // multipart body）: ..." with details {offset, reason}) or whatever the sink returned.
  // Bytes after the closing boundary (the epilogue) are ignored.
  Result<void> feed(std::string_view chunk);
  // The body has ended. kBadRequest (reason "truncated") unless the closing boundary was seen;
  // a part cut off midway is never ended (on_part_end is not called for it).
  Result<void> finish();

  bool done() const { return state_ == State::kEpilogue; }
  // Bytes held between calls: after feed() returns, never more than the delimiter's length
  // (boundary + 4) plus 64 bytes of padding, or one part's header block (max_header_bytes).
  size_t buffered() const { return buffer_.size(); }

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kBody, kEpilogue, kFailed };
  std::optional<Error> step(bool& progressed);
  std::optional<Error> scan_body();
  std::optional<Error> after_boundary();
  std::optional<Error> header_line();
  std::optional<Error> begin_part();
  Error malformed(std::string_view reason, const std::string& zh, const std::string& en) const;
  void consume(size_t n);

  const std::string delimiter_;  // CRLF "--" boundary
  MultipartSink& sink_;
  const MultipartLimits limits_;
  State state_ = State::kPreamble;
  std::string buffer_;  // bytes fed but not yet consumed
  size_t consumed_ = 0;  // bytes consumed before buffer_ (offsets in errors)
  size_t parts_ = 0;
  size_t header_bytes_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;  // of the part being read; names lowercased
  std::optional<Error> failure_;
};

}  // namespace pioneer::api::upload
