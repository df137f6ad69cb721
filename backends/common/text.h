// Text shared by every backend: one emitter, and the one sanitiser that policy text (names,
// notes, file names) passes through before it reaches a vendor config.
#pragma once

#include "vocab.h"

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

/// "5061", "50000-59999" (sep "-") or "50000:59999" (sep ":").
std::string port_text(const PortRange& r, const char* sep);

/// The header every generated file starts with (comment prefix added by the caller).
std::vector<std::string> generated_banner();

} // namespace portolan
