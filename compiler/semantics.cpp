#include "semantics.h"

namespace portolan {

const PacketSet& TargetPackets::of(Chain c) const {
  static const PacketSet none;
  auto it = allowed.find(c);
  return it == allowed.end() ? none : it->second;
}

namespace {

std::optional<std::vector<AddrRange>> ranges(const BoundAddrs& b) {
  if (b.any)
    return std::nullopt;
  std::vector<AddrRange> out;
  for (const auto* list : {&b.v4, &b.v6})
    for (const Prefix& p : *list)
      out.push_back(AddrRange::of(p));
  return out;
}

PacketDims dims_of(const ServiceSpec& spec) {
  PacketDims d;
  if (auto* pm = std::get_if<PortMatch>(&spec)) {
    d.protos = {{pm->proto, pm->proto}};
    if (!pm->sports.empty())
      d.sports = pm->sports;
    if (!pm->dports.empty())
      d.dports = pm->dports;
  } else if (auto* im = std::get_if<IcmpMatch>(&spec)) {
    d.protos = {{im->proto, im->proto}};
    d.v4 = im->proto == kProtoIcmp;
    d.v6 = im->proto == kProtoIcmpV6;
    if (im->type)
      d.sports = {{*im->type, *im->type}};
    if (im->code)
      d.dports = {{*im->code, *im->code}};
  } else if (auto* pr = std::get_if<ProtoMatch>(&spec)) {
    // proto 1 and proto 58 are ICMP and ICMPv6: like icmp/icmpv6 they keep to their family.
    d.protos = {{pr->number, pr->number}};
    d.v4 = pr->number != kProtoIcmpV6;
    d.v6 = pr->number != kProtoIcmp;
  }
  return d;
}

} // namespace

PacketSet spec_packets(const BoundAddrs& src, const BoundAddrs& dst, const ServiceSpec& spec) {
  PacketDims d = dims_of(spec);
  d.src = ranges(src);
  d.dst = ranges(dst);
  return product(d);
}

PacketSet flow_packets(const Policy& p, const Flow& f, const BoundAddrs& src,
                       const BoundAddrs& dst) {
  PacketSet out;
  for (const ServiceRef& sr : f.services)
    if (const Service* svc = p.service_of(sr))
      for (const ServiceSpec& spec : svc->specs)
        out.add(spec_packets(src, dst, spec));
  return out;
}

const PacketSet* EnvPackets::of(const Term& t) {
  if (head_.size() <= t.flow)
    head_.resize(std::max(policy_.flows.size(), t.flow + 1), -1);
  int32_t at = head_[t.flow];
  while (at >= 0 && !slots_[static_cast<size_t>(at)].is(t))
    at = slots_[static_cast<size_t>(at)].next;
  if (at < 0) {
    Slot& fresh = slots_.emplace_back();
    fresh.src = t.src;
    fresh.dst = t.dst;
    fresh.vip = t.vip;
    fresh.reverse = t.reverse;
    fresh.mapped = t.mapped;
    fresh.next = head_[t.flow];
    at = head_[t.flow] = static_cast<int32_t>(slots_.size() - 1);
  }
  Slot& s = slots_[static_cast<size_t>(at)];
  if (!s.done) {
    s.done = true;
    const auto& bs = bound_(*t.src);
    const auto& bd = bound_(*t.dst);
    s.bound = bs && bd;
    if (s.bound && t.mapped) // a port mapping's internal leg: its one mapped port
      for (const ServiceSpec& spec : term_specs(policy_, t))
        s.set.add(spec_packets(*bs, *bd, spec));
    else if (s.bound)
      s.set = flow_packets(policy_, policy_.flows[t.flow], *bs, *bd);
    // A balanced leg carries only the families its VIP's side has (bind.h, term_families).
    if (auto [v4, v6] = term_families(t, bound_); s.bound && (!v4 || !v6))
      s.set = s.set.intersect(v4   ? PacketSet::all_of(Family::V4)
                              : v6 ? PacketSet::all_of(Family::V6)
                                   : PacketSet{});
  }
  return s.bound ? &s.set : nullptr;
}

TargetView target_view(const Policy& p, const Target& t, const Environment& env,
                       const std::vector<Term>& terms, EnvPackets& packets) {
  TargetView v;
  v.target = &t;
  v.env = &env;
  std::map<Chain, std::map<size_t, PacketSet>> per_flow;
  for (const Term& term : terms) {
    if (v.enforced.empty() || v.enforced.back() != term.flow)
      v.enforced.push_back(term.flow);
    const PacketSet* set = packets.of(term);
    if (!set)
      continue;
    for (Chain c : term.chains)
      per_flow[c][term.flow].add(*set);
  }
  for (auto& [chain, flows] : per_flow) {
    auto& list = v.chains[chain];
    list.reserve(flows.size());
    for (Action a : {Action::Deny, Action::Allow})
      for (auto& [fi, set] : flows)
        if (p.flows[fi].action == a)
          list.push_back(FlowPackets{fi, a, std::move(set)});
  }
  return v;
}

TargetPackets allowed_packets(const TargetView& v) {
  TargetPackets out;
  for (const auto& [c, flows] : v.chains) {
    PacketSet allow, deny;
    bool any_allow = false;
    for (const FlowPackets& fp : flows) {
      (fp.action == Action::Allow ? allow : deny).add(fp.packets);
      any_allow = any_allow || fp.action == Action::Allow;
    }
    if (any_allow)
      out.allowed[c] = allow.subtract(deny);
  }
  return out;
}

const char* conntrack_drop(const Packet& p, bool own_icmp_only) {
  bool v4 = p.src.family == Family::V4;
  if (own_icmp_only && v4 && p.proto == kProtoIcmpV6)
    return "conntrack gives IPv4 protocol 58 (the number of ICMPv6) no connection";
  if (own_icmp_only && !v4 && p.proto == kProtoIcmp)
    return "conntrack gives IPv6 next header 1 (the number of IPv4 ICMP) no connection";
  if (!v4 && (p.proto == 0 || p.proto == 43 || p.proto == 44 || p.proto == 51 || p.proto == 59 ||
              p.proto == 60))
    return "an IPv6 extension header with no transport after it: conntrack gives it no "
           "connection";
  return nullptr;
}

} // namespace portolan
