// Round trip for nftables and iptables: the emitted text, read back into packet sets, must
// equal what the engine says the target allows — for the shipped policy, the feature policy
// and randomized policies.
#include "helpers.h"
#include "iptables_reader.h"
#include "nft_reader.h"
#include "project.h"
#include "random_policy.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

ChainPackets read_back(const Target& t, const std::vector<OutputFile>& files, int& rules) {
  if (t.backend == "nftables") {
    REQUIRE(files.size() == 1);
    auto r = read_nft(files[0].content);
    rules = r.rules;
    return r.allowed;
  }
  REQUIRE(files.size() == 2);
  IptRead r;
  read_iptables(files[0].content, Family::V4, r);
  read_iptables(files[1].content, Family::V6, r);
  rules = r.rules;
  return r.allowed;
}

/// Targets the backend refused as unrealizable (random policies draw such flows on purpose).
int g_refused = 0;

/// Compares every governed chain; returns the number of chains compared.
int check_target(const Project& p, const Target& t, const std::string& label,
                 bool allow_refusal = false) {
  Diagnostics d;
  RuleSet rs;
  auto files = p.build(t, d, &rs);
  if (allow_refusal && only_unrealizable(d)) {
    ++g_refused;
    return 0;
  }
  REQUIRE_MESSAGE(!d.has_errors(), label << "\n" << messages(d));
  int rules = 0;
  ChainPackets got = read_back(t, files, rules);
  TargetPackets want = p.expected(t);
  int compared = 0;
  for (Chain c : {Chain::Input, Chain::Forward, Chain::Output}) {
    bool governed = std::find(rs.chains.begin(), rs.chains.end(), c) != rs.chains.end();
    if (!governed) {
      if (t.backend == "nftables")
        CHECK_MESSAGE(got.count(c) == 0, label << ": ungoverned chain emitted");
      continue;
    }
    REQUIRE_MESSAGE(got.count(c) == 1, label << ": chain " << chain_name(c) << " missing");
    const PacketSet& a = got.at(c);
    PacketSet b = want.of(c);
    if (rs.icmpv6_nd && c != Chain::Forward)
      b = b.unite(nd_plumbing()); // the documented host plumbing, input and output only
    bool same = a == b;
    std::string witness = difference(a, b);
    CHECK_MESSAGE(same, label << " chain " << std::string(chain_name(c)) << ": " << witness);
    ++compared;
  }
  return compared;
}

std::filesystem::path source(const std::string& rel) {
  return std::filesystem::path(PORTOLAN_SOURCE_DIR) / rel;
}

} // namespace

TEST_CASE("roundtrip nftables/iptables: shipped policy and feature policy") {
  for (const char* m :
       {"policies/lync2013-public-im.toml", "tests/golden/features/features.toml"}) {
    auto p = Project::open(source(m));
    int targets = 0;
    for (const Target& t : p->manifest->targets) {
      if (t.backend != "nftables" && t.backend != "iptables")
        continue;
      CHECK(check_target(*p, t, std::string(m) + " " + t.name) > 0);
      ++targets;
    }
    CHECK(targets >= 4);
  }
}

TEST_CASE("roundtrip nftables/iptables: randomized policies") {
  const uint64_t first = 1000;
  const int count = 150;
  MESSAGE("seeds " << first << ".." << first + count - 1
                   << " (replay one: PORTOLAN_SEED=N unit_tests -tc='*randomized*')");
  uint64_t only = 0;
  if (const char* s = std::getenv("PORTOLAN_SEED"))
    only = std::stoull(s);
  test::TempDir dir;
  int compared = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    if (only && seed != only)
      continue;
    test::GenOptions opt;
    opt.backends = {"nftables", "iptables"};
    auto g = test::random_policy(seed, opt);
    auto path = write_generated(dir.path / std::to_string(seed), g.policy, g.manifest);
    std::unique_ptr<Project> p;
    try {
      p = Project::open(path);
    } catch (const std::exception& e) {
      FAIL("seed " << seed << ": " << e.what());
    }
    for (const Target& t : p->manifest->targets)
      compared += check_target(*p, t, "seed " + std::to_string(seed) + " " + t.name, true);
  }
  MESSAGE(compared << " chains compared, " << g_refused << " targets refused as unrealizable");
  CHECK(compared >= (only ? 1 : count * 3));
}

TEST_CASE("roundtrip readers: a widened ruleset is caught") {
  // The readers must be able to fail: an extra accept is a mismatch.
  auto p = Project::open(source("policies/lync2013-public-im.toml"));
  const Target& t = p->target("perimeter-nftables");
  Diagnostics d;
  auto files = p->build(t, d);
  std::string text = files[0].content;
  // One more element in a folded set (docs/backends.md, "nftables").
  auto pos = text.find("set forward_accept_v4_d_port_exact {");
  REQUIRE(pos != std::string::npos);
  const std::string anchor = "elements = {\n";
  pos = text.find(anchor, pos);
  REQUIRE(pos != std::string::npos);
  text.insert(pos + anchor.size(), "\t\t\t198.51.100.10 . udp . 53 comment \"extra\",\n");
  auto r = read_nft(text);
  TargetPackets want = p->expected(t);
  CHECK(!(r.allowed.at(Chain::Forward) == want.of(Chain::Forward)));
  auto extra = r.allowed.at(Chain::Forward).subtract(want.of(Chain::Forward)).pick();
  REQUIRE(extra);
  CHECK(extra->proto == 17);
  CHECK(extra->dport == 53);
}

TEST_CASE("roundtrip nftables/iptables: family-pinned services between unbounded endpoints") {
  // `icmp` between two `any` endpoints is IPv4 only; `icmpv6` IPv6 only. nft's bare
  // `meta l4proto icmp` would also match IPv6 packets whose next header is 1.
  test::TempDir dir;
  auto path = write_generated(dir.path, R"(
zone a; zone b;
role x in a; role y in b;
service ping = icmp;
service ping6 = icmpv6;
service gre = proto 47;
flow x -> y via ping, ping6;
flow y -> x via gre;
)",
                              R"(
policies = ["gen.policy"]
[environments.e.bind]
x = "any"
y = "any"
[[targets]]
name = "n"
backend = "nftables"
between = ["a", "b"]
output = "n"
[[targets]]
name = "i"
backend = "iptables"
between = ["a", "b"]
output = "i"
)");
  auto p = Project::open(path);
  for (const Target& t : p->manifest->targets)
    CHECK(check_target(*p, t, t.name) == 1);
}

TEST_CASE("roundtrip nftables: folded sets keep first match, split overlaps, bound products") {
  // docs/backends.md, "Folded sets". The deny run and the accept run fold into sets of their
  // own; `wide` contains `narrow`, so their elements overlap and must go to two sets of one
  // shape (the kernel refuses an interval element inside another); `big` x `big2` is 20 x 20
  // = 400 elements, past the 256 bound, so that flow stays a rule with its named sets.
  test::TempDir dir;
  std::string big, big2;
  for (int i = 0; i < 20; ++i) {
    big += std::string(i ? ", " : "") + "\"10.9." + std::to_string(i) + ".0/24\"";
    big2 += std::string(i ? ", " : "") + "\"10.8." + std::to_string(i) + ".0/24\"";
  }
  auto path = write_generated(dir.path, R"(
zone a; zone b;
role narrow in a; role wide in a; role web in b; role big in a; role big2 in b;
service web = tcp 80, 443;
service dns = udp 53;
service ping = icmp type 8;
flow deny no: narrow -> web via dns;
flow w: wide -> web via web, dns, ping;
flow n: narrow -> web via web;
flow b: big -> big2 via web;
)",
                              R"(
policies = ["gen.policy"]
[environments.e.bind]
narrow = "10.1.2.0/24"
wide = "10.1.0.0/16"
web = ["10.2.0.10", "10.2.0.11"]
big = [)" + big + R"(]
big2 = [)" + big2 + R"(]
[[targets]]
name = "n"
backend = "nftables"
between = ["a", "b"]
output = "n"
)");
  auto p = Project::open(path);
  const Target& t = p->manifest->targets.at(0);
  CHECK(check_target(*p, t, t.name) == 1); // reads back to exactly what the policy allows
  Diagnostics d;
  std::string text = p->build(t, d).at(0).content;
  INFO(text);
  // The deny run before the accept run, each as set lookups.
  auto drop = text.find("@forward_drop_v4_sd_port drop");
  auto accept = text.find("@forward_accept_v4_sd_port accept");
  REQUIRE(drop != std::string::npos);
  REQUIRE(accept != std::string::npos);
  CHECK(drop < accept);
  // wide and narrow both reach web on tcp 80: the second goes to a set of its own.
  CHECK(text.find("set forward_accept_v4_sd_port {") != std::string::npos);
  CHECK(text.find("set forward_accept_v4_sd_port_2 {") != std::string::npos);
  // Past the bound: one rule with the named endpoint sets, as before folding.
  CHECK(text.find("ip saddr @big_v4 ip daddr @big2_v4 tcp dport { 80, 443 } accept") !=
        std::string::npos);
  CHECK(text.find("set big_v4 {") != std::string::npos);
  CHECK(text.find("set narrow_v4 {") == std::string::npos); // named by no remaining rule
  // ICMP with a type stays a rule; each element names its flow by id.
  CHECK(text.find("icmp type 8 accept") != std::string::npos);
  CHECK(text.find(". udp . 53 comment \"f") != std::string::npos);
}
