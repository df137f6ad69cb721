// One report type for everything Portolan says about an input: syntax errors, name errors,
// manifest errors and (later) analysis findings.
#pragma once

#include "source.h"

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portolan {

enum class Severity { Note, Warning, Error };
const char* severity_name(Severity s);

/// A secondary location with its own message ("first defined here").
struct Related {
  SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string code;    ///< stable kebab-case code, e.g. "unknown-role"
  std::string message; ///< one line
  SourceLoc loc;
  std::vector<Related> notes;
  std::optional<std::string> witness; ///< a concrete packet, for packet-level findings
};

/// Collects diagnostics; output is sorted by location and de-duplicated so reports are stable.
class Diagnostics {
public:
  Diagnostic& add(Severity sev, std::string code, SourceLoc loc, std::string message);
  Diagnostic& error(std::string code, SourceLoc loc, std::string message) {
    return add(Severity::Error, std::move(code), loc, std::move(message));
  }
  Diagnostic& warning(std::string code, SourceLoc loc, std::string message) {
    return add(Severity::Warning, std::move(code), loc, std::move(message));
  }
  bool has_errors() const;
  size_t count(Severity s) const;
  const std::vector<Diagnostic>& all() const { return diags_; }
  /// Applies per-code severities ("error", "warning", "note", "off") from the manifest's
  /// [checks]. Only findings that are not errors by default can be changed: an override can
  /// make a warning fatal or quiet, but never hide an error.
  void apply_severities(const std::map<std::string, std::string>& by_code);
  /// Sorts by (file, line, col, severity, code, message) and drops exact duplicates.
  void normalize();
  /// One finding per fact: findings of one code at one place whose messages differ only in the
  /// one environment they name ("in environment 'lab'") become one naming them all ("in
  /// environments 'lab', 'prod'"), in order; their notes are united and the first witness kept.
  /// Call on normalized diagnostics; normalizes again.
  void merge_environments();
  /// Renders clang-style text: "file:line:col: error: message [code]", the source line, a caret
  /// and tilde underline, then the notes the same way.
  void render_text(std::ostream& out, const SourceManager& sm, bool color = false) const;

private:
  std::vector<Diagnostic> diags_;
};

/// Quotes one source line with a ^~~~ underline under [col, col+len).
std::string underline(const SourceManager& sm, const SourceLoc& loc);

/// The closest candidate to `name` by edit distance, if it is close enough to be a likely typo.
std::optional<std::string> nearest_name(const std::string& name,
                                        const std::vector<std::string>& candidates);

} // namespace portolan
