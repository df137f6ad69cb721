#include "report.h"

#include "checks/catalog.h"
#include "version.h"

#include <nlohmann/json.hpp>

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

Json location_json(const SourceManager& sm, const SourceLoc& l) {
  if (!l.valid())
    return nullptr;
  return {{"file", sm.file(l.file).path}, {"line", l.line}, {"column", l.col}, {"length", l.len}};
}

const char* sarif_level(Severity s) {
  return s == Severity::Error ? "error" : s == Severity::Warning ? "warning" : "note";
}

/// A SARIF location; `into` may already hold members (a related location's id comes first).
void sarif_location(Json& into, const SourceManager& sm, const SourceLoc& l,
                    const std::string& msg) {
  into["physicalLocation"] = {{"artifactLocation", {{"uri", sm.file(l.file).path}}},
                              {"region",
                               {{"startLine", l.line},
                                {"startColumn", l.col},
                                {"endColumn", l.col + std::max<uint32_t>(l.len, 1)}}}};
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
  // Each finding is dumped as soon as it is built, into the one output string (what
  // one_per_line writes): at 100k flows the tree of every finding and the copies of the text
  // were a fifth of check's peak memory.
  std::string out = open_object(head) + ",\"findings\":[";
  bool first = true;
  for (const Diagnostic& x : d.all()) {
    Json related = Json::array();
    for (const Related& r : x.notes)
      related.push_back({{"message", r.message}, {"location", location_json(sm, r.loc)}});
    Json finding = {{"code", x.code},
                    {"severity", severity_name(x.severity)},
                    {"message", x.message},
                    {"location", location_json(sm, x.loc)},
                    {"related", std::move(related)},
                    {"witness", x.witness ? Json(*x.witness) : Json(nullptr)}};
    out += first ? "\n  " : ",\n  ";
    out += dump(finding);
    first = false;
  }
  out += first ? "]}\n" : "\n]}\n";
  return out;
}

std::string render_sarif(const Diagnostics& d, const SourceManager& sm) {
  const auto& cat = check_catalog();
  std::vector<Json> rules;
  for (const CheckInfo& c : cat)
    rules.push_back({{"id", c.code},
                     {"name", c.code},
                     {"shortDescription", {{"text", c.title}}},
                     {"fullDescription", {{"text", c.details}}},
                     {"help", {{"text", c.help}}},
                     {"defaultConfiguration", {{"level", sarif_level(c.severity)}}},
                     {"properties", {{"stage", c.stage}}}});
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
      sarif_location(loc, sm, x.loc, "");
      r["locations"] = Json::array({std::move(loc)});
    }
    Json related = Json::array();
    for (const Related& n : x.notes)
      if (n.loc.valid()) {
        Json loc = {{"id", related.size()}};
        sarif_location(loc, sm, n.loc, n.message);
        related.push_back(std::move(loc));
      }
    if (!related.empty())
      r["relatedLocations"] = std::move(related);
    results.push_back(std::move(r));
  }
  Json driver = {{"name", "portolan"},
                 {"version", kPortolanVersion},
                 {"informationUri", "https://example.invalid/portolan"}};
  return "{\n\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\n\"version\":\"2.1.0\","
         "\n\"runs\":[{\"tool\":{\"driver\":" +
         open_object(driver) + ",\"rules\":" + one_per_line(rules) +
         "}},\n\"results\":" + one_per_line(results) + "\n}]\n}\n";
}

} // namespace portolan
