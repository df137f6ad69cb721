#include "diagnostic.h"

#include <algorithm>
#include <ostream>
#include <tuple>

namespace portolan {

const char* severity_name(Severity s) {
  switch (s) {
  case Severity::Note:
    return "note";
  case Severity::Warning:
    return "warning";
  case Severity::Error:
    return "error";
  }
  return "error";
}

Diagnostic& Diagnostics::add(Severity sev, std::string code, SourceLoc loc, std::string message) {
  diags_.push_back(Diagnostic{sev, std::move(code), std::move(message), loc, {}, {}});
  return diags_.back();
}

bool Diagnostics::has_errors() const {
  return count(Severity::Error) > 0;
}

size_t Diagnostics::count(Severity s) const {
  return static_cast<size_t>(
      std::count_if(diags_.begin(), diags_.end(), [&](const auto& d) { return d.severity == s; }));
}

namespace {
auto key(const Diagnostic& d) {
  // Errors before warnings at the same place.
  return std::make_tuple(d.loc.file, d.loc.line, d.loc.col, -static_cast<int>(d.severity),
                         std::cref(d.code), std::cref(d.message));
}
} // namespace

void Diagnostics::apply_severities(const std::map<std::string, std::string>& by_code) {
  std::vector<Diagnostic> kept;
  for (Diagnostic& d : diags_) {
    auto it = by_code.find(d.code);
    if (it == by_code.end() || d.severity == Severity::Error) {
      kept.push_back(std::move(d));
      continue;
    }
    if (it->second == "off")
      continue;
    d.severity = it->second == "error"     ? Severity::Error
                 : it->second == "warning" ? Severity::Warning
                                           : Severity::Note;
    kept.push_back(std::move(d));
  }
  diags_ = std::move(kept);
}

void Diagnostics::normalize() {
  std::stable_sort(diags_.begin(), diags_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) { return key(a) < key(b); });
  diags_.erase(std::unique(diags_.begin(), diags_.end(),
                           [](const Diagnostic& a, const Diagnostic& b) {
                             return key(a) == key(b) && a.loc.len == b.loc.len;
                           }),
               diags_.end());
}

// Column arithmetic counts UTF-8 code points, matching the lexer's character columns.
static bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

std::string underline(const SourceManager& sm, const SourceLoc& loc) {
  if (!loc.valid() || loc.line == 0)
    return {};
  std::string_view line = sm.line(loc.file, loc.line);
  std::string out = "  ";
  out += line;
  out += "\n  ";
  uint32_t col = 1;
  size_t i = 0;
  for (; i < line.size() && col < loc.col; ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (is_continuation(c))
      continue;
    out += c == '\t' ? '\t' : ' ';
    ++col;
  }
  out += '^';
  for (uint32_t k = 1; k < loc.len; ++k)
    out += '~';
  out += '\n';
  return out;
}

static void render_one(std::ostream& out, const SourceManager& sm, const SourceLoc& loc,
                       const char* sev, const std::string& message, const std::string& code) {
  if (loc.valid())
    out << sm.where(loc) << ": ";
  else if (std::string_view(sev) != "note")
    out << "portolan: ";
  out << sev << ": " << message;
  if (!code.empty())
    out << " [" << code << "]";
  out << '\n' << underline(sm, loc);
}

void Diagnostics::render_text(std::ostream& out, const SourceManager& sm, bool) const {
  for (const Diagnostic& d : diags_) {
    render_one(out, sm, d.loc, severity_name(d.severity), d.message, d.code);
    for (const Related& r : d.notes)
      render_one(out, sm, r.loc, "note", r.message, "");
    if (d.witness)
      out << "  witness: " << *d.witness << '\n';
  }
}

static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> nearest_name(const std::string& name,
                                        const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_d = std::max<size_t>(2, name.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    if (d < best_d || (best && d == best_d && c < *best)) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

} // namespace portolan
