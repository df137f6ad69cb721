// `portolan fmt`: one canonical layout of a policy file. It changes only the space between tokens
// (never a token), keeps every comment and every group of blank lines, and is idempotent.
// docs/language.md ("Layout") describes the layout.
#pragma once

#include "diagnostic.h"
#include "parse.h"

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace portolan {

/// The canonical layout of a token sequence that parses (comments included, as lex_policy
/// returns them; `text` is what they were lexed from, for blank lines and comment positions).
std::string format_tokens(const std::string& text, const std::vector<LexToken>& tokens);

/// Parses `text` (registered in `sm` as `path`) and returns its canonical layout; nullopt, with
/// the syntax errors in `diags`, when it does not parse.
std::optional<std::string> format_policy(SourceManager& sm, const std::string& path,
                                         const std::string& text, Diagnostics& diags);

/// A unified diff (3 lines of context) from `a` to `b`; empty when they are equal.
std::string unified_diff(const std::string& a, const std::string& b, const std::string& name_a,
                         const std::string& name_b);

struct FmtOptions {
  std::vector<std::string> files;
  bool check = false;     ///< write nothing; print a diff for each unformatted file, exit 1
  bool to_stdout = false; ///< print the formatted text instead of rewriting the file
};

/// `portolan fmt`. Exit codes: 0 formatted (or, with --check, already formatted), 1 a file is
/// not formatted (--check) or does not parse, 2 bad usage or unreadable file.
int run_fmt(const FmtOptions& opts, std::ostream& out, std::ostream& err);

/// The text of `portolan fmt --help`.
const char* fmt_help();

} // namespace portolan
