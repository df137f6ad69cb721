#include "fmt.h"

#include "load.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portolan {
namespace {

constexpr size_t kColumnLimit = 100;
constexpr size_t kIndent = 2;

size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

bool is(const LexToken& t, const char* punct) {
  return t.kind == LexToken::Kind::Punct && t.text == punct;
}

/// Whether a space separates two code tokens written on one line.
bool space_between(const LexToken& a, const LexToken& b) {
  if (is(b, ";") || is(b, ",") || is(b, ".") || is(b, ":"))
    return false;
  if ((is(a, "{") && !is(b, "}")) || (is(b, "}") && !is(a, "{"))) // endpoint lists: {a, b}
    return false;
  if (is(a, "(") || is(b, ")")) // conditions: (a or b)
    return false;
  if (is(a, ".") || is(a, "-") || is(b, "-")) // dotted names, port ranges, code-words
    return false;
  return true;
}

/// A line comment without trailing blanks; a block comment as written.
std::string comment_text(const LexToken& t) {
  if (t.kind != LexToken::Kind::LineComment)
    return t.text;
  std::string s = t.text;
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  return s;
}

/// One line-level piece of the file: a statement (or block header, or closing brace), or a
/// comment on its own line; with the comments that trail it on its last line.
struct Item {
  bool comment = false;
  std::vector<size_t> toks; ///< token indices, comments inside a statement included
  std::vector<size_t> trailing;
  size_t depth = 0;
  bool blank_before = false;
  char end = 0; ///< ';', '{' or '}' for statements
  std::string kind;
};

class Formatter {
public:
  Formatter(const std::string& text, const std::vector<LexToken>& toks) : t_(toks) {
    nl_.resize(toks.size());
    size_t prev_end = 0;
    for (size_t i = 0; i < toks.size(); ++i) {
      size_t start = std::min(toks[i].offset, text.size());
      nl_[i] = static_cast<size_t>(
          std::count(text.begin() + static_cast<std::ptrdiff_t>(std::min(prev_end, start)),
                     text.begin() + static_cast<std::ptrdiff_t>(start), '\n'));
      prev_end = start + toks[i].text.size();
    }
  }

  std::string run() {
    split();
    mark_runs();
    std::string out;
    for (size_t k = 0; k < items_.size(); ++k) {
      const Item& it = items_[k];
      bool after_open = k > 0 && !items_[k - 1].comment && items_[k - 1].end == '{';
      if (k > 0 && it.blank_before && !after_open && !(!it.comment && it.end == '}'))
        out += "\n";
      std::string line(kIndent * it.depth, ' ');
      if (it.comment)
        line += comment_text(t_[it.toks[0]]);
      else if (run_of_[k] >= 0)
        line += aligned(k);
      else
        line += unit(it);
      for (size_t c : it.trailing)
        line += " " + comment_text(t_[c]);
      out += line + "\n";
    }
    return out;
  }

private:
  const std::vector<LexToken>& t_;
  std::vector<size_t> nl_; ///< newlines between token i-1 (or the start) and token i
  std::vector<Item> items_;
  std::vector<int> run_of_; ///< alignment run per item, -1: none
  std::map<int, std::pair<size_t, size_t>> run_widths_;

  void split() {
    size_t depth = 0;
    std::optional<size_t> cur;
    for (size_t i = 0; i < t_.size(); ++i) {
      const LexToken& t = t_[i];
      if (t.comment()) {
        if (cur)
          items_[*cur].toks.push_back(i);
        else if (!items_.empty() && nl_[i] == 0)
          items_.back().trailing.push_back(i);
        else
          items_.push_back(Item{true, {i}, {}, depth, nl_[i] >= 2, 0, ""});
        continue;
      }
      if (!cur) {
        items_.push_back(Item{false, {}, {}, depth, nl_[i] >= 2, 0, t.text});
        cur = items_.size() - 1;
      }
      Item& it = items_[*cur];
      it.toks.push_back(i);
      // An endpoint list (`flow x: {a, b} -> c via s;`) is part of the statement: its braces
      // come before `via`, a block's after it.
      bool ends_side = (it.kind == "flow" || it.kind == "expect") &&
                       std::none_of(it.toks.begin(), it.toks.end(),
                                    [&](size_t k) { return t_[k].text == "via"; });
      if (ends_side && (is(t, "{") || is(t, "}"))) {
        continue;
      } else if (is(t, ";")) {
        it.end = ';';
        cur.reset();
      } else if (is(t, "{")) {
        it.end = '{';
        ++depth;
        cur.reset();
      } else if (is(t, "}")) {
        depth = depth > 0 ? depth - 1 : 0;
        it.depth = depth;
        it.end = '}';
        cur.reset();
      }
    }
  }

  /// Declarations written one per line whose columns line up when they follow each other.
  bool alignable(const Item& it) const {
    static const std::set<std::string> kinds{"zone", "feature", "role", "interface", "service"};
    if (it.comment || it.end != ';' || !kinds.count(it.kind) || it.toks.size() < 3)
      return false;
    return std::none_of(it.toks.begin(), it.toks.end(), [&](size_t i) { return t_[i].comment(); });
  }
  bool has_desc(const Item& it) const { return t_[it.toks[2]].kind == LexToken::Kind::String; }
  std::string shape(const Item& it) const {
    size_t rest = it.toks.size() - (has_desc(it) ? 3 : 2);
    return it.kind + (has_desc(it) ? "+desc" : "") + (rest > 1 ? "+rest" : "");
  }
  std::string head(const Item& it) const { return it.kind + " " + t_[it.toks[1]].text; }
  std::string join(const Item& it, size_t from) const {
    std::string s;
    for (size_t k = from; k < it.toks.size(); ++k) {
      if (k > from && space_between(t_[it.toks[k - 1]], t_[it.toks[k]]))
        s += " ";
      s += t_[it.toks[k]].text;
    }
    return s;
  }

  void mark_runs() {
    run_of_.assign(items_.size(), -1);
    int run = -1;
    for (size_t k = 0; k < items_.size(); ++k) {
      const Item& it = items_[k];
      if (!alignable(it))
        continue;
      bool extends = k > 0 && run_of_[k - 1] >= 0 && !it.blank_before &&
                     items_[k - 1].depth == it.depth && shape(items_[k - 1]) == shape(it);
      if (!extends)
        ++run;
      run_of_[k] = run;
      auto& [w0, w1] = run_widths_[run];
      w0 = std::max(w0, width(head(it)));
      if (has_desc(it))
        w1 = std::max(w1, width(t_[it.toks[2]].text));
    }
  }

  std::string aligned(size_t k) const {
    const Item& it = items_[k];
    auto [w0, w1] = run_widths_.at(run_of_[k]);
    bool desc = has_desc(it);
    size_t rest_from = desc ? 3 : 2;
    bool rest = it.toks.size() - rest_from > 1;
    std::string s = head(it);
    if (!desc && !rest)
      return s + ";";
    s += std::string(w0 - width(s) + 1, ' ');
    if (desc) {
      const std::string& d = t_[it.toks[2]].text;
      s += d;
      if (!rest)
        return s + ";";
      s += std::string(w1 - width(d) + 1, ' ');
    }
    return s + join(it, rest_from);
  }

  /// A statement: on one line, or, for a flow or expectation too long for one, with its note
  /// and its `when` on lines of their own; a comment inside also ends the line.
  std::string unit(const Item& it) const {
    size_t ind = kIndent * it.depth, cont = ind + kIndent;
    bool breakable = it.depth == 0 && (it.kind == "flow" || it.kind == "expect");
    bool too_long = false;
    if (breakable) {
      size_t w = ind;
      const LexToken* prev = nullptr;
      for (size_t i : it.toks) {
        if (t_[i].comment())
          continue;
        w += (prev && space_between(*prev, t_[i]) ? 1 : 0) + width(t_[i].text);
        prev = &t_[i];
      }
      too_long = w > kColumnLimit;
    }
    std::string s;
    const LexToken* prev = nullptr;      // any token
    const LexToken* prev_code = nullptr; // the last code token
    bool seen_string = false, seen_scope = false;
    auto newline = [&] { s += "\n" + std::string(cont, ' '); };
    for (size_t i : it.toks) {
      const LexToken& t = t_[i];
      if (t.comment()) {
        if (prev && nl_[i] > 0)
          newline();
        else if (prev)
          s += " ";
        s += comment_text(t);
        prev = &t;
        continue;
      }
      bool brk =
          prev && prev->comment() && (prev->kind == LexToken::Kind::LineComment || nl_[i] > 0);
      if (too_long && !seen_scope) {
        if (t.kind == LexToken::Kind::String && !seen_string)
          brk = true; // the note
        if (it.kind == "flow" && t.kind == LexToken::Kind::Keyword && t.text == "when")
          brk = true;
      }
      if (t.kind == LexToken::Kind::String)
        seen_string = true;
      if (it.kind == "expect" && t.kind == LexToken::Kind::Keyword &&
          (t.text == "in" || t.text == "on"))
        seen_scope = true;
      if (brk && prev)
        newline();
      else if (prev && (prev->comment() || space_between(*prev_code, t)))
        s += " ";
      s += t.text;
      prev = prev_code = &t;
    }
    return s;
  }
};

/// The tokens that carry meaning, for the check that formatting changed none.
std::vector<std::pair<LexToken::Kind, std::string>> essence(const std::vector<LexToken>& toks) {
  std::vector<std::pair<LexToken::Kind, std::string>> out;
  for (const LexToken& t : toks)
    out.emplace_back(t.kind, comment_text(t));
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(s.substr(start)); // the last line, without its newline
      break;
    }
    out.push_back(s.substr(start, nl - start + 1));
    start = nl + 1;
  }
  return out;
}

bool write_file_atomically(const std::filesystem::path& path, const std::string& content,
                           std::string& err) {
  std::filesystem::path tmp = path;
  tmp += ".fmt-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)
    (void)::fchmod(fd, st.st_mode & 07777); // keep the file's permissions
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    err = "cannot replace " + path.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

} // namespace

std::string format_tokens(const std::string& text, const std::vector<LexToken>& tokens) {
  return Formatter(text, tokens).run();
}

std::optional<std::string> format_policy(SourceManager& sm, const std::string& path,
                                         const std::string& text, Diagnostics& diags) {
  uint32_t id = sm.add(path, text);
  Diagnostics parsed;
  parse_policy_file(sm, id, parsed);
  // Literal errors (a port out of range) leave the structure intact: the layout is still
  // well defined, and `check` reports them. Text that does not parse is not formatted, and
  // neither is a port written as a vendor page prints it (`1,024`): the space fmt puts after a
  // comma would turn it into a list.
  bool broken = false;
  for (const Diagnostic& d : parsed.all())
    if (d.code == "syntax" || d.code == "encoding" || d.code == "internal" ||
        d.code == "port-token") {
      broken = true;
      diags.add(d.severity, d.code, d.loc, d.message) = d;
    }
  if (broken)
    return std::nullopt;
  auto tokens = lex_policy(text);
  std::string out = format_tokens(text, tokens);
  if (essence(lex_policy(out)) != essence(tokens)) {
    diags.error("internal", SourceLoc{id, 1, 1, 1},
                "fmt would change the tokens of this file; it is left as it is");
    return std::nullopt;
  }
  return out;
}

std::string unified_diff(const std::string& a, const std::string& b, const std::string& name_a,
                         const std::string& name_b) {
  if (a == b)
    return "";
  auto x = split_lines(a), y = split_lines(b);
  const long n = static_cast<long>(x.size()), m = static_cast<long>(y.size());
  // Myers' O((N+M)D) shortest edit script; trace[d] holds V (k = -d..d) before step d.
  std::vector<std::vector<long>> trace;
  std::vector<long> v(3, 0); // k in -1..1 for d = 0
  long d_end = 0;
  for (long d = 0;; ++d) {
    std::vector<long> next(static_cast<size_t>(2 * d + 3), 0);
    auto at = [&](const std::vector<long>& vv, long dd, long k) {
      return vv[static_cast<size_t>(k + dd + 1)];
    };
    trace.push_back(v);
    bool done = false;
    for (long k = -d; k <= d; k += 2) {
      long px = d == 0 ? 0
                       : (k == -d || (k != d && at(v, d - 1, k - 1) < at(v, d - 1, k + 1))
                              ? at(v, d - 1, k + 1)
                              : at(v, d - 1, k - 1) + 1);
      long py = px - k;
      while (px < n && py < m && x[static_cast<size_t>(px)] == y[static_cast<size_t>(py)])
        ++px, ++py;
      next[static_cast<size_t>(k + d + 1)] = px;
      if (px >= n && py >= m) {
        done = true;
        break;
      }
    }
    v = std::move(next);
    if (done) {
      d_end = d;
      break;
    }
  }
  // Walk back from (n, m) to (0, 0).
  struct Op {
    char op;
    const std::string* line;
  };
  std::vector<Op> ops;
  long px = n, py = m;
  for (long d = d_end; d > 0; --d) {
    const auto& vv = trace[static_cast<size_t>(d)]; // V after step d-1, k = -(d-1)..(d-1)
    auto at = [&](long k) { return vv[static_cast<size_t>(k + d)]; };
    long k = px - py;
    long pk = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
    long sx = at(pk), sy = sx - pk;
    while (px > sx && py > sy) {
      ops.push_back({' ', &x[static_cast<size_t>(--px)]});
      --py;
    }
    if (px == sx)
      ops.push_back({'+', &y[static_cast<size_t>(--py)]});
    else
      ops.push_back({'-', &x[static_cast<size_t>(--px)]});
  }
  while (px > 0 && py > 0) {
    ops.push_back({' ', &x[static_cast<size_t>(--px)]});
    --py;
  }
  std::reverse(ops.begin(), ops.end());
  // Hunks with three lines of context; changes closer than seven lines share one.
  std::string out = "--- " + name_a + "\n+++ " + name_b + "\n";
  const size_t ctx = 3;
  size_t i = 0;
  std::vector<size_t> a_before(ops.size() + 1, 0), b_before(ops.size() + 1, 0);
  for (size_t k = 0; k < ops.size(); ++k) {
    a_before[k + 1] = a_before[k] + (ops[k].op != '+');
    b_before[k + 1] = b_before[k] + (ops[k].op != '-');
  }
  while (i < ops.size()) {
    while (i < ops.size() && ops[i].op == ' ')
      ++i;
    if (i == ops.size())
      break;
    size_t start = i >= ctx ? i - ctx : 0, last = i;
    for (size_t j = i; j < ops.size() && j <= last + 2 * ctx + 1; ++j)
      if (ops[j].op != ' ')
        last = j;
    size_t end = std::min(ops.size(), last + 1 + ctx);
    size_t alen = a_before[end] - a_before[start], blen = b_before[end] - b_before[start];
    size_t astart = a_before[start] + (alen ? 1 : 0), bstart = b_before[start] + (blen ? 1 : 0);
    out += "@@ -" + std::to_string(astart) + "," + std::to_string(alen) + " +" +
           std::to_string(bstart) + "," + std::to_string(blen) + " @@\n";
    for (size_t k = start; k < end; ++k) {
      const std::string& l = *ops[k].line;
      out += ops[k].op + l;
      if (l.empty() || l.back() != '\n')
        out += "\n\\ No newline at end of file\n";
    }
    i = end;
  }
  return out;
}

int run_fmt(const FmtOptions& opts, std::ostream& out, std::ostream& err) {
  if (opts.files.empty()) {
    err << "portolan: fmt needs one or more policy files\n" << fmt_help();
    return 2;
  }
  if (opts.check && opts.to_stdout) {
    err << "portolan: fmt takes --check or --stdout, not both\n";
    return 2;
  }
  int rc = 0;
  for (const std::string& f : opts.files) {
    auto text = read_file(f);
    if (!text) {
      err << "portolan: cannot read policy file '" << f << "'\n";
      rc = 2;
      continue;
    }
    SourceManager sm;
    Diagnostics diags;
    auto formatted = format_policy(sm, f, *text, diags);
    if (!formatted) {
      diags.normalize();
      diags.render_text(err, sm);
      rc = std::max(rc, 1);
      continue;
    }
    if (opts.check) {
      if (*formatted != *text) {
        out << unified_diff(*text, *formatted, "a/" + f, "b/" + f);
        rc = std::max(rc, 1);
      }
    } else if (opts.to_stdout) {
      out << *formatted;
    } else if (*formatted != *text) {
      std::string why;
      if (!write_file_atomically(f, *formatted, why)) {
        err << "portolan: " << why << "\n";
        rc = 2;
        continue;
      }
      out << "formatted " << f << "\n";
    }
  }
  return rc;
}

const char* fmt_help() {
  return R"(usage: portolan fmt [--check | --stdout] FILE.policy...

Rewrites each policy file in the canonical layout (docs/language.md, "Layout"): only the space
between tokens changes; every comment and every group of blank lines is kept. A file that does
not parse is left as it is.

  --check    write nothing; print a unified diff for each file that is not formatted
  --stdout   print the formatted text instead of rewriting the file

exit codes: 0 formatted (with --check: nothing to change), 1 a file is not formatted (--check)
or does not parse, 2 bad usage or unreadable file
)";
}

} // namespace portolan
