// portolan doc and graph: the shipped policy as a port table (Markdown, HTML) and a picture;
// import of doc's own output gives back an equivalent policy (same flows, same packets in
// every target); text never injects into Markdown, HTML or DOT.
#include "backend.h"
#include "project.h"
#include "reader_common.h"
#include "tables/doc.h"
#include "tables/graph.h"
#include "tables/import.h"
#include "tables/protocol.h"
#include "tables/table.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

using namespace portolan;
using namespace portolan::tables;
namespace fs = std::filesystem;

namespace {

const fs::path kRoot = PORTOLAN_SOURCE_DIR;

std::string import_string(const std::string& name, const std::string& text, size_t* not_read) {
  SourceManager sm;
  Diagnostics d;
  uint32_t id = sm.add(name, text);
  ImportResult r = import_document(sm, id, RolesMap{}, d);
  REQUIRE(r.ok);
  if (not_read)
    *not_read = r.summary.rows_not_read;
  return r.policy;
}

/// The flows as comparable text: what a flow means, without names of services or locations.
std::vector<std::string> flow_meanings(const Policy& p) {
  std::vector<std::string> out;
  for (const Flow& f : p.flows) {
    std::string s = (f.action == Action::Deny ? "deny " : "") + f.group + ": " + f.src.str() +
                    (f.bidirectional ? " <-> " : " -> ") + f.dst.str() + " |";
    for (const ServiceRef& r : f.services) {
      const Service* svc = p.service_of(r);
      REQUIRE(svc);
      s += " [" + svc->label + "] " + specs_policy_text(svc->specs);
    }
    s += " | " + f.note + " | " + (f.when ? f.when->str() : "") + " | " +
         (f.expires ? f.expires->str() : "") + " | " + (f.required ? "required" : "");
    for (const auto& t : f.tags)
      s += " #" + t;
    out.push_back(s);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// doc -> import -> load with the same manifest: same flows, and the same packets per target.
void check_round_trip(const fs::path& manifest_path, DocFormat format) {
  auto orig = roundtrip::Project::open(manifest_path);
  std::string doc = render_doc(orig->loaded.policy, nullptr, std::nullopt, format);
  CHECK(doc == render_doc(orig->loaded.policy, nullptr, std::nullopt, format)); // deterministic
  size_t not_read = 99;
  std::string policy =
      import_string(format == DocFormat::Html ? "doc.html" : "doc.md", doc, &not_read);
  CHECK(not_read == 0);
  test::TempDir dir;
  std::string manifest = *read_file(manifest_path);
  std::string name = orig->manifest->policies.at(0);
  // The manifest names one policy file; the import replaces it (and what it imported).
  REQUIRE(orig->manifest->policies.size() == 1);
  dir.write(name, policy);
  auto back = roundtrip::Project::open(dir.write("m.toml", manifest));
  REQUIRE_MESSAGE(!back->diags.has_errors(), policy); // the session validated the manifest
  CHECK(flow_meanings(orig->loaded.policy) == flow_meanings(back->loaded.policy));
  CHECK(orig->loaded.policy.roles.size() == back->loaded.policy.roles.size());
  for (const Role& r : orig->loaded.policy.roles) {
    const Role* b = back->loaded.policy.find_role(r.name);
    REQUIRE_MESSAGE(b, r.name);
    CHECK(b->zone == r.zone);
    CHECK(b->desc == r.desc);
    CHECK(b->interfaces.size() == r.interfaces.size());
  }
  int compared = 0;
  for (const Target& t : orig->manifest->targets) {
    TargetPackets a = orig->expected(t);
    TargetPackets b = back->expected(back->target(t.name));
    for (Chain c : {Chain::Input, Chain::Output, Chain::Forward}) {
      CHECK_MESSAGE(a.of(c) == b.of(c), t.name << " (" << chain_name(c)
                                               << "): " << roundtrip::difference(b.of(c), a.of(c)));
      compared += a.of(c).is_empty() ? 0 : 1;
    }
  }
  CHECK(compared > 0);
}

struct Loaded {
  SourceManager sm;
  Diagnostics diags;
  LoadResult lr;
};

std::unique_ptr<Loaded> load_text(const std::string& text) {
  auto l = std::make_unique<Loaded>();
  test::TempDir dir;
  auto p = dir.write("p.policy", text);
  l->lr = load_policy({p}, l->sm, l->diags);
  REQUIRE(l->lr.ok);
  return l;
}

bool have_dot() {
  return std::system("command -v dot >/dev/null 2>&1") == 0;
}

} // namespace

TEST_CASE("doc: the shipped policy in Markdown and HTML") {
  auto p = roundtrip::Project::open(kRoot / "policies/lync2013-public-im.toml");
  std::string md = render_doc(p->loaded.policy, nullptr, std::nullopt, DocFormat::Markdown);
  CHECK(md.rfind("# Lync Server 2013: port summary, public IM connectivity\n", 0) == 0);
  CHECK(md.find("\n## access\n") != std::string::npos);
  CHECK(md.find("\n## av\n") != std::string::npos);
  CHECK(md.find("| av/RTP/TCP/50000-59999 | Access Edge external interface (`edge.access`) | "
                "Windows Live Messenger clients (`msn_client`) | A/V media (RTP over TCP) towards "
                "Windows Live Messenger users | when public\\_im\\_av; expires 2013-03-15; tags "
                "messenger |\n") != std::string::npos);
  std::string html = render_doc(p->loaded.policy, nullptr, std::nullopt, DocFormat::Html);
  CHECK(html.rfind("<!DOCTYPE html>\n", 0) == 0);
  size_t tables = 0;
  for (size_t k = html.find("<table>"); k != std::string::npos; k = html.find("<table>", k + 1))
    ++tables;
  CHECK(tables == 4); // roles, features, access, av
  CHECK(html.find("<td>access/SIP(MTLS)/TCP/5061</td>") != std::string::npos);

  // With an environment: the bound addresses and what is in force.
  const Environment& lab = p->manifest->environments.at("lab");
  std::string today = render_doc(p->loaded.policy, &lab, lab.today, DocFormat::Markdown);
  CHECK(today.find("| `edge.access` | Access Edge external interface | perimeter | "
                   "198.51.100.10, 2001:db8:1::10 |") != std::string::npos);
  CHECK(today.find("| no: expired 2013-03-15 |") != std::string::npos);
  CHECK(today.find("In force (lab)") != std::string::npos);
  std::string today_html = render_doc(p->loaded.policy, &lab, lab.today, DocFormat::Html);
  CHECK(today_html.find("<tr class=\"off\">") != std::string::npos);
}

TEST_CASE("doc: import of doc's output gives back an equivalent policy") {
  for (DocFormat f : {DocFormat::Markdown, DocFormat::Html}) {
    CAPTURE(f == DocFormat::Html ? "html" : "md");
    check_round_trip(kRoot / "policies/lync2013-public-im.toml", f);
    // 35 flows: denies, ranges, lists, ICMP, ESP, two-way flows, IPv6.
    check_round_trip(kRoot / "tests/golden/enterprise/enterprise.toml", f);
    // An imported catalogue, features, a deny inside an allow, `any`, source ports.
    check_round_trip(kRoot / "tests/golden/features/features.toml", f);
  }
}

TEST_CASE("doc: hostile text stays text in Markdown, HTML and back in the policy") {
  auto l = load_text(
      "zone z \"<b>zone</b>\";\n"
      "role a \"A | B <script>alert(1)</script> & \\\"q\\\" `x` *y* _z_ \\\\ end\" in z;\n"
      "role b \"B (`c`)\" in z;\n"
      "service s \"HT/TP; x|y\" = tcp 80;\n"
      "flow g: a -> b via s \"note | with <img src=x onerror=alert(1)> and \\n newline\";\n");
  const Policy& p = l->lr.policy;
  std::string html = render_doc(p, nullptr, std::nullopt, DocFormat::Html);
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;") !=
        std::string::npos);
  std::string md = render_doc(p, nullptr, std::nullopt, DocFormat::Markdown);
  CHECK(md.find("<script>") == std::string::npos);
  CHECK(md.find("A \\| B &lt;script&gt;") != std::string::npos);
  // Every row keeps its five cells, and the import reads the same text back.
  for (DocFormat f : {DocFormat::Markdown, DocFormat::Html}) {
    size_t not_read = 99;
    std::string back = import_string("d", render_doc(p, nullptr, std::nullopt, f), &not_read);
    CHECK(not_read == 0);
    auto l2 = load_text(back);
    const Policy& q = l2->lr.policy;
    REQUIRE(q.flows.size() == 1);
    CHECK(q.find_role("a")->desc == p.find_role("a")->desc);
    CHECK(q.find_role("b")->desc == p.find_role("b")->desc);
    CHECK(q.flows[0].src.str() == "a");
    CHECK(q.flows[0].dst.str() == "b");
    CHECK(q.flows[0].note == "note | with <img src=x onerror=alert(1)> and newline");
    CHECK(q.services[0].label == "HT/TP, x|y"); // ';' separates entries, so doc writes ','
  }
}

TEST_CASE("graph: the shipped policy as DOT, styled by what is in force") {
  auto p = roundtrip::Project::open(kRoot / "policies/lync2013-public-im.toml");
  std::string dot = render_dot(p->loaded.policy, nullptr, std::nullopt);
  CHECK(dot == render_dot(p->loaded.policy, nullptr, std::nullopt));
  CHECK(dot.rfind("digraph portolan {\n", 0) == 0);
  CHECK(dot.find("label=\"zone internet\\nThe public Internet\"") != std::string::npos);
  CHECK(dot.find("label=\"role edge\\nEdge Server\"") != std::string::npos);
  CHECK(dot.find("\"pic_partner\" -> \"edge.access\" [label=\"access: sip_mtls\\ntcp 5061\", "
                 "dir=both];") != std::string::npos);
  CHECK(dot.find("style=dashed") == std::string::npos); // no date: nothing expired
  const Environment& lab = p->manifest->environments.at("lab");
  std::string today = render_dot(p->loaded.policy, &lab, lab.today);
  CHECK(today.find("\"edge.access\" -> \"msn_client\" [label=\"av: rtp_tcp\\ntcp "
                   "50000-59999\\nexpired 2013-03-15\", style=dashed") != std::string::npos);

  auto l = load_text("zone z; role a \"x\\\"y\\\\z\" in z; role b; service s = tcp 1;\n"
                     "flow deny a -> b via s; flow a -> b via s when f; feature f;\n");
  std::string d2 = render_dot(l->lr.policy, nullptr, std::nullopt);
  CHECK(d2.find("\"a\" [label=\"a\\nx\\\"y\\\\z\"];") != std::string::npos);
  CHECK(d2.find("\"a\" -> \"b\" [label=\"deny s\\ntcp 1\", color=\"#c62828\"") !=
        std::string::npos);
  CHECK(d2.find("when f") != std::string::npos);
  CHECK(d2.find("  \"b\" [label=\"b\"];\n") != std::string::npos); // no zone: outside clusters
}

TEST_CASE("graph: dot -Tsvg renders the shipped policy and hostile labels") {
  REQUIRE_MESSAGE(have_dot(), "graphviz's dot is needed (dev.sh installs Debian graphviz)");
  for (const char* policy :
       {"", "zone z \"</text><script>\"; role a \"\\\\N \\\\G \\\" ]; x -> y\" in z; role b; "
            "service s = tcp 1; flow a <-> b via s \"a\\nb\";\n"}) {
    Session s;
    GraphOptions o;
    test::TempDir dir;
    if (*policy)
      o.input.files.push_back(dir.write("p.policy", policy));
    else
      o.input.manifest = kRoot / "policies/lync2013-public-im.toml";
    o.format = GraphFormat::Svg;
    std::ostringstream out, err;
    CHECK(run_graph(o, s, out, err) == 0);
    CHECK(err.str().empty());
    CHECK(out.str().find("<svg") != std::string::npos);
    CHECK(out.str().find("<script>") == std::string::npos);
  }
  GraphOptions missing;
  missing.input.manifest = kRoot / "policies/lync2013-public-im.toml";
  missing.format = GraphFormat::Svg;
  missing.dot_program = "portolan-no-such-dot";
  Session s;
  std::ostringstream out, err;
  CHECK(run_graph(missing, s, out, err) == 2);
  CHECK(err.str().find("is not installed") != std::string::npos);
  CHECK(out.str().empty());
}
