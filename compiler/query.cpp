#include "query.h"

#include "nat.h"

#include <nlohmann/json.hpp>

#include <algorithm>
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

/// The direction and service of the deciding flow that match `pkt` (QueryVerdict's comment).
void explain(const Policy& p, BindCache& bound, const Packet& pkt, QueryVerdict& q) {
  const Flow& f = p.flows[q.decider->flow];
  for (bool rev : {false, true}) {
    if (rev && !f.bidirectional)
      break;
    const Endpoint& a = rev ? f.dst : f.src;
    const Endpoint& b = rev ? f.src : f.dst;
    const auto& ba = bound(a);
    const auto& bb = bound(b);
    if (!ba || !bb)
      continue;
    for (const ServiceRef& sr : f.services)
      if (const Service* svc = p.service_of(sr))
        for (const ServiceSpec& spec : svc->specs)
          if (spec_packets(*ba, *bb, spec).contains(pkt)) {
            q.from = &a;
            q.to = &b;
            q.reverse = rev;
            q.service = &sr;
            q.from_bound = ba;
            q.to_bound = bb;
            return;
          }
  }
  // A port mapping's internal leg: the flow's source to the mapping's endpoint and port.
  if (f.maps && !f.services.empty()) {
    Term leg{q.decider->flow, &f.src, &f.maps->dst, false, {}, nullptr, nullptr, true};
    const auto& ba = bound(f.src);
    const auto& bb = bound(f.maps->dst);
    if (ba && bb)
      for (const ServiceSpec& spec : term_specs(p, leg))
        if (spec_packets(*ba, *bb, spec).contains(pkt)) {
          q.from = &f.src;
          q.to = &f.maps->dst;
          q.service = &f.services[0];
          q.from_bound = ba;
          q.to_bound = bb;
          return;
        }
  }
}

std::string proto_text(uint8_t proto) {
  switch (proto) {
  case kProtoTcp:
    return "tcp";
  case kProtoUdp:
    return "udp";
  case kProtoIcmp:
    return "icmp";
  case kProtoIcmpV6:
    return "icmpv6";
  default:
    return "proto";
  }
}

nlohmann::json bound_json(const Endpoint& e, const std::optional<BoundAddrs>& b) {
  nlohmann::json j{
      {"endpoint", e.str()},
      {"role", e.role},
      {"interface", e.iface.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.iface)},
      {"any", b && b->any},
      {"prefixes", nlohmann::json::array()}};
  if (b && !b->any)
    for (const auto* list : {&b->v4, &b->v6})
      for (const Prefix& pre : *list)
        j["prefixes"].push_back(pre.str_with_len());
  return j;
}

} // namespace

QueryOutcome query_outcome(const std::vector<QueryVerdict>& verdicts) {
  if (verdicts.empty())
    return QueryOutcome::Unseen;
  for (const QueryVerdict& q : verdicts)
    if (!q.decider || q.decider->action != Action::Allow || q.conntrack)
      return QueryOutcome::Deny;
  return QueryOutcome::Allow;
}

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

namespace {

/// The verdicts of one view on one packet, appended to `out`.
void judge(const Policy& p, BindCache& bound, const TargetView& v, const Packet& pkt,
           std::vector<QueryVerdict>& out) {
  for (Chain c : seeing(p, bound, *v.target, pkt)) {
    QueryVerdict q;
    q.target = v.target;
    q.chain = c;
    if (auto it = v.chains.find(c); it != v.chains.end())
      for (const FlowPackets& fp : it->second)
        if (fp.packets.contains(pkt)) {
          q.decider = &fp;
          explain(p, bound, pkt, q);
          break;
        }
    out.push_back(q);
  }
}

} // namespace

std::vector<QueryVerdict> query(const Policy& p, const Environment& env,
                                const std::vector<TargetView>& views, const Packet& pkt) {
  std::vector<QueryVerdict> out;
  BindCache bound(p, env);
  for (const TargetView& v : views)
    judge(p, bound, v, pkt, out);
  return out;
}

std::vector<QueryVerdict> query(const Policy& p, const Environment& env,
                                const std::vector<TargetView>& views, const Packet& sent,
                                const QueryNat& nat) {
  std::vector<QueryVerdict> out;
  BindCache bound(p, env);
  for (const TargetView& v : views) {
    bool as_sent = nat.mapping && std::find(nat.by.begin(), nat.by.end(), v.target) != nat.by.end();
    judge(p, bound, v, as_sent ? sent : nat.judged, out);
  }
  return out;
}

std::optional<QueryNat> query_nat(const LowerContext& ctx, const Environment& env,
                                  const std::vector<const Target*>& targets, const Packet& pkt) {
  std::optional<QueryNat> out;
  std::optional<Packet> after;
  std::vector<std::string> by, what;
  for (const Target* t : targets) {
    std::vector<Translation> tr = target_translations(ctx, *t, env);
    std::vector<const Translation*> used;
    auto a = translate(tr, pkt, &used);
    if (!a || (after && a != after))
      continue;
    if (!after) {
      after = a;
      Packet judged = pkt;
      judged.dst = a->dst;
      judged.dport = a->dport;
      out = QueryNat{judged, {}, false, {}};
      for (const Translation* u : used) {
        what.push_back(u->traced());
        out->mapping = out->mapping || u->mapping();
      }
    }
    by.push_back(t->name);
    out->by.push_back(t);
  }
  if (!out)
    return out;
  std::string names;
  for (const std::string& n : by)
    names += (names.empty() ? "" : ", ") + n;
  for (const std::string& w : what)
    out->lines.push_back("nat (" + names + "): " + w);
  if (out->judged != pkt)
    out->lines.push_back(out->mapping ? "behind the perimeter: " + out->judged.str()
                                      : "judged as: " + out->judged.str());
  if (after->src != pkt.src)
    out->lines.push_back("leaves the perimeter as: " + after->str());
  return out;
}

std::vector<BalancedHop> query_balanced(const Policy& p, const Environment& env,
                                        const std::vector<TargetView>& views, const Packet& pkt) {
  std::vector<BalancedHop> out;
  BindCache bound(p, env);
  auto first_of = [&](const std::optional<BoundAddrs>& b) -> std::vector<IpAddr> {
    std::vector<IpAddr> addrs;
    if (b && !b->any)
      for (const Prefix& pr : pkt.dst.family == Family::V4 ? b->v4 : b->v6)
        addrs.push_back(pr.first());
    return addrs;
  };
  for (const Role& r : p.roles) {
    if (!r.vip || !bound_contains(bound(Endpoint::of(r.name)), pkt.dst))
      continue;
    for (const Endpoint& n : r.vip->nodes) {
      std::vector<IpAddr> dsts = first_of(bound(n));
      std::optional<IpAddr> src = pkt.src;
      if (r.vip->balance == Balance::Snat) {
        auto from = r.vip->snat_from ? first_of(bound(*r.vip->snat_from)) : std::vector<IpAddr>{};
        src = from.empty() ? std::nullopt : std::optional<IpAddr>(from.front());
      }
      if (dsts.empty() || !src) {
        out.push_back({&r, &n, std::nullopt, {}});
        continue;
      }
      for (const IpAddr& d : dsts) {
        Packet q = pkt;
        q.src = *src;
        q.dst = d;
        BalancedHop hop{&r, &n, q, {}};
        // Only the node's own firewalls judge it: the balanced leg runs from the balancer to
        // the node inside the VIP's zone, through no perimeter.
        for (const QueryVerdict& v : query(p, env, views, q))
          if (v.target->scope == Scope::Host && v.chain == Chain::Input)
            hop.verdicts.push_back(v);
        out.push_back(std::move(hop));
      }
    }
  }
  return out;
}

void mark_conntrack(std::vector<QueryVerdict>& verdicts, const Packet& pkt,
                    const std::function<Conntrack(const Target&)>& tracks) {
  for (QueryVerdict& q : verdicts)
    if (Conntrack c = tracks(*q.target); c != Conntrack::None)
      q.conntrack = conntrack_drop(pkt, c == Conntrack::TracksOwnIcmpOnly);
}

namespace {

void print_verdicts(std::ostream& out, const Policy& p, const SourceManager& sm,
                    const std::vector<QueryVerdict>& verdicts, const char* indent) {
  for (const QueryVerdict& q : verdicts) {
    out << indent << q.target->name << " (" << chain_name(q.chain) << "): ";
    if (q.conntrack) {
      out << "deny (dropped before any rule: " << q.conntrack << ")";
      if (q.decider && q.decider->action == Action::Allow)
        out << "; the policy allows it by " << sm.where(p.flows[q.decider->flow].loc) << " "
            << p.flows[q.decider->flow].summary();
      out << "\n";
      continue;
    }
    if (!q.decider) {
      out << "deny (default deny: no flow matches)\n";
      continue;
    }
    const Flow& f = p.flows[q.decider->flow];
    out << (q.decider->action == Action::Allow ? "allow" : "deny") << " by " << sm.where(f.loc)
        << " " << f.summary() << "\n";
  }
}

} // namespace

void print_query(std::ostream& out, const Policy& p, const SourceManager& sm,
                 const std::string& env, const Packet& pkt,
                 const std::vector<QueryVerdict>& verdicts,
                 const std::vector<BalancedHop>& balanced, const std::optional<QueryNat>& nat) {
  out << "packet: " << pkt.str() << "\n";
  if (nat)
    for (const std::string& l : nat->lines)
      out << l << "\n";
  print_verdicts(out, p, sm, verdicts, "");
  if (verdicts.empty() && balanced.empty())
    out << "no target of environment '" << env << "' sees this packet\n";
  for (const BalancedHop& h : balanced) {
    const Vip& v = *h.vip->vip;
    std::string how = v.balance == Balance::Snat && v.snat_from
                          ? "source translated to " + v.snat_from->str()
                          : "source kept";
    out << "balanced by VIP '" << h.vip->name << "' to node '" << h.node->str() << "' (" << how
        << "): ";
    if (!h.pkt) {
      out << "no packet: " << (v.balance == Balance::Snat ? "the balancer or the node" : "the node")
          << " has no address of this family in environment '" << env << "'\n";
      continue;
    }
    out << h.pkt->str() << "\n";
    print_verdicts(out, p, sm, h.verdicts, "  ");
    if (h.verdicts.empty())
      out << "  no host firewall of '" << h.node->role << "' in environment '" << env
          << "' sees it\n";
  }
}

void print_query_json(std::ostream& out, const Policy& p, const SourceManager& sm,
                      const std::string& env, const Packet& pkt,
                      const std::vector<QueryVerdict>& verdicts) {
  using nlohmann::json;
  json packet{{"family", pkt.src.family == Family::V4 ? "ipv4" : "ipv6"},
              {"src", pkt.src.str()},
              {"dst", pkt.dst.str()},
              {"protocol", proto_text(pkt.proto)},
              {"proto", pkt.proto},
              {"text", pkt.str()}};
  if (pkt.proto == kProtoTcp || pkt.proto == kProtoUdp) {
    packet["sport"] = pkt.sport;
    packet["dport"] = pkt.dport;
  } else if (pkt.proto == kProtoIcmp || pkt.proto == kProtoIcmpV6) {
    packet["type"] = pkt.sport; // type and code sit in the port dimensions
    packet["code"] = pkt.dport;
  }
  static const char* kOutcome[] = {"allow", "deny", "unseen"};
  json list = json::array();
  for (const QueryVerdict& q : verdicts) {
    json v{{"target", q.target->name},
           {"backend", q.target->backend},
           {"scope", q.target->scope == Scope::Host ? "host" : "between"},
           {"chain", chain_name(q.chain)},
           {"verdict",
            q.decider && q.decider->action == Action::Allow && !q.conntrack ? "allow" : "deny"},
           {"dropped_before_rules", q.conntrack ? json(q.conntrack) : json(nullptr)},
           {"default_deny", q.decider == nullptr},
           {"flow", nullptr}};
    if (q.decider) {
      const Flow& f = p.flows[q.decider->flow];
      json flow{{"name", f.group.empty() ? json(nullptr) : json(f.group)},
                {"summary", f.summary()},
                {"action", f.action == Action::Allow ? "allow" : "deny"},
                {"file", f.loc.valid() ? json(sm.file(f.loc.file).path) : json(nullptr)},
                {"line", f.loc.line},
                {"col", f.loc.col},
                {"where", sm.where(f.loc)},
                {"bidirectional", f.bidirectional},
                {"reverse", q.reverse},
                {"source", nullptr},
                {"destination", nullptr},
                {"service", nullptr}};
      if (q.from && q.to) {
        flow["source"] = bound_json(*q.from, q.from_bound);
        flow["destination"] = bound_json(*q.to, q.to_bound);
      }
      if (q.service) {
        json svc{{"name", q.service->name}};
        if (const Service* s = p.service_of(*q.service)) {
          svc["label"] = s->label;
          svc["where"] = sm.where(s->loc);
        }
        flow["service"] = svc;
      }
      v["flow"] = flow;
    }
    list.push_back(v);
  }
  json doc{{"version", 1},
           {"environment", env},
           {"packet", packet},
           {"outcome", kOutcome[static_cast<int>(query_outcome(verdicts))]},
           {"verdicts", list}};
  out << doc.dump(2) << "\n";
}

} // namespace portolan
