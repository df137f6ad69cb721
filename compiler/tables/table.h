// Tables in a Markdown document: HTML tables (<table>, as vendor pages export them) and
// Markdown pipe tables, read into rows of plain-text cells with their line numbers. Shared by
// `portolan import` and the text helpers of `doc` and `graph` (escaping, names from labels).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portolan::tables {

struct TableRow {
  std::vector<std::string> cells; ///< decoded text; an escaped '/' is kSlash (see below)
  uint32_t line = 0;              ///< 1-based line of the row's start
  bool header = false;            ///< inside <thead>, made of <th>, or a pipe table's first row
};

struct Table {
  std::vector<TableRow> rows;
  uint32_t line = 0; ///< where the table starts
  bool html = false;
  bool unterminated = false; ///< an HTML table without </table>
};

/// An escaped slash (`\/` in Markdown, `&#47;` in HTML) inside a cell: kept apart from a '/'
/// that separates the parts of a protocol cell, and turned back into '/' by `plain_slashes`.
inline constexpr std::string_view kSlash = "\xE2\x88\x95"; // U+2215 DIVISION SLASH

/// Every table of the document, in document order. Never throws; malformed HTML (missing end
/// tags, stray '<') yields whatever rows can be recognised.
std::vector<Table> read_tables(std::string_view doc);

/// The document's title: the front matter's `title:` or the first `# ` heading ("" if none).
std::string document_title(std::string_view doc);

/// Replaces kSlash by '/'.
std::string plain_slashes(std::string s);

/// Collapses whitespace runs (including no-break spaces) to one space and trims.
std::string squeeze(std::string_view s);

/// Lower-case ASCII with common Latin accents folded (ç→c, ü→u, ß→ss, ñ→n...); other non-ASCII
/// bytes are kept.
std::string fold(std::string_view s);

/// Escapes text for HTML element content and attribute values.
std::string html_escape(std::string_view s);

/// Escapes text for a Markdown pipe-table cell, so it reads back as the same text and renders
/// no markup: backslash-escapes Markdown punctuation and '|', entity-escapes '<', '>', '&'.
std::string md_escape(std::string_view s);

/// A string literal of the policy language: quotes, escapes '"' and '\', and writes line
/// breaks and tabs as escapes; other control characters are dropped.
std::string policy_string(std::string_view s);

/// Text safe in a one-line `//` comment: control characters and line separators become spaces.
std::string comment_text(std::string_view s, size_t max_chars = 300);

/// Whether `s` is a name of the policy language (and not a reserved keyword).
bool is_policy_name(std::string_view s);

} // namespace portolan::tables
