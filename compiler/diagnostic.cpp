#include "diagnostic.h"

#include <algorithm>
#include <map>
#include <optional>
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

namespace {
constexpr size_t kEnvWord = 13; // "environment '"
/// The one environment a message names: the position of its name and the name.
std::optional<std::pair<size_t, std::string>> named_environment(const std::string& m) {
  static const std::string kWord = "environment '";
  size_t at = m.find(kWord);
  if (at == std::string::npos || m.find(kWord, at + 1) != std::string::npos)
    return std::nullopt;
  size_t start = at + kWord.size();
  size_t end = m.find('\'', start);
  if (end == std::string::npos)
    return std::nullopt;
  return std::make_pair(at, m.substr(start, end - start));
}
} // namespace

void Diagnostics::merge_environments() {
  struct Group {
    size_t first;
    size_t at;
    std::vector<std::string> envs;
  };
  std::map<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, int, std::string, std::string>,
           size_t>
      groups_by_key;
  std::vector<Group> groups;
  std::vector<Diagnostic> out;
  for (Diagnostic& d : diags_) {
    auto env = named_environment(d.message);
    if (!env) {
      out.push_back(std::move(d));
      continue;
    }
    std::string rest = d.message.substr(0, env->first) + "\x01" +
                       d.message.substr(env->first + kEnvWord + env->second.size() + 1);
    auto key = std::make_tuple(d.loc.file, d.loc.line, d.loc.col, d.loc.len,
                               static_cast<int>(d.severity), d.code, rest);
    auto [it, fresh] = groups_by_key.emplace(key, groups.size());
    if (fresh) {
      groups.push_back({out.size(), env->first, {env->second}});
      out.push_back(std::move(d));
      continue;
    }
    Group& g = groups[it->second];
    Diagnostic& into = out[g.first];
    if (std::find(g.envs.begin(), g.envs.end(), env->second) == g.envs.end())
      g.envs.push_back(env->second);
    for (Related& r : d.notes)
      if (std::none_of(into.notes.begin(), into.notes.end(), [&](const Related& x) {
            return x.message == r.message && x.loc.file == r.loc.file && x.loc.line == r.loc.line &&
                   x.loc.col == r.loc.col;
          }))
        into.notes.push_back(std::move(r));
    if (!into.witness)
      into.witness = d.witness;
  }
  for (const Group& g : groups) {
    if (g.envs.size() < 2)
      continue;
    Diagnostic& d = out[g.first];
    std::string names;
    for (const std::string& e : g.envs)
      names += (names.empty() ? "'" : ", '") + e + "'";
    d.message = d.message.substr(0, g.at) + "environments " + names +
                d.message.substr(g.at + kEnvWord + g.envs[0].size() + 1);
  }
  diags_ = std::move(out);
  normalize();
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
