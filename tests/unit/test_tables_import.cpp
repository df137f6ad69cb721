// portolan import: the three seed tables (pt-BR, es, it) import, with tests/import's roles map
// and fill, to policies that allow exactly the packets the shipped policy allows, per target and
// chain; every protocol-cell form reads as it should; every broken cell of the corpus becomes a
// comment with its expected reason; malformed documents never crash.
#include "backend.h"
#include "project.h"
#include "reader_common.h"
#include "tables/import.h"
#include "tables/protocol.h"
#include "tables/table.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <sstream>

using namespace portolan;
using namespace portolan::tables;
namespace fs = std::filesystem;

namespace {

const fs::path kRoot = PORTOLAN_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  auto t = read_file(p);
  REQUIRE_MESSAGE(t.has_value(), p.string());
  return *t;
}

struct Imported {
  SourceManager sm;
  Diagnostics diags;
  ImportResult result;
};

std::unique_ptr<Imported> import_text(const std::string& name, const std::string& text,
                                      const RolesMap& map = {}) {
  auto r = std::make_unique<Imported>();
  uint32_t id = r->sm.add(name, text);
  r->result = import_document(r->sm, id, map, r->diags);
  return r;
}

RolesMap seed_roles() {
  SourceManager sm;
  Diagnostics d;
  auto m = read_roles_map(kRoot / "tests/import/lync2013-roles.toml", sm, d);
  REQUIRE(m.has_value());
  return *m;
}

/// Applies tests/import/lync2013-fill.txt: each line replaces one "// TODO(tag)" line of the
/// declarations ("top") or of the flow of one group through one service.
std::string fill_todos(const std::string& draft, const fs::path& fill) {
  std::vector<std::string> lines;
  {
    std::istringstream in(draft);
    for (std::string l; std::getline(in, l);)
      lines.push_back(l);
  }
  std::istringstream in(slurp(fill));
  int applied = 0;
  for (std::string l; std::getline(in, l);) {
    if (l.empty() || l[0] == '#')
      continue;
    size_t a = l.find(" | "), b = l.find(" | ", a + 3);
    REQUIRE(b != std::string::npos);
    std::string sel = l.substr(0, a), tag = l.substr(a + 3, b - a - 3), repl = l.substr(b + 3);
    size_t from = 0, to = lines.size();
    if (sel != "top") {
      std::string group = sel.substr(0, sel.find(' ')), svc = sel.substr(sel.find(' ') + 1);
      from = lines.size();
      for (size_t i = 0; i < lines.size(); ++i) {
        const std::string& x = lines[i];
        size_t via = x.find(" via ");
        if (x.rfind("flow " + group + ":", 0) == 0 && via != std::string::npos) {
          std::string list = x.substr(via + 5) + ",";
          if (list.find(svc + ",") == 0 || list.find(" " + svc + ",") != std::string::npos) {
            from = i;
            break;
          }
        }
      }
      REQUIRE_MESSAGE(from < lines.size(), "no flow " << sel);
      to = from;
      while (to < lines.size() && lines[to] != "}")
        ++to;
    }
    bool done = false;
    for (size_t i = from; i < to && !done; ++i) {
      std::string t = lines[i].substr(lines[i].find_first_not_of(' ') == std::string::npos
                                          ? 0
                                          : lines[i].find_first_not_of(' '));
      if (t.rfind("// TODO(" + tag + ")", 0) == 0) {
        lines[i] = (sel == "top" ? "" : "  ") + repl;
        done = true;
      }
    }
    REQUIRE_MESSAGE(done, "no TODO(" << tag << ") for " << sel);
    ++applied;
  }
  CHECK(applied >= 4);
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

/// Loads `policy` with the shipped manifest (same targets and environments) from a scratch folder.
std::unique_ptr<roundtrip::Project>
with_shipped_manifest(const test::TempDir& dir, const std::string& policy, bool validate = true) {
  dir.write("lync2013-public-im.policy", policy);
  auto m = dir.write("lync2013-public-im.toml", slurp(kRoot / "policies/lync2013-public-im.toml"));
  auto p = roundtrip::Project::open(m);
  if (validate) // the session validated the manifest against the imported policy
    REQUIRE_MESSAGE(!p->diags.has_errors(),
                    "the imported policy does not fit the shipped manifest");
  return p;
}

/// Packet sets of every target, every chain, equal? Fills `why` with a witness when not.
bool packet_equal(const roundtrip::Project& a, const roundtrip::Project& b, std::string& why,
                  int* compared = nullptr) {
  for (const Target& t : a.manifest->targets) {
    TargetPackets pa = a.expected(t);
    TargetPackets pb = b.expected(b.target(t.name));
    for (Chain c : {Chain::Input, Chain::Output, Chain::Forward}) {
      if (!(pa.of(c) == pb.of(c))) {
        why = t.name + " (" + chain_name(c) + "): " + roundtrip::difference(pb.of(c), pa.of(c));
        return false;
      }
      if (compared && !pa.of(c).is_empty())
        ++*compared;
    }
  }
  return true;
}

std::vector<fs::path> seed_files() {
  fs::path dir = kRoot / "../shared/seeds";
  std::vector<fs::path> out;
  REQUIRE_MESSAGE(fs::is_directory(dir), "the seed tables are read from " << dir.string());
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".txt")
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("import: each seed table gives the shipped policy's packets, per target and chain") {
  auto shipped = roundtrip::Project::open(kRoot / "policies/lync2013-public-im.toml");
  RolesMap roles = seed_roles();
  auto seeds = seed_files();
  REQUIRE(seeds.size() == 3);
  for (const fs::path& seed : seeds) {
    CAPTURE(seed.filename().string());
    auto im = import_text(seed.filename().string(), slurp(seed), roles);
    REQUIRE(im->result.ok);
    CHECK(im->result.summary.rows_read == 6);
    CHECK(im->result.summary.flows_written == 4);
    CHECK(im->result.summary.rows_not_read == 0);
    CHECK(im->diags.all().empty());
    const std::string& draft = im->result.policy;
    CHECK(draft.find("<->") != std::string::npos);
    CHECK(draft.find("read the ports '50") != std::string::npos); // the thousands separators

    test::TempDir dir;
    auto filled =
        with_shipped_manifest(dir, fill_todos(draft, kRoot / "tests/import/lync2013-fill.txt"));
    std::string why;
    int compared = 0;
    CHECK_MESSAGE(packet_equal(*shipped, *filled, why, &compared), why);
    CHECK(compared >= 10); // not vacuous: every target allows something
    // The fill matters: without the expiry the `lab` (2026) target still lets Messenger in.
    test::TempDir raw_dir;
    auto raw = with_shipped_manifest(raw_dir, draft, false);
    CHECK_FALSE(packet_equal(*shipped, *raw, why));
    CHECK(why.rfind("edge-host-nftables-today", 0) == 0);
  }
}

TEST_CASE("import: without a roles map, names come from the labels and zones are TODO") {
  auto seeds = seed_files();
  auto im = import_text("pt.txt", slurp(seeds[0]));
  REQUIRE(im->result.ok);
  const std::string& p = im->result.policy;
  CHECK(p.find("role servidor_borda \"Servidor de Borda\" {\n  interface acesso \"Interface de "
               "acesso Servidor de Borda\"; // TODO(zone) in ZONE") != std::string::npos);
  CHECK(p.find("role parceiros_conectividade_publica_im \"Parceiros de conectividade pública de "
               "IM\"; // TODO(zone) in ZONE") != std::string::npos);
  CHECK(p.find("flow av: servidor_borda.acesso <-> clientes_live_messenger via stun_msturn") !=
        std::string::npos);
  CHECK(p.find("// TODO(required) required; -- the note says it is required") != std::string::npos);
  CHECK(p.find("// TODO(feature) when FEATURE; -- the note reads as a condition") !=
        std::string::npos);
  // The draft parses and resolves.
  test::TempDir dir;
  auto path = dir.write("d.policy", p);
  SourceManager sm;
  Diagnostics d;
  CHECK(load_policy({path}, sm, d).ok);
}

TEST_CASE("import: header languages en, pt-BR, es, it, de, fr") {
  const char* headers[] = {
      "| Role/Protocol/TCP or UDP/Port | Source IP address | Destination IP address | Notes |",
      "| Função/Protocolo/TCP ou UDP/Porta | Endereço IP de origem | Endereço IP de destino | "
      "Notas |",
      "| Rol/Protocolo/TCP o UDP/Puerto | Dirección IP de origen | Dirección IP de destino | Notas "
      "|",
      "| Ruolo/protocollo/TCP o UDP/porta | Indirizzo IP di origine | Indirizzo IP di destinazione "
      "| Note |",
      "| Rolle/Protokoll/TCP oder UDP/Port | Quell-IP-Adresse | Ziel-IP-Adresse | Hinweise |",
      "| Rôle/Protocole/TCP ou UDP/Port | Adresse IP source | Adresse IP de destination | "
      "Remarques |"};
  for (const char* h : headers) {
    CAPTURE(h);
    std::string doc = std::string(h) + "\n|---|---|---|---|\n" +
                      "| Access/SIP(TLS)/TCP/443 | Clients | Edge Server Access interface | x |\n";
    auto im = import_text("t.md", doc);
    REQUIRE(im->result.ok);
    CHECK(im->result.summary.rows_read == 1);
    CHECK(im->result.policy.find("flow access: clients -> edge_server.access via sip_tls") !=
          std::string::npos);
  }
  // A caption row above the header.
  auto caption = import_text(
      "c.html", "<table><tr><td>Firewall summary</td></tr><tr><th>Protocol</th><th>Source</th>"
                "<th>Destination</th></tr><tr><td>TCP/443</td><td>a</td><td>b</td></tr></table>");
  REQUIRE(caption->result.ok);
  CHECK(caption->result.summary.rows_read == 1);
  CHECK(caption->result.policy.find("// Skipped the row at line 1, above the table's header "
                                    "('Firewall summary').") != std::string::npos);
  auto none = import_text("t.md", "| A | B |\n|---|---|\n| 1 | 2 |\n");
  CHECK_FALSE(none->result.ok);
  CHECK(test::codes(none->diags) == "import-no-table@1:1");
}

TEST_CASE("import: protocol cell forms") {
  struct Case {
    const char* cell;
    const char* group;
    const char* label;
    const char* specs;
    size_t readings;
  };
  const Case cases[] = {
      {"Access/SIP(MTLS)/TCP/5061", "Access", "SIP(MTLS)", "tcp 5061", 0},
      {"A/V/STUN,MSTURN/UDP/3478", "A/V", "STUN,MSTURN", "udp 3478", 0},
      {"A/V/RTP/TCP/50,000-59,999", "A/V", "RTP", "tcp 50000-59999", 1},
      {"A/V/RTP/TCP/50.000-59.999", "A/V", "RTP", "tcp 50000-59999", 1},
      {"A/V/RTP/TCP/50000-59.999", "A/V", "RTP", "tcp 50000-59999", 1},
      {"A/V/RTP/TCP/50 000-59 999", "A/V", "RTP", "tcp 50000-59999", 1},
      {"A/V/RTP/TCP/50000\xE2\x80\x93"
       "59999",
       "A/V", "RTP", "tcp 50000-59999", 0},
      {"DNS/TCP/UDP/53", "", "DNS", "tcp 53, udp 53", 0},
      {"Infra/DNS/TCP+UDP/53", "Infra", "DNS", "tcp 53, udp 53", 0},
      {"DHCP/UDP/67/68", "", "DHCP", "udp 67, 68", 1},
      {"Web/HTTP/TCP/80, 443", "Web", "HTTP", "tcp 80, 443", 0},
      {"Web/HTTP/TCP/5060,5061", "Web", "HTTP", "tcp 5060, 5061", 0},
      {"Web Conferencing/PSOM(TLS)TCP/443", "Web Conferencing", "PSOM(TLS)", "tcp 443", 1},
      {"TCP/443", "", "", "tcp 443", 0},
      {"Ping/ICMP/8", "", "Ping", "icmp type 8", 0},
      {"Ping/ICMPv6/128/0", "", "Ping", "icmpv6 type 128 code 0", 0},
      {"VPN/GRE/proto/47", "VPN", "GRE", "proto 47", 0},
      {"All/everything/any", "All", "everything", "any", 0},
      {"NTP/UDP/123 sport 123", "", "NTP", "udp 123 sport 123", 0},
      {"Web/TCP/any", "", "Web", "tcp", 0},
      {"g/HTTP\xE2\x88\x95S/TCP/443", "g", "HTTP/S", "tcp 443", 0}, // an escaped '/'
  };
  for (const Case& c : cases) {
    CAPTURE(c.cell);
    ProtocolCell pc = parse_protocol_cell(c.cell);
    REQUIRE_MESSAGE(pc.error.empty(), pc.error);
    REQUIRE(pc.entries.size() == 1);
    CHECK(pc.entries[0].group == c.group);
    CHECK(pc.entries[0].label == c.label);
    CHECK(specs_policy_text(pc.entries[0].specs) == c.specs);
    CHECK(pc.entries[0].readings.size() == c.readings);
  }
  // Several entries in one cell.
  ProtocolCell two = parse_protocol_cell("web/HTTP/TCP/80; web/DNS/UDP/53");
  REQUIRE(two.entries.size() == 2);
  CHECK(two.entries[1].label == "DNS");
  // What doc writes, parse reads back.
  std::vector<ServiceSpec> specs{PortMatch{kProtoUdp, {{53, 53}}, {}},
                                 PortMatch{kProtoTcp, {{53, 53}}, {}},
                                 PortMatch{kProtoTcp, {{80, 80}, {8000, 8080}}, {{1024, 65535}}},
                                 IcmpMatch{kProtoIcmp, 3, 4}, ProtoMatch{50}};
  std::string cell = format_protocol_cell("a/b", "x/y; z", specs);
  ProtocolCell back = parse_protocol_cell(cell);
  REQUIRE_MESSAGE(back.error.empty(), back.error);
  std::vector<ServiceSpec> all;
  for (const auto& e : back.entries) {
    CHECK(e.group == "a/b");
    CHECK(e.label == "x/y, z");
    all.insert(all.end(), e.specs.begin(), e.specs.end());
  }
  CHECK(specs_policy_text(all) == specs_policy_text(specs));
}

TEST_CASE("import: the corpus of broken cells, each with its expected comment") {
  // tests/import/broken-cells.md: each row's Notes cell says "expect: REASON".
  std::string text = slurp(kRoot / "tests/import/broken-cells.md");
  auto im = import_text("broken-cells.md", text);
  REQUIRE(im->result.ok);
  std::vector<Table> tables = read_tables(text);
  size_t cases = 0;
  for (const Table& t : tables)
    for (const TableRow& r : t.rows) {
      if (r.header)
        continue;
      std::string notes = plain_slashes(r.cells.size() >= 4 ? r.cells[3] : r.cells.back());
      size_t at = notes.find("expect: ");
      REQUIRE_MESSAGE(at != std::string::npos, "corpus row " << r.line << " has no expectation");
      std::string want = "// line " + std::to_string(r.line) + ": " + notes.substr(at + 8) + "\n";
      CHECK_MESSAGE(im->result.policy.find(want) != std::string::npos,
                    "missing: " << want << "in:\n"
                                << im->result.policy);
      ++cases;
    }
  CHECK(cases >= 15);
  CHECK(im->result.summary.rows_not_read == cases);
  CHECK(im->result.summary.rows_read == 0);
  CHECK(im->diags.count(Severity::Warning) == cases);
}

TEST_CASE("import: text from a table never escapes its string or comment") {
  std::string doc =
      "| Role/Protocol/TCP or UDP/Port | Source | Destination | Notes |\n|---|---|---|---|\n"
      "| x/A\"B\\\\/TCP/1 | Src \" ; flow evil: a -> b via c; // | Dst\\u2028 | n\"; } flow x: a "
      "-> b "
      "via c; \\\\ |\n"
      "| bad/TCP/0 | Src | Dst | line\\\\ break \xE2\x80\xA8 role evil; |\n";
  auto im = import_text("t.md", doc);
  REQUIRE(im->result.ok);
  test::TempDir dir;
  auto path = dir.write("d.policy", im->result.policy);
  SourceManager sm;
  Diagnostics d;
  LoadResult lr = load_policy({path}, sm, d);
  REQUIRE_MESSAGE(lr.ok, im->result.policy);
  CHECK(lr.policy.flows.size() == 1);
  CHECK(lr.policy.roles.size() == 2);
  CHECK(lr.policy.flows[0].note == "n\"; } flow x: a -> b via c; \\");
  CHECK(lr.policy.services.size() == 1);
  CHECK(lr.policy.services[0].label == "A\"B\\");
}

TEST_CASE("import: malformed documents never crash and report what they can") {
  const std::string header = "<table><tr><th>Role/Protocol/TCP or UDP/Port</th><th>Source</th>"
                             "<th>Destination</th><th>Notes</th></tr>";
  const std::string row = "<tr><td>Access/SIP/TCP/5061<td>A<td>B<td>n</tr>";
  struct Case {
    std::string doc;
    bool ok;
    size_t read;
  };
  std::string huge(200000, 'x');
  const Case cases[] = {
      {"", false, 0},
      {"<table></table>", false, 0},
      {"<table>", false, 0},
      {"<table><tr><td>", false, 0},
      {header, true, 0},
      {header + row, true, 1},                    // no </table>: read to the end, with a warning
      {header + row + row + "</table>", true, 2}, // a repeated row: one flow
      {header + "<tr><td>" + huge + "</td><td>A</td><td>B</td></tr></table>", true, 0},
      {header + "<tr><td>Access/SIP/TCP/1</td><td>" + huge + "</td><td>B</td></tr></table>", true,
       0},
      {header + "<tr><td>a<table><tr><td>nested</td></tr></table>/TCP/1</td><td>A</td><td>B</td>"
                "</tr></table>",
       true, 1},
      {header + "<tr><td>Access/SIP/TCP/5061</td><td>A < B</td><td>C &amp; &#x44; &#99999999;"
                "&bogus;</td></tr></table>",
       true, 1},
      {std::string(100000, '<') + header + row, true, 1},
      {"| a | b |\n|---|---|\n" + std::string(50000, '|') + "\n", false, 0},
      {"```\n| Role/Protocol | Source | Destination |\n|---|---|---|\n| TCP/1 | a | b |\n```\n",
       false, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.doc.substr(0, 120));
    auto im = import_text("m.md", c.doc);
    CHECK(im->result.ok == c.ok);
    CHECK(im->result.summary.rows_read == c.read);
    if (c.ok) {
      test::TempDir dir;
      auto path = dir.write("d.policy", im->result.policy);
      SourceManager sm;
      Diagnostics d;
      CHECK_MESSAGE(load_policy({path}, sm, d).ok, im->result.policy);
    }
  }
  // Random bytes around table tags, seeded: nothing throws, every draft parses.
  std::mt19937 rng(14);
  const char* pieces[] = {
      "<table>", "</table>", "<tr>",   "</tr>",       "<td>",     "</td>", "<th>", "|",
      "\n",      "---",      "TCP/",   "UDP/",        "5061",     "-",     ",",    ".",
      "/",       "&#47;",    "\\",     "\"",          "`",        "\xC3",  "\xA9", "\xE2\x80\xA8",
      "<",       ">",        "Source", "Destination", "Protocol", " "};
  for (int i = 0; i < 300; ++i) {
    std::string doc = header;
    int n = static_cast<int>(rng() % 60);
    for (int k = 0; k < n; ++k)
      doc += pieces[rng() % (sizeof pieces / sizeof *pieces)];
    auto im = import_text("r.md", doc);
    if (im->result.ok) {
      test::TempDir dir;
      auto path = dir.write("d.policy", im->result.policy);
      SourceManager sm;
      Diagnostics d;
      CHECK_MESSAGE(load_policy({path}, sm, d).ok, doc << "\n---\n" << im->result.policy);
    }
  }
}

TEST_CASE("import: the roles map is checked") {
  test::TempDir dir;
  struct Case {
    const char* text;
    const char* codes;
  };
  const Case cases[] = {
      {"[roles]\n\"A\" = \"a.b.c\"\n", "roles-map@2:7"},
      {"[roles]\n\"A\" = 3\n", "roles-map@2:7"},
      {"[zones]\n\"a\" = \"not a zone\"\n", "roles-map@2:7"},
      {"[people]\n", "roles-map@1:2"},
      {"[roles\n", "roles-map@1:7"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto p = dir.write("m.toml", c.text);
    SourceManager sm;
    Diagnostics d;
    CHECK_FALSE(read_roles_map(p, sm, d).has_value());
    d.normalize();
    CHECK(test::codes(d) == c.codes);
  }
}
