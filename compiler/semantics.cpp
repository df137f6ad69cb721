#include "semantics.h"

namespace portolan {

const PacketSet& TargetPackets::of(Chain c) const {
  static const PacketSet none;
  auto it = allowed.find(c);
  return it == allowed.end() ? none : it->second;
}

namespace {

std::vector<AddrRange> ranges(const BoundAddrs& b, Family f) {
  std::vector<AddrRange> out;
  if (b.any) {
    out.push_back(f == Family::V4 ? AddrRange::of(Prefix{IpAddr{Family::V4, {}}, 0})
                                  : AddrRange::of(Prefix{IpAddr{Family::V6, {}}, 0}));
    return out;
  }
  for (const Prefix& p : f == Family::V4 ? b.v4 : b.v6)
    out.push_back(AddrRange::of(p));
  return out;
}

struct Dims {
  uint8_t proto_lo = 0, proto_hi = 255;
  std::vector<PortRange> sports{{0, 65535}}, dports{{0, 65535}};
  bool v4 = true, v6 = true;
};

Dims dims_of(const ServiceSpec& spec) {
  Dims d;
  if (auto* pm = std::get_if<PortMatch>(&spec)) {
    d.proto_lo = d.proto_hi = pm->proto;
    if (!pm->sports.empty())
      d.sports = pm->sports;
    if (!pm->dports.empty())
      d.dports = pm->dports;
  } else if (auto* im = std::get_if<IcmpMatch>(&spec)) {
    d.proto_lo = d.proto_hi = im->proto;
    d.v4 = im->proto == kProtoIcmp;
    d.v6 = im->proto == kProtoIcmpV6;
    if (im->type)
      d.sports = {{*im->type, *im->type}};
    if (im->code)
      d.dports = {{*im->code, *im->code}};
  } else if (auto* pr = std::get_if<ProtoMatch>(&spec)) {
    // proto 1 and proto 58 are ICMP and ICMPv6: like icmp/icmpv6 they keep to their family.
    d.proto_lo = d.proto_hi = pr->number;
    d.v4 = pr->number != kProtoIcmpV6;
    d.v6 = pr->number != kProtoIcmp;
  }
  return d;
}

} // namespace

PacketSet spec_packets(const BoundAddrs& src, const BoundAddrs& dst, const ServiceSpec& spec) {
  Dims d = dims_of(spec);
  PacketSet out;
  for (Family f : {Family::V4, Family::V6}) {
    if ((f == Family::V4 && !d.v4) || (f == Family::V6 && !d.v6))
      continue;
    for (const AddrRange& s : ranges(src, f))
      for (const AddrRange& t : ranges(dst, f))
        for (const PortRange& sp : d.sports)
          for (const PortRange& dp : d.dports)
            out.add(PacketSet::box(s, t, d.proto_lo, d.proto_hi, sp.lo, sp.hi, dp.lo, dp.hi));
  }
  return out;
}

TargetPackets expected_packets(const LowerContext& ctx, const Target& target) {
  TargetPackets out;
  auto env_it = ctx.manifest.environments.find(target.env);
  if (env_it == ctx.manifest.environments.end())
    return out;
  std::map<Chain, PacketSet> allow, deny;
  BindCache bound(ctx.policy, env_it->second);
  for (const Term& t : enforced_terms(ctx, target, env_it->second, nullptr)) {
    const Flow& f = ctx.policy.flows[t.flow];
    const auto& bs = bound(*t.src);
    const auto& bd = bound(*t.dst);
    if (!bs || !bd)
      continue; // an error for lowering; nothing is allowed
    PacketSet flow_set;
    for (const ServiceRef& sr : f.services)
      if (const Service* svc = ctx.policy.service_of(sr))
        for (const ServiceSpec& spec : svc->specs)
          flow_set.add(spec_packets(*bs, *bd, spec));
    for (Chain c : t.chains)
      (f.action == Action::Allow ? allow : deny)[c].add(flow_set);
  }
  for (auto& [c, set] : allow)
    out.allowed[c] = set.subtract(deny[c]);
  return out;
}

} // namespace portolan
