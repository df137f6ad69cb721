// Round trip for the Cisco ASA backend: the emitted configuration, read back with the ASA's
// ACL semantics (asa_reader: first match per ACL, implicit deny, union over the bound ACLs),
// must allow exactly the packets the policy allows (the Session's expected packets), for the
// shipped policy, the feature-coverage policy and seeded random policies. Also: option validation,
// errors for what an ACE cannot say, and inert policy text.
#include "asa_reader.h"
#include "helpers.h"
#include "project.h"
#include "random_policy.h"

#include <doctest/doctest.h>

#include <sstream>

using namespace portolan;
using namespace portolan::roundtrip;
using portolan::test::TempDir;

namespace {

AsaRead read_or_fail(const std::string& text) {
  AsaRead r;
  INFO(text);
  REQUIRE_NOTHROW(r = read_asa(text));
  return r;
}

/// Compares the forwarded packets; on a mismatch names a packet on each side. Returns whether
/// anything at all is allowed (so callers can tell a vacuous pass).
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
  AsaRead got = read_or_fail(e.text);
  CHECK(got.bindings.size() == 2);
  TargetPackets want = p.expected(t);
  const PacketSet& g = got.allowed[Chain::Forward];
  const PacketSet& w = want.of(Chain::Forward);
  if (!(g == w)) {
    FAIL_CHECK(difference(g, w) << "\n" << e.text);
  }
  return !w.is_empty();
}

std::filesystem::path source(const char* rel) {
  return std::filesystem::path(PORTOLAN_SOURCE_DIR) / rel;
}

/// A small world for focused cases: the given services and flows, one perimeter target.
struct Mini {
  TempDir dir;
  std::unique_ptr<Project> p;

  Mini(const std::string& services, const std::string& flows, const std::string& options = "",
       const std::string& header = "") {
    dir.write("p.policy", header + R"(
zone wan; zone lan;
role peer in wan;
role srv in lan;
)" + services + flows);
    p = Project::open(dir.write("m.toml", R"(policies = ["p.policy"]
[environments.e]
today = 2026-01-01
[environments.e.bind]
peer = ["192.0.2.0/24", "2001:db8:1::/48"]
srv = ["198.51.100.7", "2001:db8:2::7"]
[[targets]]
name = "edge"
backend = "asa"
between = ["wan", "lan"]
output = "e.cfg"
)" + options));
  }
};

} // namespace

TEST_CASE("asa: shipped policy targets round-trip") {
  auto pp = Project::open(source("policies/lync2013-public-im.toml"));
  const Project& p = *pp;
  int n = 0;
  for (const Target& t : p.manifest->targets)
    if (t.backend == "asa") {
      CHECK(check_roundtrip(p, t));
      ++n;
    }
  CHECK(n >= 1);

  // Traffic from a zone is filtered by the ACL on that zone's interface.
  AsaRead r = read_or_fail(p.emit(p.target("perimeter-asa")).text);
  CHECK(r.bindings["perimeter-asa_outside_access_in"] == "outside");
  CHECK(r.bindings["perimeter-asa_dmz_access_in"] == "dmz");
  Packet in{*parse_ip("192.0.2.5"), *parse_ip("198.51.100.10"), kProtoTcp, 40000, 5061};
  Packet out{*parse_ip("198.51.100.10"), *parse_ip("192.0.2.5"), kProtoTcp, 40000, 5061};
  CHECK(r.per_acl["perimeter-asa_outside_access_in"].contains(in));
  CHECK(!r.per_acl["perimeter-asa_dmz_access_in"].contains(in));
  CHECK(r.per_acl["perimeter-asa_dmz_access_in"].contains(out));
  CHECK(!r.per_acl["perimeter-asa_outside_access_in"].contains(out));
}

TEST_CASE("asa: feature-coverage targets round-trip") {
  auto pp = Project::open(source("tests/golden/features/features.toml"));
  const Project& p = *pp;
  int n = 0;
  for (const Target& t : p.manifest->targets)
    if (t.backend == "asa") {
      CHECK(check_roundtrip(p, t));
      ++n;
    }
  CHECK(n >= 2);
  // The deny flow holds on both interfaces, so no arrival interface can bypass it.
  AsaRead r = read_or_fail(p.emit(p.target("edge-asa")).text);
  Packet scan{*parse_ip("198.51.100.1"), *parse_ip("10.2.0.10"), kProtoTcp, 40000, 443};
  for (const auto& [acl, set] : r.per_acl)
    CHECK(!set.contains(scan));
}

TEST_CASE("asa: random policies round-trip") {
  const uint64_t first = 1, count = 120;
  int nonempty = 0, targets = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    CAPTURE(seed);
    test::GenOptions opt;
    opt.backends = {"asa"};
    opt.host_targets = false;
    test::GeneratedPolicy g = test::random_policy(seed, opt);
    TempDir dir;
    auto p = Project::open(write_generated(dir.path, g.policy, g.manifest));
    for (const std::string& name : g.targets) {
      nonempty += check_roundtrip(*p, p->target(name), true);
      ++targets;
    }
  }
  MESSAGE("asa random round trip: " << count << " policies, " << targets << " targets, " << nonempty
                                    << " allowing something, " << g_refused
                                    << " refused as unrealizable");
  CHECK(targets == static_cast<int>(count));
  CHECK(nonempty > (targets - g_refused) / 2);
}

TEST_CASE("asa: perimeter only") {
  CHECK(make_backend("asa")->spec().scopes == std::vector<Scope>{Scope::Between});
}

TEST_CASE("asa: what an ACE cannot say is an error at the flow") {
  {
    Mini m("service s = proto 0;\n", "flow f: peer -> srv via s;\n");
    Project::Emitted e = m.p->emit(m.p->target("edge"));
    REQUIRE(e.diags.has_errors());
    CHECK(e.diags.all().back().code == "unrealizable");
    CHECK(e.diags.all().back().loc.line == 6);
  }
  for (const char* ok :
       {"icmp type 255 code 255", "proto 51", "proto 43", "udp 7 sport 1-1023", "icmpv6 type 1"}) {
    CAPTURE(ok);
    Mini m(std::string("service s = ") + ok + ";\n", "flow f: peer <-> srv via s;\n");
    CHECK(check_roundtrip(*m.p, m.p->target("edge")));
  }
  Mini m("service s = tcp 80;\n", "flow f: peer -> srv via s;\n");
  auto shape = [&](auto edit) {
    Diagnostics d;
    const Target& t = m.p->target("edge");
    RuleSet rs = m.p->compile_target(t, Want{false, false}, d).rules;
    REQUIRE(!rs.rules.empty());
    edit(rs.rules.front());
    m.p->emit(t, rs, d);
    return d.has_errors() ? d.all().back().code : std::string();
  };
  CHECK(shape([](Rule& r) { r.l4 = {kProtoIcmp, {}, {}, std::nullopt, 0, "s"}; }) ==
        "unrealizable");
  CHECK(shape([](Rule& r) { r.l4.proto = 47; }) == "unrealizable");
  CHECK(shape([](Rule& r) { r.l4.proto.reset(); }) == "unrealizable");
  CHECK(shape([](Rule& r) { r.l4.sports = {{9, 1}}; }) == "unrealizable");
  CHECK(shape([](Rule& r) { r.chain = Chain::Input; }) == "unrealizable");
  CHECK(shape([](Rule&) {}).empty());
}

TEST_CASE("asa: nameif option is validated") {
  const std::string svc = "service s = tcp 80;\n", flow = "flow f: peer -> srv via s;\n";
  auto errors = [&](const std::string& opt) {
    Mini m(svc, flow, "[targets.options]\n" + opt + "\n");
    return m.p->emit(m.p->target("edge")).diags.count(Severity::Error);
  };
  CHECK(errors("nameif = [\"wan=outside\", \"lan=inside\"]") == 0);
  CHECK(errors("nameif = [\"wan=outside\"]") == 0);      // "lan" keeps its own name
  CHECK(errors("nameif = \"wan=outside\"") == 1);        // not an array
  CHECK(errors("nameif = [\"outside\"]") == 1);          // no '='
  CHECK(errors("nameif = [\"dmz=outside\"]") == 1);      // not one of the target's zones
  CHECK(errors("nameif = [\"wan=a\", \"wan=b\"]") == 1); // mapped twice
  CHECK(errors("nameif = [\"wan=lan\"]") == 1);          // both zones on one interface
  CHECK(errors("nameif = [\"wan=LAN\"]") == 1);          // nameifs are case-insensitive
  CHECK(errors("nameif = [\"wan=bad name\"]") == 1);     // not a nameif
  CHECK(errors("nameif = [\"wan=1st\"]") == 1);          // must start with a letter
  CHECK(errors("nameif = [\"wan=" + std::string(49, 'x') + "\"]") == 1); // too long
  CHECK(errors("log = 1") == 1);

  Mini m(svc, flow, "[targets.options]\nnameif = [\"wan=outside\", \"lan=inside\"]\n");
  std::string text = m.p->emit(m.p->target("edge")).text;
  CHECK(text.find("access-group edge_outside_access_in in interface outside\n") !=
        std::string::npos);
  CHECK(text.find("access-group edge_inside_access_in in interface inside\n") != std::string::npos);
}

TEST_CASE("asa: every ACL exists and ends in an explicit deny; ICMP inspection when needed") {
  Mini none("service s = tcp 80;\n", "");
  std::string text = none.p->emit(none.p->target("edge")).text;
  CHECK(text.find("access-list edge_wan_access_in extended deny ip any any\n") !=
        std::string::npos);
  CHECK(text.find("access-list edge_lan_access_in extended deny ip any any\n") !=
        std::string::npos);
  CHECK(text.find("inspect icmp") == std::string::npos);
  CHECK(check_roundtrip(*none.p, none.p->target("edge")) == false);

  Mini ping("service s = icmp type 8, icmpv6 type 128;\n", "flow f: peer -> srv via s;\n");
  text = ping.p->emit(ping.p->target("edge")).text;
  CHECK(text.find("permit icmp object-group edge_peer_v4 object-group edge_srv_v4 8\n") !=
        std::string::npos);
  CHECK(text.find("permit icmp6 object-group edge_peer_v6 object-group edge_srv_v6 128\n") !=
        std::string::npos);
  CHECK(text.find("\n  inspect icmp\n") != std::string::npos);

  Mini quiet("service s = icmp type 8;\n", "flow f: peer -> srv via s;\n",
             "[targets.options]\ninspect_icmp = false\nlog = true\n");
  text = quiet.p->emit(quiet.p->target("edge")).text;
  CHECK(text.find("inspect icmp") == std::string::npos);
  CHECK(text.find("extended deny ip any any log\n") != std::string::npos);
}

TEST_CASE("asa: hostile policy text cannot add a command") {
  const std::string hostile[] = {
      R"(evil\naccess-list wan_access_in extended permit ip any any\n! x)",
      R"(\"; permit ip any any; $(reboot) `id` -- # ?\n access-group x in interface out)",
      "caf\xc3\xa9 \xe2\x98\x83 \xe2\x80\xae rtl\\tpermit ip any any",
      std::string(300, 'n'),
  };
  for (const std::string& h : hostile) {
    CAPTURE(h);
    const std::string services = "service s = tcp 80, udp 1-2, 5;\n";
    Mini benign(services, "flow f: peer <-> srv via s \"benign\";\n");
    Mini evil(services, "flow f: peer <-> srv via s \"" + h + "\" { note \"" + h + "\"; }\n", "",
              "policy x.y \"" + h + "\" { reference \"" + h + "\"; }\n");
    Project::Emitted a = benign.p->emit(benign.p->target("edge"));
    Project::Emitted b = evil.p->emit(evil.p->target("edge"));
    REQUIRE(!b.diags.has_errors());
    AsaRead ra = read_or_fail(a.text), rb = read_or_fail(b.text);
    CHECK(ra.aces == rb.aces);
    CHECK(ra.remarks == rb.remarks);
    CHECK(ra.allowed[Chain::Forward] == rb.allowed[Chain::Forward]);
    CHECK(b.text.find('?') == std::string::npos);
    std::istringstream lines(b.text);
    for (std::string l; std::getline(lines, l);) {
      CAPTURE(l);
      bool text_line = l.rfind("!", 0) == 0 || l.find(" remark ") != std::string::npos ||
                       l.rfind(" description ", 0) == 0;
      if (!text_line) {
        CHECK(l.find("reboot") == std::string::npos);
        CHECK(l.find("evil") == std::string::npos);
        CHECK(l.find("permit ip any any") == std::string::npos);
      }
      if (l.find(" remark ") != std::string::npos)
        CHECK(l.size() - (l.find(" remark ") + 8) <= 100);
    }
  }
}
