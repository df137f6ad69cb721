#include "plan.h"

#include "semantics.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
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

uint8_t icmp_of(Family f) {
  return f == Family::V4 ? kProtoIcmp : kProtoIcmpV6;
}

/// ICMP probes of one message type: code 0 and code 255 (a type without a code matches all).
void icmp_type_l4(std::vector<L4>& out, Family f, int type, std::optional<int> code) {
  if (code) {
    out.push_back(L4{icmp_of(f), type, static_cast<uint16_t>(*code)});
    return;
  }
  out.push_back(L4{icmp_of(f), type, 0});
  out.push_back(L4{icmp_of(f), type, 255});
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
    std::optional<int> code;
    if (im->code)
      code = *im->code;
    if (im->type) {
      int t = *im->type;
      icmp_type_l4(s.in, f, t, code);
      for (int n : {t - 1, t + 1, 255, echo(f).sport})
        if (n >= 0 && n <= 255 && n != t)
          s.neighbours.push_back({L4{icmp_of(f), n, 0}, "icmp-type-neighbour"});
      if (code)
        for (int c : {*code - 1, *code + 1})
          if (c >= 0 && c <= 255)
            s.neighbours.push_back(
                {L4{icmp_of(f), t, static_cast<uint16_t>(c)}, "icmp-code-neighbour"});
    } else {
      // Every type: the echo request, an error type, a reply, and 255 (xt_icmp's "any").
      std::vector<int> types = f == Family::V4 ? std::vector<int>{8, 0, 3, 11, 13, 255}
                                               : std::vector<int>{128, 129, 1, 3, 255};
      for (int t : types)
        icmp_type_l4(s.in, f, t, code);
    }
    transports_as_neighbours();
    return s;
  }
  if (auto* pr = std::get_if<ProtoMatch>(&spec)) {
    if (pr->number == kProtoTcp || pr->number == kProtoUdp)
      return port_l4(PortMatch{pr->number, {}, {}}, f);
    if (pr->number == icmp_of(f))
      return spec_l4(IcmpMatch{pr->number, std::nullopt, std::nullopt}, f);
    if (pr->number == ipproto::sctp)
      s.in = {L4{pr->number, -1, 1}, L4{pr->number, -1, 65535}};
    else if (pr->number == kProtoIcmp || pr->number == kProtoIcmpV6) // the other family's icmp
      s.in = {L4{pr->number, 8, 0}, L4{pr->number, 128, 0}, L4{pr->number, 255, 255}};
    else
      s.in = {L4{pr->number, 0, 0}};
    for (int n : {int{pr->number} - 1, int{pr->number} + 1})
      if (n >= 0 && n <= 255 && n != kProtoTcp && n != kProtoUdp)
        s.neighbours.push_back({L4{static_cast<uint8_t>(n), n == ipproto::sctp ? -1 : 0,
                                   static_cast<uint16_t>(n == ipproto::sctp ? 7 : 0)},
                                "proto-neighbour"});
    transports_as_neighbours();
    s.neighbours.push_back({echo(f), "icmp-echo"});
    return s;
  }
  // any: every protocol
  s.in = {L4{kProtoTcp, -1, 1},
          L4{kProtoTcp, -1, 65535},
          L4{kProtoUdp, -1, 1},
          L4{kProtoUdp, -1, 65535},
          echo(f),
          L4{icmp_of(f), 255, 255},
          L4{0, 0, 0},
          L4{47, 0, 0},
          L4{255, 0, 0},
          L4{ipproto::sctp, -1, 9}};
  return s;
}

/// The protocol and ICMP sweep of one address pair: protocol numbers with a meaning of their own
/// to some vendor (0 = all to iptables, 255, tunnels, IPsec, SCTP, the other family's ICMP),
/// ICMP types with one (255, the error types, replies, neighbour discovery) and a few drawn at
/// random, so a long run covers every number. The engine decides each; none is assumed denied.
std::vector<std::pair<L4, std::string>> sweep_l4(Family f, std::mt19937_64& rng) {
  std::vector<std::pair<L4, std::string>> v;
  std::uniform_int_distribution<int> any(0, 255);
  std::vector<int> protos{0, 41, 47, 50, 51, 255, any(rng), any(rng)};
  protos.push_back(f == Family::V4 ? kProtoIcmpV6 : kProtoIcmp);
  for (int p : protos)
    if (p != kProtoTcp && p != kProtoUdp && p != icmp_of(f) && p != ipproto::sctp)
      v.push_back({L4{static_cast<uint8_t>(p), 0, 0}, "proto-sweep"});
  v.push_back({L4{ipproto::sctp, -1, 5060}, "proto-sweep"});
  std::vector<int> types = f == Family::V4
                               ? std::vector<int>{0, 3, 4, 5, 11, 12, 13, 14, 255}
                               : std::vector<int>{1, 2, 3, 4, 129, 133, 134, 135, 136, 255};
  types.push_back(any(rng));
  types.push_back(any(rng));
  types.push_back(any(rng));
  for (int t : types)
    v.push_back({L4{icmp_of(f), t, static_cast<uint16_t>(t == 255 ? 255 : 0)}, "icmp-sweep"});
  return v;
}

struct Candidate {
  IpAddr src, dst;
  L4 l4;
  std::string kind;
  std::string flow;
};

} // namespace

bool icmp_error_type(uint8_t proto, int type) {
  if (proto == kProtoIcmp)
    return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return proto == kProtoIcmpV6 && type >= 1 && type <= 4;
}

bool ipv6_ext_header(uint8_t proto) {
  return proto == 0 || proto == 43 || proto == 44 || proto == 51 || proto == 60;
}

bool conntrack_invalid(const Packet& k) {
  bool v4 = k.src.family == Family::V4;
  if ((k.proto == kProtoIcmpV6 && v4) || (k.proto == kProtoIcmp && !v4))
    return true;
  // An extension header with nothing after it, or "no next header" (59) itself: the kernel's
  // ipv6_skip_exthdr finds no transport, so conntrack attaches no connection.
  if (!v4 && (ipv6_ext_header(k.proto) || k.proto == 59))
    return true;
  if (k.proto == kProtoIcmp) {
    int t = k.sport;
    return !(t == 8 || t == 13 || t == 15 || t == 17);
  }
  if (k.proto == kProtoIcmpV6) {
    int t = k.sport;
    bool untracked = (t >= 130 && t <= 136) || t == 143;
    return !(t == 128 || t == 139 || untracked);
  }
  return false;
}

ProbeWay probe_way(const Packet& p) {
  if (p.proto == kProtoTcp)
    return ProbeWay::Tcp;
  if (p.proto == kProtoUdp)
    return ProbeWay::Udp;
  bool own_icmp = (p.proto == kProtoIcmp && p.src.family == Family::V4) ||
                  (p.proto == kProtoIcmpV6 && p.src.family == Family::V6);
  if (own_icmp && p.sport == (p.proto == kProtoIcmp ? 8 : 128) && p.dport == 0)
    return ProbeWay::Ping;
  return ProbeWay::Raw;
}

std::string probe_class(const Packet& p) {
  std::string fam = p.src.family == Family::V4 ? "v4 " : "v6 ";
  if (p.proto == kProtoTcp)
    return fam + "tcp";
  if (p.proto == kProtoUdp)
    return fam + "udp";
  bool own_icmp = (p.proto == kProtoIcmp && p.src.family == Family::V4) ||
                  (p.proto == kProtoIcmpV6 && p.src.family == Family::V6);
  if (own_icmp) {
    std::string n = p.proto == kProtoIcmp ? "icmp" : "icmpv6";
    if (probe_way(p) == ProbeWay::Ping)
      return fam + n + "-echo";
    if (icmp_error_type(p.proto, p.sport))
      return fam + n + "-error";
    if (p.sport == 255)
      return fam + n + "-type-255";
    return fam + n + "-other";
  }
  static const std::set<int> named{0, 1, 41, 47, 50, 51, 58, 132, 255};
  return fam + (named.count(p.proto) ? "proto-" + std::to_string(p.proto) : "proto-other");
}

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
  // A host target's machine is namespace 0, and every role it holds lives there.
  plan.ns.push_back(NsSpec{plan.host_target ? target.hosts.at(0) : "router", {}});
  if (plan.host_target)
    for (const std::string& h : target.hosts)
      role_ns[h] = 0;
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
    order = target.hosts;
  for (const Role& r : policy.roles)
    if (!target.hosts_role(r.name) || !plan.host_target)
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
    if (e.is_any()) { // every address: a stranger in each endpoint namespace
      Points p;
      for (size_t k = plan.host_target ? 0 : 1; k < plan.ns.size(); ++k)
        for (int f = 0; f < 2; ++f)
          if (const auto& st = stranger[k][static_cast<size_t>(f)])
            p.in[f].push_back(*st);
      return p;
    }
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

  // The bound points of every endpoint inside an endpoint's prefixes (not the endpoint's own).
  auto inner_points = [&](const Endpoint& e, int fi) {
    std::vector<IpAddr> v;
    auto it = bound.find(e.str());
    if (it == bound.end() || it->second.any)
      return v;
    const auto& list = fi == 0 ? it->second.v4 : it->second.v6;
    auto own = bound_points(it->second, fi);
    for (const auto& [key, b] : bound)
      for (const IpAddr& a : bound_points(b, fi))
        if (inside_any(a, list) && std::find(own.begin(), own.end(), a) == own.end())
          push_unique(v, a);
    return v;
  };

  // Candidates from every flow, in both directions for two-way flows, whether or not this target
  // enforces it: the engine says what the target must do with each packet.
  std::vector<Candidate> cands;
  std::set<std::pair<std::string, size_t>> unprobeable; // service, spec index
  std::mt19937_64 sweep_rng(opt.sample_seed ^ 0x5157454550ull);
  // A group's or list's flow: every pair of members (the flow's label stays the flow's).
  for (const Flow& f : policy.flows)
    for (const Endpoint* fs : f.src.concrete())
      for (const Endpoint* fd : f.dst.concrete()) {
        auto ps = points_of(*fs), pd = points_of(*fd);
        if (!ps || !pd)
          continue;
        std::string base = trace_of(ctx, f.loc) + " " + f.summary();
        struct Dir {
          const Points* s;
          const Points* d;
          std::string label;
          const Endpoint* se;
          const Endpoint* de;
        };
        std::vector<Dir> dirs{{&*ps, &*pd, base, fs, fd}};
        if (f.bidirectional)
          dirs.push_back({&*pd, &*ps, base + " (reverse)", fd, fs});
        // A direction to or from a VIP also reaches the nodes, as the balancer hands it on:
        // from the client (or the balancer's SNAT address) to each node, and from each node to
        // the peer.
        std::deque<Points> held;
        auto hold = [&](const Endpoint& e) -> const Points* {
          auto x = points_of(e);
          if (!x)
            return nullptr;
          held.push_back(std::move(*x));
          return &held.back();
        };
        for (size_t k = 0, n = dirs.size(); k < n; ++k) {
          const Dir d0 = dirs[k];
          if (const Role* v = vip_of(policy, *d0.de);
              v && !(v->vip->balance == Balance::Snat && f.action == Action::Deny))
            for (const Endpoint& node : v->vip->nodes) {
              const Endpoint* src = v->vip->balance == Balance::Snat && v->vip->snat_from
                                        ? &*v->vip->snat_from
                                        : d0.se;
              const Points* a = hold(*src);
              const Points* b = hold(node);
              if (a && b)
                dirs.push_back({a, b, d0.label + " (balanced)", src, &node});
            }
          if (const Role* v = vip_of(policy, *d0.se))
            for (const Endpoint& node : v->vip->nodes)
              if (const Points* a = hold(node))
                dirs.push_back({a, d0.d, d0.label + " (from a node)", &node, d0.de});
        }
        for (const Dir& dir : dirs)
          for (Family fam : {Family::V4, Family::V6}) {
            int fi = fam_index(fam);
            const auto& si = dir.s->in[fi];
            const auto& di = dir.d->in[fi];
            if (si.empty() || di.empty())
              continue;
            for (const auto& [l, k] : sweep_l4(fam, sweep_rng))
              cands.push_back(Candidate{si[0], di[0], l, k, dir.label});
            for (const ServiceRef& sr : f.services) {
              const Service* svc = policy.find_service(sr.name);
              if (!svc)
                continue;
              for (const ServiceSpec& spec : svc->specs) {
                SpecL4 l4 = spec_l4(spec, fam);
                if (l4.unprobeable)
                  unprobeable.insert({svc->name, static_cast<size_t>(&spec - svc->specs.data())});
                std::string main = f.action == Action::Deny ? "deny" : "edge";
                auto add = [&](const IpAddr& s, const IpAddr& d, const L4& l,
                               const std::string& k) {
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
                if (f.action == Action::Deny) {
                  // A deny cuts every allow whose packets it covers, whichever role or zone the
                  // allow names: probe the bound addresses of every endpoint that lie inside the
                  // deny's prefixes (issue 10 case 4: deny scanner -> dmz_hosts cuts anyone ->
                  // web).
                  auto si_in = inner_points(*dir.se, fi), di_in = inner_points(*dir.de, fi);
                  for (const L4& l : l4.in) {
                    for (const IpAddr& s : si)
                      for (const IpAddr& d : di_in)
                        add(s, d, l, "deny-inner");
                    for (const IpAddr& s : si_in)
                      for (const IpAddr& d : di)
                        add(s, d, l, "deny-inner");
                  }
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
    if (c.l4.proto == kProtoTcp || c.l4.proto == kProtoUdp || c.l4.proto == ipproto::sctp) {
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
  // The engine judges the policy's flows; a host target also passes IPv6 neighbour discovery
  // (types 133-136, any code) on input and output unless icmpv6_nd = false, as docs/backends.md
  // says. That plumbing is the only verdict not taken from the expected packets.
  const bool nd_plumbing = plan.host_target && opt.nd_plumbing;
  const bool own_icmp_only = target.backend == "iptables"; // BackendSpec conntrack_own_icmp_only
  auto expected_verdict = [&](const ProbeSpec& p) {
    bool nd = nd_plumbing && p.chain != Chain::Forward && p.pkt.proto == kProtoIcmpV6 &&
              p.pkt.src.family == Family::V6 && p.pkt.sport >= 133 && p.pkt.sport <= 136;
    // The engine's own model of conntrack (semantics.h): what it gives no connection never
    // reaches the rules. The kernel judges that model; conntrack_invalid() below is the
    // harness's separate list, used only to tell which probes the rules decide.
    return nd || (tp.of(p.chain).contains(p.pkt) && !conntrack_drop(p.pkt, own_icmp_only));
  };
  std::set<std::tuple<IpAddr, IpAddr, uint8_t, int, uint16_t>> seen;
  std::vector<ProbeSpec> all;
  for (const Candidate& c : cands) {
    if (!seen.insert({c.src, c.dst, c.l4.proto, c.l4.sport, c.l4.dport}).second)
      continue;
    auto os = owner.find(c.src), od = owner.find(c.dst);
    if (os == owner.end() || od == owner.end() || os->second == od->second)
      continue; // unusable address, or traffic that never leaves one namespace
    if ((plan.host_target && od->second == 0 && c.l4.proto == 0 && c.dst.family == Family::V4) ||
        c.l4.proto == 33 || c.l4.proto == 136) {
      // No IPv4 raw socket receives protocol 0 (EPROTONOSUPPORT). DCCP (33) and UDP-Lite (136)
      // have conntrack trackers that validate their headers; the harness's UDP-Lite header did
      // not pass them (it is still built, see world.cpp), so neither is probed: a known gap.
      ++plan.unobservable;
      continue;
    }
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
    bool ported = c.l4.proto == kProtoTcp || c.l4.proto == kProtoUdp || c.l4.proto == ipproto::sctp;
    p.pkt.sport = c.l4.sport >= 0 ? static_cast<uint16_t>(c.l4.sport)
                                  : (ported ? pick_sport(c.src) : uint16_t{0});
    p.pkt.dport = c.l4.dport;
    p.expect_allow = expected_verdict(p);
    p.rules_decide = !conntrack_invalid(p.pkt) &&
                     !(nd_plumbing && p.chain != Chain::Forward && p.pkt.proto == kProtoIcmpV6 &&
                       p.pkt.sport >= 133 && p.pkt.sport <= 136 && c.src.family == Family::V6);
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
  // conntrack entry would let it through): TCP, UDP and SCTP by their ports, other protocols by
  // their addresses alone (conntrack's generic tracker), ICMP echo-like requests by their
  // identifier (unique per probe, see world.cpp). A TCP client must not bind a listening port.
  auto conn_key = [](const Packet& k) {
    bool ported = k.proto == kProtoTcp || k.proto == kProtoUdp || k.proto == ipproto::sctp;
    bool icmp = k.proto == kProtoIcmp || k.proto == kProtoIcmpV6;
    return std::make_tuple(k.src, ported ? k.sport : uint16_t{0}, k.dst,
                           ported ? k.dport : uint16_t{0}, k.proto, icmp);
  };
  std::set<std::tuple<IpAddr, uint16_t, IpAddr, uint16_t, uint8_t>> tuples;
  std::set<std::tuple<IpAddr, uint16_t>> tcp_listen;
  for (size_t i : chosen) {
    auto [s1, p1, d1, p2, pr, icmp] = conn_key(all[i].pkt);
    if (!icmp)
      tuples.insert({s1, p1, d1, p2, pr});
    if (all[i].pkt.proto == kProtoTcp)
      tcp_listen.insert({all[i].pkt.dst, all[i].pkt.dport});
  }
  std::set<size_t> used_ns;
  for (size_t i : chosen) {
    const Packet& k = all[i].pkt;
    auto [s1, p1, d1, p2, pr, icmp] = conn_key(k);
    if (!icmp) {
      auto rev = std::make_tuple(d1, p2, s1, p1, pr);
      if (tuples.count(rev) && rev < std::make_tuple(s1, p1, d1, p2, pr))
        continue;
    }
    if (k.proto == kProtoTcp && tcp_listen.count({k.src, k.sport}))
      continue;
    plan.probes.push_back(all[i]);
  }

  // Connections to open before a reload: allowed TCP and UDP probes (alternating), each with a
  // fresh source port so its conntrack entry is its own.
  if (opt.reload_probes > 0) {
    std::vector<const ProbeSpec*> pool[2];
    for (const ProbeSpec& p : all)
      if (p.expect_allow && (p.pkt.proto == kProtoTcp || p.pkt.proto == kProtoUdp) &&
          p.pkt.sport >= kAutoSportBase)
        pool[p.pkt.proto == kProtoTcp ? 0 : 1].push_back(&p);
    std::mt19937_64 rng(opt.sample_seed ^ 0x52454c4f4144ull);
    for (auto& v : pool)
      std::shuffle(v.begin(), v.end(), rng);
    std::set<std::pair<IpAddr, uint16_t>> listeners; // one connection per listener
    for (size_t n = 0;
         plan.reload.size() < opt.reload_probes && n < pool[0].size() + pool[1].size(); ++n) {
      auto& v = pool[n % 2];
      if (v.empty())
        continue;
      ProbeSpec p = *v.back();
      v.pop_back();
      if (!listeners.insert({p.pkt.dst, p.pkt.dport}).second)
        continue;
      p.pkt.sport = pick_sport(p.pkt.src);
      p.kind = "reload";
      plan.reload.push_back(p);
    }
  }

  // Each namespace gets the addresses its probes use.
  std::set<IpAddr> used_addrs;
  for (const auto* list : {&plan.probes, &plan.reload})
    for (const ProbeSpec& p : *list) {
      used_addrs.insert(p.pkt.src);
      used_addrs.insert(p.pkt.dst);
    }
  for (const IpAddr& a : used_addrs)
    plan.ns[static_cast<size_t>(owner.at(a))].addrs.push_back(a);
  return plan;
}

} // namespace portolan::kernel
