// The streaming multipart/form-data reader: what browsers and curl send, split anywhere, and
// every malformed form refused with the reader left failed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/upload/multipart.h"

namespace pioneer::api::upload {
namespace {

// Records what the reader reports, as text: "begin name=... filename=... type=...", the body
// bytes joined per part, "end".
class Recorder : public MultipartSink {
 public:
  std::vector<std::string> events;
  size_t body_calls = 0, body_bytes = 0;
  std::optional<Error> fail_on_body;

  Result<void> on_part_begin(const PartHeaders& h) override {
    events.push_back("begin name=" + h.name + " filename=" + (h.filename ? *h.filename : "-") + " type=" + h.content_type);
    events.push_back("");
    return {};
  }
  Result<void> on_part_body(std::string_view bytes) override {
    EXPECT_FALSE(bytes.empty());
    ++body_calls;
    body_bytes += bytes.size();
    if (fail_on_body) return fail(*fail_on_body);
    events.back().append(bytes);
    return {};
  }
  Result<void> on_part_end() override {
    events.push_back("end");
    return {};
  }
};

constexpr std::string_view kBoundary = "------------------------d74496d66958873e";

// What `curl -F title=整改 -F file=@报告.pdf` sends.
std::string curl_body() {
  return "--" + std::string(kBoundary) +
         "\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n整改\r\n"
         "--" + std::string(kBoundary) +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"报告.pdf\"\r\n"
         "Content-Type: application/pdf\r\n\r\n%PDF-1.7\r\n--not-a-boundary\r\n\r\n--" +
         std::string(kBoundary).substr(0, 20) + "\r\n%%EOF\r\n"
         "--" + std::string(kBoundary) + "--\r\n";
}

const std::vector<std::string> kCurlEvents = {
    "begin name=title filename=- type=text/plain", "整改", "end",
    "begin name=file filename=报告.pdf type=application/pdf",
    "%PDF-1.7\r\n--not-a-boundary\r\n\r\n--" + std::string(kBoundary).substr(0, 20) + "\r\n%%EOF", "end"};

// Feeds `body` in chunks of `chunk` bytes; returns the error message or "".
std::string run(Recorder& r, std::string_view body, size_t chunk, std::string_view boundary = kBoundary,
                MultipartLimits limits = {}) {
  MultipartReader reader{std::string(boundary), r, limits};
  const size_t held = boundary.size() + 4 + 64 + limits.max_header_bytes;
  for (size_t i = 0; i < body.size(); i += chunk) {
    auto fed = reader.feed(body.substr(i, chunk));
    if (!fed) return fed.error().message + " " + fed.error().details().dump();
    EXPECT_LE(reader.buffered(), held);
  }
  auto done = reader.finish();
  return done ? "" : done.error().message + " " + done.error().details().dump();
}

TEST(MultipartBoundary, FromTheContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc").value_or("?"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data;BOUNDARY=\"a b:c\"").value_or("?"), "a b:c");
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW")
                .value_or("?"),
            "----WebKitFormBoundary7MA4YWxkTrZu0gW");
  for (std::string_view bad : {"application/json", "multipart/mixed; boundary=a", "multipart/form-data",
                               "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"",
                               "multipart/form-data; boundary=\"a \"", "multipart/form-data; boundary=a; boundary=b",
                               "multipart/form-data; boundary=\"a\x01\"", "multipart/form-data; boundary=\"unterminated",
                               "multipart/form-data; boundary=a junk"}) {
    auto b = multipart_boundary(bad);
    EXPECT_FALSE(b.has_value()) << bad;
    if (!b) {
      EXPECT_EQ(b.error().code, Code::kBadRequest);
    }
  }
  EXPECT_TRUE(multipart_boundary("multipart/form-data; boundary=" + std::string(70, 'a')).has_value());
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')).has_value());
}

TEST(MultipartReader, WhatCurlSendsSplitAnywhere) {
  const std::string body = curl_body();
  for (size_t chunk : {body.size(), size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{41}, size_t{45}}) {
    Recorder r;
    EXPECT_EQ(run(r, body, chunk), "") << chunk;
    EXPECT_EQ(r.events, kCurlEvents) << "chunk " << chunk;
  }
}

TEST(MultipartReader, FileNamesAsBrowsersAndRfc8187SendThem) {
  const auto name_of = [](const std::string& disposition) {
    Recorder r;
    const std::string body = "--b\r\nContent-Disposition: " + disposition + "\r\n\r\nx\r\n--b--";
    const std::string error = run(r, body, body.size(), "b");
    return error.empty() ? r.events.at(0) : "error";
  };
  EXPECT_EQ(name_of("form-data; name=\"file\"; filename*=UTF-8''%E6%95%B4%E6%94%B9.pdf; filename=\"x.pdf\""),
            "begin name=file filename=整改.pdf type=text/plain");
  EXPECT_EQ(name_of("form-data; name=file; filename*=iso-8859-1'de'caf%E9.txt"),
            "begin name=file filename=café.txt type=text/plain");
  EXPECT_EQ(name_of("form-data; name=\"file\"; filename=\"C:\\dir\\a.pdf\""),
            "begin name=file filename=C:\\dir\\a.pdf type=text/plain");  // kept; clean_file_name cuts the path
  EXPECT_EQ(name_of("form-data; name=\"file\"; filename=\"say \\\"hi\\\".txt\""),
            "begin name=file filename=say \"hi\".txt type=text/plain");
  EXPECT_EQ(name_of("form-data; name=\"file\"; filename=\"a%22b.txt\""),
            "begin name=file filename=a%22b.txt type=text/plain");
  EXPECT_EQ(name_of("FORM-DATA; NAME=\"file\""), "begin name=file filename=- type=text/plain");
  EXPECT_EQ(name_of("form-data; name=\"file\"; filename*=UTF-8''%FF.pdf"), "error");
  EXPECT_EQ(name_of("form-data; name=\"file\"; filename*=UTF-8''%E6%9"), "error");
  EXPECT_EQ(name_of("form-data; name=\"file\"; filename*=GBK''%D5%FB"), "error");
  EXPECT_EQ(name_of("attachment; name=\"file\""), "error");
  EXPECT_EQ(name_of("form-data; filename=\"a.pdf\""), "error");
  EXPECT_EQ(name_of("form-data; name=\"a\"; name=\"b\""), "error");
  EXPECT_EQ(name_of("form-data; name=\"unterminated"), "error");
}

TEST(MultipartReader, PreambleEpilogueAndPaddingAreAllowed) {
  Recorder r;
  EXPECT_EQ(run(r, "this is a preamble\r\n--b \t\r\nContent-Disposition: form-data; name=f\r\n\r\nbody\r\n--b--\r\nepilogue",
                5, "b"),
            "");
  EXPECT_EQ(r.events, (std::vector<std::string>{"begin name=f filename=- type=text/plain", "body", "end"}));
  Recorder empty;
  EXPECT_EQ(run(empty, "--b\r\nContent-Disposition: form-data; name=f\r\n\r\n\r\n--b--", 1, "b"), "");
  EXPECT_EQ(empty.events, (std::vector<std::string>{"begin name=f filename=- type=text/plain", "", "end"}));
  EXPECT_EQ(empty.body_calls, 0u);
}

TEST(MultipartReader, MalformedBodiesAreRefused) {
  const std::string cd = "Content-Disposition: form-data; name=f\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "truncated"},
      {"--b\r\n" + cd + "\r\nbody", "truncated"},
      {"--b\r\n" + cd + "\r\nbody\r\n--b", "truncated"},
      {"--b\r\n" + cd + "\r\nbody\r\n--b-", "truncated"},
      {"--b\r\n" + cd, "truncated"},
      {"--bX\r\n" + cd + "\r\nx\r\n--b--", "after_boundary"},
      {"--b\n" + cd + "\r\nx\r\n--b--", "after_boundary"},
      {"--b\r\n" + cd + "\r\nx\r\n--b -\r\n", "after_boundary"},
      {"--b" + std::string(65, ' ') + "\r\n" + cd + "\r\nx\r\n--b--", "padding"},
      {"--b\r\n\r\nx\r\n--b--", "part_headers"},
      {"--b\r\n" + cd + cd + "\r\nx\r\n--b--", "part_headers"},
      {"--b\r\n" + cd + "Content-Type: a\r\nContent-Type: b\r\n\r\nx\r\n--b--", "part_headers"},
      {"--b\r\n" + cd + " folded\r\n\r\nx\r\n--b--", "folded_header"},
      {"--b\r\nContent-Disposition: form-data;\n name=f\r\n\r\nx\r\n--b--", "bad_header"},
      {"--b\r\nContent-Disposition form-data\r\n\r\nx\r\n--b--", "bad_header"},
      {"--b\r\n" + cd + "X-Nul: a" + '\0' + "b\r\n\r\nx\r\n--b--", "bad_header"},
      {"--b\r\n" + cd + "Content-Transfer-Encoding: base64\r\n\r\neA==\r\n--b--", "transfer_encoding"},
      {"--b\r\nX-Long: " + std::string(9000, 'a') + "\r\n" + cd + "\r\nx\r\n--b--", "headers_too_long"},
      {std::string(2000, 'p') + "\r\n--b\r\n" + cd + "\r\nx\r\n--b--", "preamble"},
  };
  for (const auto& [body, reason] : cases) {
    for (size_t chunk : {body.size() + 1, size_t{1}, size_t{4}}) {
      Recorder r;
      const std::string error = run(r, body, chunk, "b");
      EXPECT_NE(error.find("\"reason\":\"" + reason + "\""), std::string::npos)
          << "chunk " << chunk << ": " << body.substr(0, 80) << " -> " << error;
      EXPECT_NE(error.find("上传内容格式不正确"), std::string::npos) << error;
    }
  }
  std::string parts;
  for (int i = 0; i < 17; ++i) parts += "--b\r\n" + cd + "\r\nx\r\n";
  Recorder r;
  EXPECT_NE(run(r, parts + "--b--", 64, "b").find("too_many_parts"), std::string::npos);
}

TEST(MultipartReader, AFailureIsFinalAndTheSinkHearsNothingMore) {
  Recorder r;
  r.fail_on_body = Error::make(Code::kPayloadTooLarge, "太大（too large）");
  MultipartReader reader{"b", r};
  auto fed = reader.feed("--b\r\nContent-Disposition: form-data; name=file\r\n\r\n" + std::string(100, 'x'));
  ASSERT_FALSE(fed.has_value());
  EXPECT_EQ(fed.error().code, Code::kPayloadTooLarge);
  const size_t calls = r.body_calls;
  auto again = reader.feed(std::string(100, 'y') + "\r\n--b--");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kPayloadTooLarge);
  EXPECT_EQ(r.body_calls, calls);
  EXPECT_EQ(reader.finish().error().code, Code::kPayloadTooLarge);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(MultipartReader, MemoryStaysBoundedWhateverTheSize) {
  // 16 MiB in 64 KiB chunks, with near-boundaries inside: everything arrives, nothing piles up
  // (run() checks buffered() after every chunk).
  std::string chunk(64 * 1024, 'z');
  for (size_t i = 0; i + 20 < chunk.size(); i += 5000) chunk.replace(i, 6, "\r\n--b\r");
  Recorder r;
  MultipartReader reader{std::string(kBoundary), r};
  ASSERT_TRUE(reader.feed("--" + std::string(kBoundary) + "\r\nContent-Disposition: form-data; name=file\r\n\r\n"));
  size_t total = 0;
  for (int i = 0; i < 256; ++i) {
    ASSERT_TRUE(reader.feed(chunk));
    EXPECT_LE(reader.buffered(), kBoundary.size() + 4);
    total += chunk.size();
    r.events.back().clear();  // the recorder would otherwise hold it all
  }
  ASSERT_TRUE(reader.feed("\r\n--" + std::string(kBoundary) + "--"));
  ASSERT_TRUE(reader.finish());
  EXPECT_TRUE(reader.done());
  EXPECT_GE(r.body_calls, 256u);
  EXPECT_EQ(r.events.back(), "end");
  EXPECT_EQ(r.body_bytes, total);
}

TEST(SingleFileSink, ExactlyOnePartNamedFileWithinTheLimit) {
  const auto upload = [](const std::string& body, uint64_t limit, Recorder& file) -> std::string {
    SingleFileSink sink(file, limit);
    MultipartReader reader("b", sink);
    auto fed = reader.feed(body);
    if (!fed) return fed.error().details().value("reason", "?");
    auto done = reader.finish();
    if (!done) return done.error().details().value("reason", "?");
    auto complete = sink.complete();
    return complete ? "ok " + std::to_string(sink.size()) : complete.error().details().value("reason", "?");
  };
  const std::string file_part = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.7\r\n";
  const std::string field = "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nx\r\n";
  Recorder r1, r2, r3, r4, r5, r6;
  EXPECT_EQ(upload(file_part + "--b--", 8, r1), "ok 8");
  EXPECT_EQ(r1.events, (std::vector<std::string>{"begin name=file filename=a.pdf type=text/plain", "%PDF-1.7", "end"}));
  // One byte over the limit: refused before the byte reaches the file's sink.
  EXPECT_EQ(upload(file_part + "--b--", 7, r2), "file_limit");
  EXPECT_LE(r2.body_bytes, 7u);
  EXPECT_EQ(upload(field + file_part + "--b--", 8, r3), "file_part");
  EXPECT_EQ(upload(file_part + file_part + "--b--", 100, r4), "file_part");
  EXPECT_EQ(upload("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b--", 100, r5), "file_part");
  EXPECT_EQ(upload("--b--", 100, r6), "file_part");  // no part at all
}

}  // namespace
}  // namespace pioneer::api::upload
