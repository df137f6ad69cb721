#include "text.h"

#include "version.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace portolan {

std::string plain_text(std::string_view s, std::string_view forbidden, char replacement,
                       size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char o;
    if (c >= 0x80) {
      // One '?' per UTF-8 code point: skip continuation bytes.
      while (i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80)
        ++i;
      o = '?';
    } else if (c < 0x20 || c == 0x7f) {
      o = ' ';
    } else if (forbidden.find(static_cast<char>(c)) != std::string_view::npos) {
      o = replacement;
    } else {
      o = static_cast<char>(c);
    }
    if (o == ' ' && (out.empty() || out.back() == ' '))
      continue;
    out += o;
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (out.size() > max_bytes) {
    out.resize(max_bytes >= 3 ? max_bytes - 3 : max_bytes);
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    if (max_bytes >= 3)
      out += "...";
  }
  return out;
}

namespace {

/// The code point at s[i] and its length in bytes; {U+FFFD, 1} for a byte that starts no valid
/// UTF-8 sequence.
std::pair<uint32_t, size_t> decode(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2))
    return {0xFFFD, 1};
  uint32_t cp = n == 1 ? c : c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80)
      return {0xFFFD, 1};
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return {0xFFFD, 1};
  return {cp, n};
}

/// Code points that must not reach a config as themselves: controls, line and paragraph
/// separators, bidirectional controls, the byte order mark.
bool blank_like(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0x200E ||
         cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
         cp == 0xFEFF || cp == 0x85;
}

/// Cuts `out` to at most `max_bytes` on a code point boundary, marking the cut with "...".
void cut(std::string& out, size_t max_bytes) {
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (out.size() <= max_bytes)
    return;
  size_t keep = max_bytes >= 3 ? max_bytes - 3 : max_bytes;
  while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xC0) == 0x80)
    --keep; // out[keep] would be a continuation byte: back to the sequence's first byte
  out.resize(keep);
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (max_bytes >= 3)
    out += "...";
}

const char* transliterate(uint32_t cp) {
  switch (cp) {
  case 0xE4:
    return "ae";
  case 0xF6:
    return "oe";
  case 0xFC:
    return "ue";
  case 0xC4:
    return "Ae";
  case 0xD6:
    return "Oe";
  case 0xDC:
    return "Ue";
  case 0xDF:
    return "ss";
  case 0xE6:
    return "ae";
  case 0xC6:
    return "AE";
  case 0x153:
    return "oe";
  case 0x152:
    return "OE";
  case 0xE0:
  case 0xE1:
  case 0xE2:
  case 0xE3:
  case 0xE5:
    return "a";
  case 0xC0:
  case 0xC1:
  case 0xC2:
  case 0xC3:
  case 0xC5:
    return "A";
  case 0xE7:
    return "c";
  case 0xC7:
    return "C";
  case 0xE8:
  case 0xE9:
  case 0xEA:
  case 0xEB:
    return "e";
  case 0xC8:
  case 0xC9:
  case 0xCA:
  case 0xCB:
    return "E";
  case 0xEC:
  case 0xED:
  case 0xEE:
  case 0xEF:
    return "i";
  case 0xCC:
  case 0xCD:
  case 0xCE:
  case 0xCF:
    return "I";
  case 0xF1:
    return "n";
  case 0xD1:
    return "N";
  case 0xF2:
  case 0xF3:
  case 0xF4:
  case 0xF5:
  case 0xF8:
    return "o";
  case 0xD2:
  case 0xD3:
  case 0xD4:
  case 0xD5:
  case 0xD8:
    return "O";
  case 0xF9:
  case 0xFA:
  case 0xFB:
    return "u";
  case 0xD9:
  case 0xDA:
  case 0xDB:
    return "U";
  case 0xFD:
  case 0xFF:
    return "y";
  case 0xDD:
    return "Y";
  case 0xA0:
  case 0x2007:
  case 0x202F:
    return " ";
  case 0x2010:
  case 0x2011:
  case 0x2012:
  case 0x2013:
  case 0x2014:
  case 0x2212:
    return "-";
  case 0x2018:
  case 0x2019:
  case 0x201A:
  case 0x201B:
    return "'";
  case 0x201C:
  case 0x201D:
  case 0x201E:
  case 0xAB:
  case 0xBB:
    return "\"";
  case 0x2026:
    return "...";
  default:
    return nullptr;
  }
}

} // namespace

std::string utf8_text(std::string_view s, std::string_view forbidden, char replacement,
                      size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    auto [cp, n] = decode(s, i);
    std::string piece;
    if (cp == 0xFFFD && n == 1 && static_cast<unsigned char>(s[i]) >= 0x80)
      piece = "?";
    else if (blank_like(cp))
      piece = " ";
    else if (cp < 0x80 && forbidden.find(static_cast<char>(cp)) != std::string_view::npos)
      piece = std::string(1, replacement);
    else
      piece = std::string(s.substr(i, n));
    i += n;
    if (piece == " " && (out.empty() || out.back() == ' '))
      continue;
    out += piece;
  }
  cut(out, max_bytes);
  return out;
}

std::string ascii_text(std::string_view s, std::string_view forbidden, char replacement,
                       size_t max_bytes) {
  std::string t;
  for (size_t i = 0; i < s.size();) {
    auto [cp, n] = decode(s, i);
    const char* x = cp >= 0x80 ? transliterate(cp) : nullptr;
    t += x ? std::string(x) : std::string(s.substr(i, n));
    i += n;
  }
  return plain_text(t, forbidden, replacement, max_bytes);
}

void Emitter::line(std::string_view s) {
  if (!s.empty())
    for (int i = 0; i < depth_; ++i)
      out_ += unit_;
  out_ += s;
  out_ += '\n';
}

std::string port_text(const PortRange& r, const char* sep) {
  if (r.lo == r.hi)
    return std::to_string(r.lo);
  return std::to_string(r.lo) + sep + std::to_string(r.hi);
}

void TraceTable::add(const RuleOrigin& o) {
  // trace is "FILE:LINE" (or "?" without a location): keep the file.
  std::string file = o.trace;
  auto colon = file.rfind(':');
  if (colon != std::string::npos && colon + 1 < file.size() &&
      std::all_of(file.begin() + static_cast<std::ptrdiff_t>(colon) + 1, file.end(),
                  [](char c) { return c >= '0' && c <= '9'; }))
    file.resize(colon);
  flows_.emplace(o.flow, std::pair{o.id, std::move(file)});
}

std::vector<std::string>
TraceTable::lines(const std::function<std::string(std::string_view)>& text) const {
  std::vector<std::string> out;
  if (flows_.empty())
    return out;
  out.push_back("Flows named below, by id, and the policy file each is written in:");
  for (const auto& [flow, it] : flows_)
    out.push_back("  " + it.first + " " + text(it.second));
  return out;
}

std::vector<std::string> generated_banner() {
  return {std::string("Generated by portolan ") + kPortolanVersion + "; do not edit.",
          "Everything not allowed below is dropped (default deny)."};
}

} // namespace portolan
