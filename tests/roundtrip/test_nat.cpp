// NAT (issue 12 item 4) round trip: every nftables, iptables, pf and ASA target of
// tests/golden/nat filters, read back by its vendor's reader, exactly what the engine says; and
// the translations the readers read back (by the vendors' documented semantics) do to packets
// what the manifest's NAT bindings say, worked out here from the bindings alone (not from the
// compiler's translation list).
#include "asa_reader.h"
#include "iptables_reader.h"
#include "nat.h"
#include "nft_reader.h"
#include "pf_reader.h"
#include "project.h"

#include <doctest/doctest.h>

using namespace portolan;
using namespace portolan::roundtrip;

namespace {

Packet pkt(const char* src, const char* dst, uint8_t proto, uint16_t dport) {
  Packet p;
  p.src = *parse_ip(src);
  p.dst = *parse_ip(dst);
  p.proto = proto;
  p.sport = 40000;
  p.dport = dport;
  return p;
}

std::unique_ptr<Project> nat_project() {
  return Project::open(std::filesystem::path(PORTOLAN_SOURCE_DIR) / "tests/golden/nat/nat.toml");
}

/// What the manifest says the perimeter between `zones` does to `p`: a packet to a public
/// address from an address the inside zones do not hold goes to the real one (an inside
/// address is no outside address: partner's prefixes are bound outside, client is any); a
/// symmetric host's packet through the perimeter leaves from its public address.
Packet by_the_bindings(const Environment& env, const Policy& pol, const Target& t,
                       const Packet& p) {
  Packet out = p;
  auto inside = [&](const IpAddr& a) {
    for (const auto& [key, b] : env.bind) {
      Endpoint e;
      e.role = key.substr(0, key.find('.'));
      if (key.find('.') != std::string::npos)
        e.iface = key.substr(key.find('.') + 1);
      const std::string& z = pol.zone_of(e);
      if (z == "internet")
        continue;
      for (const Prefix& pr : b.prefixes)
        if (pr.contains(a))
          return true;
    }
    return false;
  };
  if (t.between.size() != 2)
    return out;
  for (const auto& [key, b] : env.bind) {
    if (!b.nat)
      continue;
    if (b.nat->pub.addr == p.dst && !inside(p.src))
      out.dst = b.nat->real.addr;
    // The outside zone of the golden manifest holds every address (client = "any"), so every
    // connection of the host through the perimeter goes to the outside (docs/manifest.md).
    if (b.nat->kind == NatBinding::Kind::Symmetric && b.nat->real.addr == p.src)
      out.src = b.nat->pub.addr;
  }
  return out;
}

} // namespace

struct Back {
  ChainPackets allowed;
  std::vector<ReadNat> nat;
};

Back read_back(const std::string& backend, const std::vector<OutputFile>& files) {
  Back b;
  if (backend == "nftables") {
    auto r = read_nft(files.at(0).content);
    b = {r.allowed, r.nat};
  } else if (backend == "iptables") {
    IptRead r;
    read_iptables(files.at(0).content, Family::V4, r);
    read_iptables(files.at(1).content, Family::V6, r);
    b = {r.allowed, r.nat};
  } else if (backend == "pf") {
    auto r = read_pf(files.at(0).content);
    b = {r.allowed, r.nat};
  } else if (backend == "asa") {
    auto r = read_asa(files.at(0).content);
    b = {r.allowed, r.nat};
  }
  return b;
}

bool translating_backend(const std::string& b) {
  return b == "nftables" || b == "iptables" || b == "pf" || b == "asa";
}

TEST_CASE("nat: every translating target of the NAT example filters what the engine says") {
  auto p = nat_project();
  int compared = 0;
  for (const Target& t : p->manifest->targets) {
    if (!translating_backend(t.backend))
      continue;
    Diagnostics d;
    RuleSet rs;
    auto files = p->build(t, d, &rs);
    REQUIRE_MESSAGE(!d.has_errors(), t.name << "\n" << messages(d));
    ChainPackets got = read_back(t.backend, files).allowed;
    TargetPackets want = p->expected(t);
    for (Chain c : rs.chains) {
      if (!got.count(c) && want.of(c).is_empty())
        continue; // pf leaves a host's forward chain implicit
      PacketSet b = want.of(c);
      if (rs.icmpv6_nd && c != Chain::Forward)
        b = b.unite(nd_plumbing());
      REQUIRE_MESSAGE(got.count(c), t.name << " " << std::string(chain_name(c)));
      CHECK_MESSAGE(got.at(c) == b, t.name << " " << std::string(chain_name(c)) << ": "
                                           << difference(got.at(c), b));
      ++compared;
    }
  }
  CHECK(compared >= 7);
}

TEST_CASE("nat: the translations read back do what the bindings say") {
  auto p = nat_project();
  const Policy& pol = p->loaded.policy;
  std::vector<Packet> probes{
      pkt("198.51.100.7", "203.0.113.20", kProtoTcp, 80),     // published web: mapped
      pkt("198.51.100.7", "203.0.113.20", kProtoTcp, 8080),   // not published
      pkt("198.51.100.7", "203.0.113.10", kProtoTcp, 5061),   // partner -> access public
      pkt("192.0.2.200", "203.0.113.10", kProtoTcp, 443),     // a dmz address: no translation
      pkt("198.51.100.200", "203.0.113.11", kProtoUdp, 3478), // anyone -> A/V public
      pkt("198.51.100.200", "203.0.113.12", kProtoTcp, 443),  // no such public address
      pkt("192.0.2.11", "198.51.100.200", kProtoUdp, 50000),  // A/V outbound: symmetric
      pkt("192.0.2.10", "198.51.100.200", kProtoTcp, 443),    // access outbound: destination only
      pkt("192.0.2.11", "192.0.2.10", kProtoUdp, 50000),      // outside = any: translated too
  };
  int translated = 0, targets = 0;
  for (const Target& t : p->manifest->targets) {
    if (!translating_backend(t.backend))
      continue;
    Diagnostics d;
    auto files = p->build(t, d);
    REQUIRE_MESSAGE(!d.has_errors(), messages(d));
    Back back = read_back(t.backend, files);
    const Environment& env = p->manifest->environments.at(t.env);
    ++targets;
    bool outer =
        t.between.size() == 2 && (t.between[0] == "internet" || t.between[1] == "internet");
    for (const Packet& x : probes) {
      Packet want = outer ? by_the_bindings(env, pol, t, x) : x;
      // The port mapping of the golden policy (only where feature publish is on, as in "lab").
      if (outer && env.features.count("publish") && x.dst == *parse_ip("203.0.113.20") &&
          x.dport == 80) {
        want.dst = *parse_ip("192.0.2.20");
        want.dport = 8080;
      }
      Packet got = apply_nat(back.nat, x);
      // pf translates a source on the pass rule (only what it passes); an ASA static NAT is
      // bidirectional (the access host's outbound leaves from its public address as well).
      // Both are documented (docs/backends.md, NAT); compare their destination side only there.
      if (t.backend == "asa" && want.src == x.src)
        got.src = x.src;
      if (t.backend == "pf" && want.src != x.src && !back.allowed[Chain::Forward].contains(x))
        continue;
      CHECK_MESSAGE(got == want, t.name << ": " << x.str() << " became " << got.str()
                                        << ", the bindings say " << want.str());
      translated += got != x;
      // The packet engine's translation (query, the kernel harness) agrees too.
      auto engine = translate(target_translations(p->lower_context(), t, env), x);
      CHECK_MESSAGE(engine.value_or(x) == want, t.name << ": engine " << engine.value_or(x).str());
    }
  }
  CHECK(targets >= 5);
  CHECK(translated >= 10);
}

TEST_CASE(
    "nat: host targets say what the host sees; untranslating backends keep the real address") {
  auto p = nat_project();
  for (const char* name : {"edge-host-nftables", "edge-host-windows", "edge-host-aws"}) {
    auto e = p->emit(p->target(name));
    REQUIRE_MESSAGE(!e.diags.has_errors(), name << "\n" << messages(e.diags));
    CHECK(e.rs.translations.empty());
    CHECK_MESSAGE(e.text.find("sees and filters its real address 192.0.2.11") != std::string::npos,
                  name);
    CHECK_MESSAGE(e.text.find("203.0.113.11") != std::string::npos, name);
  }
}
