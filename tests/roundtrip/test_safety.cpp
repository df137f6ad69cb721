// "Never more permissive than the policy" (issue 10): one test per defect found by the review,
// each failing on the code before its fix. The vendor's own checkers (nft -c -f,
// iptables-restore --test) read what can be checked here.
#include "helpers.h"
#include "iptables_reader.h"
#include "nft_reader.h"
#include "pf_reader.h"
#include "project.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

/// One policy and manifest in a scratch folder; builds targets by name.
struct Case {
  test::TempDir dir;
  std::unique_ptr<Project> p;
  Case(const std::string& policy, const std::string& manifest) {
    p = Project::open(write_generated(dir.path, policy, manifest));
  }
  struct Out {
    std::vector<OutputFile> files;
    std::string codes;
    RuleSet rs;
  };
  Out build(const std::string& target) const {
    Out o;
    Diagnostics d;
    o.files = p->build(p->target(target), d, &o.rs);
    d.normalize();
    o.codes = test::codes(d);
    return o;
  }
  std::string text(const std::string& target, size_t i = 0) const {
    auto o = build(target);
    REQUIRE_MESSAGE(o.codes.find("unrealizable") == std::string::npos, o.codes);
    REQUIRE(o.files.size() > i);
    return o.files[i].content;
  }
};

/// A [[targets]] block.
std::string target(const std::string& name, const std::string& backend, const std::string& scope,
                   const std::string& extra = "") {
  return "[[targets]]\nname = \"" + name + "\"\nbackend = \"" + backend + "\"\n" + scope +
         "\noutput = \"" + name + "\"\n" + extra;
}

/// Runs a vendor checker on `text`; true when it accepts it. Skips (true) when not root.
bool vendor_accepts(const std::string& cmd, const std::string& text, std::string* log = nullptr) {
  test::TempDir d;
  auto f = d.write("cfg", text);
  std::string out = (d.path / "out").string();
  int rc = std::system((cmd + " " + f.string() + " >" + out + " 2>&1").c_str());
  if (log) {
    std::ifstream in(out);
    *log = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return rc == 0;
}

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

} // namespace

TEST_CASE("iptables: protocol 0 and ICMP type 255 are refused, never printed as wildcards") {
  // iptables reads `-p 0` as every protocol and `--icmp-type 255` as any ICMP type (iptables(8):
  // "The number zero is equivalent to all"; the kernel's icmp_type_code_match treats 0xFF as
  // any). Printing them would let TCP/22 or echo requests through a flow meant for neither.
  for (const char* svc : {"proto 0", "icmp type 255", "icmp type 255 code 0"}) {
    CAPTURE(svc);
    Case c(std::string("zone a; zone b; role c in a; role h in b; service s = ") + svc +
               ";\nflow c -> h via s;\n",
           "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = \"192.0.2.0/24\"\n"
           "h = [\"198.51.100.1\", \"2001:db8::1\"]\n" +
               target("ih", "iptables", "host = \"h\"") +
               target("ip", "iptables", "between = [\"a\", \"b\"]") +
               target("nh", "nftables", "host = \"h\""));
    for (const char* t : {"ih", "ip"}) {
      auto o = c.build(t);
      CHECK(o.codes == "unrealizable@2:1");
      for (const auto& f : o.files) {
        CHECK(!contains(f.content, " -p 0 "));
        CHECK(!contains(f.content, "--icmp-type 255"));
      }
    }
    // nftables compares the values exactly: no wildcard, no error.
    CHECK(c.build("nh").codes == "");
  }
  // ICMPv6 type 255 is exact in ip6tables (icmp6_type_code_match has no wildcard).
  Case c6("zone a; zone b; role c in a; role h in b; service s = icmpv6 type 255;\n"
          "flow c -> h via s;\n",
          "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = \"2001:db8:1::/64\"\n"
          "h = \"2001:db8::1\"\n" +
              target("ih", "iptables", "host = \"h\""));
  CHECK(c6.build("ih").codes == "");
  CHECK(contains(c6.text("ih", 1), "--icmpv6-type 255"));
}

namespace {

/// The nftables host target `n` read back must equal what the engine allows, chain by chain.
void same_as_engine(const Case& c, const std::string& t) {
  auto o = c.build(t);
  REQUIRE_MESSAGE(o.codes.find("unrealizable") == std::string::npos, o.codes);
  ChainPackets got;
  if (c.p->target(t).backend == "nftables") {
    got = read_nft(o.files.at(0).content).allowed;
  } else {
    IptRead r;
    read_iptables(o.files.at(0).content, Family::V4, r);
    read_iptables(o.files.at(1).content, Family::V6, r);
    got = r.allowed;
  }
  TargetPackets want = c.p->expected(c.p->target(t));
  for (Chain ch : o.rs.chains) {
    CAPTURE(chain_name(ch));
    REQUIRE(got.count(ch) == 1);
    PacketSet w = want.of(ch);
    if (o.rs.icmpv6_nd && ch != Chain::Forward)
      w = w.unite(nd_plumbing()); // the documented host plumbing, input and output only
    CHECK_MESSAGE(got.at(ch) == w, t << ": " << difference(got.at(ch), w));
  }
}

} // namespace

TEST_CASE("names: endpoints that mangle alike keep distinct sets (nftables, pf, asa)") {
  // Lower-casing, '.' -> '_' and "_2" numbering gave roles Ab, ab, ab_2 (and interface web.srv
  // beside roles web_srv, web_srv_2) one set name: nft merged the sets, each role got the
  // other's addresses.
  Case c("zone a; zone b; role Ab in a; role ab in a; role ab_2 in a; role web_srv in a;\n"
         "role web_srv_2 in a; role web in b { interface srv in b; }\nrole h in b;\n"
         "service s = tcp 22;\n"
         "flow f1: Ab -> h via s; flow f2: ab -> web.srv via s; flow f3: ab_2 -> h via s;\n"
         "flow f4: web_srv -> web.srv via s; flow f5: web_srv_2 -> h via s;\n"
         "flow f6: web.srv -> ab via s;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nAb = \"192.0.2.1\"\n"
         "ab = \"192.0.2.2\"\nab_2 = \"192.0.2.3\"\nweb_srv = \"192.0.2.4\"\n"
         "web_srv_2 = \"192.0.2.5\"\n\"web.srv\" = \"198.51.100.7\"\nweb = \"198.51.100.8\"\n"
         "h = \"198.51.100.1\"\n" +
             target("n", "nftables", "between = [\"a\", \"b\"]") +
             target("i", "iptables", "between = [\"a\", \"b\"]") +
             target("p", "pf", "between = [\"a\", \"b\"]") +
             target("x", "asa", "between = [\"a\", \"b\"]"));
  auto o = c.build("n");
  std::set<std::string> names;
  for (const AddrSet& s : o.rs.sets)
    CHECK_MESSAGE(names.insert(s.name).second, "set name " << s.name << " used twice");
  CHECK(o.rs.sets.size() == 7);
  same_as_engine(c, "n");
  std::string log;
  CHECK_MESSAGE(vendor_accepts("nft -c -f", o.files.at(0).content, &log), log);
}

TEST_CASE("state: explicit ICMP errors and other untracked ICMP types reach the rules") {
  // Conntrack marks an ICMP error without its connection (and every ICMP type it cannot track)
  // invalid; `ct state invalid drop` before the rules dropped `icmp type 3 code 4` although
  // the policy allows it. The readers model conntrack's classification.
  Case c("zone a; zone b; role c in a; role h in b;\n"
         "service frag = icmp type 3 code 4, icmpv6 type 2;\nservice all_icmp = icmp, icmpv6;\n"
         "service ts_reply = icmp type 14;\n"
         "flow f1: c -> h via frag; flow f2: h -> c via all_icmp; flow f3: c -> h via ts_reply;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = [\"192.0.2.0/24\", "
         "\"2001:db8:1::/64\"]\nh = [\"198.51.100.1\", \"2001:db8::1\"]\n" +
             target("nh", "nftables", "host = \"h\"") + target("ih", "iptables", "host = \"h\"") +
             target("np", "nftables", "between = [\"a\", \"b\"]") +
             target("ip", "iptables", "between = [\"a\", \"b\"]"));
  for (const char* t : {"nh", "ih", "np", "ip"}) {
    CAPTURE(t);
    same_as_engine(c, t);
  }
}

TEST_CASE("state: only replies and related packets pass by state") {
  // `ct state established,related accept` first let a connection the reloaded policy no
  // longer allows keep passing both ways. Original-direction packets must meet the rules.
  Case c("zone a; zone b; role c in a; role h in b; service s = tcp 22;\nflow c -> h via s;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = \"192.0.2.0/24\"\n"
         "h = \"198.51.100.1\"\n" +
             target("nh", "nftables", "host = \"h\"") + target("ih", "iptables", "host = \"h\""));
  std::string nft = c.text("nh");
  CHECK(!contains(nft, "ct state established,related accept"));
  CHECK(contains(nft, "ct direction reply ct state established accept"));
  for (size_t i : {0, 1}) {
    std::string ipt = c.text("ih", i);
    CHECK(!contains(ipt, "RELATED,ESTABLISHED"));
    CHECK(contains(ipt, "--ctstate ESTABLISHED --ctdir REPLY -j ACCEPT"));
  }
}

TEST_CASE("names: long names stay within every vendor limit (nft -c, iptables-restore --test)") {
  const std::string role(200, 'r'), longer(300, 'q');
  Case c("zone a; zone b; role " + role + " in a; role " + longer +
             " in a; role h in b { interface " + role +
             " in b; }\n"
             "service s = tcp 22;\nflow f: " +
             role + " -> h." + role + " via s;\nflow g: " + longer + " -> h via s;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\n" + role + " = \"192.0.2.1\"\n" +
             longer + " = \"192.0.2.2\"\n\"h." + role + "\" = \"198.51.100.2\"\n" +
             "h = \"198.51.100.1\"\n" +
             target("n " + std::string(150, 'n'), "nftables", "host = \"h\"") +
             target("i " + std::string(150, 'i'), "iptables", "host = \"h\"") +
             target("p " + std::string(150, 'p'), "pf", "host = \"h\"") +
             target("w " + std::string(250, 'w'), "windows", "host = \"h\"") +
             target("t", "nftables", "host = \"h\"",
                    "[targets.options]\ntable = \"" + std::string(256, 't') + "\"\n"));
  std::string log;
  auto n = c.build("n " + std::string(150, 'n'));
  CHECK(n.codes == "");
  CHECK_MESSAGE(vendor_accepts("nft -c -f", n.files.at(0).content, &log), log);
  same_as_engine(c, "n " + std::string(150, 'n'));
  auto i = c.build("i " + std::string(150, 'i'));
  CHECK(i.codes == "");
  CHECK_MESSAGE(vendor_accepts("iptables-restore --test --noflush", i.files.at(0).content, &log),
                log);
  CHECK_MESSAGE(vendor_accepts("ip6tables-restore --test --noflush", i.files.at(1).content, &log),
                log);
  same_as_engine(c, "i " + std::string(150, 'i'));
  // pf: table names at most 31 bytes (PF_TABLE_NAME_SIZE), anchor component 63, all distinct.
  std::string pf = c.text("p " + std::string(150, 'p'));
  std::set<std::string> tables;
  for (size_t pos = pf.find("\ntable <"); pos != std::string::npos;
       pos = pf.find("\ntable <", pos + 1)) {
    std::string name = pf.substr(pos + 8, pf.find('>', pos) - pos - 8);
    CHECK_MESSAGE(name.size() <= 31, name);
    CHECK(tables.insert(name).second);
  }
  CHECK(tables.size() == 4); // the two long roles, h's interface, h
  PfRead r = read_pf(pf);
  CHECK(r.tables == 4);
  // Windows: DisplayName at most 255 characters, the group at most 200.
  std::string ps = c.text("w " + std::string(250, 'w'));
  auto g = ps.find("\n$Group = '");
  REQUIRE(g != std::string::npos);
  CHECK(ps.find('\'', g + 11) - g - 11 <= 200);
  for (size_t pos = ps.find("-DisplayName '"); pos != std::string::npos;
       pos = ps.find("-DisplayName '", pos + 1))
    CHECK(ps.find('\'', pos + 14) - pos - 14 <= 255);
  // nftables: a table name over 255 bytes is refused at the option.
  CHECK(contains(c.build("t").codes, "manifest@"));
}

TEST_CASE("iptables: a target owns its chains only, and never the built-in policies") {
  // The perimeter file flushed the filter table and left INPUT and OUTPUT at ACCEPT: applying
  // it opened the firewall's own SSH. Now it declares only its own chains and jumps to them.
  Case c("zone a; zone b; role c in a; role h in b; service s = tcp 22;\nflow c -> h via s;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = \"192.0.2.0/24\"\n"
         "h = \"198.51.100.1\"\n" +
             target("web host", "iptables", "host = \"h\"") +
             target("web_host", "iptables", "host = \"h\"") +
             target("edge", "iptables", "between = [\"a\", \"b\"]"));
  std::set<std::string> chains_of_all;
  for (const char* t : {"web host", "web_host", "edge"}) {
    CAPTURE(t);
    for (size_t f : {0, 1}) {
      std::string text = c.text(t, f);
      std::istringstream in(text);
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line == "*filter" || line == "COMMIT")
          continue;
        if (line[0] == ':') {
          // Only its own chains, with no policy; never a built-in chain.
          std::string name = line.substr(1, line.find(' ') - 1);
          CHECK_MESSAGE(name.rfind("PTL-", 0) == 0, line);
          CHECK(name.size() <= 28);
          CHECK(contains(line, " - [0:0]"));
          if (f == 0)
            CHECK_MESSAGE(chains_of_all.insert(name).second, name << " shared by two targets");
          continue;
        }
        bool own = line.rfind("-A PTL-", 0) == 0;
        bool jump = line.rfind("-I INPUT 1 -j PTL-", 0) == 0 ||
                    line.rfind("-I FORWARD 1 -j PTL-", 0) == 0 ||
                    line.rfind("-I OUTPUT 1 -j PTL-", 0) == 0;
        CHECK_MESSAGE((own || jump), line);
        if (std::string(t) == "edge")
          CHECK_MESSAGE(!contains(line, "INPUT"),
                        "a perimeter touches the firewall's input: " << line);
      }
      std::string log;
      CHECK_MESSAGE(vendor_accepts(f == 0 ? "iptables-restore --test --noflush"
                                          : "ip6tables-restore --test --noflush",
                                   text, &log),
                    log);
    }
    same_as_engine(c, t);
  }
}

namespace {

/// Every name an ASA file defines or clears (ACLs and object-groups).
std::set<std::string> asa_names(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> w;
    for (std::string x; ls >> x;)
      w.push_back(x);
    if (w.size() >= 3 && w[0] == "object-group")
      out.insert(w[2]);
    if (w.size() >= 2 && w[0] == "access-list")
      out.insert(w[1]);
  }
  return out;
}

} // namespace

TEST_CASE("asa: two targets for one device share no name; names fit 64 characters") {
  // Three zones need two `between` targets; both cleared `dmz_access_in` and the second's
  // object-groups added members to the first's.
  const std::string lng(120, 'w');
  Case c("zone outside; zone dmz; zone inside;\nrole web in dmz; role " + lng +
             " in dmz; role lan in inside;\nrole net in outside;\n"
             "service http = tcp 80, tcp 8080; service alt = tcp 81, 82, 83;\n"
             "flow a: net -> web via http, alt; flow b: lan -> web via http, alt;\n"
             "flow c: net -> " +
             lng + " via http;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nweb = \"192.0.2.10\"\n" + lng +
             " = \"192.0.2.11\"\nlan = \"10.0.0.0/24\"\nnet = \"203.0.113.0/24\"\n" +
             target("Edge Outer", "asa", "between = [\"outside\", \"dmz\"]") +
             target("edge_inner", "asa", "between = [\"inside\", \"dmz\"]"));
  auto a = asa_names(c.text("Edge Outer")), b = asa_names(c.text("edge_inner"));
  CHECK(!a.empty());
  CHECK(!b.empty());
  for (const auto& n : a) {
    CHECK_MESSAGE(!b.count(n), n << " is in both targets' files");
    CHECK_MESSAGE(n.size() <= 64, n);
  }
  for (const auto& n : b)
    CHECK_MESSAGE(n.size() <= 64, n);
}

TEST_CASE("windows: group names per target never collide; remote management is warned about") {
  // `web host` and `web_host` both got group `Portolan web_host`: one script deleted the
  // other's rules.
  Case c("zone a; zone b; role c in a; role h in b; service s = tcp 22; service rdp = tcp 3389;\n"
         "flow c -> h via s;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = \"192.0.2.0/24\"\n"
         "h = \"198.51.100.1\"\n" +
             target("web host", "windows", "host = \"h\"") +
             target("web_host", "windows", "host = \"h\"") +
             target("Web_host", "windows", "host = \"h\"") +
             target("open", "windows", "host = \"h\"", "[targets.options]\nexclusive = false\n"));
  std::set<std::string> groups;
  for (const char* t : {"web host", "web_host", "Web_host"}) {
    auto o = c.build(t);
    REQUIRE(o.files.size() == 1);
    const std::string& text = o.files[0].content;
    auto pos = text.find("\n$Group = '");
    REQUIRE(pos != std::string::npos);
    std::string g = text.substr(pos + 11, text.find('\'', pos + 11) - pos - 11);
    std::string folded = g;
    for (char& ch : folded)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    CHECK_MESSAGE(groups.insert(folded).second, t << ": group " << g << " already used");
    CHECK(g.size() <= 200);
    // No flow for RDP or WinRM: a warning with a stable code, and the header says it.
    CHECK(o.codes.rfind("no-remote-management@", 0) == 0);
    CHECK(contains(text, "REMOTE MANAGEMENT"));
    CHECK(contains(text, "THIS POLICY HAS NONE"));
  }
  CHECK(c.build("open").codes == ""); // exclusive = false keeps Windows' own rules

  Case r(
      "zone a; zone b; role c in a; role h in b; service rdp = tcp 3389;\nflow c -> h via rdp;\n",
      "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = \"192.0.2.0/24\"\n"
      "h = \"198.51.100.1\"\n" +
          target("w", "windows", "host = \"h\""));
  auto o = r.build("w");
  CHECK(o.codes == "");
  CHECK(contains(o.files.at(0).content, "this policy has one."));
}

TEST_CASE("pf: an anchor that owns its part; host ND is never forwarded") {
  // The perimeter file passed `in quick ... to self` (SSH and SNMP on the firewall open to
  // the Internet) and set global options; the host file's ND pass had no direction and came
  // before the forwarding block, so ICMPv6 133-136 between any addresses were forwarded.
  Case c("zone a; zone b; role c in a; role h in b; role world in b; service s = tcp 22;\n"
         "flow c -> world via s;\nflow c -> h via s;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = [\"192.0.2.0/24\", "
         "\"2001:db8:1::/64\"]\nh = [\"198.51.100.1\", \"2001:db8::1\"]\nworld = \"any\"\n" +
             target("ph", "pf", "host = \"h\"") + target("pp", "pf", "between = [\"a\", \"b\"]"));
  for (const char* t : {"ph", "pp"}) {
    CAPTURE(t);
    std::string text = c.text(t);
    CHECK(!contains(text, "\nset "));  // options are the main ruleset's
    CHECK(!contains(text, "to self")); // never a pass to the firewall's own addresses
    CHECK(!contains(text, "to { self"));
    CHECK(contains(text, "pfctl -a \"portolan/" + std::string(t) + "\""));
    // Read back with pf's semantics: forwarded packets are exactly the policy's (none on a
    // host: no ND either).
    PfRead r = read_pf(text);
    TargetPackets want = c.p->expected(c.p->target(t));
    REQUIRE(r.allowed.count(Chain::Forward));
    CHECK_MESSAGE(r.allowed.at(Chain::Forward) == want.of(Chain::Forward),
                  difference(r.allowed.at(Chain::Forward), want.of(Chain::Forward)));
  }
  // The perimeter's every pass/block of policy traffic is outbound and for forwarded packets.
  std::string pp = c.text("pp");
  std::istringstream in(pp);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("pass ", 0) == 0 || line.rfind("block ", 0) == 0)
      CHECK_MESSAGE((contains(line, " received-on any") ||
                     line == "pass in quick from any to ! <portolan.self> keep state"),
                    line);
}

TEST_CASE("aws: security group names are unique across targets and fit 255 characters") {
  // Names are unique per VPC. `web host` and `web'host` both made `portolan-web host-h`
  // (the quote became a space), and long names were cut to the same 255 characters.
  const std::string lng(300, 'x');
  Case c("zone a; zone b; role c in a; role h in b; service s = tcp 22;\nflow c -> h via s;\n",
         "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = \"192.0.2.0/24\"\n"
         "h = \"198.51.100.1\"\n" +
             target("web host", "aws", "host = \"h\"") + target("web'host", "aws", "host = \"h\"") +
             target(lng + "1", "aws", "host = \"h\"") + target(lng + "2", "aws", "host = \"h\""));
  std::set<std::string> names;
  for (const std::string& t :
       {std::string("web host"), std::string("web'host"), lng + "1", lng + "2"}) {
    std::string text = c.text(t);
    auto pos = text.find("\"name\": \"");
    REQUIRE(pos != std::string::npos);
    std::string n = text.substr(pos + 9, text.find('"', pos + 9) - pos - 9);
    CHECK(n.size() <= 255);
    CHECK_MESSAGE(names.insert(n).second, t.substr(0, 20) << ": group name " << n << " reused");
  }
}

TEST_CASE("nftables/iptables: IPv6 extension-header protocols are refused, IPv4 ones kept") {
  // Linux finds the transport protocol by stepping over hop-by-hop, routing, fragment, AH and
  // destination options: `meta l4proto 51` / `ip6tables -p 51` never match an IPv6 AH packet,
  // so a deny of AH would not drop it (and an allow would silently match nothing).
  for (const char* p : {"0", "43", "44", "51", "60"}) {
    CAPTURE(p);
    Case c(
        std::string("zone a; zone b; role c in a; role h in b; role h4 in b;\n"
                    "service s = proto ") +
            p + ";\nflow deny d: c -> h via s;\nflow f: c -> h4 via s;\n",
        "policies = [\"gen.policy\"]\n[environments.e.bind]\nc = [\"192.0.2.0/24\", "
        "\"2001:db8:1::/64\"]\nh = [\"198.51.100.1\", \"2001:db8::1\"]\nh4 = \"198.51.100.2\"\n" +
            target("n", "nftables", "between = [\"a\", \"b\"]") +
            target("i", "iptables", "between = [\"a\", \"b\"]"));
    CHECK(c.build("n").codes == "unrealizable@3:1");
    std::string want_i =
        std::string(p) == "0" ? "unrealizable@3:1 unrealizable@4:1" : "unrealizable@3:1";
    CHECK(c.build("i").codes == want_i);
  }
}
