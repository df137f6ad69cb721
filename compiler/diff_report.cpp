// The renderings of `portolan diff`: text for people, JSON (schema in docs/diff.md), SARIF 2.1.0
// (one result per region) and Markdown for a pull-request comment.
#include "diff.h"
#include "version.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <sstream>

namespace portolan {

namespace {

using Json = nlohmann::ordered_json;

const char* status_name(TargetDiff::Status s) {
  switch (s) {
  case TargetDiff::Status::Unchanged:
    return "unchanged";
  case TargetDiff::Status::Changed:
    return "changed";
  case TargetDiff::Status::Added:
    return "added";
  case TargetDiff::Status::Removed:
    return "removed";
  case TargetDiff::Status::Retargeted:
    return "retargeted";
  }
  return "?";
}

std::string where(const DiffFlow& f) {
  return f.file + ":" + std::to_string(f.line) + ":" + std::to_string(f.col);
}

std::string flow_text(const std::optional<DiffFlow>& f) {
  return f ? where(*f) + " " + f->name : "default deny (no flow matches)";
}

std::string side(const std::string& label, const std::string& commit) {
  return commit.empty() ? label : label + " (" + commit.substr(0, 12) + ")";
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string summary_line(const DiffResult& r) {
  size_t changed = 0;
  for (const TargetDiff& t : r.targets)
    changed += t.regions.empty() ? 0 : 1;
  std::string s = plural(r.opened(), "region opened", "regions opened") + ", " +
                  plural(r.closed(), "region closed", "regions closed") + " in " +
                  std::to_string(changed) + " of " + plural(r.targets.size(), "target", "targets");
  auto add = [&](TargetDiff::Status st, const char* what) {
    if (size_t n = r.targets_with(st))
      s += "; " + std::to_string(n) + " " + what;
  };
  add(TargetDiff::Status::Added, "added");
  add(TargetDiff::Status::Removed, "removed");
  add(TargetDiff::Status::Retargeted, "retargeted");
  if (!r.text_only.empty())
    s += "; " + std::to_string(r.text_only.size()) + " with no packet change";
  return s;
}

std::string change_text(const TextChange& c) {
  std::string s;
  for (size_t i = 0; i < c.changed.size(); ++i)
    s += (i ? ", " : "") + c.changed[i];
  return s;
}

Json flow_json(const std::optional<DiffFlow>& f) {
  if (!f)
    return nullptr;
  return {{"file", f->file},
          {"line", f->line},
          {"column", f->col},
          {"flow", f->name},
          {"action", f->action == Action::Allow ? "allow" : "deny"}};
}

Json strings(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const std::string& s : v)
    a.push_back(s);
  return a;
}

Json region_json(const DiffRegion& d) {
  const Region& g = d.region;
  Json src = Json::array(), dst = Json::array();
  for (const Prefix& p : g.prefixes(PacketBox::kSrc))
    src.push_back(p.str_with_len());
  for (const Prefix& p : g.prefixes(PacketBox::kDst))
    dst.push_back(p.str_with_len());
  Json j = {{"change", d.opened ? "opened" : "closed"},
            {"chain", chain_name(d.chain)},
            {"family", g.family == Family::V4 ? "ipv4" : "ipv6"},
            {"src", src},
            {"dst", dst},
            {"proto", strings(g.protocols())}};
  bool icmp = g.icmp();
  auto sp = g.ports(PacketBox::kSport), dp = g.ports(PacketBox::kDport);
  if (!sp.empty())
    j[icmp ? "type" : "sport"] = strings(sp);
  if (!dp.empty())
    j[icmp ? "code" : "dport"] = strings(dp);
  j["region"] = g.str();
  j["witness"] = d.witness.str();
  j["old"] = flow_json(d.old_flow);
  j["new"] = flow_json(d.new_flow);
  return j;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '\\' || c == '*' || c == '_' || c == '<' || c == '>' || c == '`' ||
        c == '[' || c == ']')
      out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

std::string md_code(const std::string& s) {
  std::string t;
  for (char c : s)
    t += c == '|' ? '/' : c == '`' ? '\'' : c; // inside a table cell, code spans cannot hold '|'
  return "`" + t + "`";
}

/// A relative path as a URI reference (RFC 3986): every byte outside the unreserved set and '/'
/// percent-encoded, so a path with spaces or '#' stays one valid relative URI.
std::string uri(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      out += static_cast<char>(c);
    else
      out += {'%', hex[c >> 4], hex[c & 15]};
  }
  return out;
}

std::string md_flow(const std::optional<DiffFlow>& f) {
  return f ? md_code(where(*f)) + " " + md_escape(f->name) : "default deny";
}

} // namespace

void render_diff_text(std::ostream& out, const DiffResult& r, const DiffLabels& l) {
  out << "portolan diff " << side(l.old_label, l.old_commit) << " -> "
      << side(l.new_label, l.new_commit) << " (manifest " << l.manifest << ")\n";
  size_t unchanged = 0;
  for (const TargetDiff& t : r.targets) {
    if (t.status == TargetDiff::Status::Unchanged) {
      ++unchanged;
      continue;
    }
    out << "\ntarget " << t.name << " (" << (t.new_desc.empty() ? t.old_desc : t.new_desc)
        << "): " << status_name(t.status);
    if (t.status == TargetDiff::Status::Added)
      out << " (in " << t.new_file << ":" << t.new_line << ")";
    if (t.status == TargetDiff::Status::Removed)
      out << " (was " << t.old_file << ":" << t.old_line << ")";
    out << ", " << t.opened() << " opened, " << t.closed() << " closed\n";
    for (const std::string& s : t.retargeted)
      out << "  retargeted " << s << "\n";
    for (const DiffRegion& d : t.regions) {
      out << "  " << (d.opened ? "opened" : "closed") << " " << chain_name(d.chain) << ": "
          << d.region.str() << "\n"
          << "    witness: " << d.witness.str() << "\n"
          << "    old: " << flow_text(d.old_flow) << "\n"
          << "    new: " << flow_text(d.new_flow) << "\n";
    }
  }
  if (!r.envs_added.empty() || !r.envs_removed.empty()) {
    out << "\n";
    for (const std::string& e : r.envs_added)
      out << "environment " << e << ": added\n";
    for (const std::string& e : r.envs_removed)
      out << "environment " << e << ": removed\n";
  }
  if (!r.text_only.empty()) {
    out << "\nno packet change:\n";
    for (const TextChange& c : r.text_only) {
      const DiffFlow& f = c.new_flow ? *c.new_flow : *c.old_flow;
      out << "  " << where(f) << " " << c.kind << " " << c.name << ": " << change_text(c);
      if (c.old_flow && c.new_flow && where(*c.old_flow) != where(*c.new_flow))
        out << " (was " << where(*c.old_flow) << ")";
      out << "\n";
    }
  }
  if (unchanged)
    out << "\n" << plural(unchanged, "target", "targets") << " unchanged\n";
  out << "\n" << summary_line(r) << "\n";
}

std::string render_diff_json(const DiffResult& r, const DiffLabels& l) {
  auto side_json = [&](const std::string& label, const std::string& commit) {
    return Json{{"label", label},
                {"commit", commit.empty() ? Json(nullptr) : Json(commit)},
                {"manifest", l.manifest}};
  };
  Json targets = Json::array();
  for (const TargetDiff& t : r.targets) {
    Json regions = Json::array();
    for (const DiffRegion& d : t.regions)
      regions.push_back(region_json(d));
    targets.push_back({{"name", t.name},
                       {"env", t.env},
                       {"status", status_name(t.status)},
                       {"old", t.old_desc.empty() ? Json(nullptr) : Json(t.old_desc)},
                       {"new", t.new_desc.empty() ? Json(nullptr) : Json(t.new_desc)},
                       {"retargeted", strings(t.retargeted)},
                       {"opened", t.opened()},
                       {"closed", t.closed()},
                       {"regions", regions}});
  }
  Json text = Json::array();
  for (const TextChange& c : r.text_only)
    text.push_back({{"kind", c.kind},
                    {"name", c.name},
                    {"changed", strings(c.changed)},
                    {"old", flow_json(c.old_flow)},
                    {"new", flow_json(c.new_flow)}});
  Json j = {
      {"version", 1},
      {"old", side_json(l.old_label, l.old_commit)},
      {"new", side_json(l.new_label, l.new_commit)},
      {"summary",
       {{"opened", r.opened()},
        {"closed", r.closed()},
        {"targets", r.targets.size()},
        {"added", r.targets_with(TargetDiff::Status::Added)},
        {"removed", r.targets_with(TargetDiff::Status::Removed)},
        {"retargeted", r.targets_with(TargetDiff::Status::Retargeted)},
        {"no_packet_change", r.text_only.size()}}},
      {"targets", targets},
      {"environments", {{"added", strings(r.envs_added)}, {"removed", strings(r.envs_removed)}}},
      {"no_packet_change", text}};
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string render_diff_sarif(const DiffResult& r, const DiffLabels& l) {
  struct SarifRule {
    const char *id, *name, *text, *level;
  };
  static const SarifRule rules[] = {
      {"diff-opened", "PacketsOpened", "The change lets these packets through", "warning"},
      {"diff-closed", "PacketsClosed", "The change no longer lets these packets through", "note"},
      {"diff-target", "TargetChanged", "A target was added, removed or retargeted", "note"},
      {"diff-text", "NoPacketChange", "A flow or service changed only in its text", "note"},
  };
  Json rj = Json::array();
  for (const SarifRule& x : rules)
    rj.push_back({{"id", x.id},
                  {"name", x.name},
                  {"shortDescription", {{"text", x.text}}},
                  {"defaultConfiguration", {{"level", x.level}}}});
  auto location = [](const std::string& file, uint32_t line, uint32_t col) {
    return Json{{"physicalLocation",
                 {{"artifactLocation", {{"uri", uri(file)}}},
                  {"region",
                   {{"startLine", std::max<uint32_t>(line, 1)},
                    {"startColumn", std::max<uint32_t>(col, 1)}}}}}};
  };
  auto result = [&](int rule, const std::string& text, const Json& loc) {
    return Json{{"ruleId", rules[rule].id},
                {"ruleIndex", rule},
                {"level", rules[rule].level},
                {"message", {{"text", text}}},
                {"locations", Json::array({loc})}};
  };
  Json results = Json::array();
  for (const TargetDiff& t : r.targets) {
    if (t.status == TargetDiff::Status::Added || t.status == TargetDiff::Status::Removed ||
        t.status == TargetDiff::Status::Retargeted) {
      std::string text = "target '" + t.name + "' " + status_name(t.status);
      for (const std::string& s : t.retargeted)
        text += "; " + s;
      bool gone = t.status == TargetDiff::Status::Removed;
      results.push_back(result(
          2, text, location(gone ? t.old_file : t.new_file, gone ? t.old_line : t.new_line, 1)));
    }
    for (const DiffRegion& d : t.regions) {
      std::string text = "target '" + t.name + "' (" + chain_name(d.chain) +
                         "): " + (d.opened ? "opened " : "closed ") + d.region.str() +
                         "; witness: " + d.witness.str() + "; old: " + flow_text(d.old_flow) +
                         "; new: " + flow_text(d.new_flow);
      // The new side's flow where there is one (the allow that opens, the deny that closes),
      // else the old side's allow that was removed or narrowed.
      const std::optional<DiffFlow>& f = d.new_flow ? d.new_flow : d.old_flow;
      Json loc = f ? location(f->file, f->line, f->col) : location(t.new_file, t.new_line, 1);
      results.push_back(result(d.opened ? 0 : 1, text, loc));
    }
  }
  for (const TextChange& c : r.text_only) {
    const DiffFlow& f = c.new_flow ? *c.new_flow : *c.old_flow;
    results.push_back(
        result(3, c.kind + " '" + c.name + "': " + change_text(c) + " (no packet change)",
               location(f.file, f.line, f.col)));
  }
  Json driver = {{"name", "portolan"}, {"version", kPortolanVersion}, {"rules", rj}};
  Json run = Json::object();
  run["tool"] = {{"driver", driver}};
  run["properties"] = {{"old", side(l.old_label, l.old_commit)},
                       {"new", side(l.new_label, l.new_commit)}};
  run["results"] = results;
  Json doc = Json::object();
  doc["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json";
  doc["version"] = "2.1.0";
  doc["runs"] = Json::array({run});
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string render_diff_markdown(const DiffResult& r, const DiffLabels& l) {
  std::ostringstream out;
  out << "### Portolan diff: " << md_code(side(l.old_label, l.old_commit)) << " → "
      << md_code(side(l.new_label, l.new_commit)) << "\n\n"
      << "**" << md_escape(summary_line(r)) << "**\n\n";
  out << "| target | env | status | opened | closed |\n|---|---|---|---:|---:|\n";
  for (const TargetDiff& t : r.targets)
    out << "| " << md_code(t.name) << " | " << md_code(t.env) << " | " << status_name(t.status)
        << " | " << t.opened() << " | " << t.closed() << " |\n";
  size_t total = r.opened() + r.closed();
  bool fold = total > 10;
  for (const TargetDiff& t : r.targets) {
    if (t.regions.empty() && t.retargeted.empty())
      continue;
    out << "\n#### " << md_code(t.name) << " ("
        << md_escape(t.new_desc.empty() ? t.old_desc : t.new_desc) << ")\n\n";
    for (const std::string& s : t.retargeted)
      out << "- retargeted " << md_escape(s) << "\n";
    if (t.regions.empty())
      continue;
    if (!t.retargeted.empty())
      out << "\n";
    if (fold)
      out << "<details><summary>" << t.opened() << " opened, " << t.closed()
          << " closed</summary>\n\n";
    out << "| change | chain | region | witness | old | new |\n|---|---|---|---|---|---|\n";
    for (const DiffRegion& d : t.regions)
      out << "| " << (d.opened ? "**opened**" : "closed") << " | " << chain_name(d.chain) << " | "
          << md_code(d.region.str()) << " | " << md_code(d.witness.str()) << " | "
          << md_flow(d.old_flow) << " | " << md_flow(d.new_flow) << " |\n";
    if (fold)
      out << "\n</details>\n";
  }
  if (!r.envs_added.empty() || !r.envs_removed.empty()) {
    out << "\n";
    for (const std::string& e : r.envs_added)
      out << "- environment " << md_code(e) << " added\n";
    for (const std::string& e : r.envs_removed)
      out << "- environment " << md_code(e) << " removed\n";
  }
  if (!r.text_only.empty()) {
    bool long_list = r.text_only.size() > 10;
    out << "\n";
    if (long_list)
      out << "<details><summary>" << r.text_only.size() << " with no packet change</summary>\n\n";
    else
      out << "No packet change:\n\n";
    for (const TextChange& c : r.text_only) {
      const DiffFlow& f = c.new_flow ? *c.new_flow : *c.old_flow;
      out << "- " << md_code(where(f)) << " " << c.kind << " " << md_escape(c.name) << ": "
          << md_escape(change_text(c)) << "\n";
    }
    if (long_list)
      out << "\n</details>\n";
  }
  return out.str();
}

} // namespace portolan
