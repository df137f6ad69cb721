// path-drop: between firewalls. A packet goes through several targets of one environment: the
// sender's host firewall (output), the perimeters between the zones it crosses (forward) and
// the receiver's host firewall (input). A flow allowed on one of those hops and dropped on
// another works nowhere end to end. Two ways that happens with the targets as they are:
//   - a host firewall whose role's addresses lie inside a flow's endpoint but which does not
//     enforce the flow (the flow names another role): the perimeter lets the packet through
//     toward an address whose own firewall drops it (or the other way round at the sender);
//   - a flow whose zones have no perimeter between them but a chain of perimeters does (the
//     zone graph of the environment's perimeter targets): the hosts at the ends allow it, and
//     every perimeter on the way drops it, since none of them sees it as crossing its zones.
//   - a flow to a VIP (a load-balanced address): the hops in front of the VIP allow packets
//     that the balancer hands to nodes whose host firewalls all drop them (a deny on a node
//     that catches the kept client source, or the balancer's SNAT address; a family no node
//     has). Judged per node on the packet as the node sees it (source kept or translated,
//     destination the node's address), and mapped back to the VIP's side for the witness.
// Judged on exact packet sets; each finding carries a witness packet allowed on one hop and
// dropped on the other.
#include "check.h"
#include "overlap_index.h"

#include "semantics.h"

#include <algorithm>
#include <deque>

namespace portolan {
namespace {

SourceLoc flow_loc(const Flow& f) {
  SourceLoc l = f.loc;
  l.len = 4;
  return l;
}

bool overlap(const BoundAddrs& a, const BoundAddrs& b) {
  if (a.any || b.any)
    return true;
  for (const auto* fa : {&a.v4, &a.v6})
    for (const Prefix& x : *fa)
      for (const auto* fb : {&b.v4, &b.v6})
        for (const Prefix& y : *fb)
          if (x.contains(y) || y.contains(x))
            return true;
  return false;
}

/// The addresses of a binding as a set of packets from or to them (either side any).
PacketSet to_addrs(const BoundAddrs& b, bool as_dst) {
  PacketSet out;
  if (b.any)
    return PacketSet::all();
  for (const auto* fam : {&b.v4, &b.v6})
    for (const Prefix& p : *fam) {
      Prefix any = p.family() == Family::V4 ? any_v4() : any_v6();
      out.add(as_dst ? PacketSet::box(any, p) : PacketSet::box(p, any));
    }
  return out;
}

/// The packets of `x` with their addresses replaced: destination by `dst`'s, source by
/// `src`'s (nullptr: kept), protocol and ports kept. `cross_family`: a translated source may
/// come out in either family (a balancer that SNATs can take IPv6 in and send IPv4 out);
/// otherwise each packet keeps its family.
PacketSet readdress(const PacketSet& x, const BoundAddrs* src, const BoundAddrs& dst,
                    bool cross_family) {
  PacketSet out;
  for (Family fin : {Family::V4, Family::V6})
    for (const PacketBox& b : x.boxes(fin))
      for (Family fout : {Family::V4, Family::V6}) {
        if (fout != fin && !cross_family)
          continue;
        std::vector<AddrRange> srcs, dsts;
        if (src && src->any) {
          srcs.push_back(AddrRange::of(fout == Family::V4 ? any_v4() : any_v6()));
        } else if (src) {
          for (const Prefix& pr : fout == Family::V4 ? src->v4 : src->v6)
            srcs.push_back(AddrRange::of(pr));
        } else if (fout == fin) {
          srcs.push_back({u128_to_addr(fin, b.iv[PacketBox::kSrc].lo),
                          u128_to_addr(fin, b.iv[PacketBox::kSrc].hi)});
        }
        for (const Prefix& pr : fout == Family::V4 ? dst.v4 : dst.v6)
          dsts.push_back(AddrRange::of(pr));
        auto lo8 = [&](int d) { return static_cast<uint8_t>(b.iv[d].lo); };
        auto hi8 = [&](int d) { return static_cast<uint8_t>(b.iv[d].hi); };
        auto lo16 = [&](int d) { return static_cast<uint16_t>(b.iv[d].lo); };
        auto hi16 = [&](int d) { return static_cast<uint16_t>(b.iv[d].hi); };
        for (const AddrRange& sr : srcs)
          for (const AddrRange& dr : dsts)
            out.add(PacketSet::box(sr, dr, lo8(PacketBox::kProto), hi8(PacketBox::kProto),
                                   lo16(PacketBox::kSport), hi16(PacketBox::kSport),
                                   lo16(PacketBox::kDport), hi16(PacketBox::kDport)));
      }
  return out;
}

class PathCheck : public Check {
public:
  const char* name() const override { return "path"; }
  std::vector<std::string> codes() const override { return {"path-drop"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    std::map<const Environment*, std::vector<const TargetView*>> by_env;
    for (const TargetView& v : ctx.targets)
      by_env[v.env].push_back(&v);
    for (const auto& [env, views] : by_env)
      if (views.size() >= 2)
        run_env(ctx, *env, views);
  }

private:
  struct Hop {
    const TargetView* view;
    Chain chain;
  };

  void run_env(AnalysisContext& ctx, const Environment& env,
               const std::vector<const TargetView*>& views) const {
    const Policy& p = ctx.policy;
    BindCache bound(p, env);
    // Host targets with their role's addresses; the zone graph of the perimeters.
    struct HostT {
      const TargetView* view;
      BoundAddrs addrs;
    };
    std::vector<HostT> hosts;
    std::map<std::string, std::vector<std::pair<std::string, const TargetView*>>> graph;
    for (const TargetView* v : views) {
      if (v->target->scope == Scope::Host) {
        auto b = bind_endpoint(p, env, host_endpoint(p, *v->target));
        if (b && !b->any)
          hosts.push_back({v, *b});
      } else if (v->target->between.size() == 2) {
        const auto& z = v->target->between;
        graph[z[0]].push_back({z[1], v});
        graph[z[1]].push_back({z[0], v});
      }
    }
    // Allowed packets per target and chain, built only when a hop needs them.
    std::map<std::pair<const TargetView*, Chain>, PacketSet> allowed;
    auto allowed_at = [&](const Hop& h) -> const PacketSet& {
      auto key = std::make_pair(h.view, h.chain);
      auto it = allowed.find(key);
      if (it != allowed.end())
        return it->second;
      PacketSet a, d;
      auto c = h.view->chains.find(h.chain);
      if (c != h.view->chains.end())
        for (const FlowPackets& fp : c->second)
          (fp.action == Action::Allow ? a : d).add(fp.packets);
      return allowed.emplace(key, a.subtract(d)).first->second;
    };
    // At a hop that enforces the flow, what of a set the denies there leave allowed: the
    // flow's own packets are allowed unless a deny (evaluated first) decides them, so only the
    // denies are indexed, once per hop that needs them.
    struct Denies {
      std::vector<const PacketSet*> sets;
      OverlapIndex index;
    };
    std::map<std::pair<const TargetView*, Chain>, Denies> denies;
    auto not_denied = [&](const Hop& h, PacketSet x) {
      auto key = std::make_pair(h.view, h.chain);
      auto it = denies.find(key);
      if (it == denies.end()) {
        Denies dn;
        auto c = h.view->chains.find(h.chain);
        if (c != h.view->chains.end())
          for (const FlowPackets& fp : c->second)
            if (fp.action == Action::Deny) {
              dn.index.add(dn.sets.size(), fp.packets);
              dn.sets.push_back(&fp.packets);
            }
        dn.index.build();
        it = denies.emplace(key, std::move(dn)).first;
      }
      for (size_t j : it->second.index.query(x)) {
        if (x.is_empty())
          break;
        x = x.subtract(*it->second.sets[j]);
      }
      return x;
    };
    // Which host firewalls an endpoint's addresses reach, once per endpoint.
    std::map<std::string, std::vector<size_t>> reach;
    std::vector<const std::vector<size_t>*> reach_by_id(p.endpoint_count(), nullptr);
    auto hosts_of = [&](const Endpoint& e, const BoundAddrs& b) -> const std::vector<size_t>& {
      int32_t id = p.endpoint_id(e);
      if (id >= 0 && static_cast<size_t>(id) < reach_by_id.size() && reach_by_id[id])
        return *reach_by_id[id];
      auto it = reach.find(e.str());
      if (it != reach.end())
        return it->second;
      std::vector<size_t> out;
      if (!b.any)
        for (size_t k = 0; k < hosts.size(); ++k)
          if (overlap(b, hosts[k].addrs))
            out.push_back(k);
      const auto& stored = reach.emplace(e.str(), std::move(out)).first->second;
      if (id >= 0 && static_cast<size_t>(id) < reach_by_id.size())
        reach_by_id[id] = &stored;
      return stored;
    };
    run_vips(ctx, env, views, bound, allowed_at, not_denied);
    std::map<std::pair<std::string, std::string>, std::vector<const TargetView*>> paths;
    std::set<size_t> reported;
    for (size_t fi = 0; fi < p.flows.size(); ++fi) {
      const Flow& f = p.flows[fi];
      if (f.action != Action::Allow || reported.count(fi))
        continue;
      // Each direction, each pair of single endpoints (a group's members); one finding per flow.
      std::vector<std::pair<const Endpoint*, const Endpoint*>> pairs;
      for (int dir = 0; dir < (f.bidirectional ? 2 : 1); ++dir)
        for (const Endpoint* a : (dir ? f.dst : f.src).concrete())
          for (const Endpoint* b : (dir ? f.src : f.dst).concrete())
            pairs.push_back({a, b});
      for (size_t pi = 0; pi < pairs.size() && !reported.count(fi); ++pi) {
        const Endpoint& s = *pairs[pi].first;
        const Endpoint& d = *pairs[pi].second;
        // The hops that do not enforce this direction although its packets pass them.
        std::vector<std::pair<Hop, PacketSet>> blind; // hop, packets of the flow that pass it
        const auto& bs = bound(s);
        const auto& bd = bound(d);
        if (!bs || !bd)
          continue;
        std::vector<const HostT*> blind_hosts_in, blind_hosts_out;
        for (size_t k : hosts_of(d, *bd))
          if (!hosts[k].view->target->hosts_role(d.role))
            blind_hosts_in.push_back(&hosts[k]);
        for (size_t k : hosts_of(s, *bs))
          if (!hosts[k].view->target->hosts_role(s.role))
            blind_hosts_out.push_back(&hosts[k]);
        const std::string& zs = p.zone_of(s);
        const std::string& zd = p.zone_of(d);
        auto zp = paths.find({zs, zd});
        if (zp == paths.end())
          zp = paths.emplace(std::make_pair(zs, zd), zone_path(graph, zs, zd)).first;
        const std::vector<const TargetView*>& chain_path = zp->second;
        if (blind_hosts_in.empty() && blind_hosts_out.empty() && chain_path.size() < 2)
          continue;
        if (!active(ctx, f, env))
          break;
        // The direction's packets.
        PacketSet pk;
        for (const ServiceRef& sr : f.services)
          if (const Service* svc = p.service_of(sr))
            for (const ServiceSpec& spec : svc->specs)
              pk.add(spec_packets(*bs, *bd, spec));
        if (pk.is_empty())
          continue;
        // The hops that enforce it, and allow it there.
        std::vector<Hop> enforcing;
        for (const TargetView* v : views) {
          if (v->target->scope == Scope::Host) {
            if (v->target->hosts_role(d.role))
              enforcing.push_back({v, Chain::Input});
            if (v->target->hosts_role(s.role))
              enforcing.push_back({v, Chain::Output});
          } else if (crosses(p, *v->target, s, d)) {
            enforcing.push_back({v, Chain::Forward});
          }
        }
        if (enforcing.empty())
          continue; // enforced nowhere: that is 'unenforced'
        for (const HostT* h : blind_hosts_in)
          blind.push_back({{h->view, Chain::Input}, pk.intersect(to_addrs(h->addrs, true))});
        for (const HostT* h : blind_hosts_out)
          blind.push_back({{h->view, Chain::Output}, pk.intersect(to_addrs(h->addrs, false))});
        if (chain_path.size() >= 2)
          for (const TargetView* v : chain_path)
            blind.push_back({{v, Chain::Forward}, pk});
        for (const auto& [hop, passing] : blind) {
          PacketSet dropped = passing.subtract(allowed_at(hop));
          if (dropped.is_empty())
            continue;
          // A hop that enforces the flow and allows some of those packets.
          for (const Hop& e : enforcing) {
            PacketSet both = not_denied(e, dropped);
            if (both.is_empty())
              continue;
            report(ctx, env, f, s, d, e, hop, both, chain_path.size() >= 2);
            reported.insert(fi);
            break;
          }
          if (reported.count(fi))
            break;
        }
      }
    }
  }

  /// Flows to a VIP: allowed by a hop in front of it, accepted by no node behind it.
  template <class AllowedAt, class NotDenied>
  void run_vips(AnalysisContext& ctx, const Environment& env,
                const std::vector<const TargetView*>& views, BindCache& bound,
                AllowedAt& allowed_at, NotDenied& not_denied) const {
    const Policy& p = ctx.policy;
    bool any_vip = false;
    for (const Role& r : p.roles)
      any_vip = any_vip || r.vip.has_value();
    if (!any_vip)
      return;
    for (const Flow& f : p.flows) {
      if (f.action != Action::Allow)
        continue;
      // Each direction, each pair of single endpoints (a group's members); one finding per flow.
      std::vector<std::pair<const Endpoint*, const Endpoint*>> pairs;
      for (int dir = 0; dir < (f.bidirectional ? 2 : 1); ++dir)
        for (const Endpoint* a : (dir ? f.dst : f.src).concrete())
          for (const Endpoint* b : (dir ? f.src : f.dst).concrete())
            pairs.push_back({a, b});
      bool done = false;
      for (size_t pi = 0; pi < pairs.size() && !done; ++pi) {
        const Endpoint& s = *pairs[pi].first;
        const Endpoint& d = *pairs[pi].second;
        const Role* vr = vip_of(p, d);
        if (!vr)
          continue;
        const Vip& vip = *vr->vip;
        const auto& bs = bound(s);
        const auto& bd = bound(d);
        if (!bs || !bd || bd->any || !active(ctx, f, env))
          continue;
        // The node host firewalls; a node without one in this environment may accept
        // anything, so nothing can be said.
        struct NodeHop {
          const Endpoint* node;
          const TargetView* view;
          const BoundAddrs* addrs;
        };
        std::vector<NodeHop> nodes;
        bool unknown = false;
        for (const Endpoint& n : vip.nodes) {
          const auto& bn = bound(n);
          const TargetView* hv = nullptr;
          for (const TargetView* v : views)
            if (v->target->scope == Scope::Host && v->target->hosts_role(n.role))
              hv = v;
          if (!hv || !bn || bn->any) {
            unknown = true;
            break;
          }
          nodes.push_back({&n, hv, &*bn});
        }
        const BoundAddrs* from = nullptr;
        if (vip.balance == Balance::Snat) {
          if (!vip.snat_from || !bound(*vip.snat_from) || bound(*vip.snat_from)->any)
            unknown = true; // lowering reports the unbound balancer
          else
            from = &*bound(*vip.snat_from);
        }
        if (unknown || nodes.empty())
          continue;
        PacketSet pk = flow_packets(p, f, *bs, *bd);
        if (pk.is_empty())
          continue;
        // The hops in front of the VIP that enforce this direction.
        std::vector<Hop> front;
        for (const TargetView* v : views) {
          if (v->target->scope == Scope::Host) {
            if (!s.is_any() && v->target->hosts_role(s.role))
              front.push_back({v, Chain::Output});
          } else if (crosses(p, *v->target, s, d)) {
            front.push_back({v, Chain::Forward});
          }
        }
        for (const Hop& e : front) {
          PacketSet a = not_denied(e, pk);
          if (a.is_empty())
            continue;
          // What every node drops, on the VIP's side.
          PacketSet failed = a;
          std::vector<std::pair<const NodeHop*, PacketSet>> drops;
          for (const NodeHop& n : nodes) {
            PacketSet seen = readdress(a, from, *n.addrs, from != nullptr);
            PacketSet dropped = seen.subtract(allowed_at(Hop{n.view, Chain::Input}));
            // Back on the VIP's side: the kept source stays, a translated one stands for every
            // client; a family the node cannot receive is dropped whole.
            PacketSet back = readdress(dropped, from ? &*bs : nullptr, *bd, from != nullptr);
            if (!from)
              for (Family fam : {Family::V4, Family::V6})
                if ((fam == Family::V4 ? n.addrs->v4 : n.addrs->v6).empty())
                  back.add(a.intersect(PacketSet::all_of(fam)));
            if (from && seen.is_empty())
              back = a; // the balancer and the node share no family
            failed = failed.intersect(back);
            drops.push_back({&n, std::move(dropped)});
            if (failed.is_empty())
              break;
          }
          if (failed.is_empty())
            continue;
          report_vip(ctx, env, f, *vr, e, failed, drops, from != nullptr);
          done = true;
          break;
        }
      }
    }
  }

  template <class NodeDrops>
  static void report_vip(AnalysisContext& ctx, const Environment& env, const Flow& f,
                         const Role& vr, const Hop& allows, const PacketSet& failed,
                         const NodeDrops& drops, bool snat) {
    const Vip& vip = *vr.vip;
    std::string how = snat ? "with the source translated to '" + vip.snat_from->str() + "'"
                           : std::string("with the client's source kept");
    auto& diag = ctx.report("path-drop", flow_loc(f),
                            "flow is allowed to VIP '" + vr.name + "' by " + describe(allows) +
                                " but accepted by no node in environment '" + env.name +
                                "': the balancer hands those packets " + how +
                                " to nodes whose host firewalls drop them");
    std::optional<Packet> w = witness_packet(failed);
    for (const auto& [n, dropped] : drops) {
      // The witness as this node sees it: a dropped packet with the witness's protocol and
      // ports (and, the source kept, its source).
      std::optional<Packet> seen;
      if (w) {
        PacketDims dims;
        dims.protos = {{w->proto, w->proto}};
        dims.sports = {{w->sport, w->sport}};
        dims.dports = {{w->dport, w->dport}};
        if (!snat)
          dims.src = std::vector<AddrRange>{AddrRange::host(w->src)};
        seen = witness_packet(dropped.intersect(product(dims)));
      }
      if (!seen)
        seen = witness_packet(dropped);
      diag.notes.push_back({n->view->target->loc,
                            "dropped here: the host firewall of node '" + n->node->str() +
                                "' (input) " +
                                (seen ? "drops " + seen->str()
                                      : std::string("has no ") +
                                            (w && w->dst.family == Family::V6 ? "IPv6" : "IPv4") +
                                            " address to receive it")});
    }
    diag.notes.push_back({allows.view->target->loc, "allowed here, on the VIP"});
    diag.witness = witness(failed);
  }

  static bool active(const AnalysisContext& ctx, const Flow& f, const Environment& env) {
    return flow_active(f, env, ctx.today_override, nullptr);
  }

  /// The perimeters a packet crosses from zone a to zone b: a shortest path in the graph of
  /// perimeter targets (empty when the zones are equal or not connected).
  static std::vector<const TargetView*>
  zone_path(const std::map<std::string, std::vector<std::pair<std::string, const TargetView*>>>& g,
            const std::string& a, const std::string& b) {
    if (a == b || a.empty() || b.empty() || !g.count(a) || !g.count(b))
      return {};
    std::map<std::string, std::pair<std::string, const TargetView*>> prev;
    std::deque<std::string> queue{a};
    prev[a] = {"", nullptr};
    while (!queue.empty()) {
      std::string z = queue.front();
      queue.pop_front();
      if (z == b)
        break;
      for (const auto& [next, v] : g.at(z))
        if (!prev.count(next)) {
          prev[next] = {z, v};
          queue.push_back(next);
        }
    }
    if (!prev.count(b))
      return {};
    std::vector<const TargetView*> out;
    for (std::string z = b; z != a; z = prev[z].first)
      out.push_back(prev[z].second);
    std::reverse(out.begin(), out.end());
    // Several perimeters between the same two zones are alternatives, not a chain: a path of
    // one edge is the direct case, which the zones' own targets enforce.
    return out;
  }

  static std::string describe(const Hop& h) {
    const Target& t = *h.view->target;
    if (t.scope == Scope::Host)
      return "target '" + t.name + "' (host firewall of '" + t.host_str() + "', " +
             chain_name(h.chain) + ")";
    return "target '" + t.name + "' (between '" + t.between[0] + "' and '" + t.between[1] + "')";
  }

  static void report(AnalysisContext& ctx, const Environment& env, const Flow& f, const Endpoint& s,
                     const Endpoint& d, const Hop& allows, const Hop& drops, const PacketSet& both,
                     bool chain) {
    std::string why = chain ? "the flow crosses from zone '" + ctx.policy.zone_of(s) +
                                  "' to zone '" + ctx.policy.zone_of(d) +
                                  "' through it, but it enforces only flows between " +
                                  "its own two zones"
                            : "its role's addresses lie inside '" +
                                  (drops.chain == Chain::Input ? d.str() : s.str()) +
                                  "', but it enforces only flows naming its own role";
    auto& diag = ctx.report("path-drop", flow_loc(f),
                            "flow is allowed by " + describe(allows) + " but dropped by " +
                                describe(drops) + " on its path in environment '" + env.name +
                                "': those packets cannot get through end to end");
    diag.notes.push_back({drops.view->target->loc, "dropped here: " + why});
    diag.notes.push_back({allows.view->target->loc, "allowed here"});
    diag.witness = witness(both);
  }
};

} // namespace

std::unique_ptr<Check> make_path_check() {
  return std::make_unique<PathCheck>();
}

} // namespace portolan
