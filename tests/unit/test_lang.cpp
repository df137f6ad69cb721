// Issue 12 items 1, 2, 3, 7, 8: endpoint groups and lists, condition expressions, multi-role
// hosts, port tokens as vendor pages print them, UTF-8 text in backends.
#include "helpers.h"

#include "common/text.h"
#include "fmt.h"
#include "load.h"
#include "session.h"

#include <doctest/doctest.h>

#include <set>

using namespace portolan;
using portolan::test::codes;
using portolan::test::parse;

namespace {

LoadResult load(const std::string& text, Diagnostics& d, SourceManager& sm) {
  return load_policy_text("t.policy", text, sm, d);
}

} // namespace

TEST_CASE("lang: port tokens as vendor pages print them are refused with the fix") {
  struct Case {
    const char* text;
    const char* message; ///< "" when the text is fine
  };
  const Case cases[] = {
      {"service s = tcp 1,024-65,535;",
       "1,024-65,535 looks like a number with a thousands separator; write 1024-65535"},
      {"service s = tcp 5,061;", "5,061 looks like a number with a thousands separator; write "
                                 "5061 (for a list of ports, put a space after each comma: 5, "
                                 "061)"},
      {"service s = udp 50,000-59,999;",
       "50,000-59,999 looks like a number with a thousands separator; write 50000-59999"},
      {"service s = udp 50.000-59.999;",
       "50.000-59.999 looks like a number with '.' as thousands separator; write 50000-59999"},
      {"service s = udp 67/68;",
       "'67/68' is not a port; for each of these ports write '67, 68', for a range '67-68'"},
      {"service s = tcp/443;", "'tcp/443' is written 'tcp 443' here"},
      {"service s = TCP/UDP 3478;",
       "'TCP/UDP' is not a protocol; for TCP and UDP on the same ports write 'tcp+udp PORTS'"},
      {"service s = tcp 0443;", "port 0443 has a leading zero; write 443"},
      {"service s = tcp 80, 443;", ""},
      {"service s = tcp 80,443;", ""}, // 80443 is no port: the list it always was
      {"service s = tcp 80-90,443, udp 53;", ""},
      {"service s = tcp 1024-65535 sport 1,024-65,535;",
       "1,024-65,535 looks like a number with a thousands separator; write 1024-65535"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto p = parse(c.text);
    if (!*c.message) {
      CHECK(codes(p.diags).empty());
      continue;
    }
    REQUIRE(p.diags.all().size() == 1);
    CHECK(p.diags.all()[0].code == "port-token");
    CHECK(p.diags.all()[0].message == c.message);
  }
}

TEST_CASE("lang: tcp+udp is TCP and UDP on the same ports") {
  auto p = parse("service stun = tcp+udp 3478 sport 1024-65535;");
  REQUIRE(codes(p.diags).empty());
  REQUIRE(p.file.services.size() == 1);
  const auto& specs = p.file.services[0].specs;
  REQUIRE(specs.size() == 2);
  CHECK(std::get<PortMatch>(specs[0]).proto == kProtoTcp);
  CHECK(std::get<PortMatch>(specs[1]).proto == kProtoUdp);
  for (const auto& s : specs) {
    CHECK(std::get<PortMatch>(s).dports == std::vector<PortRange>{{3478, 3478}});
    CHECK(std::get<PortMatch>(s).sports == std::vector<PortRange>{{1024, 65535}});
  }
}

TEST_CASE("lang: conditions bind not over and over or") {
  auto p = parse("feature a; feature b; feature c;\n"
                 "flow x -> y via s when a or b and not c;\n"
                 "flow x -> y via s when (a or b) and c;\n"
                 "flow x -> y via s when not (a and b) or c { required; }\n");
  REQUIRE(codes(p.diags).empty());
  REQUIRE(p.file.flows.size() == 3);
  REQUIRE(p.file.flows[0].when);
  CHECK(p.file.flows[0].when->str() == "a or b and not c");
  CHECK(p.file.flows[0].when->op == Condition::Op::Or);
  CHECK(p.file.flows[1].when->str() == "(a or b) and c");
  CHECK(p.file.flows[2].when->str() == "not (a and b) or c");
  std::set<std::string> on{"a"};
  CHECK(p.file.flows[0].when->holds(on));
  CHECK(!p.file.flows[1].when->holds(on));
  on = {"b", "c"};
  CHECK(!p.file.flows[0].when->holds(on));
  CHECK(p.file.flows[1].when->holds(on));
  on = {"a", "b"};
  CHECK(!p.file.flows[2].when->holds(on));
  CHECK(p.file.flows[2].required);
}

TEST_CASE("lang: groups and lists resolve to their members, each once") {
  SourceManager sm;
  Diagnostics d;
  auto r = load(R"P(
role director; role fe { interface internal; interface ext; } role edge;
service s = tcp 5061;
group pool = fe.internal, director;
group servers = pool, fe.internal, director;
flow servers -> edge via s;
flow {director, pool} -> any via s;
expect allow {pool, edge} -> edge via s;
)P",
                d, sm);
  REQUIRE(r.ok);
  const Policy& p = r.policy;
  const Flow& f = p.flows[0];
  CHECK(f.src.kind == Endpoint::Kind::Group);
  CHECK(f.src.str() == "servers");
  auto names = [](const Endpoint& e) {
    std::string s;
    for (const Endpoint* m : e.concrete())
      s += (s.empty() ? "" : " ") + m->str();
    return s;
  };
  CHECK(names(f.src) == "fe.internal director");
  CHECK(p.flows[1].src.str() == "{director, pool}");
  CHECK(names(p.flows[1].src) == "director fe.internal");
  CHECK(p.flows[1].dst.is_any());
  CHECK(names(p.expectations[0].src.endpoint) == "fe.internal director edge");
  CHECK(p.flows[0].summary() == "servers -> edge via s");
}

TEST_CASE("lang: group mistakes are errors with the place and a suggestion") {
  struct Case {
    const char* text;
    const char* expected; ///< code@line:col
  };
  const Case cases[] = {
      {"role a; role b;\ngroup g = a, h;\nflow g -> b via s;\nservice s = tcp 1;",
       "unknown-role@2:14"},
      {"role a; role b;\ngroup g = a, k;\ngroup k = g;\nflow g -> b via s;\nservice s = tcp 1;",
       "group-cycle@3:11"},
      {"role a; role b;\ngroup a = b;\nflow a -> b via s;\nservice s = tcp 1;",
       "duplicate-definition@2:7"},
      {"role a; role b;\ngroup g = a;\nflow g.x -> b via s;\nservice s = tcp 1;",
       "unknown-interface@3:8"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    SourceManager sm;
    Diagnostics d;
    load(c.text, d, sm);
    CHECK(codes(d) == c.expected);
  }
}

TEST_CASE("text: UTF-8 is kept where the vendor allows it, and never cut inside a sequence") {
  CHECK(utf8_text("Port\xc3\xbc"
                  "bersicht \xe2\x80\x93 \xc3\x84rger") == "Port\xc3\xbc"
                                                           "bersicht \xe2\x80\x93 \xc3\x84rger");
  CHECK(ascii_text("Port\xc3\xbc"
                   "bersicht \xe2\x80\x93 \xc3\x84rger") == "Portuebersicht - Aerger");
  CHECK(ascii_text("caf\xc3\xa9 \xe2\x98\x83") == "cafe ?");
  // Line separators, bidi overrides and C1 controls never survive.
  CHECK(utf8_text("a\xe2\x80\xa8"
                  "b\xe2\x80\xae"
                  "c\xc2\x85"
                  "d") == "a b c d");
  // Not UTF-8: one '?' per bad byte.
  CHECK(utf8_text("a\xff"
                  "b") == "a?b");
  // Every cut lands on a code point boundary: the result is valid UTF-8 of at most max bytes.
  const std::string label = "\xc3\x84\xc3\x84\xc3\x84\xe2\x80\x93\xf0\x9f\x94\xa5xyz";
  for (size_t max = 3; max <= label.size() + 1; ++max) {
    CAPTURE(max);
    std::string s = utf8_text(label, "", '\'', max);
    CHECK(s.size() <= max);
    CHECK(utf8_text(s) == s); // unchanged: nothing invalid left
    for (size_t i = 0; i < s.size(); ++i)
      CHECK(s[i] != '?');
  }
}

namespace {

/// A group whose members sit in three zones, a host with two roles, and `any`.
struct LangWorld : Session {
  portolan::test::TempDir dir;
  LangWorld() {
    dir.write("p.policy", R"P(
zone internet; zone perimeter; zone corp;
role partner in internet;
role edge in perimeter;
role fe in corp;
role cms in corp;
service sip = tcp 5061;
service smb = tcp 445;
group peers = partner, edge, fe;
flow peers -> edge via sip;
flow fe -> cms via smb;
flow any -> edge via sip;
)P");
    auto m = dir.write("m.toml", R"(
policies = ["p.policy"]
[environments.e.bind]
partner = "198.51.100.7"
edge = "203.0.113.10"
fe = "192.0.2.30"
cms = "192.0.2.31"
[[targets]]
name = "perimeter"
backend = "nftables"
between = ["internet", "perimeter"]
output = "p.nft"
[[targets]]
name = "machine"
backend = "nftables"
host = ["fe", "cms"]
output = "m.nft"
)");
    REQUIRE(open(m));
    REQUIRE(loaded.ok);
  }
  RuleSet lower(const std::string& target) {
    for (const Target& t : manifest->targets)
      if (t.name == target)
        return compile_target(t, Want{false, false}).rules;
    FAIL("no target");
    return {};
  }
};

std::string rules_of(const RuleSet& rs) {
  std::string s;
  for (const Rule& r : rs.rules)
    s += std::string(chain_name(r.chain)) + " " +
         (r.src.any() ? std::string("any") : rs.sets[r.src.set].endpoint) + ">" +
         (r.dst.any() ? std::string("any") : rs.sets[r.dst.set].endpoint) + " " + r.origin.label +
         "\n";
  return s;
}

} // namespace

TEST_CASE("lang: each target takes the members of a group it enforces") {
  LangWorld w;
  // The perimeter between internet and perimeter takes the member in internet; edge -> edge
  // stays inside one zone and fe is in corp. `any` crosses from the other side.
  CHECK(rules_of(w.lower("perimeter")) == "forward partner>edge peers -> edge via sip\n"
                                          "forward any>edge any -> edge via sip\n");
  // The machine holding fe and cms: fe's member of the group, and fe -> cms both ways out and
  // in (it leaves one role and reaches the other on the same machine).
  CHECK(rules_of(w.lower("machine")) == "output fe>edge peers -> edge via sip\n"
                                        "input fe>cms fe -> cms via smb\n"
                                        "output fe>cms fe -> cms via smb\n");
}

TEST_CASE("fmt: endpoint lists and conditions in the canonical layout") {
  SourceManager sm;
  Diagnostics d;
  auto out = format_policy(sm, "t.policy",
                           "flow x: {  a ,b } -> any via s when not ( f or g ) and h {\n"
                           "required;\n}\n",
                           d);
  REQUIRE(out);
  CHECK(*out == "flow x: {a, b} -> any via s when not (f or g) and h {\n  required;\n}\n");
  // A port as a page prints it is left alone: a space after its comma would make it a list.
  CHECK(!format_policy(sm, "u.policy", "service s = tcp 1,024-65,535;\n", d));
}
