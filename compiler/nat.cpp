#include "nat.h"

#include <algorithm>

namespace portolan {

std::string Translation::summary() const {
  if (mapping()) {
    std::string pr = proto == kProtoUdp ? "udp " : "tcp ";
    return endpoint + " " + match.str() + " " + pr + std::to_string(port) + " -> " + to_endpoint +
           " " + to.str() + " " + pr + std::to_string(to_port) + " (port mapping)";
  }
  return endpoint + " " + match.str() + " -> " + to.str() + " (" +
         (kind == Kind::Destination ? "destination NAT of connections from zone "
                                    : "source NAT of its connections to zone ") +
         outside + ")";
}

namespace {

bool in_peer(const Translation& t, const IpAddr& a) {
  if (t.peer_any)
    return true;
  return std::any_of(t.peer.begin(), t.peer.end(), [&](const Prefix& p) { return p.contains(a); });
}

} // namespace

std::vector<Translation> target_translations(const LowerContext& ctx, const Target& t,
                                             const Environment& env) {
  std::vector<Translation> dst, src;
  if (t.scope != Scope::Between || t.between.size() != 2)
    return dst;
  const Policy& p = ctx.policy;
  for (const auto& [key, b] : env.bind) {
    if (!b.nat)
      continue;
    const NatBinding& nat = *b.nat;
    const std::string& zone = p.zone_of(key_endpoint(key));
    std::string outside = nat_outside(ctx.manifest, p, env.name, key, nat);
    if (zone.empty() || outside.empty() || !crosses(t, zone, outside))
      continue;
    Translation d;
    d.kind = Translation::Kind::Destination;
    d.match = nat.pub;
    d.to = nat.real;
    d.endpoint = key;
    d.inside = zone;
    d.outside = outside;
    d.loc = nat.public_loc;
    // The outside zone's addresses: every role and interface in it, as bound here.
    std::vector<Prefix> peer;
    bool any = false;
    for (const Role& r : p.roles) {
      std::vector<Endpoint> eps{Endpoint::of(r.name)};
      for (const Interface& i : r.interfaces)
        eps.push_back(Endpoint::of(r.name, i.name));
      for (const Endpoint& ep : eps) {
        if (p.zone_of(ep) != outside)
          continue;
        auto it = env.bind.find(ep.str());
        if (it == env.bind.end())
          continue;
        any = any || it->second.any;
        for (const Prefix& pr : it->second.prefixes)
          if (pr.family() == nat.pub.family())
            peer.push_back(pr);
      }
    }
    d.peer_any = any;
    if (any)
      peer.clear();
    std::sort(peer.begin(), peer.end());
    peer.erase(std::unique(peer.begin(), peer.end()), peer.end());
    for (const Prefix& x : peer) // the outermost prefixes: the same addresses, no nesting
      if (std::none_of(peer.begin(), peer.end(),
                       [&](const Prefix& y) { return y != x && y.contains(x); }))
        d.peer.push_back(x);
    Translation s = d;
    s.kind = Translation::Kind::Source;
    s.match = nat.real;
    s.to = nat.pub;
    if (!d.peer_any && d.peer.empty())
      continue; // nothing bound on the outside in this family: nothing to translate
    if (nat.kind == NatBinding::Kind::Symmetric)
      src.push_back(s);
    dst.push_back(std::move(d));
  }
  // Port mappings: the perimeter the front half crosses translates the published address and
  // port to the mapping's endpoint and port, for connections from the flow's sources that cross
  // it (each member of a group or list; `any` crosses every perimeter its other end is at).
  BindCache bound(p, env);
  std::vector<std::string> ids; // flow ids, computed when a mapping needs them
  for (size_t fi = 0; fi < p.flows.size(); ++fi) {
    const Flow& f = p.flows[fi];
    if (!f.maps || f.action != Action::Allow || f.bidirectional || f.dst.is_set() ||
        f.dst.is_any() || !flow_active(f, env, ctx.today_override, nullptr))
      continue;
    std::vector<const Endpoint*> srcs;
    for (const Endpoint* s : f.src.concrete())
      if (crosses(p, t, *s, f.dst))
        srcs.push_back(s);
    if (srcs.empty())
      continue;
    std::optional<uint16_t> port = published_port(p, f);
    const auto& bd = bound(f.dst);
    const auto& bm = bound(f.maps->dst);
    if (!port || !bd || !bm || bd->any || bm->any)
      continue; // lowering reports it
    bool src_any = false, src_bound = false;
    std::vector<Prefix> src4, src6;
    for (const Endpoint* s : srcs)
      if (const auto& bs = bound(*s)) {
        src_bound = true;
        src_any = src_any || bs->any;
        src4.insert(src4.end(), bs->v4.begin(), bs->v4.end());
        src6.insert(src6.end(), bs->v6.begin(), bs->v6.end());
      }
    if (!src_bound)
      continue; // lowering reports it
    for (bool v4 : {true, false}) {
      const auto& pub = v4 ? bd->v4 : bd->v6;
      const auto& real = v4 ? bm->v4 : bm->v6;
      if (pub.size() != 1 || real.size() != 1 || !pub[0].is_host() || !real[0].is_host())
        continue; // lowering reports it
      Translation m;
      m.kind = Translation::Kind::Destination;
      m.match = pub[0];
      m.to = real[0];
      m.peer_any = src_any;
      if (!src_any) {
        m.peer = v4 ? src4 : src6;
        std::sort(m.peer.begin(), m.peer.end());
        m.peer.erase(std::unique(m.peer.begin(), m.peer.end()), m.peer.end());
      }
      if (!m.peer_any && m.peer.empty())
        continue;
      m.endpoint = f.dst.str();
      m.to_endpoint = f.maps->dst.str();
      m.inside = p.zone_of(f.dst);
      m.outside = p.zone_of(*srcs.front());
      if (f.src.is_any() || m.outside.empty()) // `any` is on the side f.dst is not
        m.outside = t.between[0] == m.inside ? t.between[1] : t.between[0];
      RuleOrigin o;
      o.flow = fi;
      o.loc = f.loc;
      o.label = f.summary();
      o.note = f.note;
      o.trace = trace_of(ctx, f.loc);
      o.src_zone = m.outside;
      if (!ctx.flow_ids && ids.empty())
        ids = flow_ids(p);
      o.id = ctx.flow_ids ? (*ctx.flow_ids)[fi] : ids[fi];
      m.flow = std::move(o);
      m.loc = f.maps->loc;
      m.proto = f.maps->proto;
      m.port = *port;
      m.to_port = f.maps->port;
      dst.push_back(std::move(m));
    }
  }
  dst.insert(dst.end(), src.begin(), src.end());
  return dst;
}

std::optional<uint16_t> published_port(const Policy& p, const Flow& f) {
  if (!f.maps || f.services.size() != 1)
    return std::nullopt;
  const Service* s = p.service_of(f.services[0]);
  if (!s || s->specs.size() != 1)
    return std::nullopt;
  const auto* pm = std::get_if<PortMatch>(&s->specs[0]);
  if (!pm || pm->proto != f.maps->proto || pm->dports.size() != 1 ||
      pm->dports[0].lo != pm->dports[0].hi || !pm->sports.empty())
    return std::nullopt;
  return pm->dports[0].lo;
}

std::optional<Packet> translate(const std::vector<Translation>& tr, const Packet& pkt,
                                std::vector<const Translation*>* used) {
  Packet out = pkt;
  bool any = false;
  for (const Translation& t : tr)
    if (t.kind == Translation::Kind::Destination && t.match.contains(pkt.dst) &&
        in_peer(t, pkt.src) && (!t.mapping() || (pkt.proto == t.proto && pkt.dport == t.port))) {
      out.dst = t.to.addr;
      if (t.mapping())
        out.dport = t.to_port;
      any = true;
      if (used)
        used->push_back(&t);
      break;
    }
  for (const Translation& t : tr)
    if (t.kind == Translation::Kind::Source && t.match.contains(pkt.src) && in_peer(t, pkt.dst)) {
      out.src = t.to.addr;
      any = true;
      if (used)
        used->push_back(&t);
      break;
    }
  if (!any)
    return std::nullopt;
  return out;
}

std::vector<std::string> host_nat_notes(const LowerContext& ctx, const Target& t,
                                        const Environment& env) {
  std::vector<std::string> out;
  if (t.scope != Scope::Host)
    return out;
  for (const auto& [key, b] : env.bind) {
    if (!b.nat || !t.hosts_role(key_endpoint(key).role))
      continue;
    const NatBinding& nat = *b.nat;
    std::string outside = nat_outside(ctx.manifest, ctx.policy, env.name, key, nat);
    out.push_back(
        "NAT: " + key + " is reached as " + nat.pub.str() +
        (outside.empty() ? "" : " from zone " + outside) +
        "; a perimeter translates it, and this host sees and filters its real address " +
        nat.real.str() +
        (nat.kind == NatBinding::Kind::Symmetric
             ? " (its outbound connections leave the perimeter from " + nat.pub.str() + ")"
             : ""));
  }
  return out;
}

} // namespace portolan
