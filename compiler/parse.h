// The parser's public face. No ANTLR type appears here: the parse tree is turned into the model
// inside compiler/parse/parse.cpp and never leaves it.
#pragma once

#include "diagnostic.h"
#include "model.h"

namespace portolan {

class ParseCache;

/// Parses one registered source file. Syntax and literal errors (bad ports, dates, ICMP) go to
/// `diags`; the returned file holds whatever could be understood. Never throws. Large files are
/// cut at top-level declarations and the pieces parsed on every core; with a `cache`, a piece
/// whose text was parsed before (without a diagnostic) is read from it instead.
PolicyFile parse_policy_file(const SourceManager& sm, uint32_t file_id, Diagnostics& diags,
                             const ParseCache* cache = nullptr);

/// One token of a policy text as the lexer sees it, comments included (they are on a hidden
/// channel the parser ignores); whitespace is not a token. For tools that work on the text
/// itself, such as `portolan fmt`.
struct LexToken {
  enum class Kind {
    Keyword, ///< a word of the language (`flow`, `via`, `tcp`...); some are names too
    Name,    ///< any other word
    Number,
    Date,
    Address,      ///< an IPv4 or IPv6 literal, optionally with /len
    String,       ///< with its quotes and escapes, as written
    Arrow,        ///< `->` or `<->`
    Punct,        ///< `;` `,` `.` `:` `-` `=` `{` `}`
    LineComment,  ///< `// ...` or `# ...`, without the line end
    BlockComment, ///< `/* ... */`, possibly over several lines
    Error,        ///< a character or unterminated string/comment the parser will reject
  };
  Kind kind = Kind::Error;
  std::string text;
  uint32_t line = 1, col = 1; ///< 1-based; columns count characters
  size_t offset = 0;          ///< byte offset of the first character
  bool comment() const { return kind == Kind::LineComment || kind == Kind::BlockComment; }
};

/// Lexes a whole text (valid UTF-8; check with a parse first). Never throws.
std::vector<LexToken> lex_policy(const std::string& text);

} // namespace portolan
