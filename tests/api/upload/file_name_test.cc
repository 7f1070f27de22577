// Cleaning an upload's file name, and the Content-Disposition that hands it back.
#include <gtest/gtest.h>

#include "api/upload/file_name.h"
#include "common/utf8.h"

namespace pioneer::api::upload {
namespace {

using namespace std::string_literals;

TEST(FileName, PathPartsAreDropped) {
  EXPECT_EQ(clean_file_name("../../etc/passwd", "file"), "passwd");
  EXPECT_EQ(clean_file_name("C:\\Users\\张敏\\Desktop\\整改报告.pdf", "file"), "整改报告.pdf");
  EXPECT_EQ(clean_file_name("dir/", "file.pdf"), "file.pdf");
  EXPECT_EQ(clean_file_name("..", "file.pdf"), "file.pdf");
  EXPECT_EQ(clean_file_name("", "file.pdf"), "file.pdf");
}

TEST(FileName, ControlAndDirectionCharactersAreDropped) {
  // U+202E RIGHT-TO-LEFT OVERRIDE would show "exe.pdf" as "fdp.exe".
  EXPECT_EQ(clean_file_name("report\xE2\x80\xAE" "fdp.exe", "file"), "reportfdp.exe");
  EXPECT_EQ(clean_file_name("a\tb\r\nc\x7F\xC2\x85.txt", "file"), "abc.txt");
  EXPECT_EQ(clean_file_name("\xE2\x81\xA6isolate\xE2\x81\xA9\xE2\x80\x8F.pdf", "file"), "isolate.pdf");
  EXPECT_EQ(clean_file_name("nul\0byte.pdf"s, "file"), "nulbyte.pdf");
  EXPECT_EQ(clean_file_name("\xE2\x80\xAE", "file.pdf"), "file.pdf");
}

TEST(FileName, InvalidUtf8BecomesReplacementCharacters) {
  // A GBK-encoded name from an old client: each byte that is not UTF-8 becomes U+FFFD.
  const std::string cleaned = clean_file_name("\xD5\xFB\xB8\xC4.pdf", "file");
  EXPECT_TRUE(utf8::valid(cleaned));
  EXPECT_EQ(cleaned, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD.pdf");
}

TEST(FileName, EndsAreTrimmed) {
  EXPECT_EQ(clean_file_name("  report.pdf. . ", "file"), "report.pdf");
  EXPECT_EQ(clean_file_name("\xE3\x80\x80报告.pdf\xE3\x80\x80", "file"), "报告.pdf");
  EXPECT_EQ(clean_file_name(".hidden", "file"), "hidden");
}

TEST(FileName, CappedAt255BytesOnACharacterBoundaryKeepingTheExtension) {
  std::string long_name;
  for (int i = 0; i < 120; ++i) long_name += "整";  // 360 bytes
  const std::string cleaned = clean_file_name(long_name + ".pdf", "file");
  EXPECT_LE(cleaned.size(), kMaxFileNameBytes);
  EXPECT_EQ(cleaned.size(), 3 * 83 + 4u);  // 83 whole characters fit before ".pdf"
  EXPECT_TRUE(utf8::valid(cleaned));
  EXPECT_TRUE(cleaned.ends_with(".pdf"));
  const std::string no_ext = clean_file_name(long_name, "file");
  EXPECT_EQ(no_ext.size(), 255u);
  EXPECT_TRUE(utf8::valid(no_ext));
  EXPECT_EQ(clean_file_name(std::string(300, 'a') + "." + std::string(40, 'b'), "file").size(), 255u);
}

TEST(ContentDisposition, Rfc8187WithAnAsciiFallback) {
  EXPECT_EQ(content_disposition("整改报告 (终稿).pdf"),
            "attachment; filename=\"____ (__).pdf\"; "
            "filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A%20%28%E7%BB%88%E7%A8%BF%29.pdf");
  EXPECT_EQ(content_disposition("report.pdf"), "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  // Quotes, backslashes, semicolons and percent signs cannot break out of either parameter.
  EXPECT_EQ(content_disposition("a\"b\\c;d%e.txt"),
            "attachment; filename=\"a_b_c_d_e.txt\"; filename*=UTF-8''a%22b%5Cc%3Bd%25e.txt");
  EXPECT_EQ(content_disposition(""), "attachment; filename=\"file\"; filename*=UTF-8''");
}

}  // namespace
}  // namespace pioneer::api::upload
