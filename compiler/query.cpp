#include "query.h"

#include <set>

namespace portolan {

namespace {

bool bound_contains(const std::optional<BoundAddrs>& b, const IpAddr& a) {
  if (!b)
    return false;
  if (b->any)
    return true;
  for (const Prefix& p : a.family == Family::V4 ? b->v4 : b->v6)
    if (p.contains(a))
      return true;
  return false;
}

/// The chains of `t` that see `pkt`, from the bound addresses of its endpoints.
std::vector<Chain> seeing(const Policy& p, BindCache& bound, const Target& t, const Packet& pkt) {
  std::vector<Chain> chains;
  if (t.scope == Scope::Host) {
    const auto& b = bound(host_endpoint(p, t));
    if (bound_contains(b, pkt.dst))
      chains.push_back(Chain::Input);
    if (bound_contains(b, pkt.src))
      chains.push_back(Chain::Output);
    return chains;
  }
  std::set<std::string> zs, zd; // the zones of the endpoints bound to each address
  for (const Role& r : p.roles) {
    std::vector<Endpoint> eps{Endpoint::of(r.name)};
    for (const Interface& i : r.interfaces)
      eps.push_back(Endpoint::of(r.name, i.name));
    for (const Endpoint& ep : eps) {
      const auto& b = bound(ep);
      if (bound_contains(b, pkt.src))
        zs.insert(p.zone_of(ep));
      if (bound_contains(b, pkt.dst))
        zd.insert(p.zone_of(ep));
    }
  }
  for (const std::string& a : zs)
    for (const std::string& b : zd)
      if (crosses(t, a, b)) {
        chains.push_back(Chain::Forward);
        return chains;
      }
  return chains;
}

} // namespace

std::optional<Packet> parse_packet_spec(const std::string& spec, Packet p) {
  auto slash = spec.find('/');
  if (slash == std::string::npos)
    return std::nullopt;
  std::string kind = spec.substr(0, slash), rest = spec.substr(slash + 1);
  auto num = [](const std::string& t, long max) -> std::optional<long> {
    if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 6)
      return std::nullopt;
    long v = std::stol(t);
    return v <= max ? std::optional<long>(v) : std::nullopt;
  };
  if (kind == "tcp" || kind == "udp") {
    auto port = num(rest, 65535);
    if (!port || *port == 0)
      return std::nullopt;
    p.proto = kind == "tcp" ? kProtoTcp : kProtoUdp;
    p.dport = static_cast<uint16_t>(*port);
    return p;
  }
  if (kind == "icmp" || kind == "icmpv6") {
    auto s2 = rest.find('/');
    auto type = num(rest.substr(0, s2), 255);
    auto code = s2 == std::string::npos ? std::optional<long>(0) : num(rest.substr(s2 + 1), 255);
    if (!type || !code)
      return std::nullopt;
    p.proto = kind == "icmp" ? kProtoIcmp : kProtoIcmpV6;
    p.sport = static_cast<uint16_t>(*type);
    p.dport = static_cast<uint16_t>(*code);
    return p;
  }
  if (kind == "proto") {
    auto n = num(rest, 255);
    if (!n)
      return std::nullopt;
    p.proto = static_cast<uint8_t>(*n);
    p.sport = p.dport = 0;
    return p;
  }
  return std::nullopt;
}

std::vector<QueryVerdict> query(const Policy& p, const Environment& env,
                                const std::vector<TargetView>& views, const Packet& pkt) {
  std::vector<QueryVerdict> out;
  BindCache bound(p, env);
  for (const TargetView& v : views)
    for (Chain c : seeing(p, bound, *v.target, pkt)) {
      QueryVerdict q{v.target, c, nullptr};
      if (auto it = v.chains.find(c); it != v.chains.end())
        for (const FlowPackets& fp : it->second)
          if (fp.packets.contains(pkt)) {
            q.decider = &fp;
            break;
          }
      out.push_back(q);
    }
  return out;
}

void print_query(std::ostream& out, const Policy& p, const SourceManager& sm,
                 const std::string& env, const Packet& pkt,
                 const std::vector<QueryVerdict>& verdicts) {
  out << "packet: " << pkt.str() << "\n";
  for (const QueryVerdict& q : verdicts) {
    out << q.target->name << " (" << chain_name(q.chain) << "): ";
    if (!q.decider) {
      out << "deny (default deny: no flow matches)\n";
      continue;
    }
    const Flow& f = p.flows[q.decider->flow];
    out << (q.decider->action == Action::Allow ? "allow" : "deny") << " by " << sm.where(f.loc)
        << " " << f.summary() << "\n";
  }
  if (verdicts.empty())
    out << "no target of environment '" << env << "' sees this packet\n";
}

} // namespace portolan
