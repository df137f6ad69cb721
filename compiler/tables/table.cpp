#include "tables/table.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace portolan::tables {

namespace {

std::string lower_ascii(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

/// Replaces invalid UTF-8 by U+FFFD so every later stage sees well-formed text.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && !(n == 2 && c < 0xC2);
    for (size_t k = 1; ok && k < n; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && n == 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
    }
    if (ok && n == 4) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = c <= 0xF4 && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (!ok) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

/// Appends the UTF-8 encoding of a code point (invalid ones as U+FFFD).
void append_utf8(std::string& out, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// Decodes one entity starting at s[i] == '&'; returns the characters consumed (0: not one).
size_t decode_entity(std::string_view s, size_t i, std::string& out) {
  size_t semi = s.find(';', i + 1);
  if (semi == std::string_view::npos || semi - i > 12)
    return 0;
  std::string_view name = s.substr(i + 1, semi - i - 1);
  if (name.empty())
    return 0;
  if (name[0] == '#') {
    bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
    std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty() || digits.size() > 7)
      return 0;
    unsigned long cp = 0;
    for (char c : digits) {
      int d = std::isdigit(static_cast<unsigned char>(c))           ? c - '0'
              : hex && std::isxdigit(static_cast<unsigned char>(c)) ? std::tolower(c) - 'a' + 10
                                                                    : -1;
      if (d < 0)
        return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(d);
    }
    if (cp == '/')
      out += kSlash;
    else
      append_utf8(out, cp);
    return semi - i + 1;
  }
  static const std::array<std::pair<const char*, const char*>, 12> kNamed{{{"amp", "&"},
                                                                           {"lt", "<"},
                                                                           {"gt", ">"},
                                                                           {"quot", "\""},
                                                                           {"apos", "'"},
                                                                           {"nbsp", " "},
                                                                           {"ndash", "\u2013"},
                                                                           {"mdash", "\u2014"},
                                                                           {"sol", nullptr},
                                                                           {"verbar", "|"},
                                                                           {"lowbar", "_"},
                                                                           {"ast", "*"}}};
  for (const auto& [n, v] : kNamed)
    if (name == n) {
      out += v ? std::string_view(v) : kSlash;
      return semi - i + 1;
    }
  return 0;
}

std::string decode_html_cell(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '&')
      if (size_t n = decode_entity(raw, i, out)) {
        i += n - 1;
        continue;
      }
    out += raw[i];
  }
  return squeeze(valid_utf8(out));
}

bool is_md_punct(char c) {
  return std::strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) && c;
}

/// A pipe-table cell: backslash escapes, code spans kept with their backticks, entities,
/// <br> as a space, ** dropped.
std::string decode_md_cell(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size() && is_md_punct(raw[i + 1])) {
      if (raw[i + 1] == '/')
        out += kSlash;
      else
        out += raw[i + 1];
      ++i;
    } else if (c == '`') {
      size_t e = raw.find('`', i + 1);
      if (e == std::string_view::npos) {
        out += c;
        continue;
      }
      out.append(raw.substr(i, e - i + 1));
      i = e;
    } else if (c == '&') {
      if (size_t n = decode_entity(raw, i, out))
        i += n - 1;
      else
        out += c;
    } else if (c == '<' && (lower_ascii(raw.substr(i, 4)) == "<br>" ||
                            lower_ascii(raw.substr(i, 5)) == "<br/>" ||
                            lower_ascii(raw.substr(i, 6)) == "<br />")) {
      out += ' ';
      i = raw.find('>', i);
    } else if (c == '*' && i + 1 < raw.size() && raw[i + 1] == '*') {
      ++i;
    } else {
      out += c;
    }
  }
  return squeeze(valid_utf8(out));
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
    --e;
  return std::string(s.substr(b, e - b));
}

/// Splits a pipe-table line on unescaped '|', dropping the outer pipes.
std::vector<std::string> split_pipes(std::string_view line) {
  std::string t = trim(line);
  std::vector<std::string> cells;
  std::string cur;
  size_t i = 0;
  if (!t.empty() && t[0] == '|')
    i = 1;
  bool trailing = false;
  for (; i < t.size(); ++i) {
    if (t[i] == '\\' && i + 1 < t.size()) {
      cur += t[i];
      cur += t[++i];
      continue;
    }
    if (t[i] == '|') {
      cells.push_back(cur);
      cur.clear();
      trailing = i + 1 == t.size();
      continue;
    }
    trailing = false;
    cur += t[i];
  }
  if (!trailing)
    cells.push_back(cur);
  return cells;
}

bool is_delimiter_row(std::string_view line) {
  std::string t = trim(line);
  if (t.empty() || t.find('-') == std::string::npos)
    return false;
  if (t.find('|') == std::string::npos && t.find_first_not_of("-: ") != std::string::npos)
    return false;
  if (t.find('|') == std::string::npos)
    return false; // a bare "---" is a rule or front matter, not a table delimiter
  return t.find_first_not_of("|:- \t") == std::string::npos;
}

} // namespace

std::string squeeze(std::string_view s) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t skip = 0;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
      skip = 1;
    else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0)
      skip = 2;
    else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
             (static_cast<unsigned char>(s[i + 2]) == 0xAF ||
              static_cast<unsigned char>(s[i + 2]) == 0x89))
      skip = 3;
    if (skip) {
      space = !out.empty();
      i += skip - 1;
      continue;
    }
    if (space)
      out += ' ';
    space = false;
    out += static_cast<char>(c);
  }
  return out;
}

std::string plain_slashes(std::string s) {
  if (s.find(kSlash) == std::string::npos)
    return s;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, kSlash.size(), kSlash) == 0) {
      out += '/';
      i += kSlash.size() - 1;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string fold(std::string_view s) {
  // U+00C0..U+00FF, folded.
  static const char* const kLatin1[64] = {
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
      "d", "n", "o", "o", "o", "o", "o",  "x", "o", "u", "u", "u", "u", "y", "th", "ss",
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
      "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(std::tolower(c));
    } else if ((c == 0xC3) && i + 1 < s.size()) {
      auto d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0xBF) {
        out += kLatin1[d - 0x80];
        ++i;
      } else {
        out += static_cast<char>(c);
      }
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::vector<Table> read_tables(std::string_view doc) {
  std::vector<Table> out;
  std::vector<size_t> starts{0};
  for (size_t i = 0; i < doc.size(); ++i)
    if (doc[i] == '\n')
      starts.push_back(i + 1);
  auto line_of = [&](size_t pos) {
    return static_cast<uint32_t>(std::upper_bound(starts.begin(), starts.end(), pos) -
                                 starts.begin());
  };

  // HTML tables.
  std::vector<std::pair<uint32_t, uint32_t>> html_lines; // first, last line of each
  Table cur;
  TableRow row;
  int depth = 0;
  bool in_thead = false, row_open = false, cell_open = false, cell_th = false, all_th = true;
  std::string cell;
  auto close_cell = [&] {
    if (!cell_open)
      return;
    row.cells.push_back(decode_html_cell(cell));
    all_th = all_th && cell_th;
    cell_open = false;
    cell.clear();
  };
  auto close_row = [&] {
    close_cell();
    if (row_open && !row.cells.empty()) {
      row.header = in_thead || all_th;
      cur.rows.push_back(std::move(row));
    }
    row = TableRow{};
    row_open = false;
  };
  auto open_row = [&](size_t pos) {
    close_row();
    row_open = true;
    all_th = true;
    row.line = line_of(pos);
  };
  size_t next_gt = 0; // position of the next '>' at or after i (npos: none left)
  bool gt_known = false;
  size_t i = 0;
  while (i < doc.size()) {
    char c = doc[i];
    if (c != '<') {
      if (cell_open && depth == 1)
        cell += c;
      ++i;
      continue;
    }
    if (doc.compare(i, 4, "<!--") == 0) {
      size_t e = doc.find("-->", i + 4);
      i = e == std::string_view::npos ? doc.size() : e + 3;
      continue;
    }
    if (!gt_known || (next_gt != std::string_view::npos && next_gt <= i)) {
      next_gt = doc.find('>', i + 1);
      gt_known = true;
    }
    size_t j = i + 1;
    bool closing = j < doc.size() && doc[j] == '/';
    if (closing)
      ++j;
    size_t ns = j;
    while (j < doc.size() && std::isalnum(static_cast<unsigned char>(doc[j])))
      ++j;
    std::string name = lower_ascii(doc.substr(ns, j - ns));
    bool ends_name = j >= doc.size() || doc[j] == '>' || doc[j] == '/' ||
                     std::isspace(static_cast<unsigned char>(doc[j]));
    if (name.empty() || !ends_name || next_gt == std::string_view::npos) {
      if (cell_open && depth == 1)
        cell += c; // a stray '<'
      ++i;
      continue;
    }
    size_t after = next_gt + 1;
    if (name == "table") {
      if (!closing) {
        if (depth == 0) {
          cur = Table{};
          cur.html = true;
          cur.line = line_of(i);
          in_thead = false;
        } else if (cell_open) {
          cell += ' ';
        }
        ++depth;
      } else if (depth > 0 && --depth == 0) {
        close_row();
        html_lines.emplace_back(cur.line, line_of(i));
        out.push_back(std::move(cur));
        cur = Table{};
      }
    } else if (depth == 1) {
      if (name == "thead") {
        close_row();
        in_thead = !closing;
      } else if (name == "tbody" || name == "tfoot") {
        close_row();
        in_thead = false;
      } else if (name == "tr") {
        if (closing)
          close_row();
        else
          open_row(i);
      } else if (name == "td" || name == "th") {
        if (closing) {
          close_cell();
        } else {
          if (!row_open)
            open_row(i);
          close_cell();
          cell_open = true;
          cell_th = name == "th";
        }
      } else if (name == "code") {
        if (cell_open)
          cell += '`';
      } else if (cell_open) {
        cell += ' '; // <br>, <p>, <div>...: a word break
      }
    } else if (depth > 1 && cell_open) {
      cell += ' ';
    }
    i = after;
  }
  if (depth > 0) {
    close_row();
    cur.unterminated = true;
    html_lines.emplace_back(cur.line, static_cast<uint32_t>(starts.size()));
    out.push_back(std::move(cur));
  }

  // Pipe tables, outside HTML tables and fenced code.
  std::vector<std::string_view> lines;
  for (size_t k = 0; k < starts.size(); ++k) {
    size_t b = starts[k], e = k + 1 < starts.size() ? starts[k + 1] - 1 : doc.size();
    std::string_view l = doc.substr(b, e - b);
    if (!l.empty() && l.back() == '\r')
      l.remove_suffix(1);
    lines.push_back(l);
  }
  std::vector<bool> html_line(lines.size() + 2, false);
  for (auto [a, b] : html_lines)
    for (uint32_t l = a; l <= b && l < html_line.size(); ++l)
      html_line[l] = true;
  auto in_html = [&](uint32_t line) { return line < html_line.size() && html_line[line]; };
  bool fence = false;
  std::vector<Table> pipes;
  for (size_t k = 0; k < lines.size(); ++k) {
    std::string t = trim(lines[k]);
    if (t.rfind("```", 0) == 0 || t.rfind("~~~", 0) == 0) {
      fence = !fence;
      continue;
    }
    auto ln = static_cast<uint32_t>(k + 1);
    if (fence || in_html(ln) || t.find('|') == std::string::npos || k + 1 >= lines.size() ||
        !is_delimiter_row(lines[k + 1]))
      continue;
    Table tb;
    tb.line = ln;
    TableRow h;
    h.line = ln;
    h.header = true;
    for (auto& c : split_pipes(lines[k]))
      h.cells.push_back(decode_md_cell(c));
    tb.rows.push_back(std::move(h));
    size_t r = k + 2;
    for (; r < lines.size(); ++r) {
      std::string rt = trim(lines[r]);
      if (rt.empty() || rt.find('|') == std::string::npos || in_html(static_cast<uint32_t>(r + 1)))
        break;
      TableRow dr;
      dr.line = static_cast<uint32_t>(r + 1);
      for (auto& c : split_pipes(lines[r]))
        dr.cells.push_back(decode_md_cell(c));
      tb.rows.push_back(std::move(dr));
    }
    pipes.push_back(std::move(tb));
    k = r - 1;
  }
  out.insert(out.end(), pipes.begin(), pipes.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const Table& a, const Table& b) { return a.line < b.line; });
  return out;
}

std::string document_title(std::string_view doc) {
  auto unquote = [](std::string s) {
    s = squeeze(s);
    if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
      s = s.substr(1, s.size() - 2);
    return s;
  };
  std::string_view rest = doc;
  if (doc.rfind("---\n", 0) == 0 || doc.rfind("---\r\n", 0) == 0) {
    size_t end = doc.find("\n---", 3);
    std::string_view fm = doc.substr(0, end == std::string_view::npos ? doc.size() : end);
    size_t p = 0;
    while (p < fm.size()) {
      size_t e = fm.find('\n', p);
      std::string_view l = fm.substr(p, e == std::string_view::npos ? fm.size() - p : e - p);
      if (l.rfind("title:", 0) == 0)
        return valid_utf8(unquote(std::string(l.substr(6))));
      if (e == std::string_view::npos)
        break;
      p = e + 1;
    }
    if (end != std::string_view::npos)
      rest = doc.substr(end + 4);
  }
  size_t p = 0;
  while (p < rest.size()) {
    size_t e = rest.find('\n', p);
    std::string_view l = rest.substr(p, e == std::string_view::npos ? rest.size() - p : e - p);
    if (l.rfind("# ", 0) == 0)
      return valid_utf8(unquote(std::string(l.substr(2))));
    if (e == std::string_view::npos)
      break;
    p = e + 1;
  }
  return "";
}

std::string html_escape(std::string_view s) {
  std::string out;
  std::string t = valid_utf8(s);
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (t.compare(i, kSlash.size(), kSlash) == 0) {
      out += "&#47;";
      i += kSlash.size() - 1;
      continue;
    }
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string md_escape(std::string_view s) {
  std::string out;
  std::string t = squeeze(valid_utf8(s));
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (t.compare(i, kSlash.size(), kSlash) == 0) {
      out += "\\/";
      i += kSlash.size() - 1;
    } else if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (std::strchr("\\|*_`[]#!~", c) && c) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string policy_string(std::string_view s) {
  std::string out = "\"";
  for (char c : valid_utf8(s)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      continue;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string comment_text(std::string_view s, size_t max_chars) {
  std::string t = valid_utf8(s), clean;
  for (size_t i = 0; i < t.size(); ++i) {
    auto u = static_cast<unsigned char>(t[i]);
    if (u < 0x20 || u == 0x7F) {
      clean += ' ';
    } else if (u == 0xC2 && i + 1 < t.size() && static_cast<unsigned char>(t[i + 1]) == 0x85) {
      clean += ' ';
      ++i;
    } else if (u == 0xE2 && i + 2 < t.size() && static_cast<unsigned char>(t[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(t[i + 2]) == 0xA8 ||
                static_cast<unsigned char>(t[i + 2]) == 0xA9)) {
      clean += ' ';
      i += 2;
    } else {
      clean += t[i];
    }
  }
  clean = plain_slashes(squeeze(clean));
  size_t chars = 0;
  for (size_t i = 0; i < clean.size(); ++i) {
    if ((static_cast<unsigned char>(clean[i]) & 0xC0) != 0x80 && chars++ == max_chars)
      return clean.substr(0, i) + "\u2026";
  }
  return clean;
}

bool is_policy_name(std::string_view s) {
  static const char* const kReserved[] = {
      "import",   "zone", "role",  "interface", "in",       "service", "feature", "flow",
      "via",      "when", "allow", "deny",      "required", "expires", "note",    "tags",
      "suppress", "tcp",  "udp",   "icmp",      "icmpv6",   "any"};
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  for (const char* r : kReserved)
    if (s == r)
      return false;
  return true;
}

} // namespace portolan::tables
