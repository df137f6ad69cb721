#include "tables/doc.h"

#include "bind.h"
#include "tables/protocol.h"
#include "tables/table.h"

#include <algorithm>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

namespace portolan::tables {

namespace {

/// A cell: text, and optionally a name shown as code ("Edge Server (`edge.access`)").
struct Cell {
  std::string text, code;
  bool entries = false; ///< a protocol cell: in HTML, one entry per line
};

struct DocTable {
  std::string heading;
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> row_class; ///< "deny", "off" or ""
};

std::string md_cell(const Cell& c) {
  std::string s = md_escape(c.text);
  if (!c.code.empty())
    s += (s.empty() ? "`" : " (`") + c.code + (c.text.empty() ? "`" : "`)");
  return s;
}

std::string html_cell(const Cell& c) {
  std::string s = html_escape(c.text);
  if (c.entries) // "a; b" reads back the same: <br> is a space
    for (size_t p = s.find("; "); p != std::string::npos; p = s.find("; ", p + 5))
      s.replace(p, 2, ";<br>");
  if (!c.code.empty())
    s += (s.empty() ? "<code>" : " (<code>") + html_escape(c.code) +
         (c.text.empty() ? "</code>" : "</code>)");
  return s;
}

std::string addresses(const Policy& p, const Environment& env, const Endpoint& e) {
  auto b = bind_endpoint(p, env, e);
  if (!b)
    return "(not bound)";
  if (b->any)
    return "any";
  std::string s;
  for (const auto* list : {&b->v4, &b->v6})
    for (const Prefix& x : *list)
      s += (s.empty() ? "" : ", ") + x.str();
  return s;
}

std::string endpoint_desc(const Policy& p, const Endpoint& e) {
  if (e.kind == Endpoint::Kind::Group)
    if (auto it = p.group_index.find(e.role); it != p.group_index.end())
      return p.groups[it->second].label;
  const Role* r = p.find_role(e.role);
  if (!r)
    return "";
  if (!e.iface.empty())
    if (const Interface* i = r->find_interface(e.iface))
      return i->desc.empty() ? r->desc : i->desc;
  return r->desc;
}

std::string conditions(const Flow& f) {
  std::string s;
  auto add = [&](const std::string& x) { s += (s.empty() ? "" : "; ") + x; };
  if (f.action == Action::Deny)
    add("deny");
  if (f.when)
    add("when " + f.when->str());
  if (f.required)
    add("required");
  if (f.expires)
    add("expires " + f.expires->str());
  if (!f.tags.empty()) {
    std::string t;
    for (const auto& x : f.tags)
      t += (t.empty() ? "" : ", ") + x;
    add("tags " + t);
  }
  return s;
}

std::string in_force(const Flow& f, const Environment& env, const std::optional<Date>& today) {
  if (f.when && !f.when->holds(env.features))
    return f.when->op == Condition::Op::Feature ? "no: feature " + f.when->str() + " is off"
                                                : "no: " + f.when->str() + " does not hold";
  if (f.expires) {
    if (!today)
      return "unknown: no 'today' to judge expiry by";
    if (*today >= *f.expires)
      return "no: expired " + f.expires->str();
  }
  return "yes";
}

} // namespace

std::string render_doc(const Policy& p, const Environment* env, const std::optional<Date>& today,
                       DocFormat format) {
  std::string title = "Port table";
  std::vector<std::string> intro;
  for (const PolicyHeader& h : p.headers) {
    if (!h.title.empty())
      title = h.title;
    std::string line = "Policy `" + h.name + "`.";
    for (const std::string& r : h.references)
      line += " Reference: " + r + ".";
    intro.push_back(line);
  }
  if (env) {
    std::string feats;
    for (const auto& [f, l] : env->features)
      feats += (feats.empty() ? "" : ", ") + f;
    intro.push_back("Environment `" + env->name + "`" +
                    (today ? ", judged as of " + today->str() : std::string()) +
                    (feats.empty() ? ", no features on" : ", features on: " + feats) +
                    ". Addresses are as the manifest binds them.");
  }

  std::vector<DocTable> tables;
  {
    DocTable t;
    t.heading = "Roles and interfaces";
    t.header = {"Role or interface", "Description", "Zone"};
    if (env)
      t.header.push_back("Addresses (" + env->name + ")");
    for (const Role& r : p.roles) {
      std::string desc = r.desc;
      if (r.vip) {
        // A VIP says where the balancer hands its connections on, and with which source.
        std::string nodes;
        for (const Endpoint& n : r.vip->nodes)
          nodes += (nodes.empty() ? "" : ", ") + n.str();
        desc += (desc.empty() ? "" : " ") + std::string("(VIP for ") + nodes +
                (r.vip->balance == Balance::Snat && r.vip->snat_from
                     ? "; source translated to " + r.vip->snat_from->str()
                     : std::string("; source kept")) +
                ")";
      }
      std::vector<Cell> row{{"", r.name}, {desc, ""}, {r.zone, ""}};
      if (env)
        row.push_back({addresses(p, *env, Endpoint::of(r.name)), ""});
      t.rows.push_back(row);
      t.row_class.emplace_back();
      for (const Interface& i : r.interfaces) {
        std::vector<Cell> irow{{"", r.name + "." + i.name}, {i.desc, ""}, {i.zone, ""}};
        if (env)
          irow.push_back({addresses(p, *env, Endpoint::of(r.name, i.name)), ""});
        t.rows.push_back(irow);
        t.row_class.emplace_back();
      }
    }
    tables.push_back(std::move(t));
  }
  if (!p.features.empty()) {
    DocTable t;
    t.heading = "Features";
    t.header = {"Feature", "Description"};
    if (env)
      t.header.push_back("On in " + env->name);
    for (const Feature& f : p.features) {
      std::vector<Cell> row{{"", f.name}, {f.desc, ""}};
      if (env)
        row.push_back({env->features.count(f.name) ? "yes" : "no", ""});
      t.rows.push_back(row);
      t.row_class.emplace_back();
    }
    tables.push_back(std::move(t));
  }
  // One-way flows by (group, source, destination, conditions, services), to find mirrored twins.
  auto twin_key = [&](const Flow& f, bool reversed) {
    std::string k = f.group + "\x1f" + (reversed ? f.dst.str() : f.src.str()) + "\x1f" +
                    (reversed ? f.src.str() : f.dst.str()) + "\x1f" + conditions(f) + "\x1f";
    for (const ServiceRef& r : f.services)
      k += r.name + ",";
    return k;
  };
  std::set<std::string> one_way_keys;
  for (const Flow& f : p.flows)
    if (!f.bidirectional)
      one_way_keys.insert(twin_key(f, false));
  std::vector<std::string> groups;
  std::map<std::string, std::vector<const Flow*>> group_flows;
  for (const Flow& f : p.flows) {
    auto& members = group_flows[f.group];
    if (members.empty())
      groups.push_back(f.group);
    members.push_back(&f);
  }
  for (const std::string& g : groups) {
    DocTable t;
    t.heading = g.empty() ? "Flows without a group" : g;
    t.header = {"Group/Protocol/TCP or UDP/Port", "Source", "Destination", "Notes", "Conditions"};
    if (env) {
      t.header.push_back("Source addresses (" + env->name + ")");
      t.header.push_back("Destination addresses (" + env->name + ")");
      t.header.push_back("In force (" + env->name + ")");
    }
    for (const Flow* fp : group_flows[g]) {
      const Flow& f = *fp;
      std::string proto;
      for (const ServiceRef& ref : f.services) {
        const Service* s = p.service_of(ref);
        if (!s)
          continue;
        proto += (proto.empty() ? "" : "; ") +
                 format_protocol_cell(f.group, s->label.empty() ? s->name : s->label, s->specs);
      }
      std::string cond = conditions(f);
      // A one-way flow with a mirrored twin would read back as one two-way flow: say so.
      if (!f.bidirectional && f.src.str() != f.dst.str() && one_way_keys.count(twin_key(f, true)))
        cond += cond.empty() ? "one-way" : "; one-way";
      std::string force = env ? in_force(f, *env, today) : "";
      std::string cls = f.action == Action::Deny ? "deny" : "";
      if (env && force.rfind("no", 0) == 0)
        cls += cls.empty() ? "off" : " off";
      auto row = [&](const Endpoint& a, const Endpoint& b) {
        std::vector<Cell> r{{proto, "", true},
                            {endpoint_desc(p, a), a.str()},
                            {endpoint_desc(p, b), b.str()},
                            {f.note, ""},
                            {cond, ""}};
        if (env) {
          r.push_back({addresses(p, *env, a), ""});
          r.push_back({addresses(p, *env, b), ""});
          r.push_back({force, ""});
        }
        t.rows.push_back(r);
        t.row_class.push_back(cls);
      };
      row(f.src, f.dst);
      if (f.bidirectional)
        row(f.dst, f.src);
    }
    tables.push_back(std::move(t));
  }

  std::ostringstream o;
  if (format == DocFormat::Markdown) {
    o << "# " << md_escape(title) << "\n";
    for (const std::string& l : intro)
      o << "\n" << l << "\n";
    for (const DocTable& t : tables) {
      o << "\n## " << md_escape(t.heading) << "\n\n|";
      for (const std::string& h : t.header)
        o << " " << md_escape(h) << " |";
      o << "\n|";
      for (size_t i = 0; i < t.header.size(); ++i)
        o << "---|";
      o << "\n";
      for (const auto& r : t.rows) {
        o << "|";
        for (const Cell& c : r) {
          std::string s = md_cell(c);
          o << (s.empty() ? " |" : " " + s + " |");
        }
        o << "\n";
      }
    }
    return o.str();
  }
  auto inline_md = [](const std::string& line) {
    // The intro lines use `code` only.
    std::string out;
    bool code = false;
    for (char c : line) {
      if (c == '`') {
        out += code ? "</code>" : "<code>";
        code = !code;
      } else {
        out += html_escape(std::string(1, c));
      }
    }
    return out;
  };
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
    << html_escape(title) << "</title>\n<style>\n"
    << "body { font-family: system-ui, -apple-system, \"Segoe UI\", sans-serif; margin: 2em; "
       "color: #1f2328; max-width: 90em; }\n"
    << "h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; }\n"
    << "table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }\n"
    << "th, td { border: 1px solid #c8ccd1; padding: .35em .65em; text-align: left; "
       "vertical-align: top; }\n"
    << "th { background: #eef1f5; }\n"
    << "td:first-child { white-space: nowrap; }\n"
    << "tbody tr:nth-child(even) td { background: #f8f9fb; }\n"
    << "code { font-family: ui-monospace, \"DejaVu Sans Mono\", monospace; font-size: 90%; }\n"
    << "tr.deny td { background: #fde8e8 !important; }\n"
    << "tr.off td { color: #8a8f98; text-decoration: line-through; }\n"
    << "</style>\n</head>\n<body>\n<h1>" << html_escape(title) << "</h1>\n";
  for (const std::string& l : intro)
    o << "<p>" << inline_md(l) << "</p>\n";
  for (const DocTable& t : tables) {
    o << "<h2>" << html_escape(t.heading) << "</h2>\n<table>\n<thead>\n<tr>";
    for (const std::string& h : t.header)
      o << "<th>" << html_escape(h) << "</th>";
    o << "</tr>\n</thead>\n<tbody>\n";
    for (size_t i = 0; i < t.rows.size(); ++i) {
      o << (t.row_class[i].empty() ? "<tr>" : "<tr class=\"" + t.row_class[i] + "\">");
      for (const Cell& c : t.rows[i])
        o << "<td>" << html_cell(c) << "</td>";
      o << "</tr>\n";
    }
    o << "</tbody>\n</table>\n";
  }
  o << "</body>\n</html>\n";
  return o.str();
}

int run_doc(const DocOptions& opts, Session& s, std::ostream& out, std::ostream& err) {
  LoadedInput in = load_input(opts.input, s);
  if (!in.usage_error.empty())
    err << "portolan: " << in.usage_error << "\n";
  if (in.exit_code)
    return in.exit_code;
  out << render_doc(s.loaded.policy, in.env, in.today, opts.format);
  return 0;
}

} // namespace portolan::tables
