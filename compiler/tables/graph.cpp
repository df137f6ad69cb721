#include "tables/graph.h"

#include "tables/protocol.h"
#include "tables/table.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

namespace portolan::tables {

namespace {

/// Escaped content of a DOT string, without the quotes.
std::string dot_escape(std::string_view s) {
  std::string out;
  for (char c : plain_slashes(comment_text(s, 200))) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts)
    s += (s.empty() ? "" : "\\n") + dot_escape(p);
  return s;
}

} // namespace

std::string dot_quote(std::string_view s) {
  std::string out = "\"";
  std::string t(s);
  size_t p = 0;
  std::vector<std::string> lines;
  while (true) {
    size_t e = t.find('\n', p);
    lines.push_back(t.substr(p, e == std::string::npos ? std::string::npos : e - p));
    if (e == std::string::npos)
      break;
    p = e + 1;
  }
  return out + join_lines(lines) + "\"";
}

std::string render_dot(const Policy& p, const Environment* env, const std::optional<Date>& today) {
  std::ostringstream o;
  std::string title = "Flows";
  for (const PolicyHeader& h : p.headers)
    title = h.title.empty() ? h.name : h.title;
  std::vector<std::string> title_lines{title};
  if (env)
    title_lines.push_back("environment " + env->name + (today ? ", as of " + today->str() : ""));
  else if (today)
    title_lines.push_back("as of " + today->str());
  o << "digraph portolan {\n";
  o << "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=13, labelloc=t, nodesep=0.4, "
       "ranksep=1.6, label=\""
    << join_lines(title_lines) << "\"];\n";
  o << "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", color=\"#4a5560\", "
       "fontname=\"Helvetica\", fontsize=11];\n";
  o << "  edge [fontname=\"Helvetica\", fontsize=10, color=\"#2f6fb0\", fontcolor=\"#1f3f66\"];\n";

  // Nodes: each interface, each role without interfaces, and a role with interfaces where a
  // flow names the whole role.
  std::set<std::string> whole_roles;
  for (const Flow& f : p.flows)
    for (const Endpoint* side : {&f.src, &f.dst})
      for (const Endpoint* e : side->concrete())
        if (e->iface.empty())
          whole_roles.insert(e->str());
  struct Node {
    std::string id, role, label_name, desc;
  };
  std::map<std::string, std::vector<Node>> by_zone; // zone -> nodes ("" = no zone)
  std::vector<std::string> zone_order;
  auto place = [&](const std::string& zone, Node n) {
    if (!by_zone.count(zone))
      zone_order.push_back(zone);
    by_zone[zone].push_back(std::move(n));
  };
  for (const Role& r : p.roles) {
    if (r.interfaces.empty() || whole_roles.count(r.name))
      place(r.zone, Node{r.name, r.name, r.name, r.desc});
    for (const Interface& i : r.interfaces)
      place(i.zone.empty() ? r.zone : i.zone,
            Node{r.name + "." + i.name, r.name, r.name + "." + i.name, i.desc});
  }
  // Zones in declaration order, then undeclared ones, then nodes without a zone.
  std::vector<std::string> zones;
  for (const Zone& z : p.zones)
    if (by_zone.count(z.name))
      zones.push_back(z.name);
  for (const std::string& z : zone_order)
    if (!z.empty() && std::find(zones.begin(), zones.end(), z) == zones.end())
      zones.push_back(z);
  auto node_line = [&](const Node& n, const char* indent) {
    std::vector<std::string> l{n.label_name};
    if (!n.desc.empty())
      l.push_back(n.desc);
    o << indent << dot_quote(n.id) << " [label=\"" << join_lines(l) << "\"];\n";
  };
  int cluster = 0;
  for (const std::string& z : zones) {
    const Zone* zd = nullptr;
    for (const Zone& x : p.zones)
      if (x.name == z)
        zd = &x;
    std::vector<std::string> l{"zone " + z};
    if (zd && !zd->desc.empty())
      l.push_back(zd->desc);
    o << "  subgraph cluster_" << cluster++ << " {\n";
    o << "    label=\"" << join_lines(l)
      << "\"; style=\"rounded,filled\"; fillcolor=\"#f2f5f9\"; "
         "color=\"#9aa5b1\";\n";
    // Interfaces of one role together, inside the zone.
    std::vector<std::string> roles_here;
    for (const Node& n : by_zone[z])
      if (std::find(roles_here.begin(), roles_here.end(), n.role) == roles_here.end())
        roles_here.push_back(n.role);
    for (const std::string& rn : roles_here) {
      const Role* r = p.find_role(rn);
      bool has_ifaces = r && !r->interfaces.empty();
      if (has_ifaces) {
        std::vector<std::string> rl{"role " + rn};
        if (!r->desc.empty())
          rl.push_back(r->desc);
        o << "    subgraph cluster_" << cluster++ << " {\n";
        o << "      label=\"" << join_lines(rl)
          << "\"; style=\"rounded,filled\"; fillcolor=\"#e4ebf3\"; color=\"#7d8a99\";\n";
      }
      for (const Node& n : by_zone[z])
        if (n.role == rn)
          node_line(n, has_ifaces ? "      " : "    ");
      if (has_ifaces)
        o << "    }\n";
    }
    o << "  }\n";
  }
  if (by_zone.count(""))
    for (const Node& n : by_zone[""])
      node_line(n, "  ");

  for (const Flow& f : p.flows) {
    std::string names, specs;
    for (const ServiceRef& ref : f.services) {
      const Service* s = p.service_of(ref);
      names += (names.empty() ? "" : ", ") + ref.name;
      if (s)
        specs += (specs.empty() ? "" : "; ") + specs_policy_text(s->specs);
    }
    std::vector<std::string> label{(f.action == Action::Deny ? "deny " : "") +
                                   (f.group.empty() ? "" : f.group + ": ") + names};
    label.push_back(specs);
    bool off = false, expired = false;
    if (f.when) {
      if (env && !f.when->holds(env->features)) {
        off = true;
        label.push_back(f.when->op == Condition::Op::Feature ? "feature " + f.when->str() + " off"
                                                             : "off: not (" + f.when->str() + ")");
      } else if (!env) {
        label.push_back("when " + f.when->str());
      }
    }
    if (f.expires) {
      expired = today && *today >= *f.expires;
      label.push_back((expired ? "expired " : "expires ") + f.expires->str());
    }
    // A group's flow: one edge per pair of members, each with the flow's label.
    for (const Endpoint* se : f.src.concrete())
      for (const Endpoint* de : f.dst.concrete()) {
        o << "  " << dot_quote(se->str()) << " -> " << dot_quote(de->str()) << " [label=\""
          << join_lines(label) << "\"";
        if (f.bidirectional)
          o << ", dir=both";
        if (f.action == Action::Deny)
          o << ", color=\"#c62828\", fontcolor=\"#c62828\", penwidth=2, arrowhead=tee"
            << (f.bidirectional ? ", arrowtail=tee" : "");
        if (expired)
          o << ", style=dashed, color=\"#9e9e9e\", fontcolor=\"#757575\"";
        else if (off)
          o << ", style=dotted, color=\"#9e9e9e\", fontcolor=\"#757575\"";
        o << "];\n";
      }
  }
  o << "}\n";
  return o.str();
}

int run_graph(const GraphOptions& opts, Session& s, std::ostream& out, std::ostream& err) {
  LoadedInput in = load_input(opts.input, s);
  if (!in.usage_error.empty())
    err << "portolan: " << in.usage_error << "\n";
  if (in.exit_code)
    return in.exit_code;
  std::string dot = render_dot(s.loaded.policy, in.env, in.today);
  if (opts.format == GraphFormat::Dot) {
    out << dot;
    return 0;
  }
  // SVG: dot reads a temporary file and writes to a pipe we read.
  char tmpl[] = "/tmp/portolan-graph-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) {
    err << "portolan: cannot create a temporary file for dot\n";
    return 2;
  }
  bool wrote = ::write(fd, dot.data(), dot.size()) == static_cast<ssize_t>(dot.size());
  ::close(fd);
  if (!wrote) {
    ::unlink(tmpl);
    err << "portolan: cannot write a temporary file for dot\n";
    return 2;
  }
  int pipefd[2];
  if (::pipe(pipefd) != 0) {
    ::unlink(tmpl);
    err << "portolan: cannot run dot\n";
    return 2;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    std::string prog = opts.dot_program;
    execlp(prog.c_str(), prog.c_str(), "-Tsvg", tmpl, static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(pipefd[1]);
  std::string svg;
  char buf[8192];
  ssize_t n;
  while (pid > 0 && (n = ::read(pipefd[0], buf, sizeof buf)) > 0)
    svg.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  if (pid > 0)
    ::waitpid(pid, &status, 0);
  ::unlink(tmpl);
  if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
      err << "portolan: graphviz's '" << opts.dot_program
          << "' is not installed (Debian: graphviz); use --format dot\n";
    else
      err << "portolan: '" << opts.dot_program << " -Tsvg' failed\n";
    return 2;
  }
  out << svg;
  return 0;
}

} // namespace portolan::tables
