// Text shared by every backend: one emitter, and the one sanitiser that policy text (names,
// notes, file names) passes through before it reaches a vendor config.
#pragma once

#include "lower/ruleset.h"
#include "vocab.h"

#include <functional>
#include <map>

#include <string>
#include <string_view>
#include <vector>

namespace portolan {

/// Makes policy text inert in any vendor syntax: keeps printable ASCII, turns every control
/// character and line break into a space (so a note can never start a new line, rule or
/// command), replaces other code points by '?', drops the characters in `forbidden` (replaced
/// by `replacement`), collapses runs of spaces and cuts to `max_bytes`.
std::string plain_text(std::string_view s, std::string_view forbidden = "", char replacement = '\'',
                       size_t max_bytes = 1024);

/// plain_text for vendor text that may be UTF-8 (nftables and iptables comments, pf comments,
/// PowerShell strings, JSON): keeps every printable code point, turns control characters (C0,
/// DEL, C1), line and paragraph separators and the bidirectional controls (which can make a
/// comment display as something else) into a space, drops `forbidden` (ASCII) characters and
/// cuts to `max_bytes` on a code point boundary, never inside a UTF-8 sequence. Bytes that are
/// not UTF-8 become '?'.
std::string utf8_text(std::string_view s, std::string_view forbidden = "", char replacement = '\'',
                      size_t max_bytes = 1024);

/// plain_text for vendors whose text is ASCII only (Cisco ASA, EC2 descriptions): common Latin
/// letters and typographic punctuation are transliterated first ("Portübersicht – Ärger" is
/// "Portuebersicht - Aerger"); any other code point becomes '?' as in plain_text.
std::string ascii_text(std::string_view s, std::string_view forbidden = "", char replacement = '\'',
                       size_t max_bytes = 1024);

/// Collects lines with a fixed indent unit; no timestamps, stable by construction.
class Emitter {
public:
  explicit Emitter(std::string indent_unit = "\t") : unit_(std::move(indent_unit)) {}
  void line(std::string_view s = "");
  void open(std::string_view s) { line(s), ++depth_; }
  void close(std::string_view s) { --depth_, line(s); }
  std::string take() { return std::move(out_); }

private:
  std::string unit_, out_;
  int depth_ = 0;
};

/// The policy files the flows a generated file names are written in. Rules and their comments
/// name a flow by its id (RuleOrigin::id) and summary, never by line number: a line number
/// moves whenever a line is added above the flow, and would change every file that names the
/// flow. This table, printed at the top of the file, maps the id of every flow the file names to
/// its policy file (RuleOrigin::trace without the line). So adding, editing or moving a flow
/// changes no file that does not enforce it, and moving one within its file changes nothing.
class TraceTable {
public:
  /// Records the flow of a rule whose id the file prints.
  void add(const RuleOrigin& o);
  bool empty() const { return flows_.empty(); }
  /// A title, then "  ID FILE" per flow in policy order (`text` sanitises the file name for the
  /// vendor's comments); nothing when the file names no flow. The caller adds its comment
  /// prefix.
  std::vector<std::string> lines(const std::function<std::string(std::string_view)>& text) const;

private:
  std::map<size_t, std::pair<std::string, std::string>> flows_; ///< flow index -> id, file
};

/// "5061", "50000-59999" (sep "-") or "50000:59999" (sep ":").
std::string port_text(const PortRange& r, const char* sep);

/// The header every generated file starts with (comment prefix added by the caller).
std::vector<std::string> generated_banner();

} // namespace portolan
