// File names: the name an upload is stored under, made safe to show and to hand back, and the
// Content-Disposition header that hands it back as a download (RFC 6266 with RFC 8187's
// filename*, plus an ASCII filename for old clients). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pioneer::api::upload {

inline constexpr size_t kMaxFileNameBytes = 255;

// The name as stored: the last path part only (after the last '/' or '\', so "C:\a\b.pdf" and
// "../../b.pdf" are "b.pdf"); bytes that are not UTF-8 become U+FFFD; control characters, the
// line and paragraph separators, direction marks, embeddings, overrides and isolates, and tag
// characters are dropped; white space and dots at either end are trimmed (a name cannot hide
// its extension behind trailing dots or spaces); at most 255 bytes, cut on a character boundary
// and keeping the extension (up to 16 bytes of it) when the stem is cut. When nothing is left
// (or only "." / ".."), `fallback` (which the caller chooses safe, e.g. "file.pdf").
std::string clean_file_name(std::string_view raw, std::string_view fallback);

// The header value for downloading `name` (a cleaned name):
//   attachment; filename="ASCII fallback"; filename*=UTF-8''percent-encoded
// The fallback keeps ASCII letters, digits and ".-_ ()[]" and writes '_' for every other
// character; filename* carries the exact name, percent-encoded outside RFC 8187's attr-char.
// Always "attachment": nothing is shown inline.
std::string content_disposition(std::string_view name);

}  // namespace pioneer::api::upload
