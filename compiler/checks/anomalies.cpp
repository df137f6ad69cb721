// The four classic anomalies, judged per target and chain in evaluation order over exact packet
// sets (so a flow hidden by the union of several earlier rules is found too), plus
// address-overlap: a disagreement caused by one address bound to two roles.
#include "check.h"
#include "overlap_index.h"

namespace portolan {
namespace {

constexpr size_t kMaxNotes = 8;

SourceLoc flow_loc(const Flow& f) {
  SourceLoc l = f.loc;
  l.len = 4; // the `flow` keyword
  return l;
}

std::string describe(const Flow& f) {
  return "'" + f.summary() + "'";
}

std::string where(const TargetView& v, Chain c) {
  return "in target '" + v.target->name + "' (" + chain_name(c) + ")";
}

/// Adds notes naming the given flows (capped), then the target.
void name_flows(Diagnostic& d, const Policy& p, const std::vector<size_t>& flows,
                const std::string& verb, const TargetView& v, Chain c) {
  size_t shown = 0;
  for (size_t fi : flows) {
    if (shown++ == kMaxNotes) {
      d.notes.push_back({SourceLoc{}, "and " + std::to_string(flows.size() - kMaxNotes) +
                                          " more flows " + where(v, c)});
      break;
    }
    d.notes.push_back({flow_loc(p.flows[fi]), verb + " " + describe(p.flows[fi])});
  }
  d.notes.push_back({SourceLoc{}, "judged " + where(v, c)});
}

/// Whether the endpoints on one side of two flows are different roles with overlapping,
/// specific (not `any`) bindings: the disagreement then comes from the bindings.
bool bindings_overlap(const Policy& p, const Environment& env, const Endpoint& a,
                      const Endpoint& b) {
  if (a.role == b.role)
    return false;
  auto ba = bind_endpoint(p, env, a), bb = bind_endpoint(p, env, b);
  if (!ba || !bb || ba->any || bb->any)
    return false;
  for (const auto* fam : {&ba->v4, &ba->v6})
    for (const Prefix& x : *fam)
      for (const auto* fam2 : {&bb->v4, &bb->v6})
        for (const Prefix& y : *fam2)
          if (x.contains(y) || y.contains(x))
            return true;
  return false;
}

class AnomalyCheck : public Check {
public:
  const char* name() const override { return "anomalies"; }
  std::vector<std::string> codes() const override {
    return {"shadowed", "redundant", "generalization", "correlation", "address-overlap"};
  }
  bool needs_targets() const override { return true; }

  void run(AnalysisContext& ctx) const override {
    for (const TargetView& v : ctx.targets)
      for (const auto& [chain, list] : v.chains)
        run_chain(ctx, v, chain, list);
  }

private:
  void run_chain(AnalysisContext& ctx, const TargetView& v, Chain chain,
                 const std::vector<FlowPackets>& list) const {
    const Policy& p = ctx.policy;
    std::vector<Bounds> bounds;
    bounds.reserve(list.size());
    OverlapIndex all, denies;
    for (size_t k = 0; k < list.size(); ++k) {
      bounds.push_back(bounds_of(list[k].packets));
      all.add(k, bounds.back());
      if (list[k].action == Action::Deny)
        denies.add(k, bounds.back());
    }
    all.build();
    denies.build();

    // Coverage in evaluation order: what earlier rules decide, per action.
    PacketSet covered_deny, covered_allow;
    for (size_t k = 0; k < list.size(); ++k) {
      const FlowPackets& fp = list[k];
      if (fp.packets.is_empty())
        continue;
      const PacketSet& same = fp.action == Action::Deny ? covered_deny : covered_allow;
      const PacketSet& other = fp.action == Action::Deny ? covered_allow : covered_deny;
      PacketSet rest = fp.packets.subtract(same);
      bool covered = rest.is_empty() || rest.subtract(other).is_empty();
      if (covered) {
        std::vector<size_t> blockers;
        for (size_t j : all.query(bounds[k]))
          if (j < k && list[j].packets.overlaps(fp.packets))
            blockers.push_back(list[j].flow);
        const Flow& f = p.flows[fp.flow];
        if (rest.is_empty()) {
          auto& d = ctx.report("redundant", flow_loc(f),
                               std::string("flow is redundant: earlier ") +
                                   (fp.action == Action::Deny ? "deny" : "allow") +
                                   " flows already decide all its packets the same way");
          name_flows(d, p, blockers, "covered by", v, chain);
          d.witness = witness(fp.packets);
        } else {
          auto& d = ctx.report("shadowed", flow_loc(f),
                               std::string("flow never takes effect as written: earlier rules "
                                           "decide all its packets, some of them with the "
                                           "other action (") +
                                   (fp.action == Action::Deny ? "allow" : "deny") + ")");
          name_flows(d, p, blockers, "covered by", v, chain);
          d.witness = witness(rest);
        }
      }
      // Every deny precedes every allow, so order within each block changes no verdict: a
      // flow inside one later flow of the same action is as redundant as one inside earlier
      // flows.
      if (!covered)
        if (auto j = later_cover(list, bounds, all, k)) {
          const Flow& f = p.flows[fp.flow];
          auto& d = ctx.report("redundant", flow_loc(f),
                               "flow is redundant: a later " +
                                   std::string(fp.action == Action::Deny ? "deny" : "allow") +
                                   " flow decides all its packets the same way, and order "
                                   "among " +
                                   (fp.action == Action::Deny ? "denies" : "allows") +
                                   " does not matter");
          name_flows(d, p, {list[*j].flow}, "covered by", v, chain);
          d.witness = witness(fp.packets);
          covered = true;
        }
      // Different-action pairs: a later allow against the denies before it.
      if (fp.action == Action::Allow && !covered)
        pairs(ctx, v, chain, list, bounds, denies, k);
      (fp.action == Action::Deny ? covered_deny : covered_allow).add(fp.packets);
    }
  }

  static std::optional<size_t> later_cover(const std::vector<FlowPackets>& list,
                                           const std::vector<Bounds>& bounds,
                                           const OverlapIndex& all, size_t k) {
    const Bounds& b = bounds[k];
    for (size_t j : all.query(b)) {
      if (j <= k || list[j].action != list[k].action)
        continue;
      bool box_covers = true;
      for (int f = 0; f < 2; ++f)
        if (b.has[f])
          box_covers = box_covers && bounds[j].has[f] && bounds[j].box[f].covers(b.box[f]);
      if (box_covers && list[k].packets.subset_of(list[j].packets))
        return j;
    }
    return std::nullopt;
  }

  void pairs(AnalysisContext& ctx, const TargetView& v, Chain chain,
             const std::vector<FlowPackets>& list, const std::vector<Bounds>& bounds,
             const OverlapIndex& denies, size_t k) const {
    const Policy& p = ctx.policy;
    const FlowPackets& allow = list[k];
    const Flow& af = p.flows[allow.flow];
    for (size_t j : denies.query(bounds[k])) {
      if (j >= k)
        continue;
      const FlowPackets& deny = list[j];
      PacketSet both = deny.packets.intersect(allow.packets);
      if (both.is_empty())
        continue;
      const Flow& df = p.flows[deny.flow];
      bool src_side = bindings_overlap(p, *v.env, df.src, af.src) ||
                      bindings_overlap(p, *v.env, df.dst, af.dst) ||
                      bindings_overlap(p, *v.env, df.src, af.dst) ||
                      bindings_overlap(p, *v.env, df.dst, af.src);
      if (src_side) {
        auto& d = ctx.report("address-overlap", flow_loc(af),
                             "flow disagrees with deny flow " + describe(df) +
                                 " because their roles are bound to overlapping addresses in "
                                 "environment '" +
                                 v.env->name + "'");
        name_flows(d, p, {deny.flow}, "denied by", v, chain);
        d.witness = witness(both);
        continue;
      }
      if (deny.packets.subset_of(allow.packets)) {
        auto& d =
            ctx.report("generalization", flow_loc(df),
                       "deny flow is an exception inside the broader allow flow " + describe(af));
        name_flows(d, p, {allow.flow}, "generalized by", v, chain);
        d.witness = witness(both);
      } else {
        auto& d = ctx.report("correlation", flow_loc(af),
                             "flow partially overlaps deny flow " + describe(df) +
                                 "; the overlap is denied because denies come first");
        name_flows(d, p, {deny.flow}, "overlaps", v, chain);
        d.witness = witness(both);
      }
    }
  }
};

} // namespace

std::unique_ptr<Check> make_anomaly_check() {
  return std::make_unique<AnomalyCheck>();
}

} // namespace portolan
