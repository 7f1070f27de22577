// Content sniffing against the allow-list, fed whole and in chunks, on files built here byte by
// byte (zip and OLE2 containers included).
#include <gtest/gtest.h>

#include "api/upload/sniff.h"

namespace pioneer::api::upload {
namespace {

using namespace std::string_literals;

void put(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// A zip with stored entries: local headers, then the central directory and its end record.
std::string zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const uint32_t offset = static_cast<uint32_t>(out.size());
    out += "PK\x03\x04"s;
    put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4), put(out, 0, 4);
    put(out, static_cast<uint32_t>(data.size()), 4), put(out, static_cast<uint32_t>(data.size()), 4);
    put(out, static_cast<uint32_t>(name.size()), 2), put(out, 0, 2);
    out += name + data;
    central += "PK\x01\x02"s;
    put(central, 20, 2), put(central, 20, 2), put(central, 0, 2), put(central, 0, 2), put(central, 0, 4);
    put(central, 0, 4), put(central, static_cast<uint32_t>(data.size()), 4), put(central, static_cast<uint32_t>(data.size()), 4);
    put(central, static_cast<uint32_t>(name.size()), 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0, 2), put(central, 0, 2), put(central, 0, 4), put(central, offset, 4);
    central += name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  out += "PK\x05\x06"s;
  put(out, 0, 2), put(out, 0, 2), put(out, static_cast<uint32_t>(entries.size()), 2);
  put(out, static_cast<uint32_t>(entries.size()), 2), put(out, static_cast<uint32_t>(central.size()), 4);
  put(out, cd_offset, 4), put(out, 0, 2);
  return out;
}

// An OLE2 compound file: the 512-byte header, then directory entries (128 bytes each) named
// `streams`, padded to 512-byte sectors.
std::string ole2(const std::vector<std::string>& streams, size_t misalign = 0) {
  std::string out = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"s;
  out.resize(512 + misalign, '\0');
  for (const std::string& name : streams) {
    std::string entry(128, '\0');
    for (size_t i = 0; i < name.size(); ++i) entry[2 * i] = name[i];
    entry[64] = static_cast<char>((name.size() + 1) * 2);
    entry[66] = 2;  // a stream
    out += entry;
  }
  out.resize((out.size() + 511) / 512 * 512, '\0');
  return out;
}

std::optional<FileType> sniff(std::string_view bytes, size_t chunk) {
  ContentSniffer s;
  for (size_t i = 0; i < bytes.size(); i += chunk) s.feed(bytes.substr(i, chunk));
  return s.finish();
}

std::string name(std::optional<FileType> t) { return t ? std::string(type_name(*t)) : "refused"; }

// The same answer whole and in every chunk size tried.
std::string sniff_all(std::string_view bytes) {
  const std::string whole = name(sniff(bytes, std::max<size_t>(bytes.size(), 1)));
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{127}, size_t{4096}}) {
    if (bytes.size() > 300'000 && chunk < 127) continue;
    EXPECT_EQ(name(sniff(bytes, chunk)), whole) << "chunk " << chunk;
  }
  return whole;
}

TEST(Sniff, TheAllowList) {
  EXPECT_EQ(sniff_all("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n"), "pdf");
  EXPECT_EQ(sniff_all("\xFF\xD8\xFF\xE0\0\x10JFIF\0"s), "jpeg");
  EXPECT_EQ(sniff_all("\x89PNG\r\n\x1A\n\0\0\0\rIHDR"s), "png");
  EXPECT_EQ(sniff_all(zip({{"[Content_Types].xml", "<Types/>"}, {"_rels/.rels", "x"}, {"word/document.xml", "<w/>"}})), "docx");
  EXPECT_EQ(sniff_all(zip({{"[Content_Types].xml", "<Types/>"}, {"xl/workbook.xml", "<wb/>"}})), "xlsx");
  EXPECT_EQ(sniff_all(zip({{"[Content_Types].xml", "<Types/>"}, {"ppt/presentation.xml", "<p/>"}})), "pptx");
  EXPECT_EQ(sniff_all(zip({{"OFD.xml", "<ofd:OFD/>"}, {"Doc_0/Document.xml", "<d/>"}})), "ofd");
  EXPECT_EQ(sniff_all(ole2({"Root Entry", "1Table", "WordDocument", "SummaryInformation"})), "doc");
  EXPECT_EQ(sniff_all(ole2({"Root Entry", "Workbook"})), "xls");
  EXPECT_EQ(sniff_all("整改情况说明\r\n第一条：已完成。\n\tTabs are fine.\f"), "text");
  EXPECT_EQ(sniff_all("\xEF\xBB\xBF带字节序标记的文本"), "text");
}

TEST(Sniff, HtmlDisguisedAsAPdfIsRefused) {
  EXPECT_EQ(sniff_all("<!DOCTYPE html><html><script>alert(1)</script></html>"), "refused");
  EXPECT_EQ(sniff_all("\r\n  \t<html>"), "refused");
  EXPECT_EQ(sniff_all("\xEF\xBB\xBF <svg xmlns=\"http://www.w3.org/2000/svg\"/>"), "refused");
  EXPECT_EQ(sniff_all(std::string(5000, ' ') + "<html>"), "refused");  // past the first 4 KiB
  EXPECT_EQ(sniff_all("<?xml version=\"1.0\"?>"), "refused");
  EXPECT_FALSE(name_fits_type("report.pdf", FileType::kText));
  EXPECT_FALSE(name_fits_type("page.html", FileType::kText));
}

TEST(Sniff, WhatIsNotOnTheListIsRefused) {
  EXPECT_EQ(sniff_all(""), "refused");
  EXPECT_EQ(sniff_all("GIF89a\x01\0\x01\0"s), "refused");
  EXPECT_EQ(sniff_all("MZ\x90\0\x03\0\0\0"s), "refused");  // a Windows executable
  EXPECT_EQ(sniff_all("text with a NUL\0byte"s), "refused");
  EXPECT_EQ(sniff_all("escape \x1B[31m"), "refused");
  EXPECT_EQ(sniff_all("not UTF-8: \xD5\xFB\xB8\xC4"), "refused");  // GB18030 text
  EXPECT_EQ(sniff_all("cut off: \xE6\x95"), "refused");
  EXPECT_EQ(sniff_all(zip({{"a.txt", "x"}})), "refused");                                   // a plain zip
  EXPECT_EQ(sniff_all(zip({{"word/document.xml", "x"}})), "refused");                       // no [Content_Types].xml
  EXPECT_EQ(sniff_all(zip({{"[Content_Types].xml", "x"}, {"word/a", "x"}, {"xl/b", "x"}})), "refused");  // which?
  EXPECT_EQ(sniff_all("PK\x03\x04 truncated zip"s), "refused");
  EXPECT_EQ(sniff_all(ole2({"Root Entry"})), "refused");
  EXPECT_EQ(sniff_all(ole2({"Root Entry", "WordDocument", "Workbook"})), "refused");
  EXPECT_EQ(sniff_all(ole2({"Root Entry", "WordDocument"}, 64)), "refused");  // not a directory entry: misaligned
  EXPECT_EQ(sniff_all(ole2({"Root Entry", "PowerPoint Document"})), "refused");
}

TEST(Sniff, AZipWhoseDirectorySitsFarAfterLargeEntries) {
  const std::string big(600 * 1024, 'x');
  EXPECT_EQ(sniff_all(zip({{"[Content_Types].xml", big}, {"word/document.xml", big}})), "docx");
  // A central directory too large to be held (more than 256 KiB of entry names) is refused, not
  // guessed.
  std::vector<std::pair<std::string, std::string>> many = {{"[Content_Types].xml", ""}};
  for (int i = 0; i < 3000; ++i) many.emplace_back("word/media/image" + std::to_string(i) + std::string(60, 'n') + ".png", "");
  const std::string large = zip(many);
  ASSERT_GT(large.size(), 300'000u);
  // Refused however it is cut: the answer never depends on the chunking.
  for (size_t chunk : {size_t{4096}, size_t{65536}, size_t{200'000}, large.size()}) {
    EXPECT_EQ(name(sniff(large, chunk)), "refused") << chunk;
  }
}

TEST(Sniff, MimeTypesAndNames) {
  EXPECT_EQ(mime_type(FileType::kPdf), "application/pdf");
  EXPECT_EQ(mime_type(FileType::kOfd), "application/ofd");
  EXPECT_EQ(mime_type(FileType::kText), "text/plain; charset=utf-8");
  EXPECT_EQ(mime_type(FileType::kXls), "application/vnd.ms-excel");
  EXPECT_TRUE(name_fits_type("报告.PDF", FileType::kPdf));
  EXPECT_TRUE(name_fits_type("photo.jpeg", FileType::kJpeg));
  EXPECT_TRUE(name_fits_type("photo.JPG", FileType::kJpeg));
  EXPECT_TRUE(name_fits_type("scan", FileType::kPdf));
  EXPECT_TRUE(name_fits_type(".profile", FileType::kText));
  EXPECT_TRUE(name_fits_type("名单.csv", FileType::kText));
  EXPECT_FALSE(name_fits_type("photo.pdf", FileType::kPng));
  EXPECT_FALSE(name_fits_type("a.pdf.exe", FileType::kPdf));
  EXPECT_FALSE(name_fits_type("a.docm", FileType::kDocx));
}

}  // namespace
}  // namespace pioneer::api::upload
