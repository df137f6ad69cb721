// Round trip for the pf backend: the emitted pf.conf, read back with pf's own evaluation rules
// (pf_reader), must allow exactly the packets the policy allows (the Session's expected packets),
// for the shipped policy, the feature-coverage policy and seeded random policies. Also: what pf
// cannot say is an error at the flow, and hostile policy text stays inert.
#include "helpers.h"
#include "pf_reader.h"
#include "project.h"
#include "random_policy.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>

using namespace portolan;
using namespace portolan::roundtrip;
using portolan::test::TempDir;

namespace {

PfRead read_or_fail(const std::string& text) {
  PfRead r;
  INFO(text);
  REQUIRE_NOTHROW(r = read_pf(text));
  return r;
}

/// Compares every chain the target governs; on a mismatch names a packet on each side.
/// Returns whether anything at all is allowed (so callers can tell a vacuous pass).
int g_refused = 0; ///< random targets refused as unrealizable (drawn on purpose)

bool check_roundtrip(const Project& p, const Target& t, bool allow_refusal = false) {
  CAPTURE(t.name);
  Project::Emitted e = p.emit(t);
  INFO(messages(e.diags));
  if (allow_refusal && only_unrealizable(e.diags)) {
    ++g_refused;
    return false;
  }
  REQUIRE(!e.diags.has_errors());
  PfRead got = read_or_fail(e.text);
  TargetPackets want = p.expected(t);
  bool any = false;
  for (Chain c : e.rs.chains) {
    CAPTURE(chain_name(c));
    REQUIRE(got.allowed.count(c) == 1);
    const PacketSet& g = got.allowed.at(c);
    PacketSet w = want.of(c);
    if (e.rs.icmpv6_nd && c != Chain::Forward)
      w = w.unite(nd_plumbing()); // the documented host plumbing, input and output only
    any = any || !w.is_empty();
    if (!(g == w)) {
      FAIL_CHECK(difference(g, w) << "\n" << e.text);
    }
  }
  return any;
}

std::filesystem::path source(const char* rel) {
  return std::filesystem::path(PORTOLAN_SOURCE_DIR) / rel;
}

/// A small world for focused cases: the given services and flows, a host and a perimeter.
struct Mini {
  TempDir dir;
  std::unique_ptr<Project> p;

  Mini(const std::string& services, const std::string& flows, const std::string& options = "",
       const std::string& policy_name = "p.policy", const std::string& header = "") {
    dir.write(policy_name, header + R"(
zone wan; zone lan;
role peer in wan;
role srv in lan;
)" + services + flows);
    std::string quoted;
    for (char c : policy_name)
      quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    p = Project::open(dir.write("m.toml", R"(policies = [")" + quoted + R"("]
[environments.e]
today = 2026-01-01
[environments.e.bind]
peer = ["192.0.2.0/24", "2001:db8:1::/48"]
srv = ["198.51.100.7", "2001:db8:2::7"]
[[targets]]
name = "host"
backend = "pf"
host = "srv"
output = "h.conf"
)" + options + R"(
[[targets]]
name = "edge"
backend = "pf"
between = ["wan", "lan"]
output = "e.conf"
)"));
  }
};

} // namespace

TEST_CASE("pf: shipped policy targets round-trip") {
  auto p = Project::open(source("policies/lync2013-public-im.toml"));
  int n = 0;
  for (const Target& t : p->manifest->targets)
    if (t.backend == "pf") {
      CHECK(check_roundtrip(*p, t));
      ++n;
    }
  CHECK(n >= 2);
}

TEST_CASE("pf: feature-coverage targets round-trip") {
  auto p = Project::open(source("tests/golden/features/features.toml"));
  int n = 0;
  for (const Target& t : p->manifest->targets)
    if (t.backend == "pf") {
      CHECK(check_roundtrip(*p, t));
      ++n;
    }
  CHECK(n >= 3);
}

TEST_CASE("pf: random policies round-trip") {
  const uint64_t first = 1, count = 120;
  int nonempty = 0, targets = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    CAPTURE(seed);
    test::GenOptions opt;
    opt.backends = {"pf"};
    test::GeneratedPolicy g = test::random_policy(seed, opt);
    TempDir dir;
    auto p = Project::open(write_generated(dir.path, g.policy, g.manifest));
    for (const std::string& name : g.targets) {
      nonempty += check_roundtrip(*p, p->target(name), true);
      ++targets;
    }
  }
  MESSAGE("pf random round trip: " << count << " policies, " << targets << " targets, " << nonempty
                                   << " allowing something, " << g_refused
                                   << " refused as unrealizable");
  CHECK(targets == 2 * static_cast<int>(count));
  CHECK(nonempty > (targets - g_refused) / 2);
}

TEST_CASE("pf: what pf cannot say is an error at the flow, never a wider rule") {
  struct Case {
    const char* service;
    bool error;
  };
  const Case cases[] = {
      {"proto 0", true},              // pfctl refuses proto 0; the kernel would read it as any
      {"icmp type 255", true},        // stored as type+1 in a byte: would wrap to "any type"
      {"icmp type 3 code 255", true}, // likewise for the code
      {"proto 51", true},             // AH: pf filters what AH carries
      {"proto 43", true},             // an IPv6 routing header (the endpoints have IPv6)
      {"icmp type 254 code 254", false},
      {"proto 47", false},
      {"udp 1-65535 sport 53", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.service);
    Mini m(std::string("service s = ") + c.service + ";\n", "flow f: peer -> srv via s;\n");
    for (const char* t : {"host", "edge"}) {
      Project::Emitted e = m.p->emit(m.p->target(t));
      if (c.error) {
        REQUIRE(e.diags.has_errors());
        const Diagnostic& d = e.diags.all().back();
        CHECK(d.code == "unrealizable");
        CHECK(d.loc.line == 6);                           // the flow keyword
        CHECK(e.text.find("label") == std::string::npos); // no policy rule was written
      } else {
        CHECK(check_roundtrip(*m.p, m.p->target(t)));
      }
    }
  }
}

TEST_CASE("pf: rule shapes the language cannot write are rejected, not guessed") {
  Mini m("service s = tcp 80;\n", "flow f: peer -> srv via s;\n");
  auto shape = [&](const char* target, auto edit) {
    Diagnostics d;
    const Target& t = m.p->target(target);
    RuleSet rs = m.p->compile_target(t, Want{false, false}, d).rules;
    REQUIRE(!rs.rules.empty());
    edit(rs.rules.front());
    m.p->emit(t, rs, d);
    return d.has_errors() ? d.all().back().code : std::string();
  };
  CHECK(shape("host", [](Rule& r) { r.l4 = {kProtoIcmp, {}, {}, std::nullopt, 0, "s"}; }) ==
        "unrealizable");                                                    // a code without a type
  CHECK(shape("host", [](Rule& r) { r.l4.proto = 47; }) == "unrealizable"); // ports on GRE
  CHECK(shape("host", [](Rule& r) { r.l4.proto.reset(); }) == "unrealizable");
  CHECK(shape("host", [](Rule& r) { r.l4.icmp_type = 8; }) == "unrealizable"); // tcp + icmp
  CHECK(shape("host", [](Rule& r) { r.l4.dports = {{90, 80}}; }) == "unrealizable");
  CHECK(shape("host", [](Rule& r) { r.chain = Chain::Forward; }) == "unrealizable");
  CHECK(shape("edge", [](Rule& r) { r.chain = Chain::Input; }) == "unrealizable");
  CHECK(shape("host", [](Rule&) {}).empty());
}

TEST_CASE("pf: hostile policy text cannot add a rule, a line or a label") {
  const std::string hostile[] = {
      R"(evil\npass in quick all\n# trailing backslash \\)",
      R"(\"; pass out quick all; $(reboot) `id` -- # \\\npass in all)",
      "caf\xc3\xa9 \xe2\x98\x83 \xe2\x80\xae rtl\\tpass in all",
  };
  for (const std::string& h : hostile) {
    CAPTURE(h);
    const std::string services = "service s = tcp 80, icmp type 8;\n";
    Mini benign(services, "flow f: peer <-> srv via s \"benign\";\n");
    Mini evil(services, "flow f: peer <-> srv via s \"" + h + "\" { note \"" + h + "\"; }\n", "",
              "we\"ird$#\\pass in all.policy",
              "policy x.y \"" + h + "\" { reference \"" + h + "\"; }\n");
    for (const char* t : {"host", "edge"}) {
      CAPTURE(t);
      Project::Emitted a = benign.p->emit(benign.p->target(t));
      Project::Emitted b = evil.p->emit(evil.p->target(t));
      REQUIRE(!b.diags.has_errors());
      CHECK(b.text.find('\\') == std::string::npos);
      PfRead ra = read_or_fail(a.text), rb = read_or_fail(b.text);
      CHECK(ra.rules == rb.rules);
      CHECK(ra.tables == rb.tables);
      for (Chain c : b.rs.chains)
        CHECK(ra.allowed[c] == rb.allowed[c]);
      std::istringstream lines(b.text);
      for (std::string l; std::getline(lines, l);) {
        CAPTURE(l);
        bool comment = l.empty() || l[0] == '#';
        bool statement = l.rfind("set ", 0) == 0 || l.rfind("table <", 0) == 0 ||
                         l.rfind("block", 0) == 0 || l.rfind("pass", 0) == 0;
        CHECK((comment || statement));
        if (!comment) {
          CHECK(l.find("reboot") == std::string::npos);
          CHECK(l.find("evil") == std::string::npos);
          // a label is one quoted string without '$' (pfctl expands label macros)
          auto q = l.find('"');
          if (q != std::string::npos) {
            CHECK(l.find("label \"") + 6 == q);
            CHECK(std::count(l.begin(), l.end(), '"') == 2);
            CHECK(l.find('$') == std::string::npos);
          }
        }
      }
    }
  }
}

TEST_CASE("pf: options and fixed lines") {
  Mini m("service s = tcp 80;\n", "flow f: peer -> srv via s;\n",
         "[targets.options]\nloopback = false\nicmpv6_nd = false\nlog = true\n");
  Project::Emitted h = m.p->emit(m.p->target("host"));
  REQUIRE(!h.diags.has_errors());
  CHECK(h.text.find("\nset ") == std::string::npos); // options cannot be set from an anchor
  CHECK(h.text.find("on lo") == std::string::npos);
  CHECK(h.text.find("icmp6-type { 133") == std::string::npos);
  CHECK(h.text.find("\nblock drop log quick all\n") != std::string::npos);
  CHECK(h.text.find("\nblock drop out log quick all received-on any\n") != std::string::npos);
  CHECK(check_roundtrip(*m.p, m.p->target("host")));

  Project::Emitted e = m.p->emit(m.p->target("edge"));
  CHECK(e.text.find("\nset ") == std::string::npos);
  // Table names without '_' get ".hosts", so no role name can turn into a pf keyword.
  CHECK(e.text.find("table <peer.hosts> const { 192.0.2.0/24, 2001:db8:1::/48 }") !=
        std::string::npos);
  CHECK(e.text.find("pass out quick proto tcp from <peer.hosts> to <srv.hosts> port 80 "
                    "received-on any keep state") != std::string::npos);

  Mini bad("service s = tcp 80;\n", "flow f: peer -> srv via s;\n",
           "[targets.options]\nlog = \"yes\"\n");
  Project::Emitted b = bad.p->emit(bad.p->target("host"));
  CHECK(b.diags.has_errors());
}

TEST_CASE("pf: the reader applies pf's evaluation, not just the rule list") {
  // Last match wins without quick; quick stops; no match passes.
  PfRead r = read_pf("table <a> const { 10.0.0.0/8 }\n"
                     "pass in proto tcp from <a> to any port 22\n"
                     "block in proto tcp from 10.1.0.0/16 to any\n"
                     "pass in quick proto tcp from 10.1.2.0/24 to any port 22\n");
  const PacketSet& in = r.allowed.at(Chain::Input);
  Packet p{*parse_ip("10.9.0.1"), *parse_ip("192.0.2.1"), kProtoTcp, 1000, 22};
  CHECK(in.contains(p));
  p.src = *parse_ip("10.1.9.1");
  CHECK(!in.contains(p));
  p.src = *parse_ip("10.1.2.1");
  CHECK(in.contains(p));
  p.dport = 23;
  CHECK(!in.contains(p)); // blocked by the non-quick block
  p.src = *parse_ip("172.16.0.1");
  CHECK(in.contains(p)); // nothing matches: pf passes
  // A backslash would continue the line (even a comment): the reader refuses it.
  CHECK_THROWS_AS(read_pf("# note \\\npass in all\n"), ReadError);
  CHECK_THROWS_AS(read_pf("pass in all rdr-to 10.0.0.1\n"), ReadError);
}
