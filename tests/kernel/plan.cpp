#include "plan.h"

#include "semantics.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <tuple>

namespace portolan::kernel {

namespace {

constexpr int kMaxNamespaces = 200; // transfer networks are 169.254.K.0/30, K = 1..254
constexpr uint16_t kAutoSportBase = 40000;

int fam_index(Family f) {
  return f == Family::V4 ? 0 : 1;
}

std::optional<IpAddr> step(const IpAddr& a, bool up) {
  u128 v = addr_to_u128(a);
  u128 max = a.family == Family::V4 ? u128(0xffffffffu) : ~u128(0);
  if ((up && v == max) || (!up && v == 0))
    return std::nullopt;
  return u128_to_addr(a.family, up ? v + 1 : v - 1);
}

bool inside_any(const IpAddr& a, const std::vector<Prefix>& v) {
  return std::any_of(v.begin(), v.end(), [&](const Prefix& p) { return p.contains(a); });
}

/// Concrete addresses standing for one endpoint: `in` are bound (first and last of each prefix),
/// `out` are just outside the binding (the neighbours of each prefix, and a stranger address).
struct Points {
  std::vector<IpAddr> in[2], out[2];
};

void push_unique(std::vector<IpAddr>& v, const IpAddr& a) {
  if (usable_probe_address(a) && std::find(v.begin(), v.end(), a) == v.end())
    v.push_back(a);
}

/// A transport-level probe shape: proto, source port (-1: pick one), destination port; for ICMP
/// sport/dport are type/code.
struct L4 {
  uint8_t proto = 0;
  int sport = -1;
  uint16_t dport = 0;
};

struct SpecL4 {
  std::vector<L4> in;                                 ///< packets the spec matches
  std::vector<std::pair<L4, std::string>> neighbours; ///< packets just outside it
  bool unprobeable = false;
};

L4 echo(Family f) {
  return f == Family::V4 ? L4{kProtoIcmp, 8, 0} : L4{kProtoIcmpV6, 128, 0};
}

bool covered(int port, const std::vector<PortRange>& v) {
  return std::any_of(v.begin(), v.end(), [&](const PortRange& r) {
    return port >= static_cast<int>(r.lo) && port <= static_cast<int>(r.hi);
  });
}

/// Edges of every range, and the ports just outside them (not covered by another range).
void edges(const std::vector<PortRange>& ranges, std::vector<int>& in, std::vector<int>& out) {
  for (const PortRange& r : ranges) {
    for (int p : {static_cast<int>(r.lo), static_cast<int>(r.hi)})
      if (std::find(in.begin(), in.end(), p) == in.end())
        in.push_back(p);
    for (int p : {static_cast<int>(r.lo) - 1, static_cast<int>(r.hi) + 1})
      if (p >= 1 && p <= 65535 && !covered(p, ranges) &&
          std::find(out.begin(), out.end(), p) == out.end())
        out.push_back(p);
  }
}

SpecL4 port_l4(const PortMatch& pm, Family f) {
  SpecL4 s;
  std::vector<int> din, dout, sin, sout;
  if (pm.dports.empty())
    din = {1, 65535};
  else
    edges(pm.dports, din, dout);
  if (pm.sports.empty())
    sin = {-1};
  else
    edges(pm.sports, sin, sout);
  for (int d : din)
    for (int sp : sin)
      s.in.push_back(L4{pm.proto, sp, static_cast<uint16_t>(d)});
  for (int d : dout)
    s.neighbours.push_back({L4{pm.proto, sin[0], static_cast<uint16_t>(d)}, "port-neighbour"});
  for (int sp : sout)
    s.neighbours.push_back({L4{pm.proto, sp, static_cast<uint16_t>(din[0])}, "sport-neighbour"});
  uint8_t other = pm.proto == kProtoTcp ? kProtoUdp : kProtoTcp;
  s.neighbours.push_back({L4{other, sin[0], static_cast<uint16_t>(din[0])}, "other-transport"});
  s.neighbours.push_back({echo(f), "icmp-echo"});
  return s;
}

SpecL4 spec_l4(const ServiceSpec& spec, Family f) {
  SpecL4 s;
  auto transports_as_neighbours = [&] {
    s.neighbours.push_back({L4{kProtoTcp, -1, 7}, "other-transport"});
    s.neighbours.push_back({L4{kProtoUdp, -1, 7}, "other-transport"});
  };
  if (auto* pm = std::get_if<PortMatch>(&spec))
    return port_l4(*pm, f);
  if (auto* im = std::get_if<IcmpMatch>(&spec)) {
    if ((im->proto == kProtoIcmp) != (f == Family::V4))
      return s; // icmp is IPv4-only, icmpv6 IPv6-only: nothing in this family
    L4 e = echo(f);
    if ((!im->type || *im->type == e.sport) && (!im->code || *im->code == 0))
      s.in.push_back(e);
    else
      s.unprobeable = true; // only echo requests are sent; other types are not
    transports_as_neighbours();
    return s;
  }
  if (auto* pr = std::get_if<ProtoMatch>(&spec)) {
    if (pr->number == kProtoTcp || pr->number == kProtoUdp)
      return port_l4(PortMatch{pr->number, {}, {}}, f);
    if (pr->number == kProtoIcmp || pr->number == kProtoIcmpV6)
      return spec_l4(IcmpMatch{pr->number, std::nullopt, std::nullopt}, f);
    s.unprobeable = true;
    transports_as_neighbours();
    s.neighbours.push_back({echo(f), "icmp-echo"});
    return s;
  }
  // any: every protocol
  s.in = {L4{kProtoTcp, -1, 1}, L4{kProtoTcp, -1, 65535}, L4{kProtoUdp, -1, 1},
          L4{kProtoUdp, -1, 65535}, echo(f)};
  return s;
}

struct Candidate {
  IpAddr src, dst;
  L4 l4;
  std::string kind;
  std::string flow;
};

} // namespace

bool usable_probe_address(const IpAddr& a) {
  const auto& b = a.bytes;
  if (a.family == Family::V4)
    return !(b[0] == 0 || b[0] == 127 || b[0] >= 224 || (b[0] == 169 && b[1] == 254));
  bool zero_head = std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return x == 0; });
  bool v4_mapped = zero_head && b[10] == 0xff && b[11] == 0xff;
  bool unspecified_or_loopback =
      zero_head && std::all_of(b.begin() + 10, b.begin() + 15, [](uint8_t x) { return x == 0; }) &&
      b[15] <= 1;
  bool link_local = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
  bool multicast = b[0] == 0xff;
  return !(v4_mapped || unspecified_or_loopback || link_local || multicast);
}

std::optional<WorldPlan> plan_world(const LowerContext& ctx, const Target& target,
                                    const TargetPackets& expected, const PlanOptions& opt,
                                    std::string& why_not) {
  const Policy& policy = ctx.policy;
  auto env_it = ctx.manifest.environments.find(target.env);
  if (env_it == ctx.manifest.environments.end()) {
    why_not = "target '" + target.name + "' has no environment '" + target.env + "'";
    return std::nullopt;
  }
  const Environment& env = env_it->second;

  WorldPlan plan;
  plan.host_target = target.scope == Scope::Host;
  std::map<std::string, int> role_ns;
  plan.ns.push_back(NsSpec{plan.host_target ? target.host : "router", {}});
  if (plan.host_target)
    role_ns[target.host] = 0;
  for (const Role& r : policy.roles)
    if (!role_ns.count(r.name)) {
      role_ns[r.name] = static_cast<int>(plan.ns.size());
      plan.ns.push_back(NsSpec{r.name, {}});
    }
  if (plan.ns.size() > static_cast<size_t>(kMaxNamespaces)) {
    why_not = "too many roles for one world (" + std::to_string(plan.ns.size()) + ")";
    return std::nullopt;
  }

  // Every prefix bound in the environment: stranger addresses must stay outside all of them.
  std::vector<Prefix> all_bound;
  for (const auto& [key, b] : env.bind)
    all_bound.insert(all_bound.end(), b.prefixes.begin(), b.prefixes.end());

  // Who owns each concrete address, claimed in priority order: the host's bound addresses, every
  // role's bound addresses, the neighbours of every endpoint's binding, strangers.
  std::map<IpAddr, int> owner;
  auto claim = [&](const IpAddr& a, int ns) {
    if (usable_probe_address(a) && !owner.count(a))
      owner.emplace(a, ns);
  };
  std::map<std::string, BoundAddrs> bound; // endpoint text -> addresses
  std::vector<Endpoint> endpoints;         // every role and role.interface
  for (const Role& r : policy.roles) {
    Endpoint e;
    e.role = r.name;
    endpoints.push_back(e);
    for (const Interface& i : r.interfaces) {
      Endpoint ei;
      ei.role = r.name;
      ei.iface = i.name;
      endpoints.push_back(ei);
    }
  }
  for (const Endpoint& e : endpoints)
    if (auto b = bind_endpoint(policy, env, e))
      bound.emplace(e.str(), *b);

  auto bound_points = [](const BoundAddrs& b, int f) {
    std::vector<IpAddr> v;
    for (const Prefix& p : f == 0 ? b.v4 : b.v6) {
      push_unique(v, p.first());
      push_unique(v, p.last());
    }
    return v;
  };
  auto neighbour_points = [](const BoundAddrs& b, int f) {
    std::vector<IpAddr> v;
    const auto& list = f == 0 ? b.v4 : b.v6;
    for (const Prefix& p : list)
      for (auto n : {step(p.first(), false), step(p.last(), true)})
        if (n && !inside_any(*n, list))
          push_unique(v, *n);
    return v;
  };

  std::vector<std::string> order; // roles, host first for a host target
  if (plan.host_target)
    order.push_back(target.host);
  for (const Role& r : policy.roles)
    if (r.name != target.host || !plan.host_target)
      order.push_back(r.name);
  for (const std::string& role : order)
    if (auto it = bound.find(role); it != bound.end())
      for (int f = 0; f < 2; ++f)
        for (const IpAddr& a : bound_points(it->second, f))
          claim(a, role_ns[role]);
  for (const std::string& role : order)
    for (const Endpoint& e : endpoints)
      if (e.role == role)
        if (auto it = bound.find(e.str()); it != bound.end())
          for (int f = 0; f < 2; ++f)
            for (const IpAddr& a : neighbour_points(it->second, f))
              claim(a, role_ns[role]);

  // One stranger address per family in every endpoint namespace: outside every binding, so it
  // stands for "any" and for a source outside a binding.
  std::vector<std::array<std::optional<IpAddr>, 2>> stranger(plan.ns.size());
  for (size_t k = plan.host_target ? 0 : 1; k < plan.ns.size(); ++k) {
    std::string kk = std::to_string(k), kx;
    char hex[24];
    std::snprintf(hex, sizeof hex, "%zx", k);
    kx = hex;
    const std::vector<std::string> cands[2] = {
        {"100.64." + kk + ".1", "198.18." + kk + ".1", "172.30." + kk + ".1",
         "10.254." + kk + ".1"},
        {"fd7e:57a6:0:" + kx + "::1", "2001:db8:ffff:" + kx + "::1", "fdff:ffff:" + kx + "::1"}};
    for (int f = 0; f < 2; ++f)
      for (const std::string& c : cands[f]) {
        auto a = parse_ip(c);
        if (a && !inside_any(*a, all_bound) && !owner.count(*a)) {
          stranger[k][static_cast<size_t>(f)] = *a;
          claim(*a, static_cast<int>(k));
          break;
        }
      }
  }

  auto points_of = [&](const Endpoint& e) -> std::optional<Points> {
    auto it = bound.find(e.str());
    if (it == bound.end())
      return std::nullopt;
    const BoundAddrs& b = it->second;
    size_t ns = static_cast<size_t>(role_ns[e.role]);
    Points p;
    for (int f = 0; f < 2; ++f) {
      auto& st = stranger[ns][static_cast<size_t>(f)];
      if (b.any) {
        if (st)
          p.in[f].push_back(*st);
        continue;
      }
      p.in[f] = bound_points(b, f);
      p.out[f] = neighbour_points(b, f);
      if (st)
        p.out[f].push_back(*st);
    }
    return p;
  };

  // Candidates from every flow, in both directions for two-way flows, whether or not this target
  // enforces it: the engine says what the target must do with each packet.
  std::vector<Candidate> cands;
  std::set<std::pair<std::string, size_t>> unprobeable; // service, spec index
  for (const Flow& f : policy.flows) {
    auto ps = points_of(f.src), pd = points_of(f.dst);
    if (!ps || !pd)
      continue;
    std::string base = trace_of(ctx, f.loc) + " " + f.summary();
    struct Dir {
      const Points* s;
      const Points* d;
      std::string label;
    };
    std::vector<Dir> dirs{{&*ps, &*pd, base}};
    if (f.bidirectional)
      dirs.push_back({&*pd, &*ps, base + " (reverse)"});
    for (const Dir& dir : dirs)
      for (Family fam : {Family::V4, Family::V6}) {
        int fi = fam_index(fam);
        const auto& si = dir.s->in[fi];
        const auto& di = dir.d->in[fi];
        if (si.empty() || di.empty())
          continue;
        for (const ServiceRef& sr : f.services) {
          const Service* svc = policy.find_service(sr.name);
          if (!svc)
            continue;
          for (const ServiceSpec& spec : svc->specs) {
            SpecL4 l4 = spec_l4(spec, fam);
            if (l4.unprobeable)
              unprobeable.insert({svc->name, static_cast<size_t>(&spec - svc->specs.data())});
            std::string main = f.action == Action::Deny ? "deny" : "edge";
            auto add = [&](const IpAddr& s, const IpAddr& d, const L4& l, const std::string& k) {
              cands.push_back(Candidate{s, d, l, k, dir.label});
            };
            for (const IpAddr& s : si)
              for (const IpAddr& d : di) {
                for (const L4& l : l4.in)
                  add(s, d, l, main);
                for (const auto& [l, k] : l4.neighbours)
                  add(s, d, l, k);
                if (!f.bidirectional)
                  for (const L4& l : l4.in)
                    add(d, s, l, "reverse");
              }
            for (const L4& l : l4.in) {
              for (const IpAddr& so : dir.s->out[fi])
                for (const IpAddr& d : di)
                  add(so, d, l, "outside-source");
              for (const IpAddr& s : si)
                for (const IpAddr& dout : dir.d->out[fi])
                  add(s, dout, l, "outside-destination");
            }
          }
        }
      }
  }

  plan.unprobeable = unprobeable.size();

  // Concrete packets: unique, between two namespaces, source ports picked where free (never a
  // port any probe connects to, so a client never collides with a listener).
  std::set<int> used_ports;
  for (const Candidate& c : cands)
    if (c.l4.proto == kProtoTcp || c.l4.proto == kProtoUdp) {
      used_ports.insert(c.l4.dport);
      if (c.l4.sport >= 0)
        used_ports.insert(c.l4.sport);
    }
  std::map<IpAddr, int> next_sport;
  auto pick_sport = [&](const IpAddr& src) {
    int& p = next_sport.try_emplace(src, kAutoSportBase).first->second;
    for (int guard = 0; guard < 65536; ++guard) {
      int cand = p;
      p = p >= 65535 ? 20000 : p + 1;
      if (!used_ports.count(cand))
        return static_cast<uint16_t>(cand);
    }
    return static_cast<uint16_t>(kAutoSportBase);
  };

  const TargetPackets& tp = expected;
  std::set<std::tuple<IpAddr, IpAddr, uint8_t, int, uint16_t>> seen;
  std::vector<ProbeSpec> all;
  for (const Candidate& c : cands) {
    if (!seen.insert({c.src, c.dst, c.l4.proto, c.l4.sport, c.l4.dport}).second)
      continue;
    auto os = owner.find(c.src), od = owner.find(c.dst);
    if (os == owner.end() || od == owner.end() || os->second == od->second)
      continue; // unusable address, or traffic that never leaves one namespace
    ProbeSpec p;
    p.src_ns = os->second;
    p.dst_ns = od->second;
    if (plan.host_target)
      p.chain = p.src_ns == 0 ? Chain::Output : p.dst_ns == 0 ? Chain::Input : Chain::Forward;
    else
      p.chain = Chain::Forward;
    p.pkt.src = c.src;
    p.pkt.dst = c.dst;
    p.pkt.proto = c.l4.proto;
    bool ported = c.l4.proto == kProtoTcp || c.l4.proto == kProtoUdp;
    p.pkt.sport = c.l4.sport >= 0 ? static_cast<uint16_t>(c.l4.sport)
                                  : (ported ? pick_sport(c.src) : uint16_t{0});
    p.pkt.dport = c.l4.dport;
    p.expect_allow = tp.of(p.chain).contains(p.pkt);
    p.kind = c.kind;
    p.flow = c.flow;
    all.push_back(std::move(p));
  }
  plan.candidates = all.size();

  // Sampling: strata of (chain, kind, verdict), visited round-robin in a seeded order, one random
  // member each, so every kind of probe and both verdicts are kept before any is repeated.
  std::vector<size_t> chosen;
  if (opt.max_probes == 0 || all.size() <= opt.max_probes) {
    for (size_t i = 0; i < all.size(); ++i)
      chosen.push_back(i);
  } else {
    std::mt19937_64 rng(opt.sample_seed);
    std::map<std::string, std::vector<size_t>> strata;
    for (size_t i = 0; i < all.size(); ++i)
      strata[std::string(chain_name(all[i].chain)) + "/" + all[i].kind + "/" +
             (all[i].expect_allow ? "allow" : "deny")]
          .push_back(i);
    std::vector<std::vector<size_t>*> order_s;
    for (auto& [k, v] : strata)
      order_s.push_back(&v);
    std::shuffle(order_s.begin(), order_s.end(), rng);
    while (chosen.size() < opt.max_probes) {
      bool any = false;
      for (auto* v : order_s) {
        if (v->empty() || chosen.size() >= opt.max_probes)
          continue;
        std::uniform_int_distribution<size_t> pick(0, v->size() - 1);
        size_t j = pick(rng);
        chosen.push_back((*v)[j]);
        (*v)[j] = v->back();
        v->pop_back();
        any = true;
      }
      if (!any)
        break;
    }
  }

  // Probes must not disturb each other in the kernel: no probe may be the reply of another (its
  // conntrack entry would let it through), and a TCP client must not bind a listening port.
  std::set<std::tuple<IpAddr, uint16_t, IpAddr, uint16_t, uint8_t>> tuples;
  std::set<std::tuple<IpAddr, uint16_t>> tcp_listen;
  for (size_t i : chosen) {
    const Packet& k = all[i].pkt;
    if (k.proto == kProtoTcp || k.proto == kProtoUdp)
      tuples.insert({k.src, k.sport, k.dst, k.dport, k.proto});
    if (k.proto == kProtoTcp)
      tcp_listen.insert({k.dst, k.dport});
  }
  std::set<size_t> used_ns;
  for (size_t i : chosen) {
    const Packet& k = all[i].pkt;
    if (k.proto == kProtoTcp || k.proto == kProtoUdp) {
      auto rev = std::make_tuple(k.dst, k.dport, k.src, k.sport, k.proto);
      if (tuples.count(rev) && rev < std::make_tuple(k.src, k.sport, k.dst, k.dport, k.proto))
        continue;
    }
    if (k.proto == kProtoTcp && tcp_listen.count({k.src, k.sport}))
      continue;
    plan.probes.push_back(all[i]);
  }

  // Each namespace gets the addresses its probes use.
  std::set<IpAddr> used_addrs;
  for (const ProbeSpec& p : plan.probes) {
    used_addrs.insert(p.pkt.src);
    used_addrs.insert(p.pkt.dst);
  }
  for (const IpAddr& a : used_addrs)
    plan.ns[static_cast<size_t>(owner.at(a))].addrs.push_back(a);
  return plan;
}

} // namespace portolan::kernel
