#include "report.h"

#include "checks/catalog.h"
#include "version.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

namespace portolan {

namespace {

using Json = nlohmann::ordered_json;

/// Compact JSON. Invalid UTF-8 (a path or a policy string can hold any byte) becomes U+FFFD:
/// RFC 8259 allows only UTF-8, so the document stays valid JSON whatever the input.
std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// An array with one element per line (`[\n  a,\n  b\n]`, or `[]`): a diff or a grep of the
/// report then shows one finding per line. The elements themselves are compact.
std::string one_per_line(const std::vector<Json>& items) {
  if (items.empty())
    return "[]";
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? ",\n  " : "\n  ") + dump(items[i]);
  return out + "\n]";
}

/// `head` printed compactly without its closing brace, so that members written as text follow.
std::string open_object(const Json& head) {
  std::string out = dump(head);
  out.pop_back();
  return out;
}

const char* sarif_level(Severity s) {
  return s == Severity::Error ? "error" : s == Severity::Warning ? "warning" : "note";
}

/// The folder %SRCROOT% stands for: where portolan runs.
std::string source_root() {
  std::error_code ec;
  std::string base = std::filesystem::current_path(ec).generic_string();
  return ec ? std::string() : base;
}

/// The artifactLocation of a file: relative to %SRCROOT% where it can be.
Json artifact(const std::string& path, const std::string& base) {
  bool relative = false;
  std::string uri = file_uri(path, base, &relative);
  Json a = {{"uri", uri}};
  if (relative)
    a["uriBaseId"] = "%SRCROOT%";
  return a;
}

/// A SARIF location; `into` may already hold members (a related location's id comes first).
/// A location without a line is the file alone.
void sarif_location(Json& into, const SourceManager& sm, const std::string& base,
                    const SourceLoc& l, const std::string& msg) {
  into["physicalLocation"] = {{"artifactLocation", artifact(sm.file(l.file).path, base)}};
  if (l.line > 0)
    into["physicalLocation"]["region"] = {
        {"startLine", l.line},
        {"startColumn", std::max<uint32_t>(l.col, 1)},
        {"endColumn", std::max<uint32_t>(l.col, 1) + std::max<uint32_t>(l.len, 1)}};
  if (!msg.empty())
    into["message"] = {{"text", msg}};
}

} // namespace

std::string render_json(const Diagnostics& d, const SourceManager& sm) {
  Json head = {{"version", 1},
               {"tool", {{"name", "portolan"}, {"version", kPortolanVersion}}},
               {"summary",
                {{"errors", d.count(Severity::Error)},
                 {"warnings", d.count(Severity::Warning)},
                 {"notes", d.count(Severity::Note)}}}};
  // Each finding is written as text, its strings escaped by the library: the same bytes as
  // dumping a Json object of these members in this order, without building one per finding
  // (the report of a large policy has tens of thousands).
  auto str = [](const std::string& v) { return dump(Json(v)); };
  std::map<uint32_t, std::string> files; // file id -> its path, escaped once
  auto location = [&](const SourceLoc& l) -> std::string {
    if (!l.valid())
      return "null";
    auto it = files.find(l.file);
    if (it == files.end())
      it = files.emplace(l.file, str(sm.file(l.file).path)).first;
    return "{\"file\":" + it->second + ",\"line\":" + std::to_string(l.line) +
           ",\"column\":" + std::to_string(l.col) + ",\"length\":" + std::to_string(l.len) + "}";
  };
  std::string out = open_object(head) + ",\"findings\":";
  if (d.all().empty())
    out += "[]";
  bool first = true;
  for (const Diagnostic& x : d.all()) {
    out += first ? "[\n  " : ",\n  ";
    first = false;
    out += "{\"code\":" + str(x.code) + ",\"severity\":\"" + severity_name(x.severity) +
           "\",\"message\":" + str(x.message) + ",\"location\":" + location(x.loc) +
           ",\"related\":[";
    for (size_t i = 0; i < x.notes.size(); ++i)
      out += (i ? ",{\"message\":" : "{\"message\":") + str(x.notes[i].message) +
             ",\"location\":" + location(x.notes[i].loc) + "}";
    out += "],\"witness\":" + (x.witness ? str(*x.witness) : std::string("null")) + "}";
  }
  if (!first)
    out += "\n]";
  return out + "}\n";
}

std::string file_uri(const std::string& path, const std::string& base, bool* relative) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(path).lexically_normal();
  fs::path abs = p.is_absolute() || base.empty() ? p : (fs::path(base) / p).lexically_normal();
  std::string text;
  *relative = false;
  if (!base.empty()) {
    fs::path rel = abs.lexically_relative(fs::path(base));
    if (!rel.empty() && *rel.begin() != ".." && !rel.is_absolute()) {
      text = rel.generic_string();
      *relative = true;
    }
  }
  if (!*relative)
    text = abs.generic_string();
  static const char* hex = "0123456789ABCDEF";
  std::string out = *relative ? "" : "file://";
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string rule_name(const std::string& code) {
  std::string out;
  bool up = true;
  for (char c : code) {
    if (c == '-' || c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

std::string render_sarif(const Diagnostics& d, const SourceManager& sm, const SarifOptions& opts) {
  const auto& cat = check_catalog();
  std::vector<Json> rules;
  for (const CheckInfo& c : cat) {
    Json r = {{"id", c.code},
              {"name", rule_name(c.code)},
              {"shortDescription", {{"text", c.title}}},
              {"fullDescription", {{"text", c.details}}}};
    if (!opts.help_uri.empty())
      r["helpUri"] = opts.help_uri + "#" + c.code;
    r["help"] = {{"text", c.help}};
    r["defaultConfiguration"] = {{"level", sarif_level(c.severity)},
                                 {"enabled", !c.off_by_default}};
    r["properties"] = {{"stage", c.stage}};
    rules.push_back(std::move(r));
  }
  const std::string base = source_root();
  // Where a finding without a location goes: GitHub code scanning rejects a result without one.
  std::string fallback = opts.fallback_file;
  if (fallback.empty() && sm.size() > 0)
    fallback = sm.file(1).path;
  std::vector<Json> results;
  for (const Diagnostic& x : d.all()) {
    size_t index = 0;
    for (; index < cat.size() && x.code != cat[index].code; ++index) {
    }
    std::string text = x.message;
    if (x.witness)
      text += " (witness: " + *x.witness + ")";
    Json r = {{"ruleId", x.code}};
    if (index < cat.size())
      r["ruleIndex"] = index;
    r["level"] = sarif_level(x.severity);
    r["message"] = {{"text", text}};
    if (x.loc.valid()) {
      Json loc = Json::object();
      sarif_location(loc, sm, base, x.loc, "");
      r["locations"] = Json::array({std::move(loc)});
    } else if (!fallback.empty()) {
      r["locations"] =
          Json::array({{{"physicalLocation", {{"artifactLocation", artifact(fallback, base)}}}}});
    }
    Json related = Json::array();
    for (const Related& n : x.notes)
      if (n.loc.valid()) {
        Json loc = {{"id", related.size()}};
        sarif_location(loc, sm, base, n.loc, n.message);
        related.push_back(std::move(loc));
      }
    if (!related.empty())
      r["relatedLocations"] = std::move(related);
    results.push_back(std::move(r));
  }
  Json driver = {{"name", "portolan"}, {"version", kPortolanVersion}};
  if (!opts.help_uri.empty())
    driver["informationUri"] = opts.help_uri;
  Json bases = {
      {"%SRCROOT%",
       {{"description", {{"text", "the folder portolan ran in (the repository root in CI)"}}}}}};
  return "{\n\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\n\"version\":\"2.1.0\","
         "\n\"runs\":[{\"tool\":{\"driver\":" +
         open_object(driver) + ",\"rules\":" + one_per_line(rules) +
         "}},\n\"originalUriBaseIds\":" + dump(bases) + ",\n\"results\":" + one_per_line(results) +
         "\n}]\n}\n";
}

std::string summary_line(const Diagnostics& d) {
  auto count = [](size_t n, const char* one) {
    return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
  };
  std::string out = count(d.count(Severity::Error), "error") + ", " +
                    count(d.count(Severity::Warning), "warning") + ", " +
                    count(d.count(Severity::Note), "note");
  std::map<std::string, size_t> by_code;
  for (const Diagnostic& x : d.all())
    ++by_code[x.code];
  std::vector<std::pair<std::string, size_t>> codes(by_code.begin(), by_code.end());
  std::stable_sort(codes.begin(), codes.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (!codes.empty()) {
    out += " (codes:";
    for (size_t i = 0; i < codes.size(); ++i)
      out += (i ? ", " : " ") + codes[i].first + " " + std::to_string(codes[i].second);
    out += ")";
  }
  return out;
}

} // namespace portolan
