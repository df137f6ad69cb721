// one-way: both directions of a service between two endpoints are written as two one-way
// flows (as the seed's table does), but an environment has only one of them in force. Judged on
// packet sets: the missing direction is reported only when no flow, or union of flows, in force
// in the same environment provides it (another half of a split row, a source-port variant, an
// alternative behind another feature). Also: the vendor's two-way pairs (SIP 5061, XMPP 5269,
// STUN 3478) written as two rows whose halves differ in protocol or port.
#include "check.h"

#include "semantics.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace portolan {
namespace {

bool share_service(const Flow& a, const Flow& b) {
  for (const ServiceRef& x : a.services)
    for (const ServiceRef& y : b.services)
      if (x.name == y.name)
        return true;
  return false;
}

/// A spec with its source ports widened: a source-port variant of a service still provides
/// the direction (the connection is the same application).
ServiceSpec widened(ServiceSpec s) {
  if (auto* pm = std::get_if<PortMatch>(&s))
    pm->sports.clear();
  return s;
}

/// The packets a flow allows in one environment (both directions of a two-way flow), source
/// ports widened. Empty when an endpoint is unbound.
PacketSet flow_packets(const Policy& p, BindCache& bound, const Flow& f) {
  PacketSet out;
  const auto& bs = bound(f.src);
  const auto& bd = bound(f.dst);
  if (!bs || !bd)
    return out;
  for (const ServiceRef& sr : f.services)
    if (const Service* svc = p.service_of(sr))
      for (const ServiceSpec& spec : svc->specs) {
        ServiceSpec w = widened(spec);
        out.add(spec_packets(*bs, *bd, w));
        if (f.bidirectional)
          out.add(spec_packets(*bd, *bs, w));
      }
  return out;
}

/// The vendor's two-way ports: a row one way and a row back are one requirement.
struct TwoWayPort {
  uint8_t proto;
  uint16_t port;
};
constexpr long kNearPorts = 10;
constexpr TwoWayPort kTwoWay[] = {{kProtoTcp, 5061}, {kProtoTcp, 5269}, {kProtoUdp, 3478}};

const char* proto_name(uint8_t p) {
  return p == kProtoTcp ? "tcp" : p == kProtoUdp ? "udp" : "ip";
}

/// The (proto, port) pairs a flow's services carry, with the lowest port of each range.
std::vector<std::pair<uint8_t, PortRange>> ports_of(const Policy& p, const Flow& f) {
  std::vector<std::pair<uint8_t, PortRange>> out;
  for (const ServiceRef& sr : f.services)
    if (const Service* svc = p.service_of(sr))
      for (const ServiceSpec& spec : svc->specs)
        if (auto* pm = std::get_if<PortMatch>(&spec))
          for (const PortRange& r : pm->dports)
            out.push_back({pm->proto, r});
  return out;
}

/// One-way allow flows by (source, destination) endpoint, so the reverse is a lookup: the
/// endpoints by dense id (their text, `Endpoint::str`), the pairs hashed, and visited in the
/// order of their texts (as an ordered map of the texts would, without its string compares).
struct PairIndex {
  std::vector<std::string> names;
  std::unordered_map<std::string, uint32_t> ids;
  std::unordered_map<uint64_t, std::vector<size_t>> lists;
  std::vector<uint64_t> order; ///< every key, by (source text, destination text)

  uint32_t id_of(std::string name) {
    auto [it, fresh] = ids.try_emplace(std::move(name), static_cast<uint32_t>(names.size()));
    if (fresh)
      names.push_back(it->first);
    return it->second;
  }
  static uint64_t key(uint32_t src, uint32_t dst) { return uint64_t(src) << 32 | dst; }
  static uint32_t src_of(uint64_t k) { return static_cast<uint32_t>(k >> 32); }
  static uint32_t dst_of(uint64_t k) { return static_cast<uint32_t>(k); }
  const std::vector<size_t>* find(uint32_t src, uint32_t dst) const {
    auto it = lists.find(key(src, dst));
    return it == lists.end() ? nullptr : &it->second;
  }
  void sort() {
    std::vector<uint32_t> by_name(names.size());
    for (uint32_t i = 0; i < by_name.size(); ++i)
      by_name[i] = i;
    std::sort(by_name.begin(), by_name.end(),
              [&](uint32_t a, uint32_t b) { return names[a] < names[b]; });
    std::vector<uint32_t> rank(names.size());
    for (uint32_t r = 0; r < by_name.size(); ++r)
      rank[by_name[r]] = r;
    order.clear();
    for (const auto& [k, list] : lists)
      order.push_back(k);
    std::sort(order.begin(), order.end(), [&](uint64_t a, uint64_t b) {
      return std::pair(rank[src_of(a)], rank[dst_of(a)]) <
             std::pair(rank[src_of(b)], rank[dst_of(b)]);
    });
  }
};

class OneWayCheck : public Check {
public:
  const char* name() const override { return "one-way"; }
  std::vector<std::string> codes() const override { return {"one-way"}; }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    const Policy& p = ctx.policy;
    const auto& flows = p.flows;
    // Index one-way allow flows by (src, dst) so the reverse is a lookup, not a scan; every
    // allow flow by its source role (both roles of a two-way flow) for the providers: a flow
    // to another role whose addresses cover the missing direction's (`any`) provides it too.
    PairIndex by_pair;
    std::map<std::string, std::vector<size_t>> by_roles; // by source role (either, two-way)
    for (size_t i = 0; i < flows.size(); ++i) {
      if (flows[i].action != Action::Allow)
        continue;
      if (!flows[i].bidirectional)
        by_pair
            .lists[PairIndex::key(by_pair.id_of(flows[i].src.str()),
                                  by_pair.id_of(flows[i].dst.str()))]
            .push_back(i);
    }
    by_pair.sort();
    // Built on the first direction found missing: most policies have none.
    auto index_roles = [&] {
      if (!by_roles.empty())
        return;
      for (size_t i = 0; i < flows.size(); ++i) {
        if (flows[i].action != Action::Allow)
          continue;
        // A group's flow is indexed under each member's role (once per flow and role).
        std::set<std::string> roles;
        for (const Endpoint* e : flows[i].src.concrete())
          roles.insert(e->role);
        if (flows[i].bidirectional)
          for (const Endpoint* e : flows[i].dst.concrete())
            roles.insert(e->role);
        for (const std::string& r : roles)
          by_roles[r].push_back(i);
      }
    };
    for (const Environment* env : ctx.environments()) {
      BindCache bound(p, *env);
      std::vector<int8_t> active(flows.size(), -1); // unknown, no, yes
      auto is_active = [&](size_t i) {
        if (active[i] < 0)
          active[i] = flow_active(flows[i], *env, ctx.today_override, nullptr) ? 1 : 0;
        return active[i] == 1;
      };
      for (uint64_t key : by_pair.order) {
        const std::vector<size_t>& list = by_pair.lists.at(key);
        const std::vector<size_t>* rev =
            by_pair.find(PairIndex::dst_of(key), PairIndex::src_of(key));
        if (!rev)
          continue;
        for (size_t i : list)
          for (size_t j : *rev) {
            if (!share_service(flows[i], flows[j]))
              continue;
            if (!is_active(i) || is_active(j))
              continue;
            // j is off here: is its direction provided by what is in force?
            PacketSet missing = flow_packets(p, bound, flows[j]);
            if (missing.is_empty())
              continue;
            PacketSet provided;
            std::vector<size_t> providers;
            index_roles();
            std::vector<size_t> candidates;
            for (const Endpoint* e : flows[j].src.concrete())
              if (auto r = by_roles.find(e->role); r != by_roles.end())
                candidates.insert(candidates.end(), r->second.begin(), r->second.end());
            std::sort(candidates.begin(), candidates.end());
            candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
            for (size_t k : candidates) {
              if (k == j || !is_active(k))
                continue;
              PacketSet pk = flow_packets(p, bound, flows[k]);
              if (!pk.overlaps(missing))
                continue;
              provided.add(pk);
              providers.push_back(k);
            }
            PacketSet gap = missing.subtract(provided);
            if (gap.is_empty())
              continue;
            SourceLoc l = flows[j].loc;
            l.len = 4;
            auto& d = ctx.report("one-way", l,
                                 "this direction is not in force in environment '" + env->name +
                                     "', but its reverse is" +
                                     (providers.empty() ? ""
                                                        : "; flows in force provide only part "
                                                          "of it"));
            d.notes.push_back({flows[i].loc, "the reverse direction, in force"});
            for (size_t k : providers)
              d.notes.push_back({flows[k].loc, "provides part of this direction"});
            d.witness = witness(gap);
          }
      }
    }
    report_mismatched_pairs(ctx, by_pair);
  }

private:
  /// A two-way vendor port written one way, whose reverse row exists between the same
  /// endpoints but carries a different protocol or port.
  static void report_mismatched_pairs(AnalysisContext& ctx, const PairIndex& by_pair) {
    const Policy& p = ctx.policy;
    for (uint64_t k : by_pair.order) {
      uint32_t src = PairIndex::src_of(k), dst = PairIndex::dst_of(k);
      if (src == dst)
        continue;
      const std::vector<size_t>* rev = by_pair.find(dst, src);
      if (!rev)
        continue;
      const std::vector<size_t>& list = by_pair.lists.at(k);
      const std::string& from = by_pair.names[src];
      const std::string& to = by_pair.names[dst];
      std::vector<std::pair<uint8_t, PortRange>> back;
      for (size_t j : *rev)
        for (const auto& pr : ports_of(p, p.flows[j]))
          back.push_back(pr);
      if (back.empty())
        continue;
      for (size_t i : list) {
        auto mine = ports_of(p, p.flows[i]);
        for (const TwoWayPort& tw : kTwoWay) {
          bool here = false;
          for (const auto& [proto, r] : mine)
            here = here || (proto == tw.proto && r.lo <= tw.port && tw.port <= r.hi);
          if (!here)
            continue;
          bool answered = false;
          for (const auto& [proto, r] : back)
            answered = answered || (proto == tw.proto && r.lo <= tw.port && tw.port <= r.hi);
          if (answered)
            continue;
          // The closest reverse row (same group first): the same port over another protocol,
          // else the nearest port of the same protocol.
          std::string how;
          size_t culprit = rev->front();
          long best = -1;
          for (size_t j : *rev)
            for (const auto& [proto, r] : ports_of(p, p.flows[j])) {
              bool same_port = r.lo <= tw.port && tw.port <= r.hi;
              long dist = proto != tw.proto && same_port ? 0
                          : proto == tw.proto ? 1 + std::min(std::labs(long(r.lo) - tw.port),
                                                             std::labs(long(r.hi) - tw.port))
                                              : -1;
              // Only a row that reads as the other half: the same group, and the same port
              // over the other transport or a port next to it (a typo, 5062 for 5061). A
              // reverse row far away is another requirement, and the port may be one-way.
              if (dist < 0 || dist > kNearPorts + 1 || p.flows[j].group != p.flows[i].group)
                continue;
              if (best >= 0 && dist >= best)
                continue;
              best = dist;
              culprit = j;
              std::string got = std::string(proto_name(proto)) + " " + std::to_string(r.lo) +
                                (r.hi != r.lo ? "-" + std::to_string(r.hi) : "");
              how = "it carries " + got + " instead of " + proto_name(tw.proto) + " " +
                    std::to_string(tw.port) +
                    (proto != tw.proto ? " (the protocol differs)" : " (the port differs)");
            }
          if (how.empty())
            continue; // the reverse rows are about something else
          SourceLoc l = p.flows[i].loc;
          l.len = 4;
          ctx.report("one-way", l,
                     std::string(proto_name(tw.proto)) + " " + std::to_string(tw.port) +
                         " is two-way, but no flow from '" + to + "' to '" + from +
                         "' carries it back")
              .notes.push_back({p.flows[culprit].loc, "the reverse row: " + how});
        }
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_one_way_check() {
  return std::make_unique<OneWayCheck>();
}

} // namespace portolan
