// Reading input the program does not control: files named on the command line, JSON texts from
// clients and from dossiers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pioneer {

// The whole content of a regular file; nullopt when the path is not one (a folder, say) or it
// cannot be read. Never throws (libstdc++'s stream iterators throw on a folder's read error).
std::optional<std::string> read_file(const std::string& path);

// True when `text` nests arrays/objects at most `max_depth` deep (brackets inside strings do
// not count). A linear scan that never recurses; it does not validate the JSON otherwise.
// nlohmann's parser is iterative, but copying, comparing and dumping a value recurse per level,
// so a text of 100,000 '[' must be refused before it is parsed.
bool json_depth_within(std::string_view text, size_t max_depth);

// A name a person reads (an org's, a user's): valid UTF-8, at least one character that is not
// a space, at most `max_chars` code points, and no control characters — a tab or a newline
// breaks the one-line-per-record listings, and bytes that are not UTF-8 cannot be stored in a
// JSON record at all. nullopt when fine, else why not (中文（English）).
std::optional<std::string> display_name_problem(std::string_view name, size_t max_chars = 100);

// What a text a person typed may hold. kLine (names, titles, `string` fields): no control
// characters at all. kMultiline (`text` fields, comments): line breaks and tabs as well.
// Refused in both: other C0/C1 controls (NUL among them), the line and paragraph separators,
// the direction marks, embeddings, overrides and isolates, and tag characters.
enum class TextKind { kLine, kMultiline };
// nullopt when `text` is valid UTF-8 holding none of what `kind` refuses; else what is wrong,
// "不能含…（must not contain …）" to follow a field's name.
std::optional<std::string> text_problem(std::string_view text, TextKind kind);
// True when the text shows nothing: only spaces of any width (U+3000 too), zero-width and
// other invisible characters, tabs and line breaks. Text that is not UTF-8 is not blank.
bool text_is_blank(std::string_view text);

}  // namespace pioneer
