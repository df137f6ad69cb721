#include "report.h"

#include "checks/catalog.h"
#include "version.h"

#include <cstdio>

namespace portolan {

std::string json_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out;
}

namespace {

std::string q(std::string_view s) {
  return "\"" + json_escape(s) + "\"";
}

std::string location_json(const SourceManager& sm, const SourceLoc& l) {
  if (!l.valid())
    return "null";
  return "{\"file\":" + q(sm.file(l.file).path) + ",\"line\":" + std::to_string(l.line) +
         ",\"column\":" + std::to_string(l.col) + ",\"length\":" + std::to_string(l.len) + "}";
}

const char* sarif_level(Severity s) {
  return s == Severity::Error ? "error" : s == Severity::Warning ? "warning" : "note";
}

std::string sarif_location(const SourceManager& sm, const SourceLoc& l, const std::string& msg) {
  std::string out =
      "{\"physicalLocation\":{\"artifactLocation\":{\"uri\":" + q(sm.file(l.file).path) +
      "},\"region\":{\"startLine\":" + std::to_string(l.line) +
      ",\"startColumn\":" + std::to_string(l.col) +
      ",\"endColumn\":" + std::to_string(l.col + std::max<uint32_t>(l.len, 1)) + "}}";
  if (!msg.empty())
    out += ",\"message\":{\"text\":" + q(msg) + "}";
  return out + "}";
}

} // namespace

std::string render_json(const Diagnostics& d, const SourceManager& sm) {
  std::string out =
      "{\"version\":1,\"tool\":{\"name\":\"portolan\",\"version\":" + q(kPortolanVersion) +
      "},\"summary\":{\"errors\":" + std::to_string(d.count(Severity::Error)) +
      ",\"warnings\":" + std::to_string(d.count(Severity::Warning)) +
      ",\"notes\":" + std::to_string(d.count(Severity::Note)) + "},\"findings\":[";
  bool first = true;
  for (const Diagnostic& x : d.all()) {
    out += first ? "\n  " : ",\n  ";
    first = false;
    out += "{\"code\":" + q(x.code) + ",\"severity\":" + q(severity_name(x.severity)) +
           ",\"message\":" + q(x.message) + ",\"location\":" + location_json(sm, x.loc) +
           ",\"related\":[";
    for (size_t i = 0; i < x.notes.size(); ++i)
      out += (i ? "," : "") + std::string("{\"message\":") + q(x.notes[i].message) +
             ",\"location\":" + location_json(sm, x.notes[i].loc) + "}";
    out += "],\"witness\":" + (x.witness ? q(*x.witness) : std::string("null")) + "}";
  }
  out += first ? "]}\n" : "\n]}\n";
  return out;
}

std::string render_sarif(const Diagnostics& d, const SourceManager& sm) {
  std::string out =
      "{\n\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\n\"version\":\"2.1.0\",\n"
      "\"runs\":[{\"tool\":{\"driver\":{\"name\":\"portolan\",\"version\":" +
      q(kPortolanVersion) + ",\"informationUri\":\"https://example.invalid/portolan\",\"rules\":[";
  const auto& cat = check_catalog();
  for (size_t i = 0; i < cat.size(); ++i) {
    const CheckInfo& c = cat[i];
    out += std::string(i ? "," : "") + "\n  {\"id\":" + q(c.code) + ",\"name\":" + q(c.code) +
           ",\"shortDescription\":{\"text\":" + q(c.title) +
           "},\"fullDescription\":{\"text\":" + q(c.details) + "},\"help\":{\"text\":" + q(c.help) +
           "},\"defaultConfiguration\":{\"level\":" + q(sarif_level(c.severity)) +
           "},\"properties\":{\"stage\":" + q(c.stage) + "}}";
  }
  out += "\n]}},\n\"results\":[";
  bool first = true;
  for (const Diagnostic& x : d.all()) {
    size_t index = 0;
    for (; index < cat.size() && x.code != cat[index].code; ++index) {
    }
    out += first ? "\n  " : ",\n  ";
    first = false;
    std::string text = x.message;
    if (x.witness)
      text += " (witness: " + *x.witness + ")";
    out += "{\"ruleId\":" + q(x.code) +
           (index < cat.size() ? ",\"ruleIndex\":" + std::to_string(index) : std::string()) +
           ",\"level\":" + q(sarif_level(x.severity)) + ",\"message\":{\"text\":" + q(text) + "}";
    if (x.loc.valid())
      out += ",\"locations\":[" + sarif_location(sm, x.loc, "") + "]";
    std::string related;
    int id = 0;
    for (const Related& r : x.notes)
      if (r.loc.valid()) {
        std::string loc = sarif_location(sm, r.loc, r.message);
        related += (related.empty() ? "" : ",") + std::string("{\"id\":") + std::to_string(id++) +
                   "," + loc.substr(1);
      }
    if (!related.empty())
      out += ",\"relatedLocations\":[" + related + "]";
    out += "}";
  }
  out += first ? "]\n}]\n}\n" : "\n]\n}]\n}\n";
  return out;
}

} // namespace portolan
