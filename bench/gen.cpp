// bench/gen: writes a synthetic Portolan policy and manifest of N flows (seeded, deterministic)
// over realistic bindings — hosts, /24s, /16s and IPv6 prefixes — with about 50 services
// (single ports, lists and overlapping ranges) and about 10% deny flows.
//
// usage: portolan-bench-gen N SEED OUTDIR [--capirca]
//   writes OUTDIR/bench.policy and OUTDIR/bench.toml. With --capirca it also writes, from the
//   same policy (the two files above are byte-for-byte the same with or without the flag):
//   OUTDIR/vs-capirca.toml   bench.toml plus one target per platform both tools share:
//                              vs-nftables, vs-iptables, vs-pf, vs-asa  between internet and dmz
//                              vs-windows                               host r0
//   OUTDIR/capirca/def/NETWORK.net, SERVICES.svc  one network per role, one service per service
//   OUTDIR/capirca/pol/{nftables,iptables,pf,asa,windows}.pol  the same targets as Capirca
//                              policies: terms in Portolan's evaluation order (every deny flow,
//                              then every allow flow, each in policy order; a two-way flow is two
//                              terms; one term per protocol, see bench/README.md)
//   OUTDIR/capirca/terms.txt  "PLATFORM TERMS" per .pol, and counts of what the perimeter
//                              enforces (flow directions, role-pair/service combinations,
//                              address pairs)
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace {

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t s) : g(s) {}
  int in(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(g) < p; }
};

const char* kZones[] = {"internet", "dmz", "corp", "datacenter"};

struct PortRange {
  int lo, hi;
};
struct Spec {
  bool tcp; // else udp
  std::vector<PortRange> ports;
};
struct Service {
  std::vector<Spec> specs;
};
struct Flow {
  int a, b;
  bool deny, two_way;
  std::vector<int> services;
  long line; // in bench.policy
};
struct Binding {
  std::vector<std::string> v4, v6; // addresses or prefixes, as written in the manifest
};

struct Model {
  long n = 0;
  std::string seed;
  int roles = 0;
  std::vector<int> role_zone;
  std::vector<Service> services;
  std::vector<Flow> flows;
  std::vector<Binding> bind;
};

// Draws everything in the order the original generator did, so a seed gives the same policy.
Model generate(long n, const std::string& seed) {
  Model m;
  m.n = n;
  m.seed = seed;
  Rng r(std::stoull(seed));
  // Roles grow with N so flows stay spread out (about 40 flows per role pair side).
  m.roles = static_cast<int>(std::max(40L, n / 40));
  for (int i = 0; i < m.roles; ++i)
    m.role_zone.push_back(r.in(0, 3));
  // About 50 services: single ports, lists, ranges that overlap each other.
  const int services = 50;
  for (int i = 0; i < services; ++i) {
    Service s;
    int base = 1000 + r.in(0, 200) * 50;
    switch (i % 5) {
    case 0:
      s.specs.push_back({true, {{base, base}}});
      break;
    case 1:
      s.specs.push_back({false, {{base, base}}});
      break;
    case 2:
      s.specs.push_back({true, {{base, base + r.in(10, 2000)}}});
      break;
    case 3:
      s.specs.push_back({true, {{base, base}, {base + 1, base + 1}, {base + 100, base + 100}}});
      break;
    default:
      s.specs.push_back({false, {{base, base + r.in(1, 100)}}});
      s.specs.push_back({true, {{base, base}}});
    }
    m.services.push_back(s);
  }
  const long first_flow_line = 2 + 4 + m.roles + services + 1;
  for (long f = 0; f < n; ++f) {
    Flow fl;
    fl.a = r.in(0, m.roles - 1);
    fl.b = r.in(0, m.roles - 1);
    if (fl.a == fl.b)
      fl.b = (fl.b + 1) % m.roles;
    fl.deny = r.chance(0.10);
    bool two = r.chance(0.2);
    fl.two_way = two && !fl.deny;
    fl.services.push_back(r.in(0, services - 1));
    if (r.chance(0.25))
      fl.services.push_back(r.in(0, services - 1));
    fl.line = first_flow_line + f;
    m.flows.push_back(fl);
  }
  for (int i = 0; i < m.roles; ++i) {
    Binding bd;
    int a = r.in(0, 255), b = r.in(0, 255), c = r.in(1, 254);
    auto v6 = [&] {
      char buf[64];
      std::snprintf(buf, sizeof buf, "2001:db8:%x:%x::/64", a, b);
      return std::string(buf);
    };
    auto s = [](auto... parts) {
      std::ostringstream o;
      (o << ... << parts);
      return o.str();
    };
    switch (r.in(0, 9)) {
    case 0: // a /16
      bd.v4.push_back(s("10.", a, ".0.0/16"));
      break;
    case 1:
    case 2:
    case 3: // a /24 (sometimes inside another role's /16)
      bd.v4.push_back(s("10.", a, ".", b, ".0/24"));
      break;
    case 4: // IPv6 only
      bd.v6.push_back(v6());
      break;
    case 5: // dual stack
      bd.v4.push_back(s("10.", a, ".", b, ".0/24"));
      bd.v6.push_back(v6());
      break;
    default: // a few hosts
      bd.v4.push_back(s("10.", a, ".", b, ".", c));
      bd.v4.push_back(s("10.", a, ".", b, ".", (c % 254) + 1));
    }
    m.bind.push_back(bd);
  }
  return m;
}

void write_policy(const Model& m, std::ostream& pol) {
  pol << "// generated by bench/gen: " << m.n << " flows, seed " << m.seed << "\n";
  pol << "policy bench.synthetic \"Synthetic benchmark policy\";\n";
  for (const char* z : kZones)
    pol << "zone " << z << ";\n";
  for (int i = 0; i < m.roles; ++i)
    pol << "role r" << i << " in " << kZones[m.role_zone[static_cast<size_t>(i)]] << ";\n";
  for (size_t i = 0; i < m.services.size(); ++i) {
    pol << "service s" << i << " = ";
    const auto& sp = m.services[i].specs;
    for (size_t k = 0; k < sp.size(); ++k) {
      pol << (k ? ", " : "") << (sp[k].tcp ? "tcp " : "udp ");
      for (size_t j = 0; j < sp[k].ports.size(); ++j) {
        const PortRange& p = sp[k].ports[j];
        pol << (j ? ", " : "") << p.lo;
        if (p.hi != p.lo)
          pol << "-" << p.hi;
      }
    }
    pol << ";\n";
  }
  for (size_t f = 0; f < m.flows.size(); ++f) {
    const Flow& fl = m.flows[f];
    pol << "flow " << (fl.deny ? "deny " : "") << "g" << (f % 97) << ": r" << fl.a
        << (fl.two_way ? " <-> r" : " -> r") << fl.b << " via s" << fl.services[0];
    if (fl.services.size() > 1)
      pol << ", s" << fl.services[1];
    pol << ";\n";
  }
}

const char* kPairs[][2] = {{"internet", "dmz"}, {"internet", "corp"},  {"internet", "datacenter"},
                           {"dmz", "corp"},     {"dmz", "datacenter"}, {"corp", "datacenter"}};

void write_manifest(const Model& m, std::ostream& man, bool vs_capirca) {
  man << "policies = [\"bench.policy\"]\n\n[environments.bench]\ntoday = 2026-01-01\n\n"
         "[environments.bench.bind]\n";
  for (int i = 0; i < m.roles; ++i) {
    const Binding& bd = m.bind[static_cast<size_t>(i)];
    man << "r" << i << " = [";
    bool first = true;
    for (const auto* v : {&bd.v4, &bd.v6})
      for (const auto& a : *v) {
        man << (first ? "" : ", ") << "\"" << a << "\"";
        first = false;
      }
    man << "]\n";
  }
  // A perimeter target between every pair of zones, so every flow across zones is enforced.
  for (auto& p : kPairs)
    man << "\n[[targets]]\nname = \"" << p[0] << "-" << p[1] << "\"\nbackend = \"nftables\"\n"
        << "between = [\"" << p[0] << "\", \"" << p[1] << "\"]\noutput = \"" << p[0] << "-" << p[1]
        << ".nft\"\n";
  man << "\n[[targets]]\nname = \"host-r0\"\nbackend = \"nftables\"\nhost = \"r0\"\n"
         "output = \"host-r0.nft\"\n";
  if (!vs_capirca)
    return;
  // The targets compared with Capirca: one perimeter per platform, Windows on a host.
  for (const char* b : {"nftables", "iptables", "pf", "asa"}) {
    const char* ext = std::strcmp(b, "nftables") == 0 ? ".nft"
                      : std::strcmp(b, "pf") == 0     ? ".pf.conf"
                      : std::strcmp(b, "asa") == 0    ? ".asa"
                                                      : "";
    man << "\n[[targets]]\nname = \"vs-" << b << "\"\nbackend = \"" << b
        << "\"\nbetween = [\"internet\", \"dmz\"]\noutput = \"vs/" << b << ext << "\"\n";
  }
  man << "\n[[targets]]\nname = \"vs-windows\"\nbackend = \"windows\"\nhost = \"r0\"\n"
         "output = \"vs/windows.ps1\"\n";
}

// --- Capirca -----------------------------------------------------------------------------------

std::string token(char c, int i) {
  std::string s(1, c);
  s += std::to_string(i); // not "R" + to_string(): GCC 12 -Wrestrict false positive
  return s;
}
std::string net_name(int role) {
  return token('R', role);
}
std::string svc_name(int s) {
  return token('S', s);
}

void write_definitions(const Model& m, const std::filesystem::path& def) {
  std::ofstream net(def / "NETWORK.net"), svc(def / "SERVICES.svc");
  net << "# generated by bench/gen: " << m.n << " flows, seed " << m.seed
      << "; one network per role, the manifest's bindings\n";
  for (int i = 0; i < m.roles; ++i) {
    const Binding& bd = m.bind[static_cast<size_t>(i)];
    std::string name = net_name(i);
    bool first = true;
    for (const auto* v : {&bd.v4, &bd.v6})
      for (const auto& a : *v) {
        if (first)
          net << name << " = " << a << "\n";
        else
          net << std::string(name.size() + 3, ' ') << a << "\n";
        first = false;
      }
  }
  svc << "# generated by bench/gen: one service per policy service\n";
  for (size_t i = 0; i < m.services.size(); ++i) {
    std::string name = svc_name(static_cast<int>(i));
    bool first = true;
    for (const Spec& sp : m.services[i].specs)
      for (const PortRange& p : sp.ports) {
        svc << (first ? name + " = " : std::string(name.size() + 3, ' ')) << p.lo;
        if (p.hi != p.lo)
          svc << "-" << p.hi;
        svc << (sp.tcp ? "/tcp" : "/udp") << "\n";
        first = false;
      }
  }
}

/// The Capirca terms of one direction of one flow: one term per protocol, listing the flow's
/// services that have that protocol (Capirca crosses a term's protocols with its ports, so a
/// single "protocol:: tcp udp" term would also open the udp ports as tcp and vice versa).
void flow_terms(const Model& m, size_t fi, bool reverse, std::vector<std::string>& out) {
  const Flow& fl = m.flows[fi];
  int src = reverse ? fl.b : fl.a, dst = reverse ? fl.a : fl.b;
  std::vector<int> svcs;
  for (int s : fl.services)
    if (std::find(svcs.begin(), svcs.end(), s) == svcs.end())
      svcs.push_back(s);
  std::ostringstream comment;
  comment << "bench.policy:" << fl.line << " g" << (fi % 97) << ": r" << fl.a
          << (fl.two_way ? " <-> r" : " -> r") << fl.b << " via s" << fl.services[0];
  if (fl.services.size() > 1)
    comment << ", s" << fl.services[1];
  if (reverse)
    comment << " (reverse)";
  for (bool tcp : {true, false}) {
    std::vector<int> with;
    for (int s : svcs)
      for (const Spec& sp : m.services[static_cast<size_t>(s)].specs)
        if (sp.tcp == tcp) {
          with.push_back(s);
          break;
        }
    if (with.empty())
      continue;
    std::ostringstream t;
    t << "term f" << fi << (reverse ? "r" : "") << "_" << (tcp ? "tcp" : "udp") << " {\n"
      << "  comment:: \"" << comment.str() << "\"\n"
      << "  source-address:: " << net_name(src) << "\n"
      << "  destination-address:: " << net_name(dst) << "\n"
      << "  protocol:: " << (tcp ? "tcp" : "udp") << "\n"
      << "  destination-port::";
    for (int s : with)
      t << " " << svc_name(s);
    t << "\n  action:: " << (fl.deny ? "deny" : "accept") << "\n}\n";
    out.push_back(t.str());
  }
}

/// Directions of flows a target enforces, in evaluation order (denies, then allows).
template <class Pred>
std::vector<std::string> target_terms(const Model& m, Pred keep) {
  std::vector<std::string> out;
  for (bool deny : {true, false})
    for (size_t f = 0; f < m.flows.size(); ++f) {
      const Flow& fl = m.flows[f];
      if (fl.deny != deny)
        continue;
      if (keep(fl.a, fl.b))
        flow_terms(m, f, false, out);
      if (fl.two_way && keep(fl.b, fl.a))
        flow_terms(m, f, true, out);
    }
  return out;
}

void header(std::ostream& o, const std::string& comment, const std::string& target) {
  o << "header {\n  comment:: \"" << comment << "\"\n  target:: " << target << "\n}\n";
}

void write_capirca(const Model& m, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir / "def");
  std::filesystem::create_directories(dir / "pol");
  write_definitions(m, dir / "def");
  const int z1 = 0, z2 = 1; // internet, dmz: the perimeter every vs-* perimeter target enforces
  auto zone = [&](int role) { return m.role_zone[static_cast<size_t>(role)]; };
  auto across = [&](int s, int d) {
    return (zone(s) == z1 && zone(d) == z2) || (zone(s) == z2 && zone(d) == z1);
  };
  std::vector<std::string> perim = target_terms(m, across);
  std::ofstream terms(dir / "terms.txt");
  {
    // What the perimeter enforces, to judge output size: flow directions, distinct
    // (source role, destination role, service) combinations, and the address pairs those
    // directions span (source addresses x destination addresses, same family).
    long directions = 0, addr_pairs = 0;
    std::vector<std::tuple<int, int, int>> combos;
    auto count = [&](int s, int d, const Flow& fl) {
      ++directions;
      const Binding &bs = m.bind[static_cast<size_t>(s)], &bd = m.bind[static_cast<size_t>(d)];
      addr_pairs += static_cast<long>(bs.v4.size() * bd.v4.size() + bs.v6.size() * bd.v6.size());
      for (int sv : fl.services)
        combos.emplace_back(s, d, sv);
    };
    for (const Flow& fl : m.flows) {
      if (across(fl.a, fl.b))
        count(fl.a, fl.b, fl);
      if (fl.two_way && across(fl.b, fl.a))
        count(fl.b, fl.a, fl);
    }
    std::sort(combos.begin(), combos.end());
    combos.erase(std::unique(combos.begin(), combos.end()), combos.end());
    terms << "perimeter-flow-directions " << directions << "\n"
          << "perimeter-role-pair-service-combos " << combos.size() << "\n"
          << "perimeter-address-pairs " << addr_pairs << "\n";
  }
  const std::string what = "bench/gen " + std::to_string(m.n) + " flows, seed " + m.seed;
  auto body = [](std::ostream& o, const std::vector<std::string>& ts) {
    for (const auto& t : ts)
      o << "\n" << t;
  };
  {
    std::ofstream o(dir / "pol" / "nftables.pol");
    header(o, what + ": perimeter internet-dmz (Capirca nftables has no forward hook: input)",
           "nftables mixed input");
    body(o, perim);
    terms << "nftables " << perim.size() << "\n";
  }
  {
    // One filter per family (Capirca's iptables has no mixed filter), each led by the reply
    // term Portolan's conntrack rule corresponds to.
    std::ofstream o(dir / "pol" / "iptables.pol");
    const std::string est = "term established {\n  comment:: \"replies to allowed connections\"\n"
                            "  option:: established\n  action:: accept\n}\n";
    for (const char* af : {"inet", "inet6"}) {
      header(o, what + ": perimeter internet-dmz, " + af,
             std::string("iptables FORWARD DROP ") + af);
      o << "\n" << est;
      body(o, perim);
      o << "\n";
    }
    terms << "iptables " << 2 * (perim.size() + 1) << "\n";
  }
  {
    // pf passes what no rule blocks: the last term is the default deny Portolan's `block all`
    // gives.
    std::ofstream o(dir / "pol" / "pf.pol");
    header(o, what + ": perimeter internet-dmz", "packetfilter perimeter in mixed");
    body(o, perim);
    o << "\nterm default_deny {\n  comment:: \"default deny\"\n  action:: deny\n}\n";
    terms << "pf " << perim.size() + 1 << "\n";
  }
  {
    // As Portolan's ASA backend: one ACL per zone, bound inbound on its interface, filtering
    // what enters from that zone; every deny in both ACLs, ahead of the permits.
    std::ofstream o(dir / "pol" / "asa.pol");
    size_t count = 0;
    for (int z : {z1, z2}) {
      // Keep denies from both directions, permits only from this zone.
      std::vector<std::string> keep;
      for (bool deny : {true, false})
        for (size_t f = 0; f < m.flows.size(); ++f) {
          const Flow& fl = m.flows[f];
          if (fl.deny != deny)
            continue;
          if (across(fl.a, fl.b) && (deny || zone(fl.a) == z))
            flow_terms(m, f, false, keep);
          if (fl.two_way && across(fl.b, fl.a) && zone(fl.b) == z)
            flow_terms(m, f, true, keep);
        }
      header(o, what + ": perimeter internet-dmz, from " + kZones[z],
             std::string("ciscoasa ") + kZones[z] + "_access_in");
      body(o, keep);
      o << "\n";
      count += keep.size();
    }
    terms << "asa " << count << "\n";
  }
  {
    // Host r0: inbound (remote -> r0) and outbound (r0 -> remote), one filter per family.
    std::ofstream o(dir / "pol" / "windows.pol");
    auto in = target_terms(m, [](int, int d) { return d == 0; });
    auto out = target_terms(m, [](int s, int) { return s == 0; });
    for (const char* af : {"inet", "inet6"}) {
      header(o, what + ": host r0 inbound, " + af, std::string("windows_advfirewall in ") + af);
      body(o, in);
      o << "\n";
      header(o, what + ": host r0 outbound, " + af, std::string("windows_advfirewall out ") + af);
      body(o, out);
      o << "\n";
    }
    terms << "windows " << 2 * (in.size() + out.size()) << "\n";
  }
}

} // namespace

int main(int argc, char** argv) {
  bool capirca = argc == 5 && std::strcmp(argv[4], "--capirca") == 0;
  if (argc != 4 && !capirca) {
    std::fprintf(stderr, "usage: %s N SEED OUTDIR [--capirca]\n", argv[0]);
    return 2;
  }
  const long n = std::stol(argv[1]);
  Model m = generate(n, argv[2]);
  std::filesystem::path out(argv[3]);
  std::filesystem::create_directories(out);
  {
    std::ofstream pol(out / "bench.policy"), man(out / "bench.toml");
    write_policy(m, pol);
    write_manifest(m, man, false);
  }
  if (capirca) {
    std::ofstream man(out / "vs-capirca.toml");
    write_manifest(m, man, true);
    write_capirca(m, out / "capirca");
  }
  return 0;
}
